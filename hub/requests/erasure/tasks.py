"""The manual side of an erasure: what a person has to do, recording that it was done, and which
requests can be resumed.

A processor without an API, a lawful refusal or a weakly matched record leaves a task that only
a person can close. When the last one is done the request closes like an automatic erasure.

Art. 19 obliges the controller to tell every recipient of the erased data. A processor whose
API erased a record was told by that call; the people and firms the processing inventory names
as recipients (``recipients`` of an ``[[inventory]]`` entry, and the controller's own, which
receive data from every system) are told by letter. Each gets a task ``art19-<slug>`` and a
letter of the same name in the request folder, written on every run until the task is marked
done (the letter sent): one letter per recipient, about the systems it received data from
that held the subject's records.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.inventory import Controller, InventoryEntry
from hub.core.request_types import RequestType
from hub.reports.content import inventory_entry_for
from hub.reports.erasure import Art19Letter
from hub.requests.erasure.plan import TASK
from hub.requests.erasure.report import ART19_BASIS, NOTIFY, is_art19, open_work
from hub.requests.erasure.stores import ErasureStores, close_request
from hub.store.erasure_actions import ActionState, PlannedAction, is_review
from hub.store.ledger import LedgerRequest

#: The start of every Art. 19 task's name and its letter's file name.
ART19_PREFIX = "art19-"

#: The states a person looks at: tasks to do, tasks done, actions that failed.
TASK_STATES = frozenset(state.value for state in (
    ActionState.MANUAL_OPEN, ActionState.MANUAL_DONE, ActionState.FAILED))


class TaskNotOpen(InvalidInput):
    """The task was already done (or was never a manual task)."""


class NotResumable(InvalidInput):
    """The request is not an open erasure request."""


@dataclass(frozen=True)
class TaskDone:
    """A manual task recorded as done, and what is left of its request."""

    request_id: str
    task: str
    open: dict[str, int]
    closed: bool

    @property
    def code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.open else ExitCode.OK

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "task": self.task,
                "state": ActionState.MANUAL_DONE.value, "open": self.open,
                "closed": self.closed}


def erasure_tasks(stores: ErasureStores, request_id: str) -> list[PlannedAction]:
    """The manual tasks and failed actions of a request (InvalidInput if it is unknown)."""
    stores.ledger.get(request_id)
    return [a for a in stores.actions.plan(request_id) if a.state in TASK_STATES]


def complete_task(stores: ErasureStores, request_id: str, task: str, note: str) -> TaskDone:
    """Record a manual task (by number or name) as done with what was done; close the request
    when nothing is left open."""
    request = stores.ledger.get(request_id)
    elog = stores.actions
    elog.subject_email = request.subject_email
    action = elog.find_task(request_id, task)
    if action.state not in (ActionState.MANUAL_OPEN, ActionState.FAILED):
        raise TaskNotOpen(f"task {action.task} is {action.state}, not open")
    elog.set_state(action.id or 0, ActionState.MANUAL_DONE, note=note,
                   detail=f"done by hand: {note}")
    left = open_work(elog.plan(request_id))
    closed = False
    if not left and request.status == "open":
        close_request(stores.ledger, request_id, stores.secret, note="all erasure tasks done")
        closed = True
    return TaskDone(request_id, action.task, left, closed)


class WorkStillOpen(InvalidInput):
    """An erasure request cannot be closed while actions or tasks are open."""


def close_erasure(stores: ErasureStores, request_id: str, *, note: str | None,
                  force: bool = False) -> bool:
    """Close an erasure request by hand (``dsar requests close``), the way a finished erasure
    closes: the subject's address replaced by its keyed hash in the ledger and the audit log.

    Refused while actions or tasks are open (an Art. 19 letter not sent, a system not checked):
    closing would orphan them, since a closed request cannot be resumed. ``force`` closes
    anyway and needs a ``note`` saying why (e.g. the person withdrew the request). False when
    it was closed already."""
    request = stores.ledger.get(request_id)
    if request.status != "open":
        return False
    left = open_work(stores.actions.plan(request_id))
    if left and not force:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(left.items()))
        raise WorkStillOpen(
            f"request {request_id} still has open work ({counts}): finish it "
            f"(`dsar requests task list {request_id}`, `dsar requests resume {request_id}`), "
            "or close anyway with --force and a --note saying why")
    if left and not (note or "").strip():
        raise WorkStillOpen("closing an erasure with open work needs a --note saying why")
    text = (note or "").strip() or "closed by the operator"
    if left:
        text = f"{text} (closed with open work: {sum(left.values())} actions or tasks)"
    return close_request(stores.ledger, request_id, stores.secret, note=text)


def resumable_request(stores: ErasureStores, request_id: str) -> LedgerRequest:
    """The open erasure request ``request_id`` with its subject's address still known."""
    request = stores.ledger.get(request_id)
    if request.type != RequestType.ERASURE:
        raise NotResumable(f"request {request_id} is an {request.type} request, not an erasure")
    if request.status != "open" or not request.subject_email:
        raise NotResumable(f"request {request_id} is closed; nothing to resume")
    return request


