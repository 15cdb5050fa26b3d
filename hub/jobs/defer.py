"""Queueing a request for the workers: open (or find) it in the ledger, then queue its job.

The request is opened when it is queued, so its statutory deadline runs from the day it was
received, not from the day a worker got to it, and ``dsar requests list`` shows it at once. The
job carries the request id only (see :mod:`hub.jobs.tasks`); the ledger notes the job id, so
the request's history says who ran it when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from hub.core.request_types import RequestType
from hub.jobs.queue import ERASURE_TASK, LOOKUP_TASK, defer
from hub.store.ledger import Ledger

if TYPE_CHECKING:
    from procrastinate import App

#: the task that answers each request type a worker can run
TASKS: dict[RequestType, str] = {RequestType.ACCESS: LOOKUP_TASK,
                                 RequestType.ERASURE: ERASURE_TASK}


@dataclass(frozen=True)
class Queued:
    """A request handed to the workers; ``job_id`` None: a job of it was already waiting."""

    request_id: str
    task: str
    job_id: int | None
    opened: bool

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "task": self.task, "job_id": self.job_id,
                "already_queued": self.job_id is None, "opened": self.opened}


def queue_request(app: App, engine: Engine, email: str, kind: RequestType, *,
                  lang: str) -> Queued:
    """Find or open the subject's request of ``kind`` and queue the job that answers it (the
    app opened). An erasure queued here is carried out without asking again: the caller has
    the operator's decision (``--yes``)."""
    task = TASKS[kind]
    ledger = Ledger(engine)
    request, opened = ledger.find_or_open(email, kind)
    job_id = defer(app, task, request.id, lang=lang)
    if job_id is not None:
        ledger.attach(request.id, "job.queued", {"job_id": job_id, "task": task})
    return Queued(request.id, task, job_id, opened)
