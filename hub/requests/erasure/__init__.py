"""The erasure job (GDPR Art. 17): plan, execute, verify.

1. **Plan** (:func:`build_plan`): from a lookup, one action per record, decided by the retention
   policy (``retention.decide``): ``delete``, ``anonymise``, ``retain`` (legal basis and
   last day kept) or ``manual``. Only records matched on the subject's verified address
   (``exact`` / ``case-insensitive``) are planned; records matched only by a weaker identifier
   (``plus-address``, ``derived``) become review tasks unless ``include_weak`` is set. Systems
   of the processing inventory without a connector, connectors that did not run and entries
   with ``manual_instructions`` become manual tasks.
2. **Execute** (:func:`execute`): the plan is already in the ledger
   (``store.erasure_actions``); each ``delete``/``anonymise`` action is committed as attempted
   before its external call and with its outcome after, so a crash loses nothing. A re-run
   first reconciles: a record that was attempted and is no longer found (or is found already
   anonymised) is done without a second call; otherwise the call is repeated with the same
   idempotency key, which the processor treats as the same request.
3. **Verify** (:func:`verify`): look the subject up again; every done record must be gone or
   anonymised (a pending MailerLite forget, with its ``completes_by`` date, is accepted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.sdk.base import Connector, ErasureAction, ErasureOutcome, ErasureState
from hub.core.errors import as_connector_error
from hub.core.inventory import InventoryEntry
from hub.core.models import (
    ManualItem,
    ProcessorResult,
    ProcessorStatus,
    Record,
    RecordAction,
    Report,
)
from hub.core.retention import RetentionPolicy, decide
from hub.core.subject import MatchStrength
from hub.store.erasure_actions import (
    REVIEW_PREFIX,
    ActionState,
    ErasureLedger,
    PlannedAction,
    idempotency_key,
    initial_state,
    is_review,
)

log = logging.getLogger(__name__)

#: Matches on the subject's verified address: these records may be erased.
VERIFIED_MATCHES = frozenset({MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE})
ERASING = frozenset({"delete", "anonymise"})
TASK = "task"


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The proposed actions, and the processors that could not be searched (so nothing of
    theirs could be planned: the request stays open until a re-run reaches them)."""

    actions: list[PlannedAction]
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def weak(self) -> list[PlannedAction]:
        return [a for a in self.actions if is_review(a.detail)]


def record_key(processor: str, record: Record) -> tuple[str, str, str]:
    return (processor, record.type, record.id)


def _short_basis(text: str, limit: int = 48) -> str:
    """The head of a legal basis (the law and article), for the plan table."""
    head = text.split(": ", 1)[0].split("; ", 1)[0]
    return head if len(head) <= limit else head[:limit - 1].rstrip() + "…"


def build_plan(lookup: Report, policy: RetentionPolicy, inventory: Sequence[InventoryEntry],
               today: date, *, include_weak: bool = False) -> Plan:
    """The erasure plan for the records of ``lookup`` (see the module docstring)."""
    actions: list[PlannedAction] = []
    unreachable: dict[str, str] = {}
    ran = set()
    for result in lookup.processors:
        ran.add(result.name)
        if result.status in (ProcessorStatus.ERROR, ProcessorStatus.SKIPPED):
            unreachable[result.name] = result.error or result.status.value
        for record in result.records:
            actions.append(_plan_record(result.name, record, policy, today, include_weak))
        if result.status == ProcessorStatus.MANUAL:
            actions.append(PlannedAction(
                state=ActionState.MANUAL_OPEN.value, processor=result.name, record_type=TASK,
                record_id=result.name, action="manual",
                legal_basis="GDPR Art. 17(1): the processor could not be searched automatically",
                instructions="; ".join(result.notes) or f"search {result.name} by hand and erase "
                "what belongs to the subject"))
    for entry in inventory:
        task = _inventory_task(entry, ran, policy, today)
        if task is not None:
            actions.append(task)
    return Plan(actions, unreachable)


def _plan_record(processor: str, record: Record, policy: RetentionPolicy, today: date,
                 include_weak: bool) -> PlannedAction:
    if record.match_strength not in VERIFIED_MATCHES and not include_weak:
        return PlannedAction(
            processor=processor, record_type=record.type, record_id=record.id,
            matched_on=record.matched_on, action="manual",
            legal_basis="not erased: matched only on a weaker identifier than the verified "
                        f"address ({record.matched_on}, {record.match_strength.value})",
            state=ActionState.MANUAL_OPEN.value,
            detail=f"{REVIEW_PREFIX} ({record.match_strength.value}): review",
            instructions="Check whether this record belongs to the subject. If it does, run "
                         "`dsar erase EMAIL --include-weak-matches`; if not, close the task "
                         "with `dsar requests task done ID TASK --note ...`.")
    decision = decide(processor, record.type, record.data, policy, today)
    return PlannedAction(
        state=initial_state(decision.action.value).value,
        processor=processor, record_type=record.type, record_id=record.id,
        matched_on=record.matched_on, action=decision.action.value,
        legal_basis=decision.legal_basis, retained_until=decision.retained_until,
        fields=tuple(decision.anonymise_fields),
        instructions=decision.instructions or (decision.note if decision.action.value == "manual"
                                               else None),
        detail=decision.note)


