"""Step 2 of an erasure: carry out the saved plan at the processors, crash-safe and idempotent.

The plan is already in the ledger (``store.erasure_actions``); each ``delete``/``anonymise``
action is committed as attempted before its external call and with its outcome after, so a
crash loses nothing. A re-run first reconciles: a record that was attempted and is no longer
found (or is found already anonymised) is done without a second call; otherwise the call is
repeated with the same idempotency key, which the processor treats as the same request.

Another run may be working on the same request at the same moment (cron and a person): every
action is claimed in the ledger before anything is done with it
(:meth:`~hub.store.erasure_actions.ErasureLedger.claim`), and an action another run holds, or
has finished meanwhile, is skipped, so each processor is called once per action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from connectors.sdk.base import Connector, ErasureAction, ErasureOutcome, ErasureState
from hub.core.errors import as_connector_error
from hub.core.models import ProcessorResult, ProcessorStatus, Record, Report
from hub.requests.erasure.plan import ERASING, record_key
from hub.store.erasure_actions import ActionState, ErasureLedger, PlannedAction, idempotency_key

log = logging.getLogger(__name__)

RecordKey = tuple[str, str, str]


def found_records(lookup: Report) -> dict[RecordKey, Record]:
    return {record_key(r.name, rec): rec for r in lookup.processors for rec in r.records}


def reconciled(action: PlannedAction, record: Record | None) -> str | None:
    """Why an action needs no call (the record is gone or already anonymised), or None."""
    if record is None:
        return "not found at the processor any more (already erased)"
    if action.action == "anonymise" and action.fields and all(
            record.data.get(name) in (None, "", [], {}) for name in action.fields):
        return "already anonymised"
    return None


async def call_connector(connector: Connector, record: Record, action: ErasureAction, key: str,
                         fields: Sequence[str]) -> ErasureOutcome:
    """One erase call; any failure becomes a ``failed`` outcome with a reason, so one
    processor's failure never stops the others."""
    try:
        return await connector.erase(record, action, idempotency_key=key, fields=fields)
    except NotImplementedError:
        return ErasureOutcome(state=ErasureState.FAILED,
                              detail=f"the {connector.name} connector does not implement "
                                     "erasure yet; resume the request when it does")
    except Exception as exc:  # one processor's failure must not stop the others
        error = as_connector_error(exc, connector.title)
        if error is None:
            log.exception("%s: unexpected error in erase", connector.name)
            return ErasureOutcome(state=ErasureState.FAILED,
                                  detail=f"unexpected error in the {connector.name} connector "
                                         f"({type(exc).__name__}); run with -vv for details")
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))


async def execute(
    plan: Sequence[PlannedAction],
    lookup: Report,
    opened: Mapping[str, Connector],
    elog: ErasureLedger,
    *,
    on_change: Callable[[PlannedAction], None] | None = None,
) -> list[PlannedAction]:
    """Run every ``delete``/``anonymise`` action that is planned or failed; return the plan
    with its new states. ``opened`` are the connectors (open) by name. An action is claimed
    first; one that another run holds is left to it and returned as it stands.

    Deletions run first: deleting a parent often takes its dependents with it (Stripe cancels
    a deleted customer's subscriptions and detaches its cards; a booking system deletes a
    customer's bookings), so the later actions find them already gone instead of acting on
    them one by one."""
    records = found_records(lookup)
    statuses = {r.name: r for r in lookup.processors}
    result: list[PlannedAction] = list(plan)
    order = sorted(range(len(plan)), key=lambda i: plan[i].action != ErasureAction.DELETE.value)
    for index in order:
        action = plan[index]
        if action.action not in ERASING or ActionState(action.state) not in (
                ActionState.PLANNED, ActionState.FAILED, ActionState.IN_PROGRESS):
            continue
        assert action.id is not None
        claimed = elog.claim(action.id)
        if claimed is None:
            new = elog.action(action.id)
            log.info("erasure action %s is %s by another run; skipped", action.id, new.state)
        else:
            new = await _run_claimed(claimed, records, statuses, opened, elog)
        if on_change:
            on_change(new)
        result[index] = new
    return result


async def _run_claimed(action: PlannedAction, records: Mapping[RecordKey, Record],
                       statuses: Mapping[str, ProcessorResult],
                       opened: Mapping[str, Connector], elog: ErasureLedger) -> PlannedAction:
    """:func:`_execute_one` under this run's claim; an interruption (Ctrl-C, cancellation)
    gives the claim back at once instead of leaving it to time out."""
    assert action.id is not None
    try:
        return await _execute_one(action, records, statuses, opened, elog)
    except BaseException:
        try:
            elog.release(action.id)
        except Exception:  # the original error matters more; the claim times out
            log.exception("could not give back the claim on erasure action %s", action.id)
        raise


async def _execute_one(action: PlannedAction, records: Mapping[RecordKey, Record],
                       statuses: Mapping[str, ProcessorResult], opened: Mapping[str, Connector],
                       elog: ErasureLedger) -> PlannedAction:
    assert action.id is not None
    processor = statuses.get(action.processor)
    connector = opened.get(action.processor)
    if processor is None or connector is None or processor.status in (
            ProcessorStatus.ERROR, ProcessorStatus.SKIPPED):
        reason = (processor.error if processor and processor.error
                  else "the processor is not enabled or could not be reached")
        return elog.set_state(action.id, ActionState.FAILED,
                              detail=f"not attempted: {reason}; resume the request later")
    record = records.get(action.key)
    why_not = reconciled(action, record)
    if why_not is not None:
        return elog.set_state(action.id, ActionState.DONE, detail=why_not,
                              event={"reconciled": True, "called": False})
    assert record is not None
    elog.mark_attempt(action.id)
    outcome = await call_connector(connector, record, ErasureAction(action.action),
                                   action.idempotency_key or "", action.fields)
    if outcome.state is ErasureState.REFUSED and outcome.fallback is not None \
            and outcome.fallback.value != action.action:
        # e.g. Fortnox refuses to delete a customer with invoices: anonymise instead
        key = idempotency_key(action.request_id or "", *action.key, outcome.fallback.value)
        elog.mark_attempt(action.id)
        fallback = await call_connector(connector, record, outcome.fallback, key, action.fields)
        outcome = fallback.model_copy(update={
            "detail": f"{outcome.detail}; instead: {fallback.detail}"})
    return record_outcome(elog, action.id, outcome)


def record_outcome(elog: ErasureLedger, action_id: int, outcome: ErasureOutcome
                   ) -> PlannedAction:
    """Commit a call's outcome as the action's new state."""
    event = {"outcome": outcome.state.value, "called": True}
    if outcome.state in (ErasureState.DONE, ErasureState.ALREADY_GONE):
        return elog.set_state(action_id, ActionState.DONE, detail=outcome.detail,
                              completes_by=outcome.completes_by, event=event)
    if outcome.state is ErasureState.REFUSED:
        # A lawful refusal is never retried automatically: a person decides.
        return elog.set_state(action_id, ActionState.MANUAL_OPEN,
                              detail=f"refused by the processor: {outcome.detail}", event=event)
    return elog.set_state(action_id, ActionState.FAILED, detail=outcome.detail, event=event)
