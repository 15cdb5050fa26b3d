"""Two audiences: what the data subject receives (report.html, the cover letter, the export's
read-me) holds no operator text and no API vocabulary; a search that is incomplete is shown as
incomplete and listed among the parts that follow. The operator keeps every note (report.json).
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.fortnox.lookup import PHONE_NOTE
from connectors.sdk.base import Findings
from connectors.zettle import manual_instructions
from hub.config.registry import discover
from hub.config.settings import HubSettings, load_settings
from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.subject import Identifier
from hub.reports.content import build_view, note_text, texts, with_manual_items
from hub.reports.files import write_report
from hub.reports.render import render_cover_letter, render_html
from hub.requests.fanout import Outcome, merge_round, result_from
from tests.e2e_helpers import run_dsar

ANNA = "anna.svensson@example.se"
REPO = Path(__file__).resolve().parents[1]

#: what connectors tell the operator, which the subject must never read
OPERATOR_PHRASES = (
    "Sales history", "last four digits", "compares phone numbers", "Search API",
    "were not searched", "my.zettle.com", "Scanned", "admin UI", "has no API here",
    "export_max_age_days", "guest_scan_max_objects", "free text, not a customer field",
    "DSAR_", "could not be listed", "Zettle Go",
)
#: processors' own names for record types and fields
API_VOCABULARY = (
    "›", "payment_intent", "payment_method", "checkout_session", "InvoiceAddress",
    "terminalVerificationResults", "userDisplayName", "purchaseUUID1", "billing_details",
    "PersonalIdentityNumber", "EmailInformation", "opted_in_at", "hittad hos mailerlite",
    "found at mailerlite",
)


def visible_text(document: str) -> str:
    """The text a reader sees: no styles, no tags, entities decoded."""
    document = re.sub(r"<style>.*?</style>", " ", document, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", document))


def assert_for_the_subject(*documents: str) -> None:
    for document in documents:
        # the export's file names keep the API's type names (stable for programs reading the
        # zip); the read-me says beside each what it holds
        document = re.sub(r"\S+\.csv\b", "", document)
        for phrase in OPERATOR_PHRASES:
            assert phrase.casefold() not in document.casefold(), phrase
        for name in API_VOCABULARY:  # as the API spells it
            assert name not in document, name


# ---------------------------------------------------------------------------------------------
# The sandbox lookup, end to end
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_sandbox_access_report_speaks_to_the_subject(tmp_path: Path, lang: str) -> None:
    run = run_dsar("--sandbox", "--json", "--out", str(tmp_path), "lookup", ANNA,
                   "--lang", lang, timeout=300)
    assert run.code in (0, 3), run.stderr[-2000:]
    folder = Path(run.json["report"]).parent
    page = (folder / "report.html").read_text(encoding="utf-8")
    letter = (folder / "cover-letter.txt").read_text(encoding="utf-8")
    with zipfile.ZipFile(folder / "export.zip") as archive:
        readme = archive.read("README.txt").decode("utf-8")
    assert_for_the_subject(page, letter, readme)  # attributes included, not only the text

    t = texts(lang)
    seen = visible_text(page)
    # record types and fields under their connectors' labels
    assert t["labels"]["other_type"] not in seen
    stripe_labels = {"sv": ("Betalningar", "Betalningsförsök", "Sparade betalsätt"),
                     "en": ("Payments", "Payment attempts", "Saved payment methods")}[lang]
    assert all(label in seen for label in stripe_labels)
    assert {"sv": "Fakturaadress – Gatuadress",
            "en": "Invoice address – Street address"}[lang] in seen
    # values in words: no API status codes, ISO timestamps or amounts in öre
    for raw in ("succeeded", "requires_payment_method", ">POS<", "IZETTLE_"):
        assert raw not in page, raw
    assert lang == "en" or ">Booked<" not in page  # (Fortnox's field "Booked" is English)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", seen)
    assert {"sv": "950,00", "en": "950.00"}[lang] in seen and ">95000<" not in page
    # the system an identifier was found in, by the inventory's name for it
    assert {"sv": "hittad hos MailerLite (e-postutskick)",
            "en": "found at MailerLite"}[lang] in " ".join(seen.split())

    # Zettle found three receipts (one names her phone, two are tied by day and amount to her
    # Fortnox invoices), but most receipts name nobody: found, incomplete, and to follow
    operator = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    zettle = next(p for p in operator["processors"] if p["name"] == "zettle")
    assert zettle["status"] == "found" and zettle["incomplete"] is True
    assert "zettle.card_payments_unlinkable" in zettle["note_codes"]
    assert any("Sales history" in note for note in zettle["notes"])  # the operator's, kept
    assert t["notes"]["zettle"]["card_payments_unlinkable"] in seen
    assert t["incomplete"]["found"].format(count=3) in seen
    pending = letter.split(t["letter"]["pending"].split("{")[0])[1]
    assert " ".join(t["incomplete"]["letter"].split()) in " ".join(pending.split())
    assert "Zettle" in pending


# ---------------------------------------------------------------------------------------------
# A report built by hand: every connector's operator notes, with and without codes
# ---------------------------------------------------------------------------------------------

#: notes as the connectors write them, with the codes they send along
CONNECTOR_NOTES: dict[str, list[tuple[str, str | None]]] = {
    "stripe": [
        ("Stripe could not list a customer's charges here (HTTP 404: no such list); they were "
         "not searched.", "stripe.list_unavailable"),
        ("Stripe's Search API is not available here (it is missing for some accounts and on "
         "Stripe-compatible test servers): only exact-case matches of the address were found; "
         "customers stored with other letter case may be missing.",
         "stripe.address_spellings_unsearched"),
        ("Only the newest 10000 charges were scanned for guest payments "
         "(guest_scan_max_objects); older ones were not.", "stripe.guest_scan_capped"),
        ("customer id 'a/b' could not be listed as a URL path segment; the records linked to "
         "that customer were not listed.", "stripe.linked_records_unlisted"),
    ],
    "zettle": [
        ("Scanned 2532 Zettle receipts from 2019-01-01 to 2026-11-29 for the subject's email "
         "in product texts and payment references.", None),
        ("Zettle receipt #2061 of 2025-05-06 (950.00 SEK) mentions the subject's phone in "
         "products[0].comment (free text, not a customer field).", None),
        (manual_instructions(), "zettle.card_payments_unlinkable"),
        ("Zettle returned no receipt older than 2023-11-29: receipts must be checked in "
         "my.zettle.com (Reports).", "zettle.history_limited"),
    ],
    "fortnox": [(PHONE_NOTE, "fortnox.phone_spellings")],
    "booking": [
        ("Qlickboka has no API here: its exported customer list (kunder.csv, saved "
         "2026-11-01) was searched, not the live system.", "rest.export_searched"),
        ("Erasure will be a manual task: delete or anonymise the customer and their bookings "
         "in Qlickboka's admin UI; the hub cannot change it.", None),
        ("The export is 30 days old (export_max_age_days = 7): search Qlickboka's admin UI by "
         "hand.", "rest.export_outdated"),
    ],
}


def _result(name: str, status: ProcessorStatus, records: list[Record]) -> ProcessorResult:
    notes = CONNECTOR_NOTES[name]
    return ProcessorResult(name=name, status=status, records=records,
                           notes=[text for text, _ in notes],
                           note_codes=[code for _, code in notes if code],
                           incomplete=name in ("stripe", "zettle", "booking"))


def noted_report() -> Report:
    receipt = Record(type="purchase", id="p1", matched_on="phone", data={
        "purchaseNumber": 2061, "userDisplayName": "Jonas Holm",
        "payments": [{"type": "IZETTLE_CARD", "attributes": {
            "maskedPan": "476173******9325", "terminalVerificationResults": "0000008000"}}]})
    charge = Record(type="payment_intent", id="pi_1", matched_on="email", data={
        "amount": 4900, "billing_details": {"address": {"city": "Göteborg"}},
        "some_new_field": "x"})
    customer = Record(type="customer", id="c1", matched_on="email", data={
        "Firstname": "Anna", "InvoiceAddress": {"InvoiceAddress1": "Linnégatan 12"}})
    return Report(
        request=RequestInfo(id="acc-20261201-093000-a1b2c3", type="access",
                            received_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
                            due_at=date(2027, 1, 4), tool_version="0.1.0"),
        subject=SubjectInfo(email=ANNA, identifiers=[
            Identifier(kind="email", value=ANNA),
            Identifier(kind="phone", value="+46701234567", source="mailerlite")]),
        processors=[
            _result("stripe", ProcessorStatus.FOUND, [charge]),
            _result("zettle", ProcessorStatus.FOUND, [receipt]),
            _result("fortnox", ProcessorStatus.NOT_FOUND, []),
            _result("booking", ProcessorStatus.FOUND, [customer]),
            ProcessorResult(name="mailerlite", status=ProcessorStatus.NOT_FOUND),
        ])


@pytest.fixture
def settings() -> HubSettings:
    return load_settings(discover())  # also makes the shipped configuration the one in use


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_operator_notes_never_reach_the_subject(settings: HubSettings, tmp_path: Path,
                                                lang: str) -> None:
    report = noted_report()
    folder = write_report(report, tmp_path, lang=lang, settings=settings)
    page = (folder / "report.html").read_text(encoding="utf-8")
    letter = (folder / "cover-letter.txt").read_text(encoding="utf-8")
    with zipfile.ZipFile(folder / "export.zip") as archive:
        readme = archive.read("README.txt").decode("utf-8")
        exported = json.loads(archive.read("report.json"))
    assert_for_the_subject(page, letter, readme)
    assert all(p["notes"] == [] for p in exported["processors"])  # the subject's copy
    operator = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert [p["notes"] for p in operator["processors"]] == [p.notes for p in report.processors]

    seen = " ".join(visible_text(page).split())
    for result in report.processors:
        for code in result.note_codes:  # every code's sentence, in the report's language
            sentence = note_text(code, lang)
            assert sentence and " ".join(sentence.split()) in seen, code
    t = texts(lang)
    assert t["labels"]["other_field"] in seen  # some_new_field: declared by nobody
    assert "Linnégatan 12" in seen and "Jonas Holm" in seen  # the data itself is all there


def test_an_incomplete_search_is_shown_as_such_and_follows(settings: HubSettings) -> None:
    report = noted_report()
    t = texts("sv")
    view = build_view(with_manual_items(report, settings.inventory), lang="sv",
                      controller=settings.controller, inventory=settings.inventory)
    systems = {s.key: s for s in view.systems}
    assert systems["zettle"].incomplete and systems["zettle"].pending
    assert systems["stripe"].pending and not systems["mailerlite"].pending
    assert not systems["fortnox"].pending  # a limit told, but nothing left to do
    assert not view.complete

    letter = render_cover_letter(view)
    pending = letter.split(t["letter"]["pending"].split("{")[0])[1].split("\n\n")[0]
    lines = [" ".join(line.split()) for line in pending.strip().split("\n- ")]
    for key in ("zettle", "stripe", "booking"):
        title = systems[key].title
        assert any(line.lstrip("- ").startswith(f"{title}: {t['incomplete']['letter']}")
                   for line in lines), (key, lines)
    assert not any(systems["mailerlite"].title in line for line in lines)

    page = render_html(view)
    card = page.split('data-system="zettle"')[2]  # the summary row first, then the card
    assert 'data-incomplete="true"' in card.split(">")[0]
    text = " ".join(visible_text(card).split())
    assert t["incomplete"]["found"].format(count=1) in text
    assert t["incomplete"]["found_next"].format(by_due="senast 4 januari 2027") in text
    # a system searched without result whose search is incomplete does not read "nothing"
    unexplained = report.model_copy(update={"processors": [
        p.model_copy(update={"incomplete": True, "note_codes": []})
        if p.name == "mailerlite" else p for p in report.processors]})
    card = render_html(build_view(unexplained, lang="sv")).split(
        'data-system="mailerlite"')[2]
    text = " ".join(visible_text(card).split())
    assert t["incomplete"]["not_found"] in text and t["incomplete"]["unspecified"] in text
    assert t["status"]["not_found"] not in text


def test_a_manual_step_stays_pending_when_a_later_round_finds_records() -> None:
    first = result_from("zettle", Outcome(Findings(manual=True, notes=["look by hand"]), None, 1))
    assert first.status is ProcessorStatus.MANUAL
    record = Record(type="purchase", id="p1", matched_on="phone")
    later = merge_round(first, Outcome(Findings(records=[record]), None, 1), "widening")
    assert later.status is ProcessorStatus.FOUND and later.incomplete
    # a connector's own signal and codes survive every round
    limited = Findings(records=[record])
    limited.note("operator text", "zettle.history_limited", incomplete=True)
    kept = merge_round(result_from("zettle", Outcome(limited, None, 1)),
                       Outcome(Findings(), None, 1), "widening")
    assert kept.incomplete and kept.note_codes == ["zettle.history_limited"]
    assert kept.notes == ["operator text"]
    plain = result_from("mailerlite", Outcome(Findings(records=[record]), None, 1))
    assert not plain.incomplete


def test_every_code_the_connectors_send_has_a_sentence_in_every_language() -> None:
    sources = "\n".join(path.read_text(encoding="utf-8")
                        for path in (REPO / "connectors").rglob("*.py"))
    codes = set(re.findall(r'"((?:stripe|zettle|fortnox|mailerlite|rest)\.[a-z_]+)"', sources))
    # the names of the histories in the local index look alike but are no note codes
    codes -= set(re.findall(r'history_name = "([a-z_.]+)"', sources))
    assert {"zettle.card_payments_unlinkable", "stripe.address_spellings_unsearched",
            "fortnox.phone_spellings", "rest.export_outdated"} <= codes
    for lang in ("sv", "en"):
        for code in codes:
            sentence = note_text(code, lang)
            assert sentence, (lang, code)
            assert "{" not in sentence and not any(
                phrase.casefold() in sentence.casefold() for phrase in OPERATOR_PHRASES)
