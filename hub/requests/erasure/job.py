"""The erasure request (GDPR Art. 17) as one use-case, in two halves with a decision between.

:func:`propose_erasure` looks the subject up and proposes the plan without changing anything;
the caller shows it and decides (the CLI asks the person at the terminal or takes ``--yes``, a
scheduler has decided in advance). :func:`carry_out` then saves the plan, executes it,
suppresses the address (Art. 21(3)), verifies by a second lookup, records the Art. 19
notifications, writes the erasure report and closes the request when nothing is left open.
Running it again, or resuming the request, continues the plan and never repeats a completed
action (:mod:`.execute`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.files import write_private, write_report
from hub.requests.access.lookup import look_up
from hub.requests.context import RequestContext
from hub.requests.erasure.execute import execute
from hub.requests.erasure.plan import ERASING, Plan, build_plan, merged
from hub.requests.erasure.report import Notification, erasure_report, notifications, open_work
from hub.requests.erasure.stores import ErasureStores, close_request, open_stores
from hub.requests.erasure.verify import Verification, verify
from hub.requests.fanout import open_connectors
from hub.store.erasure_actions import ActionState, PlannedAction, summarise
from hub.store.ledger import Ledger, LedgerRequest, bind_report, local_today
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
    include_weak: bool

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
                "actions": [a.as_dict() for a in self.preview]}


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

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.request_id, "type": RequestType.ERASURE.value,
            "exit_code": self.code, "executed": True,
            "states": summarise(self.plan), "open": open_work(self.plan),
            "unreachable": self.unreachable,
            "verification": self.verification.as_dict(),
            "art19": [n.as_dict() for n in self.notices],
            "suppressed": True,
            "report": str(self.folder / "report.json"),
            "report_html": str(self.folder / "report.html"),
            "closed": self.closed,
            "actions": [a.as_dict() for a in self.plan],
        }


async def propose_erasure(ctx: RequestContext, subject: Subject, *, include_weak: bool = False,
                          request_id: str | None = None, today: date | None = None
                          ) -> ErasureProposal:
    """Look ``subject`` up and plan its erasure, continuing ``request_id`` or the subject's
    open erasure request if there is one. Writes nothing."""
    register_secret(subject.email, "subject")
    today = today or local_today()
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox, email=subject.email)
    existing = (stores.ledger.get(request_id) if request_id
                else stores.ledger.find_open_request(subject.email, RequestType.ERASURE))
    lookup = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    plan = build_plan(lookup, ctx.settings.retention, ctx.settings.inventory, today,
                      include_weak=include_weak)
    current = stores.actions.plan(existing.id) if existing else []
    return ErasureProposal(subject, today, stores, existing, lookup, plan,
                           merged(current, plan.actions, include_weak), include_weak)


async def carry_out(ctx: RequestContext, proposal: ErasureProposal, *,
                    lang: str = DEFAULT_LANGUAGE) -> ErasureResult:
    """Save, execute, suppress, verify, notify (Art. 19), report and, when nothing is left
    open, close the request (see the module docstring)."""
    ledger, elog = proposal.stores.ledger, proposal.stores.actions
    subject = proposal.subject
    request = proposal.existing or ledger.find_or_open(subject.email, RequestType.ERASURE)[0]
    plan = elog.save_plan(request.id, proposal.plan.actions,
                          replace_reviews=proposal.include_weak)
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        plan = await execute(plan, proposal.lookup, opened, elog)
    _suppress(proposal.stores, subject, request.id)

    after = await look_up(subject, ctx.settings, ctx.connectors, **ctx.connector_options)
    verification, plan = verify(plan, after, elog)
    ledger.attach(request.id, "erasure.verified", {
        "ok": verification.ok, "checked": verification.checked,
        "problems": len(verification.problems), "unverified": verification.unverified})
    told = notifications(plan, proposal.today)
    _record_notifications(ledger, request.id, told)

    report = erasure_report(proposal.lookup, plan, request_id=request.id,
                            verification=verification, suppressed=True, today=proposal.today,
                            inventory=ctx.settings.inventory)
    report = bind_report(report, request)
    folder = write_report(report, ctx.reports_dir, lang=lang, settings=ctx.settings)
    done = not open_work(plan) and not proposal.plan.unreachable and verification.ok
    result = ErasureResult(request.id, plan, proposal.plan.unreachable, verification, told,
                           folder, ExitCode.OK if done else ExitCode.PARTIAL)
    # written before closing: the file records the run, the ledger records the closing
    write_private(folder / "erasure.json",
                  json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    ledger.attach_report(request.id, report, folder, kind="erasure.report")
    if done:
        close_request(ledger, request.id, proposal.stores.secret, note="erasure complete")
        result.closed = True
    return result


async def erase_subject(ctx: RequestContext, subject: Subject, *,
                        lang: str = DEFAULT_LANGUAGE) -> ErasureResult:
    """One subject's erasure, already decided on (the request-type registry's entry point:
    a scheduler or web UI that has its own confirmation step)."""
    return await carry_out(ctx, await propose_erasure(ctx, subject), lang=lang)


def _suppress(stores: ErasureStores, subject: Subject, request_id: str) -> None:
    """Art. 21(3): the address never enters a marketing list again (stored as a keyed hash)."""
    SuppressionList(stores.ledger.engine, stores.secret).add(
        subject.email, f"erasure request {request_id} (GDPR Art. 17, Art. 21(3))")
    if not _has_event(stores.ledger, request_id, "erasure.suppressed"):
        stores.ledger.attach(request_id, "erasure.suppressed", {"list": "suppression"})


def _record_notifications(ledger: Ledger, request_id: str, told: list[Notification]) -> None:
    """Each Art. 19 notification once in the request's history, however often it is resumed."""
    recorded = {e.details.get("recipient") for e in ledger.get(request_id).events
                if e.kind == "erasure.art19"}
    for notice in told:
        if notice.recipient not in recorded:
            ledger.attach(request_id, "erasure.art19", notice.as_dict())


def _has_event(ledger: Ledger, request_id: str, kind: str) -> bool:
    return any(e.kind == kind for e in ledger.get(request_id).events)
