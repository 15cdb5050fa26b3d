"""The erasure request (GDPR Art. 17) as one use-case, in two halves with a decision between.

:func:`propose_erasure` looks the subject up and proposes the plan without changing anything;
the caller shows it and decides (the CLI asks the person at the terminal or takes ``--yes``, a
scheduler has decided in advance). :func:`carry_out` then saves the plan, executes it,
suppresses the address (Art. 21(3)), verifies by a second lookup, records the Art. 19
notifications (and opens a letter task per named recipient, :mod:`.tasks`), writes the erasure
report and the answer to the subject, and closes the request when nothing is left open.
Running it again, or resuming the request, continues the plan and never repeats a completed
action (:mod:`.execute`).

A weak match is erased only once the operator has approved that one record by its ref
(``approve``; approvals of earlier runs are read from the request's history), and never when
it is someone else's record (:mod:`.identity`). :func:`review_erasure` records approvals
without erasing anything; resuming the request carries them out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from connectors.sdk.history import index_term, subject_terms
from hub.core.deadlines import LOCAL_TIMEZONE
from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.erasure import Art19Letter, ErasureFacts
from hub.reports.files import write_erasure_answer, write_private
from hub.requests.access.lookup import look_up
from hub.requests.context import RequestContext
from hub.requests.erasure.execute import execute
from hub.requests.erasure.plan import (
    ERASING,
    Plan,
    ReviewItem,
    build_plan,
    check_approvals,
    merged,
    review_items,
)
from hub.requests.erasure.report import Notification, erasure_report, notifications, open_work
from hub.requests.erasure.stores import (
    ErasureStores,
    close_request,
    open_stores,
    refuse_if_restricted,
)
from hub.requests.erasure.tasks import art19_letters, art19_tasks, resumable_request
from hub.requests.erasure.verify import Verification, verify
from hub.requests.fanout import open_connectors
from hub.requests.purge import purge_erased_subject
from hub.store.erasure_actions import (
    RUNNABLE,
    ActionState,
    ErasureLedger,
    PlannedAction,
    is_review,
    summarise,
)
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser
from hub.store.ledger import Ledger, LedgerEvent, LedgerRequest, bind_report, local_today
from hub.store.suppression import SuppressionList


class NotExecuted(StrEnum):
    """Why a proposed plan was not carried out (the ``reason`` of the JSON document)."""

    DRY_RUN = "dry-run"
    NOT_CONFIRMED = "not-confirmed"

    @property
    def code(self) -> ExitCode:
        """A dry run did what it was asked; an unconfirmed plan leaves the erasure owed, so a
        scheduler must not read it as done."""
        return ExitCode.OK if self is NotExecuted.DRY_RUN else ExitCode.PARTIAL


@dataclass
class ErasureProposal:
    """A looked-up subject and the plan an erasure would run; nothing changed yet (not even
    the ledger)."""

    subject: Subject
    today: date
    stores: ErasureStores
    existing: LedgerRequest | None
    lookup: Report
    plan: Plan
    #: the ledger's plan as it will be after saving this proposal (what to show)
    preview: list[PlannedAction]
    #: refs of weak matches approved by this run (recorded when it is carried out)
    approve: tuple[str, ...] = ()
    #: every approved ref: this run's and those of earlier runs of the request
    approved: frozenset[str] = frozenset()

    @property
    def request_id(self) -> str | None:
        return self.existing.id if self.existing else None

    @property
    def runnable(self) -> list[PlannedAction]:
        return [a for a in self.preview if a.action in ERASING
                and a.state in (ActionState.PLANNED, ActionState.FAILED)]

    @property
    def needs_confirmation(self) -> bool:
        """Something would be erased, or a new request opened: a person must agree."""
        return bool(self.runnable) or self.existing is None

    def not_executed(self, reason: NotExecuted) -> dict[str, object]:
        """The JSON document of a plan shown but not carried out."""
        return {"type": RequestType.ERASURE.value, "executed": False, "reason": reason.value,
                "exit_code": reason.code, "unreachable": self.plan.unreachable,
                "actions": [a.as_dict() for a in self.preview],
                "review": [item.as_dict() for item in self.review]}

    @property
    def review(self) -> list[ReviewItem]:
        """The weak matches, whose they look like and whether they are approved."""
        return review_items(self.plan, self.approved, self.preview)


@dataclass
class ErasureResult:
    """What :func:`carry_out` did; :meth:`as_dict` is ``erasure.json`` and the ``--json``
    output."""

    request_id: str
    plan: list[PlannedAction]
    unreachable: dict[str, str]
    verification: Verification
    notices: list[Notification]
    folder: Path
    code: ExitCode
    closed: bool = False
    #: the Art. 19 letters to named recipients (sent, or still to send)
    letters: list[Art19Letter] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id, "type": RequestType.ERASURE.value,
            "exit_code": self.code, "executed": True,
            "states": summarise(self.plan), "open": open_work(self.plan),
            "unreachable": self.unreachable,
            "verification": self.verification.as_dict(),
            "art19": [n.as_dict() for n in self.notices]
            + [{"recipient": letter.recipient, "how": "letter", "task": letter.task,
                "systems": list(letter.systems), "sent": letter.sent_on is not None,
                "on": letter.sent_on.isoformat() if letter.sent_on else None,
                "letter": str(self.folder / f"{letter.task}.txt")} for letter in self.letters],
            "suppressed": True,
            "report": str(self.folder / "report.json"),
            "report_html": str(self.folder / "report.html"),
            "cover_letter": str(self.folder / "cover-letter.txt"),
            "closed": self.closed,
            "actions": [a.as_dict() for a in self.plan],
        }


async def propose_erasure(ctx: RequestContext, subject: Subject, *,
                          approve: Sequence[str] = (), request_id: str | None = None,
                          today: date | None = None) -> ErasureProposal:
    """Look ``subject`` up and plan its erasure, continuing ``request_id`` or the subject's
    open erasure request if there is one. ``approve`` are refs of weak matches the operator
    says are the subject's; one that is not a weak match found now, or is someone else's
    record, raises :class:`~hub.requests.erasure.plan.NotApprovable`. Writes nothing."""
    register_secret(subject.email, "subject")
    today = today or local_today()
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox, email=subject.email)
    refuse_if_restricted(stores, subject.email)
    existing = (stores.ledger.get(request_id) if request_id
                else stores.ledger.find_open_request(subject.email, RequestType.ERASURE))
    earlier = approved_refs(stores.ledger, existing.id) if existing else frozenset()
    lookup = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    return _planned(ctx, subject, today, stores, existing, lookup, approve, earlier)


def with_approvals(ctx: RequestContext, proposal: ErasureProposal,
                   approve: Sequence[str]) -> ErasureProposal:
    """``proposal`` with the weak matches ``approve`` approved as well, planned from the same
    lookup (no second lookup between the plan a person was shown and what runs), checked as
    :func:`propose_erasure` checks its ``approve``."""
    return _planned(ctx, proposal.subject, proposal.today, proposal.stores, proposal.existing,
                    proposal.lookup, approve, proposal.approved)


def _planned(ctx: RequestContext, subject: Subject, today: date, stores: ErasureStores,
             existing: LedgerRequest | None, lookup: Report, approve: Sequence[str],
             earlier: frozenset[str]) -> ErasureProposal:
    approved = earlier | frozenset(approve)
    plan = build_plan(lookup, ctx.settings.retention, ctx.settings.inventory, today,
                      approved=approved)
    check_approvals(approve, plan, earlier)
    current = stores.actions.plan(existing.id) if existing else []
    return ErasureProposal(subject, today, stores, existing, lookup, plan,
                           merged(current, plan.actions, approved), tuple(approve), approved)


def approved_refs(ledger: Ledger, request_id: str) -> frozenset[str]:
    """The weak matches approved in earlier runs of the request (its ``erasure.approved``
    events)."""
    return frozenset(str(e.details.get("task")) for e in ledger.get(request_id).events
                     if e.kind == "erasure.approved")


def record_approvals(proposal: ErasureProposal, request_id: str) -> list[PlannedAction]:
    """Save this run's approvals: each approved review becomes the action planned for it."""
    wanted = set(proposal.approve)
    return proposal.stores.actions.approve(
        request_id, [a for a in proposal.plan.actions if a.task in wanted])


