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

Every state change is committed together with a ``request_events`` row (kind
``erasure.<state>``) and an audit-log entry, in one transaction. No row holds personal data:
records are referred to by processor, type and id (the processor's own reference).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    select,
)
from sqlalchemy.orm import Session

from hub.core.errors import InvalidInput
from hub.store.audit import AuditLog
from hub.store.tables import ErasureActionRow, RequestEvent


class ActionState(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    FAILED = "failed"
    MANUAL_OPEN = "manual-open"
    MANUAL_DONE = "manual-done"
    RETAINED = "retained"


#: States in which nothing more is done for this request.
FINISHED = frozenset({ActionState.DONE, ActionState.MANUAL_DONE, ActionState.RETAINED})
#: States the executor acts on.
RUNNABLE = frozenset({ActionState.PLANNED, ActionState.FAILED})


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
        self._audit = None
        if audit_secret is not None:
            self._audit = AuditLog(engine, audit_secret)

    # -- writes ----------------------------------------------------------------------------

    def save_plan(self, request_id: str, actions: Iterable[PlannedAction], *,
                  replace_reviews: bool = False) -> list[PlannedAction]:
        """Add the actions not yet in the plan (same processor, type and id = same action);
        existing rows, and their state, are kept. With ``replace_reviews`` an open review of
        a weak match is replaced by the action planned for it now (``--include-weak-matches``).
        Returns the whole plan."""
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            rows = {(r.processor, r.record_type, r.record_id): r for r in session.scalars(
                select(ErasureActionRow).where(ErasureActionRow.request_id == request_id))}
            existing = set(rows)
            added: list[ErasureActionRow] = []
            for action in actions:
                old = rows.get(action.key)
                if (replace_reviews and old is not None and is_review(old.detail)
                        and old.state == ActionState.MANUAL_OPEN.value
                        and not is_review(action.detail)):
                    session.delete(old)
                    session.flush()
                    existing.discard(action.key)
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
        """Change one action's state; the ledger event and audit entry commit with it."""
        state = ActionState(state)
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = self._row(session, action_id)
            previous = row.state
            row.state, row.updated_at = state.value, now
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
        return self.retained(due_before=today) + failed

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


def summarise(plan: Sequence[PlannedAction]) -> dict[str, int]:
    """How many actions are in each state."""
    counts: dict[str, int] = {}
    for action in plan:
        counts[action.state] = counts.get(action.state, 0) + 1
    return counts
