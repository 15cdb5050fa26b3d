"""The erasure plan in the ledger: one row per planned action, and its state.

An erasure request (GDPR Art. 17) is a list of actions, one per record found at a processor
(or one per system a person must handle). The plan is written here *before* anything is
executed, and every action's state is committed before and after each external call, so a
crash or Ctrl-C at any point loses nothing and a re-run (``dsar erase`` again, or ``dsar
requests resume ID``) continues where it stopped and never repeats a completed action.

States: ``planned`` -> ``done`` | ``failed`` (retried on resume) | ``manual-open`` ->
``manual-done``; ``retained`` for records kept under a legal hold (with ``retained_until``,
listed by ``dsar retention due`` once the hold has ended). ``attempted_at`` is set (and
committed) just before an external call: an action that is still ``planned`` but was attempted
may have reached the processor, so on resume it is first checked against a fresh lookup.

Two runs at once (two terminals, cron and a person) share one request and one plan; each
action is *claimed* before anything is done with it (:meth:`ErasureLedger.claim`: one
conditional ``UPDATE`` moves it to ``in-progress`` and records who holds it), so only one run
ever calls the processor for it and the other skips it. A claim ends with the action's next
state, or is given back when the run is interrupted (Ctrl-C). A run killed outright leaves its
claims behind; they are taken over after :data:`CLAIM_TIMEOUT`, or at once by a later run on the
same machine once the claiming process is gone (``dsar requests resume ID`` after a crash).

Every state change is committed together with a ``request_events`` row (kind
``erasure.<state>``) and an audit-log entry, in one transaction. No row holds personal data:
records are referred to by processor, type and id (the processor's own reference).
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    CursorResult,
    Engine,
    Update,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import InvalidInput
from hub.store.audit import AuditLog
from hub.store.locks import lock_key
from hub.store.tables import ErasureActionRow, RequestEvent

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _again_after_a_conflict(write: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a write once more when it lost a race on a unique key: another run of the same
    request inserted the same rows a moment earlier (PostgreSQL; SQLite serialises writers),
    and the second attempt sees them and keeps them."""

    @functools.wraps(write)
    def again(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return write(*args, **kwargs)
        except IntegrityError:
            return write(*args, **kwargs)

    return again


class ActionState(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    FAILED = "failed"
    MANUAL_OPEN = "manual-open"
    MANUAL_DONE = "manual-done"
    RETAINED = "retained"


#: States in which nothing more is done for this request.
FINISHED = frozenset({ActionState.DONE, ActionState.MANUAL_DONE, ActionState.RETAINED})
#: States the executor acts on.
RUNNABLE = frozenset({ActionState.PLANNED, ActionState.FAILED})
#: How long a claim protects an action from other runs when its holder cannot be seen to have
#: died (another machine, a database shared over the network). Far longer than one erase call
#: with all its retries takes, so a slow run is never overtaken.
CLAIM_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class PlannedAction:
    """One line of the plan (a row of ``erasure_actions``, detached from the session)."""

    processor: str
    record_type: str
    record_id: str
    action: str
    legal_basis: str
    state: str = ActionState.PLANNED.value
    retained_until: date | None = None
    fields: tuple[str, ...] = ()
    instructions: str | None = None
    matched_on: str = "email"
    detail: str | None = None
    completes_by: date | None = None
    attempted_at: datetime | None = None
    attempts: int = 0
    id: int | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.processor, self.record_type, self.record_id)

    @property
    def task(self) -> str:
        """The handle ``dsar requests task done ID TASK`` accepts (besides the number)."""
        if self.record_type == "task":
            return self.processor
        return f"{self.processor}:{self.record_type}:{self.record_id}"

    @property
    def finished(self) -> bool:
        return ActionState(self.state) in FINISHED

    @classmethod
    def of(cls, row: ErasureActionRow) -> PlannedAction:
        return cls(
            id=row.id, request_id=row.request_id, processor=row.processor,
            record_type=row.record_type, record_id=row.record_id, matched_on=row.matched_on,
            action=row.action, legal_basis=row.legal_basis, retained_until=row.retained_until,
            fields=tuple(row.fields or ()), instructions=row.instructions,
            idempotency_key=row.idempotency_key, state=row.state, detail=row.detail,
            completes_by=row.completes_by, attempted_at=row.attempted_at,
            attempts=row.attempts or 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "task": self.task, "processor": self.processor,
            "record_type": self.record_type, "record_id": self.record_id,
            "action": self.action, "legal_basis": self.legal_basis,
            "retained_until": self.retained_until.isoformat() if self.retained_until else None,
            "fields": list(self.fields), "instructions": self.instructions,
            "state": self.state, "detail": self.detail,
            "completes_by": self.completes_by.isoformat() if self.completes_by else None,
        }


#: ``detail`` of a manual review of a record matched only on a weak identifier
REVIEW_PREFIX = "weak match"


def is_review(detail: str | None) -> bool:
    return bool(detail and detail.startswith(REVIEW_PREFIX))


def idempotency_key(request_id: str, processor: str, record_type: str, record_id: str,
                    action: str) -> str:
    return f"{request_id}:{processor}:{record_type}:{record_id}:{action}"


def initial_state(action: str) -> ActionState:
    if action == "retain":
        return ActionState.RETAINED
    if action == "manual":
        return ActionState.MANUAL_OPEN
    return ActionState.PLANNED


class ErasureLedger:
    """The ``erasure_actions`` table; every method commits its own transaction.

    ``audit_secret`` (the keyed-hash secret path) enables the audit-log entry per state change.
    """

    def __init__(self, engine: Engine, audit_secret: Path | None = None, *,
                 subject_email: str | None = None) -> None:
        self.engine = engine
        self.subject_email = subject_email  # audit entries carry its keyed hash
        #: whose claims are this instance's (see :meth:`claim`)
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._audit = None
        if audit_secret is not None:
            self._audit = AuditLog(engine, audit_secret)

    # -- writes ----------------------------------------------------------------------------

    @_again_after_a_conflict
    def save_plan(self, request_id: str, actions: Iterable[PlannedAction]
                  ) -> list[PlannedAction]:
        """Add the actions not yet in the plan (same processor, type and id = same action);
        existing rows, and their state, are kept: an open review of a weak match changes only
        through :meth:`approve`. Returns the whole plan.

        Two runs of one request save at once (two ``dsar erase`` started together): the plan's
        lock makes the second wait and find the first one's rows, so it adds nothing."""
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            lock_key(session, f"erasure-plan:{request_id}")
            rows = {(r.processor, r.record_type, r.record_id): r for r in session.scalars(
                select(ErasureActionRow).where(ErasureActionRow.request_id == request_id))}
            existing = set(rows)
            added: list[ErasureActionRow] = []
            for action in actions:
                if action.key in existing:
                    continue
                existing.add(action.key)
                state = ActionState(action.state) if action.state != ActionState.PLANNED \
                    else initial_state(action.action)
                row = ErasureActionRow(
                    request_id=request_id, processor=action.processor,
                    record_type=action.record_type, record_id=action.record_id,
                    matched_on=action.matched_on, action=action.action,
                    legal_basis=action.legal_basis, retained_until=action.retained_until,
                    fields=list(action.fields), instructions=action.instructions,
                    idempotency_key=idempotency_key(request_id, *action.key, action.action),
                    state=state.value, detail=action.detail, attempts=0, updated_at=now)
                session.add(row)
                added.append(row)
            if added:
                counts: dict[str, int] = {}
                for row in added:
                    counts[row.action] = counts.get(row.action, 0) + 1
                session.add(RequestEvent(request_id=request_id, at=now, kind="erasure.planned",
                                         details={"actions": counts}))
                if self._audit is not None:
                    self._audit.append("erasure.planned", request_id=request_id,
                                       subject_email=self.subject_email,
                                       details={"actions": counts}, session=session)
            session.flush()
        return self.plan(request_id)

    @_again_after_a_conflict
    def approve(self, request_id: str, actions: Iterable[PlannedAction]
                ) -> list[PlannedAction]:
        """Record the operator's word that each of these weak matches is the subject's, one
        record at a time: its open review becomes the given action (what the retention policy
        decides for the record), in place, so the task keeps its number; a record not yet in
        the plan is added. Each commits with an ``erasure.approved`` event and audit entry
        naming the record. A record whose review was already decided (approved earlier, or
        closed by hand) is left as it is. Returns the actions approved now."""
        now = datetime.now(UTC)
        approved: list[ErasureActionRow] = []
        with Session(self.engine) as session, session.begin():
            lock_key(session, f"erasure-plan:{request_id}")
            for action in actions:
                row = session.scalars(select(ErasureActionRow).where(
                    ErasureActionRow.request_id == request_id,
                    ErasureActionRow.processor == action.processor,
                    ErasureActionRow.record_type == action.record_type,
                    ErasureActionRow.record_id == action.record_id)).first()
                if row is not None and not (is_review(row.detail)
                                            and row.state == ActionState.MANUAL_OPEN.value):
                    continue
                if row is None:
                    row = ErasureActionRow(request_id=request_id, processor=action.processor,
                                           record_type=action.record_type,
                                           record_id=action.record_id, attempts=0)
                    session.add(row)
                previous = row.action
                row.matched_on, row.action = action.matched_on, action.action
                row.legal_basis, row.retained_until = action.legal_basis, action.retained_until
                row.fields, row.instructions = list(action.fields), action.instructions
                row.idempotency_key = idempotency_key(request_id, *action.key, action.action)
                row.state = initial_state(action.action).value
                row.detail, row.updated_at = action.detail, now
                session.flush()
                details = {"action_id": row.id, "task": action.task,
                           "matched_on": action.matched_on,
                           "match_strength": action.extra.get("match_strength"),
                           "from": previous, "action": action.action, "to": row.state}
                session.add(RequestEvent(request_id=request_id, at=now,
                                         kind="erasure.approved", details=details))
                if self._audit is not None:
                    self._audit.append("erasure.approved", request_id=request_id,
                                       subject_email=self.subject_email, details=details,
                                       session=session)
                approved.append(row)
            session.flush()
            return [PlannedAction.of(row) for row in approved]

    def claim(self, action_id: int, states: Iterable[ActionState | str] = RUNNABLE, *,
              now: datetime | None = None) -> PlannedAction | None:
        """Take the action for this run, or None when another run has it or it is no longer
        in one of ``states`` (done meanwhile, say): then leave it alone.

        One conditional ``UPDATE`` (``… WHERE id = ? AND state IN (…)``, whose row count
        says whether it matched) moves the action to ``in-progress`` under this run's name, so
        of two runs reading the same ``planned`` action exactly one gets it, on SQLite and on
        PostgreSQL alike. A claim whose holder is gone (see the module docstring) is taken
        over the same way, compare-and-swap on the old holder's name."""
        now = now or datetime.now(UTC)
        wanted = [ActionState(state).value for state in states]
        claim = {"state": ActionState.IN_PROGRESS.value, "claimed_by": self.claimant,
                 "claimed_at": now, "updated_at": now}
        with Session(self.engine) as session, session.begin():
            taken = _changed(session, update(ErasureActionRow).where(
                ErasureActionRow.id == action_id, ErasureActionRow.state.in_(wanted),
            ).values(claim))
            if not taken:
                row = session.get(ErasureActionRow, action_id)
                if row is None:
                    raise InvalidInput(f"no erasure action {action_id}")
                holder = row.claimed_by
                if (row.state != ActionState.IN_PROGRESS.value
                        or not claim_is_stale(holder, row.claimed_at, now)):
                    return None
                taken = _changed(session, update(ErasureActionRow).where(
                    ErasureActionRow.id == action_id,
                    ErasureActionRow.state == ActionState.IN_PROGRESS.value,
                    ErasureActionRow.claimed_by == holder,
                ).values(claim))
                if not taken:
                    return None
                log.warning("erasure action %s: taking over the claim of a run that stopped "
                            "(%s)", action_id, holder)
            row = self._row(session, action_id)
            session.refresh(row)
            return PlannedAction.of(row)

    def release(self, action_id: int, state: ActionState | str = ActionState.PLANNED) -> None:
        """Give a claim of this run back without an outcome (the run was interrupted): the
        action returns to ``state`` and the next run picks it up; ``attempted_at`` stays, so
        that run first checks whether the processor got the call."""
        with Session(self.engine) as session, session.begin():
            _changed(session, update(ErasureActionRow).where(
                ErasureActionRow.id == action_id,
                ErasureActionRow.state == ActionState.IN_PROGRESS.value,
                ErasureActionRow.claimed_by == self.claimant,
            ).values(state=ActionState(state).value, claimed_by=None, claimed_at=None,
                     updated_at=datetime.now(UTC)))

    def action(self, action_id: int) -> PlannedAction:
        """One action as it is now."""
        with Session(self.engine) as session:
            row = session.get(ErasureActionRow, action_id)
            if row is None:
                raise InvalidInput(f"no erasure action {action_id}")
            return PlannedAction.of(row)

    def mark_attempt(self, action_id: int) -> PlannedAction:
        """Commit that an external call for this action is about to be made."""
        with Session(self.engine) as session, session.begin():
            row = self._row(session, action_id)
            row.attempted_at = datetime.now(UTC)
            row.attempts = (row.attempts or 0) + 1
            row.updated_at = row.attempted_at
            session.flush()
            return PlannedAction.of(row)

    def set_state(self, action_id: int, state: ActionState | str, *, detail: str | None = None,
                  completes_by: date | None = None, note: str | None = None,
                  event: dict[str, Any] | None = None) -> PlannedAction:
        """Change one action's state; the ledger event and audit entry commit with it. A
        claim ends here (the state says what became of the action)."""
        state = ActionState(state)
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = self._row(session, action_id)
            previous = row.state
            row.state, row.updated_at = state.value, now
            if state is not ActionState.IN_PROGRESS:
                row.claimed_by = row.claimed_at = None
            if detail is not None:
                row.detail = detail
            if completes_by is not None:
                row.completes_by = completes_by
            details = {"action_id": row.id, "processor": row.processor,
                       "record_type": row.record_type, "record_id": row.record_id,
                       "action": row.action, "from": previous, "to": state.value,
                       **({"completes_by": completes_by.isoformat()} if completes_by else {}),
                       **({"note": note} if note else {}), **(event or {})}
            session.add(RequestEvent(request_id=row.request_id, at=now,
                                     kind=f"erasure.{state.value}", details=details))
            if self._audit is not None:
                self._audit.append(f"erasure.{state.value}", request_id=row.request_id,
                                   subject_email=self.subject_email, details=details,
                                   session=session)
            session.flush()
            return PlannedAction.of(row)

    # -- reads -----------------------------------------------------------------------------

    def plan(self, request_id: str) -> list[PlannedAction]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ErasureActionRow)
                                   .where(ErasureActionRow.request_id == request_id)
                                   .order_by(ErasureActionRow.id))
            return [PlannedAction.of(r) for r in rows]

    def find_task(self, request_id: str, task: str) -> PlannedAction:
        """The action named by its number or handle (``journals``, ``stripe:charge:ch_1``)."""
        for action in self.plan(request_id):
            if task == str(action.id) or task == action.task:
                return action
        raise InvalidInput(f"request {request_id} has no task {task!r}; `dsar requests show "
                           f"{request_id}` lists them")

    def retained(self, *, due_before: date | None = None) -> list[PlannedAction]:
        """Actions kept under a legal hold, optionally only those whose hold ended before
        ``due_before`` (``retained_until < due_before``), newest request's row per record."""
        query = select(ErasureActionRow).where(
            ErasureActionRow.state == ActionState.RETAINED.value)
        if due_before is not None:
            query = query.where(ErasureActionRow.retained_until < due_before)
        with Session(self.engine) as session:
            rows = [PlannedAction.of(r) for r in session.scalars(
                query.order_by(ErasureActionRow.retained_until, ErasureActionRow.id))]
        latest: dict[tuple[str, str, str], PlannedAction] = {}
        for row in rows:
            latest[row.key] = row
        return sorted(latest.values(), key=lambda a: (a.retained_until or date.max, a.id or 0))

    def due(self, today: date) -> list[PlannedAction]:
        """Deferred erasure: retained records whose hold ended before ``today`` (the last day
        kept is ``retained_until``), and earlier deferred attempts that failed."""
        failed = [a for a in self._all(ActionState.FAILED) if a.action == "retain"]
        return self.retained(due_before=today) + failed + self._abandoned_retained()

    def _abandoned_retained(self) -> list[PlannedAction]:
        """Deferred erasures whose run stopped mid-way (their claim went stale)."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            return [PlannedAction.of(r) for r in session.scalars(
                select(ErasureActionRow).where(
                    ErasureActionRow.state == ActionState.IN_PROGRESS.value,
                    ErasureActionRow.action == "retain").order_by(ErasureActionRow.id))
                if claim_is_stale(r.claimed_by, r.claimed_at, now)]

    def _all(self, state: ActionState) -> list[PlannedAction]:
        with Session(self.engine) as session:
            return [PlannedAction.of(r) for r in session.scalars(
                select(ErasureActionRow).where(ErasureActionRow.state == state.value)
                .order_by(ErasureActionRow.id))]

    @staticmethod
    def _row(session: Session, action_id: int) -> ErasureActionRow:
        row = session.get(ErasureActionRow, action_id, with_for_update=True)
        if row is None:
            raise InvalidInput(f"no erasure action {action_id}")
        return row


def _changed(session: Session, statement: Update) -> int:
    """Rows an UPDATE changed (an UPDATE always yields a cursor result, which counts them)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def claim_is_stale(holder: str | None, claimed_at: datetime | None, now: datetime) -> bool:
    """Whether a claim may be taken over: older than :data:`CLAIM_TIMEOUT`, or made by a
    process of this machine that no longer runs. (A process id can be reused; then the claim
    merely waits for the timeout.)"""
    if claimed_at is None or holder is None:
        return True
    if claimed_at.tzinfo is None:  # SQLite hands back naive datetimes; all stored are UTC
        claimed_at = claimed_at.replace(tzinfo=UTC)
    if now - claimed_at > CLAIM_TIMEOUT:
        return True
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not _process_exists(int(pid))


def _process_exists(pid: int) -> bool:
    if os.name != "posix":  # no cheap, harmless probe elsewhere: wait for the timeout
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def summarise(plan: Sequence[PlannedAction]) -> dict[str, int]:
    """How many actions are in each state."""
    counts: dict[str, int] = {}
    for action in plan:
        counts[action.state] = counts.get(action.state, 0) + 1
    return counts
