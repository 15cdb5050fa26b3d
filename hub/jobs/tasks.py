"""What a worker does with each job: the existing use-cases, run for a request in the ledger.

A job carries a request id, never an address: procrastinate keeps its jobs in a table of their
own, which closing an erasure request (the address replaced by its keyed hash) does not reach.
The worker reads the address from the ledger when the job runs, so a job whose request was
closed meanwhile does nothing instead of opening a new request.

Outcomes are typed (:class:`JobOutcome`) and land where the CLI puts them: the ledger (the
use-cases record everything they do there), the worker's stderr and its log, with request ids
only. A partial answer is a finished job (the ledger and report say what is open; resuming is a
person's decision); a job that could not do its work at all raises :class:`JobFailed`, so the
queue marks it failed and retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hub.config.consent import ConsentSettings
from hub.consent.job import sync_once
from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.logs import register_secret
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.requests.access import answer_access
from hub.requests.context import RequestContext
from hub.requests.erasure import carry_out, open_stores, propose_erasure
from hub.requests.erasure.tasks import resumable_request
from hub.store.ledger import Ledger, RequestStatus

log = logging.getLogger(__name__)

#: the lock name of the consent sync run by workers: the one ``dsar consent-sync`` takes, so a
#: cron-started sync and a worker's never overlap either
CONSENT_LOCK = "consent-sync"


class JobFailed(Exception):
    """The job could not do its work (nothing answered, nothing contacted); the queue retries."""


@dataclass(frozen=True)
class JobOutcome:
    """One finished job, as the worker reports it (operator text, no addresses)."""

    job: str
    code: int
    line: str
    request_id: str | None = None
    #: the periodic tick (Unix time) a scheduled job ran for
    tick: int | None = None


@dataclass
class WorkerRuntime:
    """What the jobs of one worker process share: the request context (settings, connectors,
    the sandbox when there is one), the consent settings and the hub's database."""

    ctx: RequestContext
    consent: ConsentSettings
    engine: Engine
    on_outcome: Callable[[JobOutcome], None] = field(default=lambda outcome: None)

    def done(self, outcome: JobOutcome) -> JobOutcome:
        log.info("%s", outcome.line)
        self.on_outcome(outcome)
        return outcome


def _open_request(runtime: WorkerRuntime, request_id: str, kind: RequestType
                  ) -> tuple[Ledger, Subject] | None:
    """The ledger and subject of ``request_id`` when it is still an open request of ``kind``;
    None when it was closed meanwhile. An id that is not of that kind is a wrong job."""
    ledger = Ledger(runtime.engine)
    request = ledger.get(request_id)
    if request.type != kind:
        raise InvalidInput(f"request {request_id} is an {request.type} request, not {kind}")
    if request.status != RequestStatus.OPEN or not request.subject_email:
        return None
    register_secret(request.subject_email, "subject")
    return ledger, Subject.from_email(request.subject_email)


async def run_lookup(runtime: WorkerRuntime, request_id: str, lang: str) -> JobOutcome:
    """Answer the access request ``request_id``: look up, record, write the report."""
    opened = _open_request(runtime, request_id, RequestType.ACCESS)
    if opened is None:
        return runtime.done(JobOutcome("lookup", ExitCode.OK,
                                       f"lookup {request_id}: closed meanwhile, nothing to do",
                                       request_id))
    _, subject = opened
    [answer] = await answer_access(runtime.ctx, [subject], lang=lang)
    if answer.request_id != request_id:  # the one-open-request rule makes this unreachable
        log.warning("lookup %s was recorded under %s", request_id, answer.request_id)
    if answer.code == ExitCode.USAGE:
        raise JobFailed(f"lookup {request_id}: no processor is set up; nothing was contacted")
    verdict = "answered" if answer.code == ExitCode.OK else "partial (see the report)"
    return runtime.done(JobOutcome("lookup", answer.code,
                                   f"lookup {answer.request_id}: {verdict}; "
                                   f"report {answer.folder / 'report.html'}",
                                   answer.request_id))


async def run_erasure(runtime: WorkerRuntime, request_id: str, lang: str) -> JobOutcome:
    """Carry out (or continue) the erasure request ``request_id``: the operator decided when
    queueing it. Never repeats a completed action, so a retried job is safe."""
    ctx = runtime.ctx
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox)
    try:
        request = resumable_request(stores, request_id)
    except InvalidInput as exc:
        if stores.ledger.get(request_id).type != RequestType.ERASURE:
            raise
        return runtime.done(JobOutcome("erasure", ExitCode.OK,
                                       f"erasure {request_id}: {exc}", request_id))
    register_secret(request.subject_email or "", "subject")
    subject = Subject.from_email(request.subject_email or "")
    proposal = await propose_erasure(ctx, subject, request_id=request_id)
    result = await carry_out(ctx, proposal, lang=lang)
    state = "complete, request closed" if result.closed else "open work remains (resume later)"
    return runtime.done(JobOutcome("erasure", result.code,
                                   f"erasure {result.request_id}: {state}; "
                                   f"report {result.folder / 'report.html'}",
                                   result.request_id))


async def run_consent_sync(runtime: WorkerRuntime, *, tick: int | None = None,
                           lock_name: str = CONSENT_LOCK) -> JobOutcome:
    """One consent sync, exactly as ``dsar consent-sync`` runs it (same lock); ``tick`` is
    the scheduled time it runs for."""
    ctx = runtime.ctx
    summary = await sync_once(ctx.settings, ctx.connectors, runtime.consent, runtime.engine,
                              lock_name=lock_name)
    outcome = runtime.done(JobOutcome("consent-sync", summary.exit_code, summary.line(),
                                      tick=tick))
    if summary.status == "failed":
        raise JobFailed(summary.line())
    return outcome
