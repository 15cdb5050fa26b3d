"""The request ledger: requests, deadlines, append-only history, extensions, audit export."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.subject import Identifier
from hub.store.ledger import (
    EXPORT_COLUMNS,
    ExtensionRefused,
    Ledger,
    LedgerError,
    LedgerRequest,
    RequestAlreadyOpen,
    RequestClosed,
    RequestEvent,
    RequestType,
    UnknownRequest,
)

ANNA = "anna.svensson@example.se"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger.open(database_url)


def test_open_request_computes_the_deadline_and_records_the_opening(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "access", received=date(2026, 12, 1),
                                  verified_by="replied from the address on file", now=NOW)
    assert re.fullmatch(r"acc-\d{8}-\d{6}-[0-9a-f]{6}", request.id)
    assert request.type == "access" and request.status == "open"
    assert request.received_on == date(2026, 12, 1)
    assert request.due_at == date(2027, 1, 4)  # New Year's Day, then a weekend
    assert request.deadline == request.due_at and request.extended_due_at is None
    assert request.identifiers == (("email", ANNA, "request"),)
    [opened] = request.events
    assert opened.kind == "opened" and opened.details["due_at"] == "2027-01-04"
    assert ANNA not in json.dumps(opened.details)  # events never carry the address


def test_every_type_gets_its_own_id_prefix(ledger: Ledger) -> None:
    prefixes = {ledger.open_request(ANNA, kind, now=NOW).id[:3] for kind in RequestType}
    assert len(prefixes) == len(RequestType)


def test_bad_input_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown request type"):
        ledger.open_request(ANNA, "deletion", now=NOW)
    with pytest.raises(LedgerError, match="in the future"):
        ledger.open_request(ANNA, "access", received=date(2026, 12, 5), now=NOW)
    with pytest.raises(UnknownRequest, match="no request with id"):
        ledger.get("acc-00000000-000000-000000")


def test_received_moment_is_a_swedish_calendar_day(ledger: Ledger) -> None:
    late_evening = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 00:30 on 1 Dec in Stockholm
    request = ledger.open_request(ANNA, "access", received=late_evening, now=NOW)
    assert request.received_on == date(2026, 12, 1)
    assert request.due_at == date(2027, 1, 4)


def test_writes_are_committed_at_once(database_url: str) -> None:
    url = database_url
    request = Ledger.open(url).open_request(ANNA, "erasure", now=NOW)
    again = Ledger.open(url)  # another process, say
    assert again.get(request.id).type == "erasure"


def test_find_open_request_ignores_letter_case_and_closed_requests(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "access", now=NOW)
    assert ledger.find_open_request("Anna.Svensson@Example.SE", "access").id == request.id
    assert ledger.find_open_request(ANNA, "erasure") is None
    assert ledger.find_open_request("erik@example.se", "access") is None
    found, created = ledger.find_or_open(ANNA, "access")
    assert found.id == request.id and not created
    ledger.close(request.id, now=NOW)
    assert ledger.find_open_request(ANNA, "access") is None
    fresh, created = ledger.find_or_open(ANNA, "access", now=NOW + timedelta(seconds=1))
    assert created and fresh.id != request.id


def test_one_open_request_per_subject_and_type(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "erasure", now=NOW)
    with pytest.raises(RequestAlreadyOpen, match=request.id) as refused:
        ledger.open_request("Anna.Svensson@Example.SE", "erasure", now=NOW)  # same mailbox
    assert refused.value.existing.id == request.id
    assert ledger.open_request(ANNA, "access", now=NOW).type == "access"  # another type
    ledger.close(request.id, now=NOW)
    with pytest.raises(RequestClosed):
        ledger.close(request.id, now=NOW)
    again = ledger.open_request(ANNA, "erasure", now=NOW + timedelta(seconds=1))
    assert again.id != request.id  # a closed request is no obstacle
    assert {r.id for r in ledger.list_requests(status=None) if r.type == "erasure"} == {
        request.id, again.id}


def test_two_processes_opening_one_subjects_request_at_once_share_it(database_url: str,
                                                                    monkeypatch) -> None:
    """Cron and a person start an erasure of one subject in the same instant: both look for
    an open request, find none, and open one. Exactly one request must come out of it."""
    url = database_url
    Ledger.open(url)
    both_looked = threading.Barrier(2, timeout=10)
    looked_once = threading.local()
    original = Ledger.find_open_request

    def find_then_wait(self: Ledger, email: str, type: str) -> LedgerRequest | None:
        found = original(self, email, type)
        if not getattr(looked_once, "done", False):  # only the first look of each process
            looked_once.done = True
            both_looked.wait()
        return found

    monkeypatch.setattr(Ledger, "find_open_request", find_then_wait)
    outcomes: list[tuple[str, bool]] = []

    def process(spelling: str) -> None:
        request, created = Ledger.open(url).find_or_open(spelling, "erasure")  # own engine
        outcomes.append((request.id, created))

    threads = [threading.Thread(target=process, args=(spelling,))
               for spelling in (ANNA, "Anna.Svensson@example.se")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2
    assert len({request_id for request_id, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False, True]
    assert len(Ledger.open(url).list_requests(status=None)) == 1


def test_the_one_open_request_rule_is_a_partial_unique_index_on_both_databases() -> None:
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex

    from hub.store.tables import DataSubjectRequest

    [index] = [i for i in DataSubjectRequest.__table__.indexes
               if i.name == "uq_requests_open_subject"]
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert str(CreateIndex(index).compile(dialect=dialect)) == (
            "CREATE UNIQUE INDEX uq_requests_open_subject ON requests (type, subject_key) "
            "WHERE status = 'open'")


def test_attach_appends_events_and_history_is_append_only(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "access", now=NOW)
    event = ledger.attach(request.id, "note", {"checked": "paper journal", "on": date(2026, 12, 3)})
    assert event.details == {"checked": "paper journal", "on": "2026-12-03"}
    assert [e.kind for e in ledger.get(request.id).events] == ["opened", "note"]
    with pytest.raises(UnknownRequest):
        ledger.attach("acc-nope", "note", {})
    with Session(ledger.engine) as session:
        stored = session.scalars(select(RequestEvent).where(RequestEvent.kind == "note")).one()
        stored.details = {"rewritten": True}
        with pytest.raises(LedgerError, match="append-only"):
            session.commit()
        session.rollback()
        session.delete(session.get(RequestEvent, stored.id))
        with pytest.raises(LedgerError, match="append-only"):
            session.commit()


def test_attach_report_keeps_counts_not_personal_data(ledger: Ledger, tmp_path: Path) -> None:
    request = ledger.open_request(ANNA, "access", now=NOW)
    report = Report(
        request=RequestInfo(id="acc-20261202-093000-abcdef", type="access", received_at=NOW,
                            due_at=date(2027, 1, 4), tool_version="0.1.0"),
        subject=SubjectInfo(email=ANNA, identifiers=[Identifier(kind="email", value=ANNA)]),
        processors=[
            ProcessorResult(name="stripe", status=ProcessorStatus.FOUND, records=[
                Record(type="customer", id="cus_1", matched_on="email",
                       data={"email": ANNA, "name": "Anna Svensson"})]),
            ProcessorResult(name="mailerlite", status=ProcessorStatus.ERROR, error="HTTP 500"),
        ])
    event = ledger.attach_report(request.id, report, tmp_path / report.request.id)
    assert event.kind == "access"
    assert event.details["processors"] == {"stripe": {"status": "found", "records": 1},
                                           "mailerlite": {"status": "error", "records": 0}}
    assert event.details["processors_complete"] is False
    assert "@" not in json.dumps(event.details) and "Anna" not in json.dumps(event.details)


def test_list_overdue_and_due_within(ledger: Ledger) -> None:
    early = ledger.open_request(ANNA, "access", received=date(2026, 10, 1), now=NOW)  # due 2 Nov
    soon = ledger.open_request("b@example.se", "erasure", received=date(2026, 11, 10), now=NOW)
    later = ledger.open_request("c@example.se", "objection", received=date(2026, 12, 1), now=NOW)
    done = ledger.open_request("d@example.se", "access", received=date(2026, 10, 2), now=NOW)
    ledger.close(done.id, now=NOW)
    today = date(2026, 12, 4)
    assert [r.id for r in ledger.list_requests(today=today)] == [early.id, soon.id, later.id]
    assert [r.id for r in ledger.list_requests(overdue=True, today=today)] == [early.id]
    assert soon.due_at == date(2026, 12, 10)
    assert [r.id for r in ledger.list_requests(due_within=7, today=today)] == [early.id, soon.id]
    assert [r.id for r in ledger.list_requests(due_within=timedelta(days=5), today=today)] == [
        early.id]
    assert {r.id for r in ledger.list_requests(status=None, today=today)} == {
        early.id, soon.id, later.id, done.id}
    assert ledger.list_requests(status="closed", today=today)[0].id == done.id
    assert early.overdue(today) and early.days_left(today) == -32


def test_an_extended_request_is_due_on_its_new_date(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "access", received=date(2026, 12, 1), now=NOW)
    extended = ledger.extend(request.id, "three systems searched by hand", today=date(2026, 12, 20),
                             now=NOW)
    assert extended.extended_due_at == date(2027, 3, 1) and extended.deadline == date(2027, 3, 1)
    assert extended.events[-1].kind == "extended"
    assert extended.events[-1].details["reason"] == "three systems searched by hand"
    assert ledger.list_requests(overdue=True, today=date(2027, 1, 20)) == []
    assert [r.id for r in ledger.list_requests(overdue=True, today=date(2027, 3, 2))] == [
        request.id]


def test_extension_limits(ledger: Ledger) -> None:
    request = ledger.open_request(ANNA, "access", received=date(2026, 12, 1), now=NOW)
    day = date(2026, 12, 10)
    with pytest.raises(ExtensionRefused, match="needs a reason"):
        ledger.extend(request.id, "  ", today=day)
    with pytest.raises(ExtensionRefused, match="at most 2 further months"):
        ledger.extend(request.id, "busy", months=3, today=day)
    with pytest.raises(ExtensionRefused, match="within one month of receipt"):
        ledger.extend(request.id, "busy", today=date(2027, 1, 5))
    assert ledger.extend(request.id, "busy", months=1, today=day).extended_due_at == date(
        2027, 2, 1)
    with pytest.raises(ExtensionRefused, match="already extended"):
        ledger.extend(request.id, "still busy", months=1, today=day)
    other = ledger.open_request("b@example.se", "access", received=date(2026, 12, 1), now=NOW)
    ledger.close(other.id, now=NOW)
    with pytest.raises(ExtensionRefused, match="closed"):
        ledger.extend(other.id, "busy", today=day)
    with pytest.raises(UnknownRequest):
        ledger.extend("acc-nope", "busy", today=day)


def test_export_csv_is_the_auditors_log(ledger: Ledger) -> None:
    first = ledger.open_request("åsa.öberg@example.se", "access", received=date(2026, 11, 2),
                                verified_by='called back, "known" number', now=NOW)
    ledger.extend(first.id, "many systems, one\nby hand", today=date(2026, 11, 20), now=NOW)
    second = ledger.open_request(ANNA, "erasure", received=date(2026, 11, 20), now=NOW)
    ledger.close(second.id, now=NOW)
    rows = list(csv.DictReader(io.StringIO(ledger.export_csv(), newline="")))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [r["id"] for r in rows] == [first.id, second.id]  # by receipt
    assert rows[0]["subject_email"] == "åsa.öberg@example.se"
    assert rows[0]["verified_by"] == 'called back, "known" number'
    assert rows[0]["extension_reason"] == "many systems, one\nby hand"
    assert rows[0]["deadline"] == rows[0]["extended_due_at"] == "2027-02-02"
    assert rows[1]["status"] == "closed" and rows[1]["closed_at"]
    assert "extended" in rows[0]["events"] and "closed" in rows[1]["events"]


def test_bind_report_gives_the_report_the_ledger_reference_and_deadline(ledger: Ledger) -> None:
    from hub.store.ledger import bind_report

    request = ledger.open_request(ANNA, "access", received=date(2026, 12, 1), now=NOW)
    request = ledger.extend(request.id, "busy", today=date(2026, 12, 2), now=NOW)
    report = Report(
        request=RequestInfo(id="acc-20261215-120000-ffffff", type="access", received_at=NOW,
                            due_at=date(2027, 1, 15), tool_version="0.1.0"),
        subject=SubjectInfo(email=ANNA, identifiers=[]), processors=[])
    bound = bind_report(report, request)
    assert bound.request.id == request.id
    assert bound.request.due_at == date(2027, 3, 1)
    assert bound.request.received_at == request.received_at
    assert report.request.id == "acc-20261215-120000-ffffff"  # the original is untouched