def _inventory_task(entry: InventoryEntry, ran: set[str], policy: RetentionPolicy,
                    today: date) -> PlannedAction | None:
    if entry.connector is None:
        instructions = entry.manual_instructions or f"Erase the subject's data in {entry.system}."
    elif entry.connector not in ran:
        instructions = (f"The {entry.connector} connector did not run (not installed or not "
                        f"enabled): erase the subject's data in {entry.system} by hand, or "
                        "enable it and resume the request.")
    elif entry.manual_instructions:
        instructions = entry.manual_instructions
    else:
        return None
    decision = decide(entry.key, "*", {}, policy, today)
    return PlannedAction(state=ActionState.MANUAL_OPEN.value, processor=entry.key,
                         record_type=TASK, record_id=entry.key,
                         action="manual", legal_basis=decision.legal_basis,
                         instructions=f"{entry.system}: {instructions}")


# ---------------------------------------------------------------------------------------------
# Execute
# ---------------------------------------------------------------------------------------------


@dataclass
class Notification:
    """An Art. 19 notification: a recipient told of the erasure."""

    recipient: str
    how: str  # "api" | "manual"
    on: date
    records: int


def found_records(lookup: Report) -> dict[tuple[str, str, str], Record]:
    return {record_key(r.name, rec): rec for r in lookup.processors for rec in r.records}


def _reconciled(action: PlannedAction, record: Record | None) -> str | None:
    """Why an action needs no call (the record is gone or already anonymised), or None."""
    if record is None:
        return "not found at the processor any more (already erased)"
    if action.action == "anonymise" and action.fields and all(
            record.data.get(name) in (None, "", [], {}) for name in action.fields):
        return "already anonymised"
    return None


async def _call(connector: Connector, record: Record, action: ErasureAction, key: str,
                fields: Sequence[str]) -> ErasureOutcome:
    try:
        return await connector.erase(record, action, idempotency_key=key, fields=fields)
    except NotImplementedError:
        return ErasureOutcome(state=ErasureState.FAILED,
                              detail=f"the {connector.name} connector does not implement "
                                     "erasure yet; resume the request when it does")
    except Exception as exc:  # one processor's failure must not stop the others
        error = as_connector_error(exc, connector.title)
        if error is None:
            log.exception("%s: unexpected error in erase", connector.name)
            return ErasureOutcome(state=ErasureState.FAILED,
                                  detail=f"unexpected error in the {connector.name} connector "
                                         f"({type(exc).__name__}); run with -vv for details")
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))


async def execute(
    plan: Sequence[PlannedAction],
    lookup: Report,
    opened: Mapping[str, Connector],
    elog: ErasureLedger,
    *,
    on_change: Callable[[PlannedAction], None] | None = None,
) -> list[PlannedAction]:
    """Run every ``delete``/``anonymise`` action that is planned or failed; return the plan
    with its new states. ``opened`` are the connectors (open) by name.

    Deletions run first: deleting a parent often takes its dependents with it (Stripe cancels
    a deleted customer's subscriptions and detaches its cards; a booking system deletes a
    customer's bookings), so the later actions find them already gone instead of acting on
    them one by one."""
    records = found_records(lookup)
    statuses = {r.name: r for r in lookup.processors}
    result: list[PlannedAction] = list(plan)
    order = sorted(range(len(plan)), key=lambda i: plan[i].action != ErasureAction.DELETE.value)
    for index in order:
        action = plan[index]
        if action.action not in ERASING or ActionState(action.state) not in (
                ActionState.PLANNED, ActionState.FAILED):
            continue
        assert action.id is not None
        new = await _execute_one(action, records, statuses, opened, elog)
        if on_change:
            on_change(new)
        result[index] = new
    return result


