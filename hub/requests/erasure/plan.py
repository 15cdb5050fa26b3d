"""Step 1 of an erasure: the plan, one action per record found, decided by the retention policy.

Each record gets ``delete``, ``anonymise``, ``retain`` (legal basis and last day kept) or
``manual`` (``retention.decide``). Only records matched on the subject's verified address
(``exact`` / ``case-insensitive``) are planned for erasure; records matched only by a weaker
identifier (``plus-address``, ``derived``) become review tasks unless ``include_weak`` is set,
because erasing someone else's data cannot be undone. Systems of the processing inventory
without a connector, connectors that did not run and entries with ``manual_instructions``
become manual tasks, so nothing the controller holds is silently left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypedDict

from hub.core.inventory import InventoryEntry
from hub.core.models import ProcessorStatus, Record, Report
from hub.core.retention import RetentionPolicy, decide
from hub.core.subject import MatchStrength
from hub.store.erasure_actions import (
    REVIEW_PREFIX,
    ActionState,
    PlannedAction,
    initial_state,
    is_review,
)

#: Matches on the subject's verified address: these records may be erased.
VERIFIED_MATCHES = frozenset({MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE})
#: The actions that call a processor to erase.
ERASING = frozenset({"delete", "anonymise"})
#: ``record_type`` of a manual task that is not about one record.
TASK = "task"


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


def merged(current: Sequence[PlannedAction], proposed: Sequence[PlannedAction],
           include_weak: bool) -> list[PlannedAction]:
    """What the ledger's plan will be after ``save_plan``: shown before confirmation, so the
    person confirms the plan that will run, not only this run's proposal."""
    keep = []
    keys = set()
    replace = {a.key for a in proposed if not is_review(a.detail)} if include_weak else set()
    for action in current:
        if action.key in replace and is_review(action.detail) \
                and action.state == ActionState.MANUAL_OPEN:
            continue
        keep.append(action)
        keys.add(action.key)
    return keep + [a for a in proposed if a.key not in keys]


class PlanRow(TypedDict):
    """One line of the plan as shown: a group of like actions."""

    processor: str
    record: str
    action: str
    legal_basis: str
    retained_until: str
    state: str
    count: int


_GroupKey = tuple[str, str, str, str, date | None, str, bool]


def plan_rows(plan: Sequence[PlannedAction]) -> list[PlanRow]:
    """The plan grouped for display: one row per processor, type, action, state and end
    date (a subject with 120 retained charges gets one line, not 120)."""
    groups: dict[_GroupKey, list[PlannedAction]] = {}
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
        rows.append(PlanRow(processor=processor, record=record, action=act, legal_basis=basis,
                            retained_until=until.isoformat() if until else "", state=state,
                            count=len(members)))
    return rows
