"""Erasures started from the browser, run in the background: the plan, then (once a person has
confirmed it) its execution.

Both halves of the erasure use-case (:func:`hub.requests.erasure.propose_erasure` and
:func:`hub.requests.erasure.carry_out`) take seconds to minutes (a lookup, the processors' rate
limits, a second lookup to verify), longer than a browser waits for a page. So each runs in a
thread of its own with its own event loop, as the access lookups do (:mod:`.lookups`), and the
page polls the progress kept here. The proposal is kept between the two halves: what is
executed is the plan the person saw and confirmed, not a newer lookup's. A plan older than
:data:`PLAN_FRESH_FOR` must be built again before it can be confirmed, so nobody executes a
plan the processors have moved on from.

One erasure run per request at a time. The progress of an execution is read from the ledger's
plan, whose states are committed before and after each call to a processor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hub.core.errors import InvalidInput
from hub.core.subject import Subject
from hub.requests.context import RequestContext
from hub.requests.erasure import (
    ErasureProposal,
    ErasureResult,
    NotApprovable,
    carry_out,
    propose_erasure,
)
from hub.requests.erasure.plan import check_approvals

log = logging.getLogger(__name__)

#: A plan shown longer ago than this is built again before it may be confirmed (seconds).
PLAN_FRESH_FOR = 30 * 60


class Phase(StrEnum):
    PLANNING = "planning"
    PLANNED = "planned"
    EXECUTING = "executing"
    FINISHED = "finished"
    #: the use-case refused (a restricted subject, a closed request): nothing was contacted
    REFUSED = "refused"
    FAILED = "failed"


#: What a run reports when a half ends: an audit entry's action and details.
Recorder = Callable[..., None]


@dataclass
class ErasureRun:
    """One request's erasure in the browser: where it stands, the proposal waiting for
    confirmation and, once executed, the result."""

    request_id: str
    phase: Phase = Phase.PLANNING
    #: names this proposal in the confirmation form: a form for an older plan is refused
    plan_id: str = ""
    built_at: float = 0.0
    proposal: ErasureProposal | None = None
    result: ErasureResult | None = None
    #: the use-case's own words when it refused (operator text)
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.phase in (Phase.PLANNING, Phase.EXECUTING)

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.built_at < PLAN_FRESH_FOR


class ErasureRunner:
    """The erasures of one server, by request id."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.runs: dict[str, ErasureRun] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> ErasureRun | None:
        with self._lock:
            return self.runs.get(request_id)

    def plan(self, request_id: str, email: str, record: Recorder) -> ErasureRun | None:
        """Start building the plan of ``request_id``; a plan being built is joined. None while
        the request's erasure is executing (its plan cannot change under it)."""
        with self._lock:
            current = self.runs.get(request_id)
            if current is not None and current.phase is Phase.EXECUTING:
                return None
            if current is not None and current.phase is Phase.PLANNING:
                return current
            run = self.runs[request_id] = ErasureRun(request_id)
        threading.Thread(target=self._plan, args=(run, email, record),
                         name=f"erasure-plan-{request_id}", daemon=True).start()
        return run

    def execute(self, run: ErasureRun, proposal: ErasureProposal, *, lang: str,
                record: Recorder) -> bool:
        """Carry out ``proposal`` (the confirmed plan of ``run``); False when ``run`` is no
        longer the request's plan waiting for confirmation (rebuilt, or started already)."""
        with self._lock:
            if self.runs.get(run.request_id) is not run or run.phase is not Phase.PLANNED:
                return False
            run.phase, run.proposal = Phase.EXECUTING, proposal
        # recorded before the run starts: a run that closes the request hashes the address in
        # every entry about it, and an entry written after that would keep it
        if proposal.approve:
            record("erasure.approvals", approved=list(proposal.approve))
        record("erasure.confirmed", to_erase=len(proposal.runnable))
        threading.Thread(target=self._execute, args=(run, proposal, lang, record),
                         name=f"erasure-{run.request_id}", daemon=True).start()
        return True

    def _plan(self, run: ErasureRun, email: str, record: Recorder) -> None:
        try:
            proposal = asyncio.run(propose_erasure(self.ctx, Subject.from_email(email),
                                                   request_id=run.request_id))
        except InvalidInput as exc:
            with self._lock:
                run.phase, run.error = Phase.REFUSED, str(exc)
            record("erasure.plan_refused", reason=str(exc))
            return
        except Exception:
            log.exception("erasure plan for request %s failed", run.request_id)
            with self._lock:
                run.phase = Phase.FAILED
            return
        with self._lock:
            run.proposal, run.plan_id = proposal, secrets.token_urlsafe(12)
            run.built_at, run.phase = time.monotonic(), Phase.PLANNED
        record("erasure.plan_built", actions=len(proposal.preview),
               weak_matches=sum(1 for item in proposal.review
                                if item.status == "awaiting-review"),
               unreachable=sorted(proposal.plan.unreachable))

    def _execute(self, run: ErasureRun, proposal: ErasureProposal, lang: str,
                 record: Recorder) -> None:
        try:
            result = asyncio.run(carry_out(self.ctx, proposal, lang=lang))
        except Exception:
            log.exception("erasure of request %s failed", run.request_id)
            with self._lock:
                run.phase = Phase.FAILED
            record("erasure.failed")
            return
        with self._lock:
            run.result, run.phase = result, Phase.FINISHED
        record("erasure.executed", approved=list(proposal.approve), closed=result.closed,
               states=result.as_dict()["states"], verified=result.verification.ok)


def refusals(proposal: ErasureProposal, approve: Sequence[str]) -> dict[str, str]:
    """Each ref of ``approve`` the use-case refuses, with why: ``not_found`` (no weak match
    found now), ``not_the_subject`` (someone else's record) or ``not_weak`` (matched on the
    verified address: nothing to approve)."""
    refused = {}
    for ref in approve:
        try:
            check_approvals([ref], proposal.plan, proposal.approved)
        except NotApprovable:
            match = proposal.plan.matches.get(ref)
            refused[ref] = ("not_found" if match is None else
                            "not_the_subject" if match.conflict else "not_weak")
    return refused
