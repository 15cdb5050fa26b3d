"""The answer to a rectification request, in every language: human text (no field names, no
placeholders), as text to paste and as a page rendered in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hub.core.languages import LANGUAGES
from hub.reports.rectification import RectificationFacts, render_rectification_letters
from tests.test_restrict import CONTROLLER


def _facts(*, pending: bool = False) -> RectificationFacts:
    return RectificationFacts(fields=("phone", "address.city"),
                              corrected=("Stripe", "Fortnox", "Bokningssystemet <x>"),
                              kept=("Fortnox",), pending=pending,
                              request_id="rec-20261129-1", controller=CONTROLLER)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_letter_is_human_text_in_both_forms(lang: str) -> None:
    letters = render_rectification_letters(_facts(pending=True), lang=lang)
    text, page = letters["rectification-letter.txt"], letters["rectification-letter.html"]
    for body in (text, page.partition("<body>")[2]):  # the page's style has braces
        assert "{" not in body and "}" not in body  # no unfilled field
        assert "address.city" not in body and "address_city" not in body
        assert "rec-20261129-1" in body
    assert "Bokningssystemet &lt;x&gt;" in page  # configuration text is escaped on the page
    assert "<script" not in page


def test_letter_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                    if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    for lang in LANGUAGES:
        page = tmp_path / f"{lang}.html"
        page.write_text(render_rectification_letters(_facts(), lang=lang)[
            "rectification-letter.html"], encoding="utf-8")
        shot = tmp_path / f"{lang}.png"
        subprocess.run(  # noqa: S603 - a local browser on a local file
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=900,1200", page.as_uri()],
            check=True, capture_output=True, timeout=120)
        assert shot.stat().st_size > 10_000 and shot.read_bytes().startswith(b"\x89PNG")
        dumped = subprocess.run(  # noqa: S603 - the text as the browser laid it out
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             page.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout
        assert "rec-20261129-1" in dumped and "<script" not in dumped
