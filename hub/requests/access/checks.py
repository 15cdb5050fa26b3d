"""The manual checks of an access request: the inventory systems no connector searched (paper
journals, the mail provider, the website) that a person must search by hand before the answer
is complete (Art. 15 covers paper filing systems too, Art. 2(1)).

A lookup records which systems were left to a person (``manual_items`` of its ledger event,
:meth:`hub.store.ledger.Ledger.attach_report`). Marking one checked appends a
``manual_check.done`` event to the request's history and an audit entry, so the history shows
who checked what and when; the request itself stays open until the answer is sent (unlike an
erasure's tasks, finishing the checks is not the answer). An erasure's tasks live in
:mod:`hub.requests.erasure.tasks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.core.errors import InvalidInput
from hub.core.inventory import InventoryEntry
from hub.core.request_types import RequestType
from hub.store.audit import AuditLog
from hub.store.ledger import Ledger, LedgerRequest, RequestStatus

#: The ledger event of one manual check done.
CHECK_DONE = "manual_check.done"


class CheckNotOpen(InvalidInput):
    """The check is unknown for this request, or already done."""


@dataclass(frozen=True)
class ManualCheck:
    """One system a person must search by hand for this request."""

    key: str
    system: str
    instructions: str | None
    done: bool
    note: str | None = None


def manual_checks(request: LedgerRequest, inventory: Sequence[InventoryEntry]
                  ) -> list[ManualCheck]:
    """The manual checks the newest lookup of ``request`` (read with its history) left, in the
    inventory's order, each marked done or not."""
    if request.type != RequestType.ACCESS.value:
        return []
    keys: list[str] = []
    notes: dict[str, str] = {}
    for event in request.events:
        if event.kind == RequestType.ACCESS.value:
            keys = [str(key) for key in event.details.get("manual_items") or []]
        elif event.kind == CHECK_DONE:
            notes[str(event.details.get("item"))] = str(event.details.get("note") or "")
    by_key = {entry.key: entry for entry in inventory}
    return [ManualCheck(key=key, system=by_key[key].system if key in by_key else key,
                        instructions=by_key[key].manual_instructions if key in by_key else None,
                        done=key in notes, note=notes.get(key))
            for key in keys]


def complete_check(ledger: Ledger, audit: AuditLog, request_id: str, key: str, note: str, *,
                   inventory: Sequence[InventoryEntry],
                   actor: str | None = None, via: str | None = None) -> ManualCheck:
    """Record the manual check ``key`` of an open access request as done, with what was done
    (no personal data: it goes into the history and the audit log)."""
    request = ledger.get(request_id)
    if request.status != RequestStatus.OPEN.value:
        raise CheckNotOpen(f"request {request_id} is {request.status}")
    if not note.strip():
        raise InvalidInput("say what was done")
    found = {check.key: check for check in manual_checks(request, inventory)}
    check = found.get(key)
    if check is None or check.done:
        raise CheckNotOpen(f"no open manual check {key!r} in request {request_id}")
    details = {"item": key, "note": note.strip(), **({"via": via} if via else {})}
    ledger.attach(request_id, CHECK_DONE, details)
    audit.append(CHECK_DONE, request_id=request_id, actor=actor,
                 subject_email=request.subject_email, details=details)
    return ManualCheck(key, check.system, check.instructions, True, note.strip())
