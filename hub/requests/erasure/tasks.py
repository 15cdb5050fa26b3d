"""The manual side of an erasure: what a person has to do, recording that it was done, and which
requests can be resumed.

A processor without an API, a lawful refusal or a weakly matched record leaves a task that only
a person can close. When the last one is done the request closes like an automatic erasure.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.request_types import RequestType
from hub.requests.erasure.report import open_work
from hub.requests.erasure.stores import ErasureStores, close_request
from hub.store.erasure_actions import ActionState, PlannedAction
from hub.store.ledger import LedgerRequest

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


def resumable_request(stores: ErasureStores, request_id: str) -> LedgerRequest:
    """The open erasure request ``request_id`` with its subject's address still known."""
    request = stores.ledger.get(request_id)
    if request.type != RequestType.ERASURE:
        raise NotResumable(f"request {request_id} is an {request.type} request, not an erasure")
    if request.status != "open" or not request.subject_email:
        raise NotResumable(f"request {request_id} is closed; nothing to resume")
    return request
