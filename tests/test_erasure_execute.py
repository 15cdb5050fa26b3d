"""Executing and verifying an erasure plan with a fake connector: state committed around
every call, crash/resume without repeats, refusals, verification, audit without addresses."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
)
from hub.core.models import ProcessorResult, ProcessorStatus, RecordAction
from hub.core.retention import default_policy
from hub.requests.erasure import (
    build_plan,
    erasure_report,
    execute,
    notifications,
    open_work,
    verify,
)
from hub.store.audit import AuditLog
from hub.store.erasure_actions import CLAIM_TIMEOUT, ErasureLedger, PlannedAction
from hub.store.ledger import Ledger
from hub.store.tables import ErasureActionRow
from tests.test_erasure_plan import EMAIL, TODAY, found, rec, report


class Crash(BaseException):
    """Stands in for SIGKILL right after the processor received the call."""


class FakeConnector(Connector):
    name = "stripe"
    title = "Fake Stripe"
    docs_url = "https://example.invalid"
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE})
    settings_model = ConnectorSettings

    def __init__(self, *, crash_after: int | None = None, refuse: bool = False,
                 not_implemented: bool = False) -> None:
        super().__init__(ConnectorSettings(base_url="http://fake.invalid"))
        self.calls: list[tuple[str, str, str]] = []
        self.applied: set[str] = set()  # record ids the "processor" has erased
        self.crash_after, self.refuse, self.not_implemented = crash_after, refuse, not_implemented

    async def find_subject(self, subject):  # pragma: no cover - not used
        return Findings()

    async def check_credentials(self) -> str:  # pragma: no cover - not used
        return "ok"

    async def erase(self, record, action, *, idempotency_key, fields=()):
        if self.not_implemented:
            raise NotImplementedError
        self.calls.append((record.id, action.value, idempotency_key))
        if self.refuse and action is ErasureAction.DELETE:
            return ErasureOutcome(state=ErasureState.REFUSED, detail="has invoices",
                                  fallback=ErasureAction.ANONYMISE)
        self.applied.add(record.id)
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise Crash
        return ErasureOutcome(state=ErasureState.DONE, detail="deleted",
                              completes_by=TODAY + timedelta(days=30)
                              if record.type == "subscriber" else None)


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger.open(database_url)


def start(ledger: Ledger, tmp_path: Path, lookup):
    request = ledger.open_request(EMAIL, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
    plan = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    return request, elog, plan


def lookup_without(fake: FakeConnector, *records):
    """What a fresh lookup returns: the records the fake has not erased."""
    return report(found("stripe", *[r for r in records if r.id not in fake.applied]))


RECORDS = (rec("customer", "cus_1"), rec("customer", "cus_2"), rec("payment_method", "pm_1"),
           rec("charge", "ch_1", created=1_700_000_000))


def test_execute_then_verify_marks_done_and_audits_without_address(ledger, tmp_path) -> None:
    lookup = report(found("stripe", *RECORDS))
    request, elog, plan = start(ledger, tmp_path, lookup)
    fake = FakeConnector()
    plan = asyncio.run(execute(plan, lookup, {"stripe": fake}, elog))
    assert Counter(a.state for a in plan) == {"done": 3, "retained": 1}
    assert [c[2] for c in fake.calls] == [
        f"{request.id}:stripe:customer:cus_1:delete", f"{request.id}:stripe:customer:cus_2:delete",
        f"{request.id}:stripe:payment_method:pm_1:delete"]
    result, plan = verify(plan, lookup_without(fake, *RECORDS), elog)
    assert result.ok and result.checked == 3 and not open_work(plan)
    assert [n.recipient for n in notifications(plan, TODAY)] == ["stripe"]
    entries = AuditLog(ledger.engine, tmp_path / "key").entries(request.id)
    assert [e.action for e in entries].count("erasure.done") == 3
    assert all(EMAIL not in e.details for e in entries)
    assert AuditLog(ledger.engine, tmp_path / "key").verify().ok
    erasure = erasure_report(lookup, plan, request_id=request.id, verification=result,
                             suppressed=True, today=TODAY)
    assert erasure.request.type == "erasure"
    actions = {r.id: r for r in erasure.processors[0].records}
    assert actions["cus_1"].action is RecordAction.DELETED
    assert actions["ch_1"].action is RecordAction.RETAINED and actions["ch_1"].retained_until
    assert any("Art. 19" in n for n in erasure.processors[0].notes)


def test_crash_after_the_call_then_resume_never_repeats(ledger, tmp_path) -> None:
    lookup = report(found("stripe", *RECORDS))
    request, elog, plan = start(ledger, tmp_path, lookup)
    fake = FakeConnector(crash_after=2)  # the processor applied cus_2, then we "died"
    with pytest.raises(Crash):
        asyncio.run(execute(plan, lookup, {"stripe": fake}, elog))
    states = {a.record_id: (a.state, a.attempts) for a in elog.plan(request.id)}
    assert states["cus_1"] == ("done", 1)
    assert states["cus_2"] == ("planned", 1)  # attempted, outcome unknown: committed before
    fake.crash_after = None
    fresh = lookup_without(fake, *RECORDS)  # the re-run's lookup no longer finds cus_2
    plan = asyncio.run(execute(elog.plan(request.id), fresh, {"stripe": fake}, elog))
    assert Counter(c[0] for c in fake.calls) == {"cus_1": 1, "cus_2": 1, "pm_1": 1}
    assert {a.record_id: a.state for a in plan if a.action == "delete"} == {
        "cus_1": "done", "cus_2": "done", "pm_1": "done"}
    again = asyncio.run(execute(plan, lookup_without(fake, *RECORDS), {"stripe": fake}, elog))
    assert len(fake.calls) == 3 and again == plan  # a second run is a no-op


def test_not_implemented_fails_clearly_and_resumes_later(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1")))
    _, elog, plan = start(ledger, tmp_path, lookup)
    plan = asyncio.run(execute(plan, lookup, {"stripe": FakeConnector(not_implemented=True)},
                               elog))
    assert plan[0].state == "failed" and "does not implement erasure" in plan[0].detail
    assert open_work(plan) == {"failed": 1}
    fake = FakeConnector()
    plan = asyncio.run(execute(plan, lookup, {"stripe": fake}, elog))
    assert plan[0].state == "done" and len(fake.calls) == 1


def test_processor_down_is_failed_not_attempted(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1")))
    _, elog, plan = start(ledger, tmp_path, lookup)
    down = report(ProcessorResult(name="stripe", status=ProcessorStatus.ERROR, error="HTTP 503"))
    fake = FakeConnector()
    plan = asyncio.run(execute(plan, down, {"stripe": fake}, elog))
    assert plan[0].state == "failed" and "HTTP 503" in plan[0].detail and not fake.calls


def test_refusal_with_fallback_anonymises(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1")))
    request, elog, plan = start(ledger, tmp_path, lookup)
    fake = FakeConnector(refuse=True)
    plan = asyncio.run(execute(plan, lookup, {"stripe": fake}, elog))
    assert [c[1] for c in fake.calls] == ["delete", "anonymise"]
    assert fake.calls[1][2] == f"{request.id}:stripe:customer:cus_1:anonymise"
    assert plan[0].state == "done" and "instead" in plan[0].detail


def test_verification_catches_a_record_still_present(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1")))
    _, elog, plan = start(ledger, tmp_path, lookup)
    plan = asyncio.run(execute(plan, lookup, {"stripe": FakeConnector()}, elog))
    result, plan = verify(plan, lookup, elog)  # the lookup still finds it
    assert not result.ok and plan[0].state == "failed"
    assert "still present" in result.problems[0]


def test_due_lists_expired_holds(ledger, tmp_path) -> None:
    old = rec("charge", "ch_old", created=1_300_000_000)  # 2011: hold ended 2018-12-31
    new = rec("charge", "ch_new", created=1_700_000_000)
    lookup = report(found("stripe", old, new))
    request, elog, _ = start(ledger, tmp_path, lookup)
    # the plan decides with today's date, so the 2011 charge is erasable at once (anonymise)
    states = {a.record_id: (a.action, a.state) for a in elog.plan(request.id)}
    assert states == {"ch_old": ("anonymise", "planned"), "ch_new": ("retain", "retained")}
    [due] = elog.due(date(2031, 1, 1))
    assert due.record_id == "ch_new" and not elog.due(date(2030, 12, 31))


def test_close_pseudonymises_ledger_and_audit(ledger, tmp_path) -> None:
    from hub.requests.erasure import close_request

    lookup = report(found("stripe", rec("customer", "cus_1")))
    request, elog, plan = start(ledger, tmp_path, lookup)
    asyncio.run(execute(plan, lookup, {"stripe": FakeConnector()}, elog))
    close_request(ledger, request.id, tmp_path / "key", note="done")
    closed = ledger.get(request.id)
    assert closed.status == "closed" and closed.subject_email is None
    assert all(value.startswith("keyed:") for _, value, _ in closed.identifiers)
    audit = AuditLog(ledger.engine, tmp_path / "key")
    assert all(e.subject_email is None for e in audit.entries(request.id))
    assert audit.verify().ok


class MeetingConnector(FakeConnector):
    """A processor two runs call at the same moment: the first call of each run waits until
    both runs are inside an erase call, so both have read the plan before either finished."""

    def __init__(self) -> None:
        super().__init__()
        self.both_calling = threading.Barrier(2, timeout=10)
        self._guard = threading.Lock()

    async def erase(self, record, action, *, idempotency_key, fields=()):
        with self._guard:
            first_two = len(self.calls) < 2
            self.calls.append((record.id, action.value, idempotency_key))
        if first_two:
            self.both_calling.wait()
        self.applied.add(record.id)
        return ErasureOutcome(state=ErasureState.DONE, detail="deleted")


def test_two_runs_at_once_call_the_processor_once_per_action(tmp_path, database_url) -> None:
    """Two processes (own engines on one database) execute the same saved plan at once:
    every action is claimed by exactly one of them, and each record is erased once."""
    url = database_url
    records = (rec("customer", "cus_1"), rec("customer", "cus_2"), rec("customer", "cus_3"),
               rec("payment_method", "pm_1"))
    lookup = report(found("stripe", *records))
    request, _, plan = start(Ledger.open(url), tmp_path, lookup)
    fake = MeetingConnector()
    finished: list[list[PlannedAction]] = []

    def run() -> None:
        ledger = Ledger.open(url)
        elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
        finished.append(asyncio.run(execute(plan, lookup, {"stripe": fake}, elog)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(finished) == 2
    assert Counter(record_id for record_id, _, _ in fake.calls) == {
        "cus_1": 1, "cus_2": 1, "cus_3": 1, "pm_1": 1}
    final = ErasureLedger(Ledger.open(url).engine).plan(request.id)
    assert {a.record_id: a.state for a in final} == {
        "cus_1": "done", "cus_2": "done", "cus_3": "done", "pm_1": "done"}
    assert all(a.attempts == 1 for a in final)
    done_events = [e for e in Ledger.open(url).get(request.id).events if e.kind == "erasure.done"]
    assert len(done_events) == 4  # each action finished once, by the run that claimed it


def test_a_claim_is_exclusive_until_its_holder_is_gone(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1")))
    _, first, plan = start(ledger, tmp_path, lookup)
    second = ErasureLedger(ledger.engine)
    action_id = plan[0].id
    claimed = first.claim(action_id)
    assert claimed is not None and claimed.state == "in-progress"
    assert second.claim(action_id) is None  # held by a live run
    assert first.claim(action_id) is None  # not twice by the same run either

    # The holder was killed (SIGKILL): a process of this machine that no longer runs.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with Session(ledger.engine) as session, session.begin():
        row = session.get(ErasureActionRow, action_id)
        row.claimed_by = f"{socket.gethostname()}:{gone.stdout.strip()}:dead"
    assert second.claim(action_id) is not None  # taken over at once

    # A holder elsewhere (another machine) keeps its claim until the timeout.
    with Session(ledger.engine) as session, session.begin():
        row = session.get(ErasureActionRow, action_id)
        row.claimed_by = "another-host:1:x"
        row.claimed_at = datetime.now(UTC) - CLAIM_TIMEOUT + timedelta(minutes=1)
    assert first.claim(action_id) is None
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert first.claim(action_id, now=later) is not None

    first.release(action_id)
    assert first.action(action_id).state == "planned"
    assert first.claim(action_id) is not None
    done = first.set_state(action_id, "done")
    assert done.state == "done" and second.claim(action_id) is None  # finished: nobody's


def test_an_action_another_run_holds_is_skipped_and_left_alone(ledger, tmp_path) -> None:
    lookup = report(found("stripe", rec("customer", "cus_1"), rec("customer", "cus_2")))
    _, elog, plan = start(ledger, tmp_path, lookup)
    other_run = ErasureLedger(ledger.engine)
    assert other_run.claim(plan[0].id) is not None
    fake = FakeConnector()
    after = asyncio.run(execute(plan, lookup, {"stripe": fake}, elog))
    assert [c[0] for c in fake.calls] == ["cus_2"]
    assert {a.record_id: a.state for a in after} == {"cus_1": "in-progress", "cus_2": "done"}
    assert open_work(after) == {"in-progress": 1}


def test_deferred_erasure_skips_a_record_another_run_is_erasing(ledger, tmp_path) -> None:
    from hub.config.settings import HubSettings
    from hub.requests.context import RequestContext
    from hub.requests.erasure.retention import erase_due

    lookup = report(found("stripe", rec("charge", "ch_new", created=1_700_000_000)))
    _, elog, _ = start(ledger, tmp_path, lookup)
    [due] = elog.due(date(2031, 1, 1))
    ctx = RequestContext(HubSettings(state_dir=tmp_path, retention=default_policy()), {})
    other_run = ErasureLedger(ledger.engine)
    assert other_run.claim(due.id, ("retained",)) is not None  # a second cron entry has it
    fake = FakeConnector()
    [skipped] = asyncio.run(erase_due(ctx, [due], {"stripe": fake}, elog))
    assert skipped.state == "in-progress" and not fake.calls
    other_run.release(due.id, "retained")
    [erased] = asyncio.run(erase_due(ctx, elog.due(date(2031, 1, 1)), {"stripe": fake}, elog))
    assert erased.state == "done" and [c[0] for c in fake.calls] == ["ch_new"]
    assert not elog.due(date(2031, 1, 1))
