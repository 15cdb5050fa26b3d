"""Deferred erasure: records kept under a legal hold (e.g. Bokföringslagen's seven years) are
erased when the hold ends, with the action the retention policy names for "after".

Meant to run from cron (``dsar retention due --execute``): it finds the due records in every
request's plan, so nothing retained is forgotten after the request itself was closed. The
remainder of an anonymised record (what a Fortnox customer kept for its invoices,
:mod:`.remainder`) is due with the last of those invoices: the record is deleted then, or its
kept fields blanked.

A record whose subject's processing is restricted (GDPR Art. 18, :mod:`hub.store.restrictions`)
is not erased while the restriction is in force: the person asked us to keep it
(Art. 18(1)(b)/(c)). It is listed as skipped, stays retained, and is due again at the first run
after the restriction is lifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from connectors.sdk.base import Connector, ErasureAction, ErasureState
from hub.core.exit_codes import ExitCode
from hub.core.models import Record
from hub.requests.context import RequestContext
from hub.requests.erasure.execute import call_connector, record_outcome
from hub.requests.erasure.remainder import is_remainder, remainder_of
from hub.requests.erasure.stores import open_stores
from hub.requests.fanout import open_connectors
from hub.store.erasure_actions import ActionState, ErasureLedger, PlannedAction, idempotency_key
from hub.store.ledger import local_today
from hub.store.restrictions import RestrictionRegister

_FINISHED = frozenset({ActionState.DONE.value, ActionState.MANUAL_DONE.value})


@dataclass
class RetentionRun:
    """The retained records whose hold has ended, and (executed) what became of them."""

    today: date
    executed: bool
    actions: list[PlannedAction] = field(default_factory=list)
    #: due records left alone, with why (their subject's processing is restricted)
    skipped: list[tuple[PlannedAction, str]] = field(default_factory=list)

    @property
    def code(self) -> ExitCode:
        """PARTIAL while an erasure that was due is not finished (failed or manual)."""
        if not self.executed:
            return ExitCode.OK
        unfinished = sum(1 for a in self.actions if a.state not in _FINISHED)
        return ExitCode.OK if unfinished == 0 else ExitCode.PARTIAL

    def as_dict(self) -> dict[str, object]:
        return {"today": self.today.isoformat(), "executed": self.executed,
                "exit_code": self.code,
                "due": [{**a.as_dict(), "request_id": a.request_id} for a in self.actions],
                "skipped": [{**a.as_dict(), "request_id": a.request_id, "why": why}
                            for a, why in self.skipped]}


async def retention_due(ctx: RequestContext, *, execute: bool = False,
                        today: date | None = None) -> RetentionRun:
    """The records due for erasure today; with ``execute``, erase them now."""
    today = today or local_today()
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox)
    elog = stores.actions
    due, skipped = _without_restricted(stores.ledger.engine, stores.secret, elog.due(today))
    if not (execute and due):
        return RetentionRun(today, execute, due, skipped)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        return RetentionRun(today, execute, await erase_due(ctx, due, opened, elog), skipped)


def _without_restricted(engine: Engine, secret: Path, due: Sequence[PlannedAction]
                        ) -> tuple[list[PlannedAction], list[tuple[PlannedAction, str]]]:
    """The due records whose subject is not restricted, and the others with why they wait."""
    restricted = RestrictionRegister(engine, secret).restricted_requests(
        a.request_id for a in due if a.request_id)
    kept: list[PlannedAction] = []
    skipped: list[tuple[PlannedAction, str]] = []
    for action in due:
        restriction = restricted.get(action.request_id or "")
        if restriction is None:
            kept.append(action)
        else:
            skipped.append((action, (
                "the subject's processing is restricted (GDPR Art. 18) since "
                f"{restriction.since.date().isoformat()} (request {restriction.request_id}): "
                "kept until the restriction is lifted")))
    return kept, skipped


async def erase_due(ctx: RequestContext, due: Sequence[PlannedAction],
                    opened: dict[str, Connector], elog: ErasureLedger) -> list[PlannedAction]:
    """Erase each due record with the policy's ``after`` action (manual: a task). Each is
    claimed first, so two runs at once (two cron entries) never erase one record twice."""
    done: list[PlannedAction] = []
    for listed in due:
        assert listed.id is not None
        action = elog.claim(listed.id, (ActionState.RETAINED, ActionState.FAILED))
        if action is None:  # another run has it, or finished it meanwhile
            done.append(elog.action(listed.id))
            continue
        assert action.id is not None
        try:
            done.append(await _erase_claimed(ctx, action, opened, elog))
        except BaseException:
            elog.release(action.id, listed.state if listed.state != ActionState.IN_PROGRESS
                         else ActionState.RETAINED)
            raise
    return done


async def _erase_claimed(ctx: RequestContext, action: PlannedAction,
                         opened: dict[str, Connector], elog: ErasureLedger) -> PlannedAction:
    """One due record, claimed by this run: a manual task, a failure, or the erase call."""
    assert action.id is not None
    if is_remainder(action.record_type):
        return await _finish_remainder(action, opened, elog)
    entry = ctx.settings.retention.for_record(action.processor, action.record_type)
    after = entry.after.value if entry and entry.after else "manual"
    if after == "manual" or after not in ("delete", "anonymise"):
        return elog.set_state(
            action.id, ActionState.MANUAL_OPEN,
            detail="retention ended: "
                   + ((entry.instructions if entry else None) or "erase by hand"))
    connector = opened.get(action.processor)
    if connector is None:
        return elog.set_state(action.id, ActionState.FAILED, detail=(
            f"retention ended, but {action.processor} is not enabled; run again"))
    record = Record(type=action.record_type, id=action.record_id,
                    matched_on=action.matched_on)
    key = idempotency_key(action.request_id or "", *action.key, after)
    elog.mark_attempt(action.id)
    outcome = await call_connector(connector, record, ErasureAction(after), key,
                                   entry.anonymise_fields if entry else ())
    return record_outcome(elog, action.id, outcome)


async def _finish_remainder(action: PlannedAction, opened: dict[str, Connector],
                            elog: ErasureLedger) -> PlannedAction:
    """The fields an anonymised record kept for its retained records (:mod:`.remainder`),
    once the last of those holds has ended: the record is deleted; when the processor still
    refuses that and offers to anonymise instead (Fortnox keeps a customer its invoices refer
    to, even when their hold is over), the kept fields are blanked."""
    assert action.id is not None
    connector = opened.get(action.processor)
    if connector is None:
        return elog.set_state(action.id, ActionState.FAILED, detail=(
            f"retention ended, but {action.processor} is not enabled; run again"))
    record = Record(type=remainder_of(action.record_type), id=action.record_id,
                    matched_on=action.matched_on)
    request_id = action.request_id or ""
    elog.mark_attempt(action.id)
    outcome = await call_connector(
        connector, record, ErasureAction.DELETE,
        idempotency_key(request_id, *action.key, ErasureAction.DELETE.value), ())
    if outcome.state is ErasureState.REFUSED and outcome.fallback is ErasureAction.ANONYMISE:
        elog.mark_attempt(action.id)
        blanked = await call_connector(
            connector, record, ErasureAction.ANONYMISE,
            idempotency_key(request_id, *action.key, ErasureAction.ANONYMISE.value),
            action.fields)
        outcome = blanked.model_copy(update={
            "detail": f"{outcome.detail}; instead: {blanked.detail}"})
    return record_outcome(elog, action.id, outcome)