async def carry_out(ctx: RequestContext, proposal: ErasureProposal, *,
                    lang: str = DEFAULT_LANGUAGE) -> ErasureResult:
    """Save, execute, suppress, verify, notify (Art. 19), report and, when nothing is left
    open, close the request (see the module docstring)."""
    ledger, elog = proposal.stores.ledger, proposal.stores.actions
    subject = proposal.subject
    request = proposal.existing or ledger.find_or_open(subject.email, RequestType.ERASURE)[0]
    record_approvals(proposal, request.id)
    plan = elog.save_plan(request.id, proposal.plan.actions)
    plan = _withhold_others(plan, proposal.plan, elog)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        plan = await execute(plan, proposal.lookup, opened, elog)
    _suppress(proposal.stores, subject, request.id)
    # an earlier access report would now be the last copy of what was erased
    purge_erased_subject(ledger, proposal.stores.secret, subject.email,
                         erasure_request_id=request.id)

    after = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    verification, plan = verify(plan, after, elog)
    ledger.attach(request.id, "erasure.verified", {
        "ok": verification.ok, "checked": verification.checked,
        "problems": len(verification.problems), "unverified": verification.unverified})
    told = notifications(plan, proposal.today)
    _record_notifications(ledger, request.id, told)
    settings = ctx.settings
    letters = art19_tasks(plan, settings.inventory, settings.controller, request.id)
    if letters:
        plan = elog.save_plan(request.id, letters)

    report = erasure_report(proposal.lookup, plan, request_id=request.id,
                            verification=verification, suppressed=True, today=proposal.today,
                            inventory=settings.inventory, approved=proposal.approved)
    report = bind_report(report, request)
    facts = erasure_facts(plan, ledger.get(request.id).events,
                          art19_letters(plan, settings.inventory, settings.controller,
                                        sent_dates(ledger.get(request.id).events),
                                        proposal.today))
    folder = write_erasure_answer(report, ctx.reports_dir, lang=lang, settings=settings,
                                  draft=ctx.draft, facts=facts)
    done = not open_work(plan) and not proposal.plan.unreachable and verification.ok
    result = ErasureResult(request.id, plan, proposal.plan.unreachable, verification, told,
                           folder, ExitCode.OK if done else ExitCode.PARTIAL,
                           letters=list(facts.letters))
    # written before closing: the file records the run, the ledger records the closing
    write_private(folder / "erasure.json",
                  json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    ledger.attach_report(request.id, report, folder, kind="erasure.report")
    if done:
        close_request(ledger, request.id, proposal.stores.secret, note="erasure complete")
        # only now: a run that leaves work open is resumed, reviewed and verified by lookups
        # that must still find what the processors hold of the subject
        _forget_in_history_index(proposal)
        result.closed = True
    return result


async def erase_subject(ctx: RequestContext, subject: Subject, *,
                        lang: str = DEFAULT_LANGUAGE) -> ErasureResult:
    """One subject's erasure, already decided on (the request-type registry's entry point:
    a scheduler or web UI that has its own confirmation step)."""
    return await carry_out(ctx, await propose_erasure(ctx, subject), lang=lang)


@dataclass
class ReviewResult:
    """The weak matches of an erasure request and the approvals recorded now
    (``dsar requests review``)."""

    request_id: str
    items: list[ReviewItem]
    approved: list[PlannedAction]

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "review": [i.as_dict() for i in self.items],
                "approved": [a.as_dict() for a in self.approved]}