def recipient_slug(name: str) -> str:
    """``Ekonomibyrån Exempel AB, the accountant`` → ``ekonomibyran-exempel-ab``: the name
    before its description, in plain ASCII, as a task name and a file name can carry it."""
    head = re.split(r"[,(]", name, maxsplit=1)[0]
    plain = unicodedata.normalize("NFKD", head).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:40].strip("-")
    return slug or "recipient"


def held_systems(plan: Sequence[PlannedAction]) -> list[str]:
    """The processors that held records of the subject (weak matches not yet approved are
    not known to be the subject's), in plan order."""
    return list(dict.fromkeys(a.processor for a in plan if a.record_type != TASK
                              and not is_review(a.detail)))


def art19_recipients(plan: Sequence[PlannedAction], inventory: Sequence[InventoryEntry],
                     controller: Controller) -> dict[str, list[str]]:
    """Each named recipient and the systems (processor names) of ``plan`` it received the
    subject's data from."""
    held = held_systems(plan)
    recipients: dict[str, list[str]] = {}
    for name in held:
        entry = inventory_entry_for(name, inventory)
        for recipient in entry.recipients if entry is not None else ():
            systems = recipients.setdefault(recipient, [])
            if name not in systems:
                systems.append(name)
    if held:
        for recipient in controller.recipients:
            recipients[recipient] = list(dict.fromkeys([*recipients.get(recipient, []),
                                                        *held]))
    return recipients


def recipient_of(action: PlannedAction) -> str:
    """The recipient an Art. 19 task is about, as configured."""
    return action.legal_basis.removeprefix(ART19_BASIS)


def art19_tasks(plan: Sequence[PlannedAction], inventory: Sequence[InventoryEntry],
                controller: Controller, request_id: str) -> list[PlannedAction]:
    """The Art. 19 letter tasks ``plan`` lacks: one per named recipient of a system that held
    the subject's data (see the module docstring). A recipient keeps its task, and the task its
    name, on every later run."""
    existing = {recipient_of(a) for a in plan if is_art19(a)}
    used = {a.processor for a in plan if is_art19(a)}
    tasks = []
    for recipient in art19_recipients(plan, inventory, controller):
        if recipient in existing:
            continue
        base = task = ART19_PREFIX + recipient_slug(recipient)
        number = 2
        while task in used:
            task, number = f"{base}-{number}", number + 1
        used.add(task)
        tasks.append(PlannedAction(
            processor=task, record_type=TASK, record_id=task, action=NOTIFY,
            legal_basis=ART19_BASIS + recipient, state=ActionState.MANUAL_OPEN.value,
            instructions=f"Send the letter {task}.txt in the request's report folder to "
                         f"{recipient}, then record it: `dsar requests task done {request_id} "
                         f"{task} --note \"sent by e-mail on <date>\"`."))
    return tasks


def art19_letters(plan: Sequence[PlannedAction], inventory: Sequence[InventoryEntry],
                  controller: Controller, sent_on: Mapping[int, date], today: date
                  ) -> list[Art19Letter]:
    """The Art. 19 letters of ``plan``: whom each goes to, about which systems, and the day
    it was marked sent (``sent_on`` by action id; None while it is still to send)."""
    recipients = art19_recipients(plan, inventory, controller)
    held = held_systems(plan)
    letters = []
    for action in plan:
        if not is_art19(action):
            continue
        recipient = recipient_of(action)
        sent = (sent_on.get(action.id or 0, today)
                if action.state == ActionState.MANUAL_DONE else None)
        letters.append(Art19Letter(action.task, recipient,
                                   tuple(recipients.get(recipient, held)), sent))
    return letters
