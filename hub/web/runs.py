"""A use-case in two halves run from the browser in the background: a plan, then (once a person
has confirmed it) its execution. Any right whose use-case is split that way (plan, decide,
carry out) can use it; the erasure pages (:mod:`.erasure`) and the rectification pages
(:mod:`.rectification`) do.

Each half takes seconds to minutes (a lookup, the processors' rate limits, a second lookup to
verify), longer than a browser waits for a page. So each runs in a thread of its own with its
own event loop, as the access lookups do (:mod:`.lookups`), and the page polls the phase kept
here. The proposal is kept between the two halves in the server's memory only: what is executed
is the plan the person saw and confirmed, not a newer lookup's, and whatever the plan carries
(new values the person typed) never reaches the database, a URL or a log. A plan older than
:data:`PLAN_FRESH_FOR` must be built again before it can be confirmed, so nobody executes a
plan the processors have moved on from.

One run per request at a time: a plan being built is joined, and no plan is started while the
request's execution runs (its plan cannot change under it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from hub.core.errors import InvalidInput

log = logging.getLogger(__name__)

#: A plan shown longer ago than this is built again before it may be confirmed (seconds).
PLAN_FRESH_FOR = 30 * 60

P = TypeVar("P")
R = TypeVar("R")


class Phase(StrEnum):
    PLANNING = "planning"
    PLANNED = "planned"
    EXECUTING = "executing"
    FINISHED = "finished"
    #: the use-case refused (InvalidInput): its own words are in ``error``
    REFUSED = "refused"
    FAILED = "failed"


@dataclass
class PlannedRun(Generic[P, R]):
    """One request's run: where it stands, the proposal waiting for confirmation and, once
    executed, the result."""

    request_id: str
    phase: Phase = Phase.PLANNING
    #: names this proposal in the confirmation form: a form for an older plan is refused
    plan_id: str = ""
    built_at: float = 0.0
    proposal: P | None = None
    result: R | None = None
    #: the use-case's own words when it refused (operator text)
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.phase in (Phase.PLANNING, Phase.EXECUTING)

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.built_at < PLAN_FRESH_FOR


#: a hook called when a half ends (audit entries); it must not raise
Hook = Callable[[Any], None]


def _quiet(hook: Hook | None, value: Any) -> None:
    if hook is None:
        return
    try:
        hook(value)
    except Exception:  # a failed audit hook must not lose the run's outcome
        log.exception("a background run's hook failed")


class PlannedRunner(Generic[P, R]):
    """The runs of one kind (``name``, for thread names and logs) of one server, by request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.runs: dict[str, PlannedRun[P, R]] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> PlannedRun[P, R] | None:
        with self._lock:
            return self.runs.get(request_id)

    def plan(self, request_id: str, build: Callable[[], Coroutine[Any, Any, P]], *,
             built: Hook | None = None, refused: Hook | None = None,
             failed: Hook | None = None) -> PlannedRun[P, R] | None:
        """Start ``build()`` (the use-case's first half) for ``request_id``; a plan being built
        is joined. None while the request's execution runs. ``built`` gets the proposal,
        ``refused`` the use-case's refusal (operator text), ``failed`` the exception."""
        with self._lock:
            current = self.runs.get(request_id)
            if current is not None and current.phase is Phase.EXECUTING:
                return None
            if current is not None and current.phase is Phase.PLANNING:
                return current
            run: PlannedRun[P, R] = PlannedRun(request_id)
            self.runs[request_id] = run
        threading.Thread(target=self._plan, args=(run, build, built, refused, failed),
                         name=f"{self.name}-plan-{request_id}", daemon=True).start()
        return run

    def execute(self, run: PlannedRun[P, R], proposal: P,
                work: Callable[[P], Coroutine[Any, Any, R]], *, confirmed: Hook | None = None,
                finished: Hook | None = None, failed: Hook | None = None) -> bool:
        """Carry out ``proposal`` (the confirmed plan of ``run``) with ``work``; False when
        ``run`` is no longer the request's plan waiting for confirmation (built again, or
        started already: a second click executes nothing). ``confirmed`` gets the proposal
        once it is this run's to execute and before ``work`` starts, for entries that must
        come before anything the execution writes; ``finished`` the result, ``failed`` the
        exception."""
        with self._lock:
            if self.runs.get(run.request_id) is not run or run.phase is not Phase.PLANNED:
                return False
            run.phase, run.proposal = Phase.EXECUTING, proposal
        _quiet(confirmed, proposal)
        threading.Thread(target=self._execute, args=(run, proposal, work, finished, failed),
                         name=f"{self.name}-{run.request_id}", daemon=True).start()
        return True

    def _plan(self, run: PlannedRun[P, R], build: Callable[[], Coroutine[Any, Any, P]],
              built: Hook | None, refused: Hook | None, failed: Hook | None) -> None:
        try:
            proposal = asyncio.run(build())
        except InvalidInput as exc:
            with self._lock:
                run.phase, run.error = Phase.REFUSED, str(exc)
            _quiet(refused, str(exc))
            return
        except Exception as exc:
            log.exception("%s plan for request %s failed", self.name, run.request_id)
            self._fail(run, failed, exc)
            return
        with self._lock:
            run.proposal, run.plan_id = proposal, secrets.token_urlsafe(12)
            run.built_at, run.phase = time.monotonic(), Phase.PLANNED
        _quiet(built, proposal)

    def _execute(self, run: PlannedRun[P, R], proposal: P,
                 work: Callable[[P], Coroutine[Any, Any, R]], finished: Hook | None,
                 failed: Hook | None) -> None:
        try:
            result = asyncio.run(work(proposal))
        except Exception as exc:
            log.exception("%s of request %s failed", self.name, run.request_id)
            self._fail(run, failed, exc)
            return
        with self._lock:
            run.result, run.phase = result, Phase.FINISHED
        _quiet(finished, result)

    def _fail(self, run: PlannedRun[P, R], failed: Hook | None, exc: Exception) -> None:
        """Either half failed unexpectedly: the page shows the run as failed (the traceback
        is in the log) and ``failed`` records it."""
        with self._lock:
            run.phase = Phase.FAILED
        _quiet(failed, exc)


def unconfirmable(run: PlannedRun[P, R] | None, plan_id: str) -> str | None:
    """Why a confirmation form naming ``plan_id`` cannot act on ``run``: ``plan_changed`` (no
    plan waits, or another one than the person saw), ``plan_stale`` (older than
    :data:`PLAN_FRESH_FOR`); None when it can. The pages of each right word the reason."""
    if run is None or run.phase is not Phase.PLANNED or run.proposal is None \
            or plan_id != run.plan_id:
        return "plan_changed"
    if not run.fresh:
        return "plan_stale"
    return None


def runner_for(app_state: Any, name: str) -> PlannedRunner[Any, Any]:
    """The server's runs of one kind (``name``), made on first use and kept on the app's state:
    one per app, so two apps in one process (the tests) never share a run."""
    runners: dict[str, PlannedRunner[Any, Any]] | None = getattr(
        app_state, "planned_runners", None)
    if runners is None:
        runners = app_state.planned_runners = {}
    if name not in runners:
        runners[name] = PlannedRunner(name)
    return runners[name]