async def _execute_one(action: PlannedAction, records: Mapping[tuple[str, str, str], Record],
                       statuses: Mapping[str, ProcessorResult], opened: Mapping[str, Connector],
                       elog: ErasureLedger) -> PlannedAction:
    assert action.id is not None
    processor = statuses.get(action.processor)
    connector = opened.get(action.processor)
    if processor is None or connector is None or processor.status in (
            ProcessorStatus.ERROR, ProcessorStatus.SKIPPED):
        reason = (processor.error if processor and processor.error
                  else "the processor is not enabled or could not be reached")
        return elog.set_state(action.id, ActionState.FAILED,
                              detail=f"not attempted: {reason}; resume the request later")
    record = records.get(action.key)
    reconciled = _reconciled(action, record)
    if reconciled is not None:
        return elog.set_state(action.id, ActionState.DONE, detail=reconciled,
                              event={"reconciled": True, "called": False})
    assert record is not None
    elog.mark_attempt(action.id)
    outcome = await _call(connector, record, ErasureAction(action.action),
                          action.idempotency_key or "", action.fields)
    if outcome.state is ErasureState.REFUSED and outcome.fallback is not None \
            and outcome.fallback.value != action.action:
        # e.g. Fortnox refuses to delete a customer with invoices: anonymise instead
        key = idempotency_key(action.request_id or "", *action.key, outcome.fallback.value)
        elog.mark_attempt(action.id)
        fallback = await _call(connector, record, outcome.fallback, key, action.fields)
        outcome = fallback.model_copy(update={
            "detail": f"{outcome.detail}; instead: {fallback.detail}"})
    return _record_outcome(elog, action.id, outcome)


def _record_outcome(elog: ErasureLedger, action_id: int, outcome: ErasureOutcome
                    ) -> PlannedAction:
    event = {"outcome": outcome.state.value, "called": True}
    if outcome.state in (ErasureState.DONE, ErasureState.ALREADY_GONE):
        return elog.set_state(action_id, ActionState.DONE, detail=outcome.detail,
                              completes_by=outcome.completes_by, event=event)
    if outcome.state is ErasureState.REFUSED:
        # A lawful refusal is never retried automatically: a person decides.
        return elog.set_state(action_id, ActionState.MANUAL_OPEN,
                              detail=f"refused by the processor: {outcome.detail}", event=event)
    return elog.set_state(action_id, ActionState.FAILED, detail=outcome.detail, event=event)


# ---------------------------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # processors that could not be asked


def verify(plan: Sequence[PlannedAction], lookup: Report, elog: ErasureLedger | None = None
           ) -> tuple[Verification, list[PlannedAction]]:
    """Check the done actions against a fresh lookup; a record still holding the data is set
    back to ``failed`` (so a resume tries again)."""
    records = found_records(lookup)
    down = {r.name for r in lookup.processors
            if r.status in (ProcessorStatus.ERROR, ProcessorStatus.SKIPPED)}
    problems, checked, out = [], 0, []
    for action in plan:
        if action.state != ActionState.DONE or action.action not in ERASING:
            out.append(action)
            continue
        if action.processor in down:
            out.append(action)
            continue
        checked += 1
        record = records.get(action.key)
        problem = None
        if record is not None:
            if action.action == "delete" and action.completes_by is None:
                problem = "still present after deletion"
            elif action.action == "anonymise" and _reconciled(action, record) is None:
                problem = "personal fields still present after anonymisation"
        if problem and elog is not None and action.id is not None:
            problems.append(f"{action.task}: {problem}")
            action = elog.set_state(action.id, ActionState.FAILED,
                                    detail=f"verification: {problem}")
        elif problem:
            problems.append(f"{action.task}: {problem}")
        out.append(action)
    return Verification(not problems and not down, checked, problems, sorted(down)), out


# ---------------------------------------------------------------------------------------------
# Outcome
# ---------------------------------------------------------------------------------------------


def open_work(plan: Iterable[PlannedAction]) -> dict[str, int]:
    """Actions not finished, by state (empty: everything erasable is gone)."""
    counts: dict[str, int] = {}
    for action in plan:
        if not action.finished:
            counts[action.state] = counts.get(action.state, 0) + 1
    return counts


def notifications(plan: Iterable[PlannedAction], today: date) -> list[Notification]:
    """Art. 19: each processor told of the erasure through its API (one notice per
    processor with at least one erase call done)."""
    counts: dict[str, int] = {}
    for action in plan:
        if action.action in ERASING and action.state == ActionState.DONE:
            counts[action.processor] = counts.get(action.processor, 0) + 1
    return [Notification(name, "api", today, n) for name, n in counts.items()]


_REPORT_ACTIONS = {
    ("delete", ActionState.DONE): RecordAction.DELETED,
    ("anonymise", ActionState.DONE): RecordAction.ANONYMISED,
}


def record_action(action: PlannedAction) -> RecordAction | None:
    state = ActionState(action.state)
    if (action.action, state) in _REPORT_ACTIONS:
        return _REPORT_ACTIONS[(action.action, state)]
    if state is ActionState.RETAINED:
        return RecordAction.RETAINED
    if state in (ActionState.MANUAL_OPEN, ActionState.MANUAL_DONE):
        return RecordAction.MANUAL
    if state is ActionState.FAILED:
        return RecordAction.FAILED
    if action.action == "retain" and state is ActionState.DONE:
        return RecordAction.DELETED
    return None


