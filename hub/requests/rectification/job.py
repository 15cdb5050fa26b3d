"""The rectification request (GDPR Art. 16) as one use-case, in two halves with a decision
between, like the erasure (:mod:`hub.requests.erasure.job`).

:func:`propose_rectification` looks the subject up and plans the correction without changing
anything (:mod:`.plan`); the caller shows it and decides. :func:`carry_out` opens (or continues)
the subject's rectification request, saves the plan in the ledger (the ``erasure_actions``
table, action ``rectify``: one row per record, claimed before the call, so a crash loses
nothing and two runs never send the same change twice), sends each change once, makes the
suppression list and consent register follow a corrected e-mail address, verifies the change
by a second lookup, records the Art. 19 notices (the processors were told through their APIs),
writes the answer to the subject and closes the request when nothing is left open.

The ledger holds no values: the new ones come with each run's ``--set``; a corrected e-mail
address is recorded as the subject's alias by its keyed hash only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors.sdk.base import Connector, ErasureOutcome, ErasureState
from hub.core.errors import as_connector_error
from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import ProcessorStatus, Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.files import write_private
from hub.reports.rectification import RectificationFacts, render_rectification_letters
from hub.requests.access.lookup import look_up
from hub.requests.context import RequestContext
from hub.requests.erasure.stores import ErasureStores, open_stores
from hub.requests.fanout import open_connectors
from hub.requests.rectification.changes import Changes
from hub.requests.rectification.plan import RECTIFY, PlanLine, build_plan
from hub.store.consent_register import ConsentRegister
from hub.store.erasure_actions import ActionState, PlannedAction, summarise
from hub.store.keyed import Pseudonymiser
from hub.store.ledger import LedgerRequest, local_today
from hub.store.restrictions import RestrictionRegister
from hub.store.suppression import SuppressionList

log = logging.getLogger(__name__)

#: ledger states from which a record that still differs is sent again
REDO = (ActionState.PLANNED, ActionState.FAILED, ActionState.DONE, ActionState.MANUAL_DONE)
OPEN = frozenset({ActionState.PLANNED, ActionState.FAILED, ActionState.IN_PROGRESS,
                  ActionState.MANUAL_OPEN})


@dataclass
class RectificationProposal:
    """A looked-up subject and the correction planned; nothing changed (not even the ledger)."""

    subject: Subject
    changes: Changes
    today: date
    stores: ErasureStores
    existing: LedgerRequest | None
    lookup: Report
    lines: list[PlanLine]
    unreachable: dict[str, str]
    #: the subject's restriction in force (Art. 18), if any: a correction is allowed (it is
    #: often how an Art. 18(1)(a) restriction ends), but the operator is told before it runs
    restricted_since: date | None = None

    @property
    def runnable(self) -> list[PlanLine]:
        return [line for line in self.lines if line.action == RECTIFY]

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.runnable)

    def as_dict(self) -> dict[str, object]:
        return {"type": RequestType.RECTIFICATION.value, "fields": list(self.changes.fields),
                "request_id": self.existing.id if self.existing else None,
                "unreachable": self.unreachable,
                "restricted_since": (self.restricted_since.isoformat()
                                     if self.restricted_since else None),
                "plan": [line.as_dict() for line in self.lines]}


@dataclass
class RectificationResult:
    """What :func:`carry_out` did; :meth:`as_dict` is ``rectification.json`` and ``--json``."""

    request_id: str | None
    lines: list[PlanLine]
    actions: list[PlannedAction]
    unreachable: dict[str, str]
    problems: list[str]
    notified: list[str]
    folder: Path | None
    code: ExitCode
    closed: bool = False
    followed: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id, "type": RequestType.RECTIFICATION.value,
            "exit_code": self.code, "executed": True,
            "states": summarise(self.actions), "unreachable": self.unreachable,
            "verification": {"ok": not self.problems, "problems": self.problems},
            "art19": [{"recipient": name, "how": "api"} for name in self.notified],
            "email_followed": self.followed,
            "letter": str(self.folder / "rectification-letter.txt") if self.folder else None,
            "closed": self.closed,
            "plan": [line.as_dict() for line in self.lines],
            "actions": [a.as_dict() for a in self.actions],
        }


def _unreachable(lookup: Report) -> dict[str, str]:
    return {r.name: r.error or r.status.value for r in lookup.processors
            if r.status is ProcessorStatus.ERROR}


async def _plan(ctx: RequestContext, subject: Subject, changes: Changes
                ) -> tuple[Report, list[PlanLine]]:
    lookup = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        return lookup, build_plan(lookup, opened, changes)


async def propose_rectification(ctx: RequestContext, subject: Subject, changes: Changes, *,
                                today: date | None = None) -> RectificationProposal:
    """Look ``subject`` up and plan the correction; continues the subject's open
    rectification request if there is one. Writes nothing."""
    register_secret(subject.email, "subject")
    for value in changes.values.values():
        register_secret(value, "correction")
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox, email=subject.email)
    existing = stores.ledger.find_open_request(subject.email, RequestType.RECTIFICATION)
    restriction = RestrictionRegister(stores.ledger.engine, stores.secret).current(subject.email)
    lookup, lines = await _plan(ctx, subject, changes)
    return RectificationProposal(subject, changes, today or local_today(), stores, existing,
                                 lookup, lines, _unreachable(lookup),
                                 restriction.since.date() if restriction else None)


def _key(action: PlannedAction, line: PlanLine) -> str:
    """The idempotency key of one change: the record's key and a digest of the values, so a
    repeated call is the same request to the processor and a different correction is not."""
    digest = hashlib.sha256(json.dumps([[c.field, c.new] for c in line.changes])
                            .encode()).hexdigest()[:16]
    return f"{action.idempotency_key}:{digest}"


async def _send(connector: Connector, line: PlanLine, changes: Changes, key: str
                ) -> ErasureOutcome:
    """One update call; any failure becomes a FAILED outcome, so one processor's failure
    never stops the others."""
    wanted = Changes({c.field: c.new for c in line.changes})
    try:
        return await connector.update(line.record_type, line.record_id,
                                      wanted.for_connector(), idempotency_key=key)
    except NotImplementedError:
        return ErasureOutcome(state=ErasureState.REFUSED,
                              detail=f"{connector.title} cannot be corrected through its API: "
                                     "manual task: correct the record in its admin UI")
    except Exception as exc:  # one processor's failure must not stop the others
        error = as_connector_error(exc, connector.title)
        if error is None:
            log.exception("%s: unexpected error in update", connector.name)
            return ErasureOutcome(state=ErasureState.FAILED,
                                  detail=f"unexpected error in the {connector.name} connector "
                                         f"({type(exc).__name__}); run with -vv for details")
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))


async def _execute(ctx: RequestContext, proposal: RectificationProposal,
                   saved: Sequence[PlannedAction]) -> list[PlannedAction]:
    """Send every planned change once: each row is claimed first; a row another run holds is
    left to it."""
    elog = proposal.stores.actions
    lines = {line.key: line for line in proposal.runnable}
    out = list(saved)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        for index, action in enumerate(saved):
            line = lines.get(action.key)
            if line is None or action.id is None:
                continue
            claimed = elog.claim(action.id, REDO)
            if claimed is None:
                out[index] = elog.action(action.id)
                continue
            connector = opened.get(action.processor)
            if connector is None:
                out[index] = elog.set_state(action.id, ActionState.FAILED,
                                            detail="processor not enabled; resume later")
                continue
            elog.mark_attempt(action.id)
            outcome = await _send(connector, line, proposal.changes, _key(claimed, line))
            state = {ErasureState.DONE: ActionState.DONE,
                     ErasureState.ALREADY_GONE: ActionState.MANUAL_OPEN,
                     ErasureState.REFUSED: ActionState.MANUAL_OPEN}.get(
                outcome.state, ActionState.FAILED)
            out[index] = elog.set_state(action.id, state, detail=outcome.detail,
                                        event={"outcome": outcome.state.value, "called": True,
                                               "kind": RECTIFY})
    return out


def _follow_email(proposal: RectificationProposal, request_id: str) -> dict[str, bool]:
    """A corrected address: the subject's alias in the ledger (keyed hash), and the
    suppression list and consent register follow it."""
    new = proposal.changes.email
    old = proposal.subject.email
    if new is None or new.casefold() == old.casefold():
        return {}
    ledger, secret = proposal.stores.ledger, proposal.stores.secret
    alias = Pseudonymiser(ledger.engine, secret).hash(new)
    if not any(e.kind == "rectification.alias" and e.details.get("alias") == alias
               for e in ledger.get(request_id).events):
        ledger.attach(request_id, "rectification.alias", {"alias": alias, "keyed_hash": True})
    suppressed = SuppressionList(ledger.engine, secret).follow(
        old, new, f"rectification request {request_id}: corrected address of a suppressed one")
    moved = ConsentRegister(ledger.engine).follow_address(old, new)
    return {"alias": True, "suppression": suppressed, "consent": moved > 0}


def _verify(actions: Sequence[PlannedAction], after: Sequence[PlanLine]) -> list[str]:
    """Every record changed now must hold the corrected values in the second lookup."""
    seen = {line.key: line for line in after}
    problems = []
    for action in actions:
        if action.action != RECTIFY or action.state != ActionState.DONE:
            continue
        line = seen.get(action.key)
        if line is None:
            problems.append(f"{action.task}: not found by the verification lookup")
        elif line.action == RECTIFY:
            fields = ", ".join(c.field for c in line.changes)
            problems.append(f"{action.task}: still holds another value for {fields}")
    return problems


def _notify(proposal: RectificationProposal, request_id: str,
            actions: Sequence[PlannedAction]) -> list[str]:
    """Art. 19: each processor whose records were corrected was told so through its API (the
    update itself); recorded once per processor in the request's history."""
    ledger = proposal.stores.ledger
    told = sorted({a.processor for a in actions
                   if a.action == RECTIFY and a.state == ActionState.DONE})
    recorded = {e.details.get("recipient") for e in ledger.get(request_id).events
                if e.kind == "rectification.art19"}
    for name in told:
        if name not in recorded:
            ledger.attach(request_id, "rectification.art19", {
                "recipient": name, "how": "api", "on": proposal.today.isoformat()})
    return told