async def review_erasure(ctx: RequestContext, request_id: str, *,
                         approve: Sequence[str] = ()) -> ReviewResult:
    """Look the subject of the open erasure request ``request_id`` up again and list its weak
    matches with whose they look like; record the approvals in ``approve`` (each becomes the
    action the retention policy decides) without erasing anything: resuming the request
    carries them out. Raises InvalidInput for an unknown or closed request or a ref that
    cannot be approved (nothing written then)."""
    request = resumable_request(open_stores(ctx.settings, sandbox=ctx.sandbox), request_id)
    subject = Subject.from_email(request.subject_email or "")
    proposal = await propose_erasure(ctx, subject, approve=approve, request_id=request_id)
    recorded = record_approvals(proposal, request_id) if approve else []
    return ReviewResult(request_id, proposal.review, recorded)


def _withhold_others(plan: list[PlannedAction], proposal: Plan, elog: ErasureLedger
                     ) -> list[PlannedAction]:
    """A record approved earlier whose name and e-mail now both differ from the subject's is
    not erased: it goes back to a person instead."""
    others = {a.key for a in proposal.excluded}
    out = []
    for action in plan:
        if action.key in others and action.id is not None \
                and ActionState(action.state) in RUNNABLE:
            action = elog.set_state(
                action.id, ActionState.MANUAL_OPEN,
                detail="not erased: its name and e-mail address now both differ from the "
                       "subject's; check whose record it is by hand")
        out.append(action)
    return out


