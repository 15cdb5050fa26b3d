"""The Art. 15(4) review of an access request: weak matches and other people's data are held
back until the operator decides, and the decision is kept as evidence.

Hand-made lookup results (invented people) drive the flags, the decisions and the use-case on
the test's database (SQLite and PostgreSQL); tests/test_access_review_cli.py runs the real CLI
against the sandbox.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.zettle import ZettleConnector
from hub.config.settings import HubSettings
from hub.core.errors import InvalidInput
from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.request_types import RequestType
from hub.core.subject import Identifier, MatchStrength
from hub.requests.access.approval import review_access
from hub.requests.access.job import record_and_write
from hub.requests.access.review import (
    THIRD_PARTY,
    WEAK_MATCH,
    apply_decisions,
    find_flags,
    parse_decisions,
    redaction_marker,
    third_party_fields,
)
from hub.requests.context import RequestContext
from hub.store.audit import AuditLog
from hub.store.db import open_database
from hub.store.ledger import Ledger

ANNA = "anna.svensson@example.se"
PHONE = "+46701234567"
CASHIER = "Kassa-Lisa Exempel"
STRIPE_CUSTOMER = "stripe:customer:cus_ANNA"
FORTNOX_WEAK = "fortnox:customer:10"
RECEIPT = "zettle:purchase:p:2061"  # an id with a colon in it still makes one ref
DECLARED = third_party_fields({"zettle": ZettleConnector})


def lookup_result(request_id: str = "acc-20261201-090000-abcdef") -> Report:
    """Anna found by her address at Stripe; a Fortnox customer with a +tag variant of it; a
    Zettle receipt found only through the phone number of that Fortnox customer, rung up by a
    named cashier."""
    return Report(
        request=RequestInfo(id=request_id, type="access",
                            received_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
                            due_at=date(2027, 1, 1), tool_version="test"),
        subject=SubjectInfo(email=ANNA, identifiers=[
            Identifier(kind="email", value=ANNA),
            Identifier(kind="phone", value=PHONE, source="fortnox")]),
        processors=[
            ProcessorResult(name="stripe", status=ProcessorStatus.FOUND, records=[
                Record(type="customer", id="cus_ANNA", matched_on="email",
                       data={"name": "Anna Svensson", "email": ANNA}),
                Record(type="charge", id="ch_1", matched_on="email",
                       data={"amount": 95000, "billing_details": {"email": ANNA}})]),
            ProcessorResult(name="fortnox", status=ProcessorStatus.FOUND, records=[
                Record(type="customer", id="10", matched_on="email",
                       match_strength=MatchStrength.PLUS_ADDRESS,
                       data={"Name": "Anna Svensson", "Email": "anna+shop@example.se",
                             "Phone1": "070-123 45 67"})]),
            ProcessorResult(name="zettle", status=ProcessorStatus.FOUND, incomplete=True,
                            records=[
                Record(type="purchase", id="p:2061", matched_on="phone",
                       match_strength=MatchStrength.DERIVED,
                       data={"purchaseNumber": 2061, "userDisplayName": CASHIER,
                             "userId": "", "products": [
                                 {"name": "Samtal", "comment": "ombokad, ring 070-123 45 67"}]})]),
        ])


# ---------------------------------------------------------------------------------------------
# Flags and decisions, on a lookup result alone
# ---------------------------------------------------------------------------------------------


def test_weak_matches_and_filled_third_party_fields_are_flagged() -> None:
    flags = find_flags(lookup_result(), DECLARED)
    assert [(f.kind, f.ref) for f in flags] == [
        (WEAK_MATCH, FORTNOX_WEAK), (WEAK_MATCH, RECEIPT),
        (THIRD_PARTY, f"{RECEIPT}:userDisplayName")]  # the empty userId is nobody
    assert "plus-address" in flags[0].why
    assert "found at fortnox" in flags[1].why
    assert DECLARED["zettle"] == {"userDisplayName", "userId"}
    assert find_flags(lookup_result(), {}) == flags[:2], "undeclared fields are not guessed"


def test_by_default_weak_matches_are_withheld_and_third_party_fields_removed() -> None:
    report = lookup_result()
    flags = find_flags(report, DECLARED)
    applied = apply_decisions(report, flags, parse_decisions(report, flags), "[gone]")
    processors = {p.name: p for p in applied.report.processors}
    assert len(processors["stripe"].records) == 2
    # nothing of Fortnox or Zettle is left: Fortnox found nothing to send, Zettle's manual
    # step (it cannot be searched by person) stands
    assert processors["fortnox"].status is ProcessorStatus.NOT_FOUND
    assert processors["zettle"].status is ProcessorStatus.MANUAL
    assert applied.outcome == {STRIPE_CUSTOMER: "send", "stripe:charge:ch_1": "send",
                               FORTNOX_WEAK: "withheld", RECEIPT: "withheld"}
    # the phone number came from a record left out: it is not shown as the subject's
    assert [i.value for i in applied.report.subject.identifiers] == [ANNA]


def test_include_exclude_and_redact_change_what_is_sent() -> None:
    report = lookup_result()
    flags = find_flags(report, DECLARED)
    decisions = parse_decisions(report, flags, exclude=[STRIPE_CUSTOMER], include=[RECEIPT],
                                redact=[f"{RECEIPT}:products.comment"])
    marker = redaction_marker("en")
    applied = apply_decisions(report, flags, decisions, marker)
    [receipt] = next(p for p in applied.report.processors if p.name == "zettle").records
    assert receipt.data["userDisplayName"] == marker == "[removed: another person's data]"
    assert receipt.data["products"] == [{"name": "Samtal", "comment": marker}]
    assert receipt.data["purchaseNumber"] == 2061
    stripe = next(p for p in applied.report.processors if p.name == "stripe")
    assert [r.id for r in stripe.records] == ["ch_1"]
    assert applied.removed == {RECEIPT: ["userDisplayName", "products.0.comment"]}
    assert decisions.details(flags) == {
        "flags": 3, "excluded": [STRIPE_CUSTOMER], "included": [RECEIPT],
        "withheld": [FORTNOX_WEAK], "kept": [],
        "redacted": [f"{RECEIPT}:products.0.comment", f"{RECEIPT}:userDisplayName"]}
    assert CASHIER not in json.dumps(decisions.details(flags))
    # keeping the cashier's name is the operator's call too
    kept = parse_decisions(report, flags, include=[RECEIPT, f"{RECEIPT}:userDisplayName"])
    [receipt] = next(p for p in apply_decisions(report, flags, kept, marker).report.processors
                     if p.name == "zettle").records
    assert receipt.data["userDisplayName"] == CASHIER
    assert redaction_marker("sv") == "[borttaget: uppgift om annan person]"


@pytest.mark.parametrize(("choice", "message"), [
    ({"exclude": ["stripe:customer:cus_NOBODY"]}, "no record of this lookup"),
    ({"include": [STRIPE_CUSTOMER]}, "not a weak match"),
    ({"include": [f"{RECEIPT}:purchaseNumber"]}, "no flagged field"),
    ({"redact": [f"{RECEIPT}:customerName"]}, "has no field"),
    ({"redact": ["zettle:purchase:p:9999:userDisplayName"]}, "no record of this lookup"),
    ({"redact": [RECEIPT]}, "no record of this lookup"),
    ({"exclude": [RECEIPT], "include": [RECEIPT]}, "both excluded and included"),
])
def test_a_ref_that_does_not_fit_is_refused(choice: dict[str, list[str]], message: str) -> None:
    report = lookup_result()
    with pytest.raises(InvalidInput, match=message):
        parse_decisions(report, find_flags(report, DECLARED), **choice)


# ---------------------------------------------------------------------------------------------
# The use-case on the database: held lookup, review, approval, evidence
# ---------------------------------------------------------------------------------------------


def _context(database_url: str, tmp_path: Path, *, draft: bool = False) -> RequestContext:
    settings = HubSettings(state_dir=tmp_path / "state", database_url=database_url)
    return RequestContext(settings, {"zettle": ZettleConnector}, out_dir=tmp_path / "out",
                          draft=draft)


def _answer(ctx: RequestContext, report: Report | None = None, *, review: bool = True,
            lang: str = "en") -> tuple[Ledger, str, Path]:
    ledger = Ledger(open_database(ctx.ledger_url))
    request, _ = ledger.find_or_open(ANNA, RequestType.ACCESS)
    [answer] = record_and_write(ctx, ledger, [report or lookup_result(request.id)], [request],
                                lang=lang, review=review)
    return ledger, request.id, answer.folder


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_flagged_lookup_waits_for_review_and_approval_writes_reviewed_documents(
        database_url: str, tmp_path: Path) -> None:
    ctx = _context(database_url, tmp_path)
    ledger = Ledger(open_database(ctx.ledger_url))
    request, _ = ledger.find_or_open(ANNA, RequestType.ACCESS)
    [answer] = record_and_write(ctx, ledger, [lookup_result(request.id)], [request], lang="en")
    folder = answer.folder
    assert answer.review.needed and answer.review.withheld and answer.review.flags == 3
    assert answer.review.as_dict(request.id) == {
        "needed": True, "flags": 3, "command": f"dsar requests review {request.id}"}
    assert _files(folder) == {"report.json", "review.txt"}
    note = (folder / "review.txt").read_text(encoding="utf-8")
    assert f"{RECEIPT}:userDisplayName" in note and CASHIER not in note and ANNA not in note

    # looking changes nothing; a ref that does not fit changes nothing either
    preview = review_access(ctx, request.id, exclude=[STRIPE_CUSTOMER])
    assert not preview.approved and preview.lang == "en"
    assert {r.ref: r.outcome for r in preview.records}[STRIPE_CUSTOMER] == "excluded"
    with pytest.raises(InvalidInput):
        review_access(ctx, request.id, exclude=["stripe:customer:cus_NOBODY"], approve=True)
    assert _files(folder) == {"report.json", "review.txt"}
    assert "access.reviewed" not in [e.kind for e in ledger.get(request.id).events]

    done = review_access(ctx, request.id, exclude=[STRIPE_CUSTOMER], include=[RECEIPT],
                         redact=[f"{RECEIPT}:products.0.comment"], approve=True)
    assert done.approved and done.folder == folder
    assert _files(folder) == {"report.json", "report.html", "export.zip", "cover-letter.txt",
                              "lookup.json"}
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "[removed: another person&#39;s data]" in html or \
        "[removed: another person's data]" in html
    assert CASHIER not in html and "ombokad" not in html and "cus_ANNA" not in html
    with zipfile.ZipFile(folder / "export.zip") as archive:
        exported = archive.read("report.json").decode("utf-8")
    assert CASHIER not in exported and "cus_ANNA" not in exported
    assert CASHIER not in (folder / "report.json").read_text(encoding="utf-8")
    assert CASHIER in (folder / "lookup.json").read_text(encoding="utf-8")  # operator's copy

    [event] = [e for e in ledger.get(request.id).events if e.kind == "access.reviewed"]
    assert event.details["excluded"] == [STRIPE_CUSTOMER]
    assert event.details["withheld"] == [FORTNOX_WEAK]
    assert f"{RECEIPT}:userDisplayName" in event.details["redacted"]
    assert event.details["decided_by"] and event.details["lang"] == "en"
    audit = AuditLog(ledger.engine, ctx.secret)
    [entry] = audit.entries(request.id)
    assert entry.action == "access.reviewed" and entry.seq == event.details["audit_seq"]
    assert CASHIER not in entry.details and ANNA not in entry.details
    assert audit.verify().ok

    # a second review starts from what was found, not from what the first one cut
    again = review_access(ctx, request.id, include=[RECEIPT, FORTNOX_WEAK], approve=True)
    assert again.approved
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "cus_ANNA" in html and "anna+shop@example.se" in html and CASHIER not in html
    assert len(audit.entries(request.id)) == 2 and audit.verify().ok

    ledger.close(request.id)
    with pytest.raises(InvalidInput, match="closed"):
        review_access(ctx, request.id, approve=True)


def test_without_review_or_without_flags_the_documents_are_written_at_once(
        database_url: str, tmp_path: Path) -> None:
    ctx = _context(database_url, tmp_path)
    ledger, request_id, folder = _answer(ctx)
    assert _files(folder) == {"report.json", "review.txt"}
    # --no-review: the documents at once, the earlier note gone, the choice in the history
    ledger, request_id, folder = _answer(ctx, review=False)
    assert _files(folder) == {"report.json", "report.html", "export.zip", "cover-letter.txt"}
    assert CASHIER in (folder / "report.html").read_text(encoding="utf-8")
    kinds = [e.kind for e in ledger.get(request_id).events]
    assert kinds.count("access.review-needed") == 1 and "access.review-skipped" in kinds
    # a new held lookup takes the earlier documents away: none older than it can be sent
    _answer(ctx)
    assert _files(folder) == {"report.json", "review.txt"}

    plain = lookup_result(request_id)
    plain.processors = plain.processors[:1]  # Stripe alone: found by her address only
    _, _, folder = _answer(ctx, plain)
    assert {"report.html", "export.zip", "cover-letter.txt"} <= _files(folder)
    assert "review.txt" not in _files(folder)


def test_a_draft_is_written_and_still_says_review_is_needed(database_url: str,
                                                            tmp_path: Path) -> None:
    ctx = _context(database_url, tmp_path, draft=True)
    ledger = Ledger(open_database(ctx.ledger_url))
    request, _ = ledger.find_or_open(ANNA, RequestType.ACCESS)
    [answer] = record_and_write(ctx, ledger, [lookup_result(request.id)], [request], lang="sv")
    assert answer.review.needed and not answer.review.withheld
    assert {"report.html", "cover-letter.txt", "export.zip"} <= _files(answer.folder)
    assert "UTKAST" in (answer.folder / "report.html").read_text(encoding="utf-8")


def test_a_request_without_a_lookup_or_of_another_type_cannot_be_reviewed(
        database_url: str, tmp_path: Path) -> None:
    ctx = _context(database_url, tmp_path)
    ledger = Ledger(open_database(ctx.ledger_url))
    access = ledger.open_request(ANNA, RequestType.ACCESS)
    with pytest.raises(InvalidInput, match="no lookup result"):
        review_access(ctx, access.id)
    erasure = ledger.open_request(ANNA, RequestType.ERASURE)
    with pytest.raises(InvalidInput, match="not access"):
        review_access(ctx, erasure.id)
    with pytest.raises(InvalidInput):
        review_access(ctx, "acc-19990101-000000-000000")