def erasure_report(lookup: Report, plan: Sequence[PlannedAction], *, request_id: str,
                   verification: Verification | None, suppressed: bool, today: date,
                   inventory: Sequence[InventoryEntry] = ()) -> Report:
    """The erasure report: the lookup's records with what was done to each (``action``,
    ``legal_basis``, ``retained_until``), per-processor notes (Art. 19 notifications,
    completion dates, verification) and the manual tasks as manual items."""
    by_key = {a.key: a for a in plan}
    told = {n.recipient: n for n in notifications(plan, today)}
    processors: list[ProcessorResult] = []
    seen: set[tuple[str, str, str]] = set()
    for result in lookup.processors:
        records, notes = [], list(result.notes)
        for rec in result.records:
            action = by_key.get(record_key(result.name, rec))
            seen.add(record_key(result.name, rec))
            records.append(_annotated(rec, action))
        for action in plan:  # done on an earlier run: no longer found, still reported
            if action.processor == result.name and action.key not in seen \
                    and action.record_type != TASK:
                seen.add(action.key)
                records.append(_annotated(Record(type=action.record_type, id=action.record_id,
                                                 matched_on=action.matched_on), action))
        notes += _notes(result.name, plan, told.get(result.name))
        if verification and result.name in verification.unverified:
            notes.append("verification: the processor could not be asked again")
        status = result.status
        if any(a.processor == result.name and a.state == ActionState.MANUAL_OPEN
               for a in plan) and status == ProcessorStatus.FOUND:
            notes.append("a person must act on some records (see the manual tasks)")
        processors.append(result.model_copy(update={"records": records, "notes": notes,
                                                    "status": status}))
    if suppressed and processors:
        processors[0].notes.append(
            "the address is on the suppression list (a keyed hash, GDPR Art. 21(3)): a later "
            "consent sync or import will not subscribe it again")
    entries = {e.key: e for e in inventory}
    items = []
    for action in plan:
        if action.record_type == TASK and action.state == ActionState.MANUAL_OPEN:
            entry = entries.get(action.processor)
            items.append(ManualItem(
                key=action.processor, system=entry.system if entry else action.processor,
                processor=entry.processor if entry else None,
                reason="no_connector" if entry is not None and entry.connector is None
                else "instructions", instructions=action.instructions))
    info = lookup.request.model_copy(update={"id": request_id, "type": "erasure"})
    return lookup.model_copy(update={"request": info, "processors": processors,
                                     "manual_items": items})


def _annotated(record: Record, action: PlannedAction | None) -> Record:
    if action is None:
        return record
    return record.model_copy(update={
        "action": record_action(action), "legal_basis": action.legal_basis,
        "retained_until": action.retained_until})


def _notes(processor: str, plan: Sequence[PlannedAction], told: Notification | None
           ) -> list[str]:
    notes = []
    mine = [a for a in plan if a.processor == processor]
    for action in mine:
        if action.completes_by:
            notes.append(f"{action.record_type} {action.record_id}: the processor completes the "
                         f"erasure by {action.completes_by.isoformat()}")
        if action.state in (ActionState.FAILED, ActionState.MANUAL_OPEN) and action.detail:
            notes.append(f"{action.record_type} {action.record_id}: {action.state}: "
                         f"{action.detail}")
    if told is not None:
        notes.append(f"Art. 19: {processor} was told of the erasure through its API on "
                     f"{told.on.isoformat()} ({told.records} records)")
    return notes


def plan_rows(plan: Sequence[PlannedAction]) -> list[dict[str, Any]]:
    """The plan grouped for display: one row per processor, type, action, state and end
    date (a subject with 120 retained charges gets one line, not 120)."""
    groups: dict[tuple[Any, ...], list[PlannedAction]] = {}
    for action in plan:
        key = (action.processor, action.record_type, action.action, action.state,
               action.retained_until, _short_basis(action.legal_basis),
               action.action == "manual" and action.record_type != TASK)
        groups.setdefault(key, []).append(action)
    rows = []
    ordered = sorted(groups.items(), key=lambda item: (
        item[0][0], item[0][1] == TASK, item[0][1], item[0][4] or date.min))
    for (processor, rtype, act, state, until, basis, _), members in ordered:
        if rtype == TASK:
            record = "(manual task)"
        elif len(members) == 1:
            record = f"{rtype} {members[0].record_id}"
        else:
            record = f"{len(members)} × {rtype}"
        rows.append({"processor": processor, "record": record, "action": act,
                     "legal_basis": basis, "retained_until": until.isoformat() if until else "",
                     "state": state, "count": len(members)})
    return rows
