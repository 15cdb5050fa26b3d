"""Executing and verifying an erasure plan with a fake connector: state committed around
every call, crash/resume without repeats, refusals, verification, audit without addresses."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

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
from hub.store.erasure_actions import ErasureLedger
from hub.store.ledger import Ledger
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
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


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
