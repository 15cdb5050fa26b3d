"""The erasure plan: one action per record from the retention policy; safety rails."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from hub.core.inventory import InventoryEntry
from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.retention import default_policy
from hub.core.subject import MatchStrength
from hub.requests.erasure import build_plan, plan_rows
from hub.store.erasure_actions import ErasureLedger, PlannedAction, is_review
from hub.store.ledger import Ledger

TODAY = date(2026, 6, 1)
EMAIL = "anna@example.se"


def rec(type_: str, id_: str, strength: MatchStrength = MatchStrength.EXACT, **data) -> Record:
    return Record(type=type_, id=id_, matched_on="email", match_strength=strength, data=data)


def report(*results: ProcessorResult) -> Report:
    return Report(
        request=RequestInfo(id="acc-1", type="access", received_at=datetime.now(UTC),
                            due_at=TODAY, tool_version="t"),
        subject=SubjectInfo(email=EMAIL, identifiers=[]), processors=list(results))


def found(name: str, *records: Record) -> ProcessorResult:
    return ProcessorResult(name=name, status=ProcessorStatus.FOUND, records=list(records))


def by_key(plan: list[PlannedAction]) -> dict[tuple[str, str, str], PlannedAction]:
    return {a.key: a for a in plan}


def test_each_record_gets_its_policy_action_and_retained_until() -> None:
    lookup = report(
        found("stripe", rec("customer", "cus_1"), rec("charge", "ch_1", created=1_560_000_000)),
        found("mailerlite", rec("subscriber", "7", MatchStrength.CASE_INSENSITIVE)),
        found("fortnox", rec("customer", "1"), rec("invoice", "5", InvoiceDate="2019-03-14")))
    plan = build_plan(lookup, default_policy(), [], TODAY)
    actions = by_key(plan.actions)
    assert actions["stripe", "customer", "cus_1"].action == "delete"
    assert actions["stripe", "customer", "cus_1"].state == "planned"
    charge = actions["stripe", "charge", "ch_1"]
    assert (charge.action, charge.state) == ("retain", "retained")
    assert charge.retained_until == date(2026, 12, 31)  # 2019 + 7 years, through 31 Dec
    assert "Bokföringslagen" in charge.legal_basis
    assert actions["mailerlite", "subscriber", "7"].action == "delete"
    fortnox = actions["fortnox", "customer", "1"]
    assert fortnox.action == "anonymise" and "Email" in fortnox.fields
    assert actions["fortnox", "invoice", "5"].retained_until == date(2026, 12, 31)
    assert not plan.unreachable


def test_weak_matches_are_reviews_unless_included() -> None:
    lookup = report(found("stripe", rec("customer", "cus_plus", MatchStrength.PLUS_ADDRESS),
                          rec("customer", "cus_phone", MatchStrength.DERIVED)))
    plan = build_plan(lookup, default_policy(), [], TODAY)
    assert all(a.action == "manual" and a.state == "manual-open" and is_review(a.detail)
               for a in plan.actions)
    assert len(plan.weak) == 2
    included = build_plan(lookup, default_policy(), [], TODAY, include_weak=True)
    assert {a.action for a in included.actions} == {"delete"} and not included.weak


def test_unknown_record_type_is_never_erased() -> None:
    plan = build_plan(report(found("stripe", rec("mystery", "x1"))), default_policy(), [], TODAY)
    [action] = plan.actions
    assert action.action == "manual" and action.state == "manual-open"


def test_unreachable_processor_and_inventory_tasks() -> None:
    lookup = report(ProcessorResult(name="mailerlite", status=ProcessorStatus.ERROR,
                                    error="HTTP 500"),
                    found("stripe", rec("customer", "cus_1")))
    inventory = [
        InventoryEntry(key="journals", system="Paper journals",
                       manual_instructions="Shred the journal."),
        InventoryEntry(key="booking", system="Bookings", connector="booking"),
        InventoryEntry(key="stripe", system="Stripe", connector="stripe"),
    ]
    plan = build_plan(lookup, default_policy(), inventory, TODAY)
    assert plan.unreachable == {"mailerlite": "HTTP 500"}
    tasks = {a.processor: a for a in plan.actions if a.record_type == "task"}
    assert set(tasks) == {"journals", "booking"}  # stripe ran and has no manual step
    assert "Shred the journal." in (tasks["journals"].instructions or "")
    assert "paper journals are destroyed by hand" in tasks["journals"].legal_basis
    assert "did not run" in (tasks["booking"].instructions or "")
    assert tasks["journals"].task == "journals"


def test_plan_rows_group_many_records() -> None:
    charges = [rec("charge", f"ch_{i}", created=1_560_000_000) for i in range(40)]
    plan = build_plan(report(found("stripe", rec("customer", "cus_1"), *charges)),
                      default_policy(), [], TODAY)
    rows = plan_rows(plan.actions)
    assert len(rows) == 2
    charge_row = next(r for r in rows if r["action"] == "retain")
    assert charge_row["record"] == "40 × charge" and charge_row["retained_until"] == "2026-12-31"
    assert charge_row["legal_basis"].startswith("Bokföringslagen")


def test_saving_a_plan_is_idempotent_and_keeps_states(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite3'}")
    request = ledger.open_request(EMAIL, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
    lookup = report(found("stripe", rec("customer", "cus_1"),
                          rec("customer", "cus_plus", MatchStrength.PLUS_ADDRESS)))
    plan = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    assert plan[0].idempotency_key == f"{request.id}:stripe:customer:cus_1:delete"
    elog.set_state(plan[0].id, "done", detail="deleted")
    again = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    assert [(a.id, a.state) for a in again] == [(plan[0].id, "done"), (plan[1].id, "manual-open")]
    upgraded = elog.save_plan(
        request.id, build_plan(lookup, default_policy(), [], TODAY, include_weak=True).actions,
        replace_reviews=True)
    states = {a.record_id: (a.action, a.state) for a in upgraded}
    assert states == {"cus_1": ("delete", "done"), "cus_plus": ("delete", "planned")}
    kinds = [e.kind for e in ledger.get(request.id).events]
    assert kinds.count("erasure.planned") == 2 and "erasure.done" in kinds
