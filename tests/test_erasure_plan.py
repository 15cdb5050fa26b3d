"""The erasure plan: one action per record from the retention policy; safety rails."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

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
from hub.requests.erasure import EXCLUDED, NotApprovable, build_plan, erasure_report, plan_rows
from hub.requests.erasure.plan import check_approvals, review_items
from hub.store.audit import AuditLog
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


def test_weak_matches_are_reviews_until_each_one_is_approved() -> None:
    lookup = report(found("stripe", rec("customer", "cus_plus", MatchStrength.PLUS_ADDRESS),
                          rec("customer", "cus_phone", MatchStrength.DERIVED)))
    plan = build_plan(lookup, default_policy(), [], TODAY)
    assert all(a.action == "manual" and a.state == "manual-open" and is_review(a.detail)
               for a in plan.actions)
    assert len(plan.weak) == 2
    assert all("--include-weak-matches" not in (a.instructions or "") for a in plan.actions)
    assert "--approve stripe:customer:cus_plus" in (plan.weak[0].instructions or "")
    one = build_plan(lookup, default_policy(), [], TODAY, approved={"stripe:customer:cus_plus"})
    actions = by_key(one.actions)
    assert actions["stripe", "customer", "cus_plus"].action == "delete"
    assert actions["stripe", "customer", "cus_plus"].state == "planned"
    # approving one weak match leaves the other one a review
    assert is_review(actions["stripe", "customer", "cus_phone"].detail)
    assert [a.record_id for a in one.weak] == ["cus_phone"]


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


def test_saving_a_plan_is_idempotent_and_keeps_states(tmp_path: Path,
                                                     database_url: str) -> None:
    ledger = Ledger.open(database_url)
    request = ledger.open_request(EMAIL, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
    lookup = report(found("stripe", rec("customer", "cus_1"),
                          rec("customer", "cus_plus", MatchStrength.PLUS_ADDRESS)))
    plan = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    assert plan[0].idempotency_key == f"{request.id}:stripe:customer:cus_1:delete"
    elog.set_state(plan[0].id, "done", detail="deleted")
    again = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    assert [(a.id, a.state) for a in again] == [(plan[0].id, "done"), (plan[1].id, "manual-open")]
    approving = build_plan(lookup, default_policy(), [], TODAY,
                           approved={"stripe:customer:cus_plus"}).actions
    again = elog.save_plan(request.id, approving)  # saving alone never replaces a review
    assert [(a.id, a.action) for a in again] == [(plan[0].id, "delete"), (plan[1].id, "manual")]
    [approved] = elog.approve(request.id, [a for a in approving if a.record_id == "cus_plus"])
    assert (approved.id, approved.action, approved.state) == (plan[1].id, "delete", "planned")
    upgraded = elog.plan(request.id)
    states = {a.record_id: (a.action, a.state) for a in upgraded}
    assert states == {"cus_1": ("delete", "done"), "cus_plus": ("delete", "planned")}
    assert upgraded[1].idempotency_key == f"{request.id}:stripe:customer:cus_plus:delete"
    kinds = [e.kind for e in ledger.get(request.id).events]
    assert kinds.count("erasure.planned") == 1 and "erasure.done" in kinds
    assert kinds.count("erasure.approved") == 1


# ------------------------------------------------------- whose a record is; one-by-one approval
ERIK_MAIL = "erik.svensson@example.com"
ERIK = "booking:customer:c-erik"


def by_phone(id_: str, **data) -> Record:
    return Record(type="customer", id=id_, matched_on="phone",
                  match_strength=MatchStrength.DERIVED, data=data)


def household() -> Report:
    """Anna (verified), her own customer under a work address found by her phone, Erik who
    shares her phone, and her +tag duplicate."""
    return report(
        found("booking",
              rec("customer", "c-anna", Firstname="Anna", Lastname="Svensson", Email=EMAIL,
                  Phone="070-123 45 67", PersonalIdentityNumber="19850709-1232"),
              by_phone("c-erik", Firstname="Erik", Lastname="Svensson", Email=ERIK_MAIL,
                       Phone="070 1234567"),
              by_phone("c-work", Firstname="Anna", Lastname="Svensson",
                       Email="anna@work.example.com", Phone="070 1234567")),
        found("fortnox", rec("customer", "10", MatchStrength.PLUS_ADDRESS, Name="Anna Svensson",
                             Email="anna+kurs@example.se")))


def test_someone_elses_record_is_never_planned_not_even_when_approved() -> None:
    for approved in (set(), {ERIK}):
        plan = build_plan(household(), default_policy(), [], TODAY, approved=approved)
        assert ("booking", "customer", "c-erik") not in by_key(plan.actions)
        assert [a.task for a in plan.excluded] == [ERIK]
        assert plan.excluded[0].state == EXCLUDED
    assert plan.matches[ERIK].conflict
    # the same name under another address, and the +tag duplicate: the operator decides
    assert {a.task for a in plan.weak} == {"booking:customer:c-work", "fortnox:customer:10"}
    with pytest.raises(NotApprovable, match="another person's record"):
        check_approvals([ERIK], plan)
    with pytest.raises(NotApprovable, match="not a record found"):
        check_approvals(["booking:customer:nobody"], plan)
    with pytest.raises(NotApprovable, match="needs no approval"):
        check_approvals(["booking:customer:c-anna"], plan)
    check_approvals(["booking:customer:c-work", "fortnox:customer:10"], plan)
    statuses = {i.ref: i.status for i in review_items(plan, {"fortnox:customer:10"})}
    assert statuses == {ERIK: "not-the-subject", "booking:customer:c-work": "awaiting-review",
                        "fortnox:customer:10": "approved"}


def test_a_weak_match_without_a_name_or_an_address_is_left_to_the_operator() -> None:
    lookup = report(found("booking", rec("customer", "c-anna", Firstname="Anna",
                                         Lastname="Svensson", Email=EMAIL),
                          by_phone("c-noname", Email=ERIK_MAIL, Phone="070 1234567"),
                          by_phone("c-nomail", Firstname="Erik", Lastname="Svensson")))
    plan = build_plan(lookup, default_policy(), [], TODAY)
    assert not plan.excluded
    assert {a.record_id for a in plan.weak} == {"c-noname", "c-nomail"}


def test_the_plan_shows_why_each_record_matched_and_whose_it_is() -> None:
    lookup = household()
    lookup.processors[0].records += [
        rec("booking", "b1", Customer={"Firstname": "Anna", "Lastname": "Svensson"}),
        rec("booking", "b2", Customer={"Firstname": "Anna", "Lastname": "Svensson"}),
        rec("booking", "b3", Customer={"Firstname": "Maria", "Lastname": "Berg"})]
    plan = build_plan(lookup, default_policy(), [], TODAY, approved={"fortnox:customer:10"})
    rows = plan_rows([*plan.actions, *plan.excluded], plan.matches, {"fortnox:customer:10"})
    by_record = {r["ref"] or r["record"]: r for r in rows}
    anna = by_record["customer c-anna"]
    assert anna["matched"] == "email, exact"
    assert anna["identity"] == "Anna Svensson · subject's address · +46701234567 · 19850709-****"
    erik = by_record[ERIK]
    assert (erik["matched"], erik["state"]) == ("phone, derived", EXCLUDED)
    assert erik["identity"] == f"Erik Svensson · {ERIK_MAIL} · +46701234567"
    assert by_record["booking:customer:c-work"]["state"] == "manual-open"
    fortnox = by_record["customer 10"]
    assert fortnox["matched"] == "email, plus-address, approved"
    assert fortnox["identity"] == "Anna Svensson · subject's address +kurs"
    assert fortnox["action"] == "anonymise" and not fortnox["ref"]
    # like records of one person share a row; another person's never does
    assert by_record["2 × booking"]["identity"] == "Anna Svensson"
    assert by_record["booking b3"]["identity"] == "Maria Berg"
    shown = json.dumps(rows, ensure_ascii=False)
    assert "1232" not in shown and EMAIL not in shown


def test_the_erasure_report_holds_only_the_subjects_records() -> None:
    lookup = household()
    approved = {"fortnox:customer:10"}
    plan = build_plan(lookup, default_policy(), [], TODAY, approved=approved)
    erasure = erasure_report(lookup, plan.actions, request_id="era-1", verification=None,
                             suppressed=False, today=TODAY, approved=approved)
    text = erasure.model_dump_json()
    records = {(p.name, r.id) for p in erasure.processors for r in p.records}
    assert records == {("booking", "c-anna"), ("fortnox", "10")}
    for other in (ERIK_MAIL, "Erik", "c-erik", "070 1234567", "anna@work.example.com", "c-work"):
        assert other not in text


def test_approvals_are_recorded_one_by_one_in_the_ledger_and_the_audit_log(
        tmp_path: Path, database_url: str) -> None:
    ledger = Ledger.open(database_url)
    request = ledger.open_request(EMAIL, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
    saved = elog.save_plan(request.id, build_plan(household(), default_policy(), [],
                                                  TODAY).actions)
    reviews = {a.task: a for a in saved if is_review(a.detail)}
    approving = build_plan(household(), default_policy(), [], TODAY,
                           approved={"fortnox:customer:10"}).actions
    [done] = elog.approve(request.id, [a for a in approving if a.task == "fortnox:customer:10"])
    assert done.id == reviews["fortnox:customer:10"].id and done.state == "planned"
    assert elog.approve(request.id, [done]) == []  # already decided: nothing recorded twice
    after = {a.task: a for a in elog.plan(request.id)}
    assert is_review(after["booking:customer:c-work"].detail)  # untouched
    events = [e for e in ledger.get(request.id).events if e.kind == "erasure.approved"]
    assert [(e.details["task"], e.details["match_strength"], e.details["action"])
            for e in events] == [("fortnox:customer:10", "plus-address", "anonymise")]
    audit = [e for e in AuditLog(ledger.engine, tmp_path / "key").entries(request.id)
             if e.action == "erasure.approved"]
    assert len(audit) == 1 and "fortnox:customer:10" in audit[0].details
    assert EMAIL not in audit[0].details



def test_an_approval_given_again_after_the_record_is_gone_is_accepted() -> None:
    plan = build_plan(report(found("booking", rec("customer", "c-anna", Firstname="Anna",
                                                  Lastname="Svensson", Email=EMAIL))),
                      default_policy(), [], TODAY, approved={"fortnox:customer:10"})
    check_approvals(["fortnox:customer:10"], plan, already={"fortnox:customer:10"})
    with pytest.raises(NotApprovable, match="not a record found"):
        check_approvals(["fortnox:customer:10"], plan)
