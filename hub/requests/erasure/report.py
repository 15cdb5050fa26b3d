"""Step 4 of an erasure: what it achieved, for the subject (the erasure report) and the law.

The erasure report is the access report's format with what was done to each record
(``action``, ``legal_basis``, ``retained_until``), so the subject reads one kind of document.
It names each record by processor, type and id only, never by its content: a copy of the
erased names, addresses and numbers kept in our own files would undo the erasure (and the
retained records' content stays at the processor, where the law keeps it).
It holds only the subject's records: those matched on the verified address and the weak
matches the operator approved. A weak match not approved (it may be someone else's, e.g. a
client who shares the subject's phone) never puts its fields in front of the subject.
Art. 19 obliges the controller to tell each recipient of the data about the erasure: a
processor whose API erased a record has been told through it (:func:`notifications`); a named
recipient of the inventory is told by letter, a task of its own (:mod:`.tasks`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from hub.core.inventory import InventoryEntry
from hub.core.models import (
    ManualItem,
    ProcessorResult,
    ProcessorStatus,
    Record,
    RecordAction,
    Report,
)
from hub.core.request_types import RequestType
from hub.requests.erasure.identity import VERIFIED_MATCHES, record_ref
from hub.requests.erasure.plan import ERASING, TASK, record_key
from hub.requests.erasure.verify import Verification
from hub.store.erasure_actions import ActionState, PlannedAction, is_review

#: ``action`` of an Art. 19 letter task (a ``task`` row named ``art19-<slug>``)
NOTIFY = "notify"
#: ``legal_basis`` of an Art. 19 letter task, followed by the recipient as configured
ART19_BASIS = "GDPR Art. 19: told of the erasure by letter: "


def is_art19(action: PlannedAction) -> bool:
    """An Art. 19 letter task (not a system to search, nor a record)."""
    return action.record_type == TASK and action.action == NOTIFY


@dataclass
class Notification:
    """An Art. 19 notification: a recipient told of the erasure."""

    recipient: str
    how: str  # "api" | "manual"
    on: date
    records: int

    def as_dict(self) -> dict[str, object]:
        return {"recipient": self.recipient, "how": self.how, "on": self.on.isoformat(),
                "records": self.records}


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
                   inventory: Sequence[InventoryEntry] = (), approved: Collection[str] = ()
                   ) -> Report:
    """The erasure report: the subject's records of the lookup (see the module docstring;
    ``approved`` are the refs of approved weak matches) with what was done to each
    (``action``, ``legal_basis``, ``retained_until``), per-processor notes (Art. 19
    notifications, completion dates, verification) and the manual tasks as manual items."""
    withheld = {record_key(r.name, rec) for r in lookup.processors for rec in r.records
                if rec.match_strength not in VERIFIED_MATCHES
                and record_ref(r.name, rec) not in approved}
    withheld |= {a.key for a in plan if is_review(a.detail)}
    everything, plan = plan, [a for a in plan if a.key not in withheld]
    by_key = {a.key: a for a in plan}
    told = {n.recipient: n for n in notifications(plan, today)}
    processors: list[ProcessorResult] = []
    seen: set[tuple[str, str, str]] = set()
    for result in lookup.processors:
        records, notes = [], list(result.notes)
        for rec in result.records:
            if record_key(result.name, rec) in withheld:
                continue
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
               for a in everything) and status == ProcessorStatus.FOUND:
            notes.append("a person must act on some records (see the manual tasks)")
        processors.append(result.model_copy(update={
            "records": records, "notes": notes, "status": status, "identifiers": []}))
    if suppressed and processors:
        processors[0].notes.append(
            "the address is on the suppression list (a keyed hash, GDPR Art. 21(3)): a later "
            "consent sync or import will not subscribe it again")
    info = lookup.request.model_copy(update={"id": request_id,
                                             "type": RequestType.ERASURE.value})
    # only what the subject gave us, masked: the numbers found on the way were erased with the
    # records, and the address itself is erased too (the ledger keeps only its keyed hash)
    given = lookup.subject.model_copy(update={
        "email": masked_email(lookup.subject.email),
        "identifiers": [i.model_copy(update={"value": masked_email(i.value)})
                        for i in lookup.subject.identifiers if i.verified]})
    return lookup.model_copy(update={"request": info, "subject": given,
                                     "processors": processors,
                                     "manual_items": _manual_items(plan, inventory)})


def masked_email(address: str) -> str:
    """``a…@example.se``: enough for the subject to recognise the answer as theirs, too little
    to keep the erased address in the erasure folder."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}…{at}{domain}" if at else "…"


def _manual_items(plan: Sequence[PlannedAction], inventory: Sequence[InventoryEntry]
                  ) -> list[ManualItem]:
    entries = {e.key: e for e in inventory}
    items = []
    for action in plan:
        if action.record_type == TASK and action.state == ActionState.MANUAL_OPEN \
                and not is_art19(action):
            entry = entries.get(action.processor)
            items.append(ManualItem(
                key=action.processor, system=entry.system if entry else action.processor,
                processor=entry.processor if entry else None,
                reason="no_connector" if entry is not None and entry.connector is None
                else "instructions", instructions=action.instructions))
    return items


def _annotated(record: Record, action: PlannedAction | None) -> Record:
    """The record as the erasure report names it: type, id, what matched, what was done, why
    and until when; its field values are left out (see the module docstring)."""
    if action is None:
        return record.model_copy(update={"data": {}})
    return record.model_copy(update={
        "data": {}, "action": record_action(action), "legal_basis": action.legal_basis,
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
