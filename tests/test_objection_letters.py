"""The answers to a consent withdrawal and an objection (GDPR Art. 7(3), 21) in every
language: human text only (no placeholder, field or API name, no operator note), system names
escaped in the page, and each page rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hub.core.inventory import Controller, InventoryEntry
from hub.core.languages import LANGUAGES
from hub.reports.objection import (
    LetterKind,
    ObjectionFacts,
    letter_names,
    render_objection_letters,
)
from hub.reports.translations import texts
from hub.requests.objection import system_names

CONTROLLER = Controller(name="Självkraft", contact_email="kontakt@example.se")
KINDS: tuple[LetterKind, ...] = ("withdrawal", "marketing", "upheld", "rejected")
INVENTORY = [
    InventoryEntry(key="paloma", system="Paloma (mail provider)", processor="Paloma AB",
                   translations={"sv": {"system": "Paloma (e-postutskick)"}}),
    InventoryEntry(key="mailerlite", system="MailerLite (e-mail sends)",
                   processor="MailerLite", connector="mailerlite",
                   translations={"sv": {"system": "MailerLite (e-postutskick)"}}),
]


def facts(kind: LetterKind, **changes: object) -> ObjectionFacts:
    values: dict[str, object] = {"kind": kind, "request_id": "req-2025-0042",
                                 "controller": CONTROLLER,
                                 "systems": ("MailerLite", "Paloma", "Bokningssystemet")}
    values.update(changes)
    return ObjectionFacts(**values)  # type: ignore[arg-type]


def test_sv_and_en_have_the_same_texts() -> None:
    assert set(texts("sv")["objection"]) == set(texts("en")["objection"])


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_letter_is_human_text(lang: str, kind: LetterKind) -> None:
    letters = render_objection_letters(facts(kind), lang=lang)
    text = next(body for name, body in letters.items() if name.endswith(".txt"))
    assert not re.search(r"[{}]|<[a-z]|\b[a-z]+_[a-z_]+\b", text), text
    for word in ("SubscribedToNewsletter", "opt-out", "manual-open", "dsar", "API"):
        assert word not in text
    assert "req-2025-0042" in text and "Självkraft" in text
    words = texts(lang)["objection"]
    if kind in ("withdrawal", "marketing"):
        assert "MailerLite, Paloma " + words["and"] + " Bokningssystemet" in text
    else:
        assert "MailerLite" not in text


def test_the_letters_say_what_each_case_needs() -> None:
    marketing = render_objection_letters(facts("marketing"), lang="sv")["objection-letter.txt"]
    assert "direktmarknadsföring" in marketing and "21.3" in marketing
    assert "för hand" not in marketing
    pending = render_objection_letters(facts("withdrawal", pending=True), lang="en")
    assert "done by hand" in pending["withdrawal-letter.txt"]
    rejected = render_objection_letters(facts("rejected"), lang="en")
    assert "compelling legitimate grounds" in rejected["objection-decision-letter.txt"]
    assert "court" in rejected["objection-decision-letter.txt"]
    upheld = render_objection_letters(facts("upheld"), lang="sv")
    assert "ger dig rätt" in upheld["objection-decision-letter.txt"]
    assert "domstol" not in upheld["objection-decision-letter.txt"]


def test_system_names_come_from_the_inventory_in_the_letters_language() -> None:
    destinations = [("mailerlite", "MailerLite"), ("booking", "Booking system"),
                    ("paloma", "Paloma (mail provider)")]
    assert system_names(destinations, INVENTORY, "sv") == (
        "MailerLite (e-postutskick)", "Booking system", "Paloma (e-postutskick)")
    assert system_names(destinations, INVENTORY, "en")[2] == "Paloma (mail provider)"


def test_names_are_escaped_in_the_page_and_a_draft_is_stamped() -> None:
    letters = render_objection_letters(
        facts("marketing", systems=("<script>alert(1)</script>",), draft=True), lang="en")
    page = letters["objection-letter.html"]
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert texts("en")["document"]["draft"] in letters["objection-letter.txt"]


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_letters_render_in_headless_chromium(tmp_path: Path, lang: str) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); "
                    "the rendering screenshot was not taken")
    kinds: tuple[LetterKind, ...] = ("withdrawal", "marketing", "rejected")
    for kind in kinds:
        for name, body in render_objection_letters(facts(kind), lang=lang).items():
            (tmp_path / name).write_text(body, encoding="utf-8")
        page = tmp_path / letter_names(kind)[1]
        shot = tmp_path / f"{kind}.png"
        subprocess.run(  # noqa: S603 - a local browser on a local file
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=900,1200", page.as_uri()],
            check=True, capture_output=True, timeout=120)
        assert shot.stat().st_size > 10_000
        assert shot.read_bytes().startswith(b"\x89PNG")