def _suppress(stores: ErasureStores, subject: Subject, request_id: str) -> None:
    """Art. 21(3): the address never enters a marketing list again (stored as a keyed hash)."""
    SuppressionList(stores.ledger.engine, stores.secret).add(
        subject.email, f"erasure request {request_id} (GDPR Art. 17, Art. 21(3))")
    if not _has_event(stores.ledger, request_id, "erasure.suppressed"):
        stores.ledger.attach(request_id, "erasure.suppressed", {"list": "suppression"})


def _forget_in_history_index(proposal: ErasureProposal) -> None:
    """The hub's index of unsearchable histories must not recognise the erased subject again:
    the keyed hashes of every identifier the lookup knew them by are removed (the indexed
    receipts and charges stay, tied to nobody). So are the card fingerprints of the receipts
    tied to them: even hashed, a card links their receipts to each other and so to them.
    Called when the request closes, not before: until then its resumed runs, reviews and
    verification look the subject up and must still find what the processors hold."""
    engine = proposal.stores.ledger.engine
    terms = subject_terms([*proposal.subject.identifiers, *proposal.lookup.subject.identifiers],
                          proposal.subject.email)
    terms |= {index_term("card", card) for result in proposal.lookup.processors
              for record in result.records for card in _card_fingerprints(record.data)}
    HistoryIndex(engine, Pseudonymiser(engine, proposal.stores.secret)).forget(terms)


def _card_fingerprints(data: Mapping[str, Any]) -> set[str]:
    """The card fingerprints (``panHash`` among a payment's attributes, as Zettle's receipts
    carry them) in one record's data."""
    found = set()
    for payment in data.get("payments") or []:
        attributes = payment.get("attributes") if isinstance(payment, Mapping) else None
        value = attributes.get("panHash") if isinstance(attributes, Mapping) else None
        if isinstance(value, str) and value.strip():
            found.add(value.strip())
    return found


def _record_notifications(ledger: Ledger, request_id: str, told: list[Notification]) -> None:
    """Each Art. 19 notification once in the request's history, however often it is resumed."""
    recorded = {e.details.get("recipient") for e in ledger.get(request_id).events
                if e.kind == "erasure.art19"}
    for notice in told:
        if notice.recipient not in recorded:
            ledger.attach(request_id, "erasure.art19", notice.as_dict())


def _local_date(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(
        LOCAL_TIMEZONE).date()


def sent_dates(events: Sequence[LedgerEvent]) -> dict[int, date]:
    """The day each manual task was marked done (an Art. 19 letter: the day it was sent), by
    action id."""
    return {int(e.details["action_id"]): _local_date(e.at) for e in events
            if e.kind == f"erasure.{ActionState.MANUAL_DONE.value}" and "action_id" in e.details}


def erasure_facts(plan: Sequence[PlannedAction], events: Sequence[LedgerEvent],
                  letters: Sequence[Art19Letter]) -> ErasureFacts:
    """What the answer says beyond report.json: the day each record was erased (its last
    ``erasure.done`` event, Swedish calendar day), a processor's completion date, the weak
    matches still to check and the Art. 19 letters."""
    erased_on: dict[tuple[str, str, str], date] = {}
    for event in events:
        if event.kind == f"erasure.{ActionState.DONE.value}":
            details = event.details
            key = (str(details.get("processor")), str(details.get("record_type")),
                   str(details.get("record_id")))
            erased_on[key] = _local_date(event.at)
    reviews: dict[str, int] = {}
    for action in plan:
        if is_review(action.detail) and action.state == ActionState.MANUAL_OPEN:
            reviews[action.processor] = reviews.get(action.processor, 0) + 1
    return ErasureFacts(
        erased_on=erased_on,
        completes_by={a.key: a.completes_by for a in plan
                      if a.completes_by and a.state == ActionState.DONE},
        reviews=reviews, letters=tuple(letters), suppressed=True)


def _has_event(ledger: Ledger, request_id: str, kind: str) -> bool:
    return any(e.kind == kind for e in ledger.get(request_id).events)
