"""The restriction request (GDPR Art. 18) and its lifting as one use-case, in two halves with a
decision between, like the rectification (:mod:`hub.requests.rectification.job`).

:func:`propose_restriction` checks the input (a reason; for a lift, the day the person was told,
not in the future), looks the subject up and plans the markers without changing anything
(:mod:`.plan`). :func:`carry_out` opens (or continues) the subject's restriction request,
records the restriction in the register (:mod:`hub.store.restrictions`; a lift records the day
the person was told first, Art. 18(3), in the ledger and the audit log), saves the markers in
the ledger (the ``erasure_actions`` table: one row per record, claimed before the call, so a
crash loses nothing and two runs never send one marker twice), sends each once, writes the
answer to the subject and closes the request when nothing is left open.

The restriction itself is in force as soon as the register holds it: every job that would
change or remove the subject's data asks the register, whether or not the markers are set yet.
A lift is a request of its own (the marker rows of one request are one per record), so a
restriction's request and its lift's are two requests of type ``restriction``; only one of the
subject's is open at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from connectors.sdk.base import Connector, ErasureOutcome, ErasureState
from hub.core.errors import InvalidInput, as_connector_error
from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import ProcessorStatus, Record, Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.files import write_private
from hub.reports.restriction import RestrictionFacts, render_restriction_letters
from hub.requests.access.lookup import look_up
from hub.requests.context import RequestContext
from hub.requests.erasure.stores import ErasureStores, open_stores
from hub.requests.fanout import open_connectors
from hub.requests.restriction.plan import MANUAL, PlanLine, build_plan
from hub.store.audit import AuditLog
from hub.store.erasure_actions import ActionState, PlannedAction, summarise
from hub.store.ledger import LedgerRequest, RequestClosed, local_today
from hub.store.restrictions import Restriction, RestrictionRegister

log = logging.getLogger(__name__)

#: the ledger event that makes a restriction request the lift of an earlier restriction
LIFT_EVENT = "restriction.lift"
OPEN = frozenset({ActionState.PLANNED, ActionState.FAILED, ActionState.IN_PROGRESS,
                  ActionState.MANUAL_OPEN})


@dataclass
class RestrictionProposal:
    """A checked, looked-up subject and the markers planned; nothing changed."""

    subject: Subject
    lift: bool
    reason: str | None
    notified_on: date | None
    today: date
    stores: ErasureStores
    existing: LedgerRequest | None
    restriction: Restriction | None
    lookup: Report
    lines: list[PlanLine]
    unreachable: dict[str, str]

    @property
    def runnable(self) -> list[PlanLine]:
        return [line for line in self.lines if line.runnable]

    @property
    def needs_confirmation(self) -> bool:
        """Restricting always changes something (the register); so does a lift."""
        return True

    def as_dict(self) -> dict[str, object]:
        return {"type": RequestType.RESTRICTION.value, "lift": self.lift,
                "request_id": self.existing.id if self.existing else None,
                "restriction": self.restriction.as_dict() if self.restriction else None,
                "notified_on": self.notified_on.isoformat() if self.notified_on else None,
                "unreachable": self.unreachable,
                "plan": [line.as_dict() for line in self.lines]}


@dataclass
class RestrictionResult:
    """What :func:`carry_out` did; :meth:`as_dict` is ``restriction.json`` and ``--json``."""

    request_id: str
    lift: bool
    restriction: Restriction
    started: bool
    lines: list[PlanLine]
    actions: list[PlannedAction]
    unreachable: dict[str, str]
    folder: Path
    code: ExitCode
    closed: bool = False
    #: the restriction was in force and its request answered already: nothing was done
    already: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id, "type": RequestType.RESTRICTION.value,
            "lift": self.lift, "exit_code": self.code, "executed": not self.already,
            "already_in_force": self.already,
            "restriction": self.restriction.as_dict(),
            "in_force": self.restriction.in_force, "recorded_now": self.started,
            "states": summarise(self.actions), "unreachable": self.unreachable,
            "letter": str(self.folder / "restriction-letter.txt"),
            "closed": self.closed,
            "plan": [line.as_dict() for line in self.lines],
            "actions": [a.as_dict() for a in self.actions],
        }


def _unreachable(lookup: Report) -> dict[str, str]:
    return {r.name: r.error or r.status.value for r in lookup.processors
            if r.status is ProcessorStatus.ERROR}


def _is_lift(request: LedgerRequest) -> bool:
    return any(e.kind == LIFT_EVENT for e in request.events)


def _kind(request: LedgerRequest) -> bool | None:
    """True: a lift; False: a restriction; None: opened by a run that stopped before it
    recorded which (either kind continues it)."""
    if _is_lift(request):
        return True
    if any(e.kind == "restriction.in_force" for e in request.events) or request.status != "open":
        return False
    return None


def check_input(*, lift: bool, reason: str | None, notified_on: date | None,
                today: date) -> None:
    """Bad input, found before anything is contacted (InvalidInput: exit 2)."""
    if lift:
        if notified_on is None:
            raise InvalidInput("--lift needs --notified-on YYYY-MM-DD: the day the person was "
                               "told that the restriction will be lifted (GDPR Art. 18(3): "
                               "they are told before it is lifted)")
        if notified_on > today:
            raise InvalidInput(f"--notified-on {notified_on.isoformat()} is in the future: the "
                               "person must have been told before the restriction is lifted")
        if reason:
            raise InvalidInput("--reason belongs to a restriction; a lift records "
                               "--notified-on")
    else:
        if notified_on is not None:
            raise InvalidInput("--notified-on belongs to --lift")
        if not reason or not reason.strip():
            raise InvalidInput("--reason is required: why the processing is restricted (GDPR "
                               "Art. 18(1)(a)-(d), e.g. 'accuracy contested')")


def _open_request(stores: ErasureStores, subject: Subject, *, lift: bool
                  ) -> LedgerRequest | None:
    """The subject's open restriction request, if it is of the kind asked for; the other kind
    open refuses (one open restriction request per subject)."""
    existing = stores.ledger.find_open_request(subject.email, RequestType.RESTRICTION)
    if existing is None:
        return None
    full = stores.ledger.get(existing.id)
    if _kind(full) not in (None, lift):
        what = "the lift of the restriction" if _is_lift(full) else "the restriction"
        raise InvalidInput(
            f"request {existing.id} ({what}) is still open: finish it first (run the same "
            "command again, or `dsar requests task done ID TASK --note ...` for manual steps) "
            "or close it with `dsar requests close`")
    return full


async def propose_restriction(ctx: RequestContext, subject: Subject, *,
                              reason: str | None = None, lift: bool = False,
                              notified_on: date | None = None,
                              today: date | None = None) -> RestrictionProposal:
    """Check the input, look ``subject`` up and plan the markers; continues the subject's open
    restriction request (or lift) if there is one. Writes nothing. InvalidInput (exit 2) for
    bad input or a lift of a restriction that is not in force, before anything is
    contacted."""
    register_secret(subject.email, "subject")
    today = today or local_today()
    check_input(lift=lift, reason=reason, notified_on=notified_on, today=today)
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox, email=subject.email)
    register = RestrictionRegister(stores.ledger.engine, stores.secret)
    existing = _open_request(stores, subject, lift=lift)
    restriction = register.current(subject.email)
    if lift and restriction is None:
        last = register.last(subject.email)
        if last is None or existing is None or last.lift_request_id != existing.id:
            raise InvalidInput("no restriction is in force for this subject: nothing to lift")
        restriction = last  # lifted by an earlier run of this lift: resume it
    if lift and notified_on is not None and restriction is not None \
            and notified_on < restriction.since.date():
        raise InvalidInput(f"--notified-on {notified_on.isoformat()} is before the restriction "
                           f"began ({restriction.since.date().isoformat()}): give the day the "
                           "person was told it would be lifted")
    lookup = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        lines = build_plan(lookup, opened, lift=lift)
    return RestrictionProposal(subject, lift, reason.strip() if reason else None, notified_on,
                               today, stores, existing, restriction, lookup, lines,
                               _unreachable(lookup))


def _record(proposal: RestrictionProposal, request_id: str) -> tuple[Restriction, bool]:
    """The register's side, before any marker is sent: the restriction in force (a second run
    finds it so), or the lift with the day the person was told, in the ledger and the audit
    log. True when this run changed the register."""
    stores, subject = proposal.stores, proposal.subject
    register = RestrictionRegister(stores.ledger.engine, stores.secret)
    audit = AuditLog(stores.ledger.engine, stores.secret)
    if not proposal.lift:
        assert proposal.reason is not None
        restriction, started = register.restrict(subject.email, proposal.reason,
                                                 request_id=request_id)
        if started:
            started_with = {"since": restriction.since.isoformat(),
                            "reason": restriction.reason}
            stores.ledger.attach(request_id, "restriction.in_force", started_with)
            audit.append("restriction.in_force", request_id=request_id,
                         subject_email=subject.email, details=started_with)
        return restriction, started
    assert proposal.notified_on is not None
    current = register.current(subject.email)
    if current is None:  # lifted by an earlier run of this request
        last = register.last(subject.email)
        assert last is not None
        return last, False
    lifted = register.lift(subject.email, notified_on=proposal.notified_on,
                           request_id=request_id)
    details: dict[str, object] = {
        "notified_on": proposal.notified_on.isoformat(),
        "restriction_request": current.request_id, "since": current.since.isoformat()}
    stores.ledger.attach(request_id, "restriction.lifted", details)
    audit.append("restriction.lifted", request_id=request_id, subject_email=subject.email,
                 details=details)
    return lifted, True


async def _send(connector: Connector, action: PlannedAction, restricted: bool
                ) -> ErasureOutcome:
    """One marker call; any failure becomes a FAILED outcome, so one processor's failure
    never stops the others."""
    record = Record(type=action.record_type, id=action.record_id, matched_on=action.matched_on)
    try:
        return await connector.mark_restricted(record, restricted,
                                               idempotency_key=action.idempotency_key or "")
    except NotImplementedError:
        return ErasureOutcome(state=ErasureState.REFUSED,
                              detail=f"{connector.title} cannot be marked through its API: "
                                     "manual task: mark the record in its admin UI")
    except Exception as exc:  # one processor's failure must not stop the others
        error = as_connector_error(exc, connector.title)
        if error is None:
            log.exception("%s: unexpected error in mark_restricted", connector.name)
            return ErasureOutcome(state=ErasureState.FAILED,
                                  detail=f"unexpected error in the {connector.name} connector "
                                         f"({type(exc).__name__}); run with -vv for details")
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))


async def _execute(ctx: RequestContext, proposal: RestrictionProposal,
                   saved: Sequence[PlannedAction]) -> list[PlannedAction]:
    """Send every planned marker once: each row is claimed first (planned or failed rows
    only: a done marker is never sent again); a row another run holds is left to it."""
    elog = proposal.stores.actions
    out = list(saved)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        for index, action in enumerate(saved):
            if action.action == MANUAL or action.id is None:
                continue
            claimed = elog.claim(action.id, (ActionState.PLANNED, ActionState.FAILED))
            if claimed is None:
                out[index] = elog.action(action.id)
                continue
            connector = opened.get(action.processor)
            if connector is None:
                out[index] = elog.set_state(action.id, ActionState.FAILED,
                                            detail="processor not enabled; resume later")
                continue
            elog.mark_attempt(action.id)
            try:
                outcome = await _send(connector, claimed, not proposal.lift)
            except BaseException:
                elog.release(action.id, ActionState.FAILED)
                raise
            state = {ErasureState.DONE: ActionState.DONE,
                     ErasureState.ALREADY_GONE: ActionState.DONE,
                     ErasureState.REFUSED: ActionState.MANUAL_OPEN}.get(
                outcome.state, ActionState.FAILED)
            out[index] = elog.set_state(action.id, state, detail=outcome.detail,
                                        event={"outcome": outcome.state.value, "called": True,
                                               "kind": action.action})
    return out


async def carry_out(ctx: RequestContext, proposal: RestrictionProposal, *,
                    lang: str = DEFAULT_LANGUAGE) -> RestrictionResult:
    """Record, mark, answer and, when nothing is left open, close the request (see the module
    docstring)."""
    ledger, elog = proposal.stores.ledger, proposal.stores.actions
    subject = proposal.subject
    request = proposal.existing
    if request is None and not proposal.lift and proposal.restriction is not None:
        return _already(ctx, proposal, proposal.restriction)
    if request is None:
        request = ledger.find_or_open(subject.email, RequestType.RESTRICTION)[0]
    if proposal.lift and not _is_lift(ledger.get(request.id)):
        ledger.attach(request.id, LIFT_EVENT, {
            "notified_on": proposal.notified_on.isoformat() if proposal.notified_on
            else None})
    restriction, started = _record(proposal, request.id)
    rows = [line.action_row(lift=proposal.lift) for line in proposal.runnable]
    saved = elog.save_plan(request.id, rows)
    actions = await _execute(ctx, proposal, saved)

    facts = RestrictionFacts(
        lift=proposal.lift,
        marked=tuple(sorted({_title(ctx, a.processor) for a in actions
                             if a.state == ActionState.DONE and a.action != MANUAL})),
        pending=any(ActionState(a.state) in OPEN for a in actions),
        since=restriction.since.date(), notified_on=proposal.notified_on,
        request_id=request.id, controller=ctx.settings.controller, draft=ctx.draft)
    folder = ctx.reports_dir / request.id
    for name, text in render_restriction_letters(facts, lang=lang).items():
        write_private(folder / name, text)
    open_work = [a for a in actions if ActionState(a.state) in OPEN]
    done = not open_work and not proposal.unreachable
    result = RestrictionResult(request.id, proposal.lift, restriction, started,
                               proposal.lines, actions, proposal.unreachable, folder,
                               ExitCode.OK if done else ExitCode.PARTIAL)
    write_private(folder / "restriction.json",
                  json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    if done:
        # two runs for one subject at once share the request; the second to finish finds it
        # closed by the first, which is the outcome both wanted
        with suppress(RequestClosed):
            ledger.close(request.id, note="restriction lifted" if proposal.lift
                         else "restriction in force, markers set")
        result.closed = True
    return result


def _already(ctx: RequestContext, proposal: RestrictionProposal, restriction: Restriction
             ) -> RestrictionResult:
    """A restriction in force whose request is answered: nothing is opened or sent again."""
    request_id = restriction.request_id or ""
    actions = proposal.stores.actions.plan(request_id) if request_id else []
    return RestrictionResult(request_id, False, restriction, False, proposal.lines, actions,
                             proposal.unreachable, ctx.reports_dir / request_id, ExitCode.OK,
                             closed=True, already=True)


def _title(ctx: RequestContext, name: str) -> str:
    """A processor's own name (``Stripe``), as the letter names it."""
    cls: Mapping[str, type[Connector]] = ctx.connectors
    connector = cls.get(name)
    return connector.title if connector is not None and connector.title else name