async def carry_out(ctx: RequestContext, proposal: RectificationProposal, *,
                    lang: str = DEFAULT_LANGUAGE) -> RectificationResult:
    """Save, send, follow the address, verify, notify (Art. 19), answer and, when nothing is
    left open, close the request (see the module docstring). With nothing to correct and no
    open request, nothing is written: a second run changes nothing."""
    ledger, elog = proposal.stores.ledger, proposal.stores.actions
    if not proposal.runnable and proposal.existing is None:
        return RectificationResult(None, proposal.lines, [], proposal.unreachable, [], [],
                                   None, ExitCode.PARTIAL if proposal.unreachable
                                   else ExitCode.OK)
    subject = proposal.subject
    request = proposal.existing or ledger.find_or_open(subject.email,
                                                       RequestType.RECTIFICATION)[0]
    saved = elog.save_plan(request.id, [line.action_row() for line in proposal.runnable])
    actions = await _execute(ctx, proposal, saved)
    followed = _follow_email(proposal, request.id)

    new_email = proposal.changes.email
    again = Subject.from_email(new_email) if new_email else subject
    after_lookup, after = await _plan(ctx, again, proposal.changes)
    problems = _verify(actions, after)
    ledger.attach(request.id, "rectification.verified",
                  {"ok": not problems, "problems": len(problems)})
    notified = _notify(proposal, request.id, actions)

    facts = RectificationFacts(
        fields=proposal.changes.fields,
        corrected=tuple(sorted({_title(ctx, a.processor) for a in actions
                                if a.state == ActionState.DONE})),
        kept=tuple(sorted({_title(ctx, line.processor) for line in proposal.lines
                           if line.action in ("kept", "not-applicable")})),
        pending=any(ActionState(a.state) in OPEN for a in actions),
        request_id=request.id, controller=ctx.settings.controller, draft=ctx.draft)
    folder = ctx.reports_dir / request.id
    for name, text in render_rectification_letters(facts, lang=lang).items():
        write_private(folder / name, text)
    unreachable = {**proposal.unreachable, **_unreachable(after_lookup)}
    open_work = [a for a in actions if ActionState(a.state) in OPEN]
    done = not open_work and not unreachable and not problems
    result = RectificationResult(request.id, proposal.lines, actions, unreachable, problems,
                                 notified, folder, ExitCode.OK if done else ExitCode.PARTIAL,
                                 followed=followed)
    write_private(folder / "rectification.json",
                  json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    if done:
        ledger.close(request.id, note="rectification complete")
        result.closed = True
    return result


def _title(ctx: RequestContext, name: str) -> str:
    """A processor's own name (``Stripe``), as the letter names it."""
    cls: Mapping[str, type[Connector]] = ctx.connectors
    connector = cls.get(name)
    return connector.title if connector is not None and connector.title else name
