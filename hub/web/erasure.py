"""An erasure request (Art. 17) in the browser: the same flow as ``dsar erase``, one step a page.

1. *Build the plan*: the use-case looks the subject up and proposes, per record, what will
   happen (delete, anonymise, retain under a legal hold, a task for a person); nothing changes.
2. *Weak matches*: each record found only through a weaker identifier than the verified address
   is shown beside the subject's own identifying fields with its own checkbox; only the ones
   ticked are erased, and someone else's record is refused by the use-case whatever is sent.
3. *Confirm*: a separate page says how many records will be deleted, anonymised and kept, and
   only its "Erase now" button (a POST naming the plan it confirms) executes. The result shows
   each processor's outcome, what is left for a person (the request's checklist) and the
   letters the use-case wrote.

Running it again resumes the request's saved plan and never repeats a completed action (the
use-case's guarantee); a subject whose processing is restricted (Art. 18) is refused before
anything is contacted. Each step leaves an audit entry saying it was done via the web. Both
halves of the use-case (:func:`~hub.requests.erasure.propose_erasure`, then
:func:`~hub.requests.erasure.carry_out`) run in the background (:mod:`.runs`), and the
progress of an execution is read from the ledger's plan, whose states are committed before and
after each call to a processor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from hub.core.errors import InvalidInput
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.erasure import system_title
from hub.requests.erasure import (
    EXCLUDED,
    ErasureProposal,
    ErasureResult,
    NotApprovable,
    carry_out,
    parse_ref,
    plan_rows,
    propose_erasure,
    with_approvals,
)
from hub.requests.erasure.plan import check_approvals
from hub.requests.erasure.report import is_art19
from hub.requests.erasure.stores import refuse_if_restricted
from hub.requests.erasure.tasks import recipient_of, resumable_request
from hub.store.erasure_actions import ActionState, PlannedAction
from hub.store.ledger import LedgerRequest
from hub.store.restrictions import RestrictionRegister
from hub.web.auth import Session
from hub.web.base import (
    by_processor,
    field,
    guarded,
    language,
    redirect,
    render,
    request_of,
    state,
    texts,
)
from hub.web.runs import Phase, PlannedRun, PlannedRunner, runner_for, unconfirmable
from hub.web.wording import in_language

#: The documents of an erasure a browser may download (besides the Art. 19 letters).
ERASURE_DOWNLOADS = {"report.html": "text/html; charset=utf-8",
                     "cover-letter.txt": "text/plain; charset=utf-8"}
#: An Art. 19 letter's file name, as the use-case names it: a plain name, never a path.
LETTER = re.compile(r"art19-[a-z0-9]+(?:-[a-z0-9]+)*\.txt")

_RUNNABLE = (ActionState.PLANNED.value, ActionState.FAILED.value)

Run = PlannedRun[ErasureProposal, ErasureResult]
#: What a run reports when a half ends: an audit entry's action and details.
Recorder = Callable[..., None]


def runner(request: Request) -> PlannedRunner[ErasureProposal, ErasureResult]:
    """The server's erasure runs (one per app)."""
    return runner_for(request.app.state, "erasure")


def _get(request: Request) -> LedgerRequest | None:
    return request_of(request, RequestType.ERASURE)


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


def _not_found(request: Request, session: Session) -> Response:
    return render(request, "error.html", status=404, session=session,
                  message_key="errors.unknown_request")


def _recorder(request: Request, found: LedgerRequest) -> Recorder:
    """Audit entries of a background run, about this request; once the erasure has closed it
    (and hashed the address), no entry keeps the address either."""
    web, email = state(request), found.subject_email

    def record(action: str, **details: Any) -> None:
        web.record(action, request_id=found.id, subject_email=email, **details)
        if details.get("closed") and email:
            web.audit.pseudonymise(email)

    return record


# -- what the pages show ------------------------------------------------------------------------


def _subject_identity(proposal: ErasureProposal) -> dict[str, list[str]]:
    """What the records matched on the verified address say about the subject: the side the
    operator compares each weak match with."""
    shown: dict[str, list[str]] = {"names": [], "phones": [], "personnummer": []}
    for match in proposal.plan.matches.values():
        if match.weak:
            continue
        for kind, values in shown.items():
            for value in getattr(match.identity, kind):
                if value not in values:
                    values.append(value)
    return shown


def _review(proposal: ErasureProposal, lang: str) -> list[dict[str, Any]]:
    """The weak matches, one by one: whose each looks like and whether it may be approved."""
    items = []
    for item in proposal.review:
        identity = item.match.identity.as_dict() if item.match else None
        if identity is not None:
            identity["emails"] = [in_language(e, lang) for e in identity["emails"]]
        items.append({"ref": item.ref, "status": item.status, "state": item.state,
                      "reason": in_language(item.reason, lang),
                      "found": item.match is not None,
                      "approvable": item.match is not None and item.status == "awaiting-review",
                      "identity": identity})
    return items


def _counts(preview: Sequence[PlannedAction]) -> dict[str, int]:
    """How many records the confirmed plan deletes, anonymises and keeps, and what it leaves
    to a person or finds done already."""
    counts = dict.fromkeys(("delete", "anonymise", "retain", "manual", "done"), 0)
    for action in preview:
        if action.action in ("delete", "anonymise") and action.state in _RUNNABLE:
            counts[action.action] += 1
        elif action.state == ActionState.RETAINED:
            counts["retain"] += 1
        elif action.state == ActionState.MANUAL_OPEN:
            counts["manual"] += 1
        elif action.state in (ActionState.DONE, ActionState.MANUAL_DONE):
            counts["done"] += 1
    return counts


def _titles(request: Request, plan: Sequence[PlannedAction]) -> dict[str, str]:
    """The plan's systems by the names the owner knows them by (the inventory's, in the
    page's language; an Art. 19 letter by its recipient), instead of configuration keys."""
    web, lang = state(request), language(request)
    inventory = web.ctx.settings.inventory
    words = texts(lang)
    titles = {}
    for action in plan:
        if action.processor in titles:
            continue
        titles[action.processor] = (
            words["erasure.letter_to"].format(recipient=recipient_of(action))
            if is_art19(action) else system_title(action.processor, inventory, lang))
    return titles


def _report_folder(request: Request, found: LedgerRequest) -> Path | None:
    """The folder the ledger recorded for the request's newest erasure answer, if it lies
    inside the report folder."""
    folder = None
    for event in found.events:
        if event.kind == "erasure.report" and event.details.get("folder"):
            folder = Path(str(event.details["folder"])).resolve()
    root = state(request).ctx.reports_dir.resolve()
    if folder is None or not folder.is_relative_to(root) or folder == root:
        return None
    return folder


def _downloadable(name: str) -> bool:
    return name in ERASURE_DOWNLOADS or LETTER.fullmatch(name) is not None


def _letters(request: Request, found: LedgerRequest) -> list[str]:
    folder = _report_folder(request, found)
    if folder is None:
        return []
    letters = sorted(p.name for p in folder.iterdir() if p.is_file() and LETTER.fullmatch(p.name))
    return [name for name in ERASURE_DOWNLOADS if (folder / name).is_file()] + letters


def _page(request: Request, session: Session, found: LedgerRequest, *, status: int = 200,
          errors: dict[str, str] | None = None, ticked: Sequence[str] = (),
          restricted: dict[str, str] | None = None) -> Response:
    web = state(request)
    run = runner(request).get(found.id)
    proposal = run.proposal if run is not None else None
    values: dict[str, Any] = {}
    if run is not None and run.phase is Phase.PLANNED and proposal is not None:
        lang = language(request)
        rows = plan_rows([*proposal.preview, *proposal.plan.excluded],
                         proposal.plan.matches, proposal.approved)
        values = {"rows": [{**row, "matched": in_language(row["matched"], lang),
                            "identity": in_language(row["identity"], lang)} for row in rows],
                  "review": _review(proposal, lang), "subject": _subject_identity(proposal),
                  "unreachable": sorted(proposal.plan.unreachable), "excluded": EXCLUDED,
                  "titles": _titles(request, [*proposal.preview, *proposal.plan.excluded])}
    if run is not None and run.phase is Phase.FINISHED and run.result is not None:
        result = run.result
        values = {"outcome": by_processor(result.plan), "verification": result.verification,
                  "titles": _titles(request, result.plan),
                  "unreachable": sorted(result.unreachable), "closed": result.closed,
                  "open_tasks": sum(1 for a in result.plan if a.state in (
                      ActionState.MANUAL_OPEN.value, ActionState.FAILED.value))}
    saved = bool(web.stores.actions.plan(found.id))
    return render(request, "erasure.html", status=status, session=session, r=found, run=run,
                  phase=run.phase.value if run else None, errors=errors or {},
                  ticked=set(ticked), restricted=restricted, saved_plan=saved,
                  files=_letters(request, found), **values)


# -- the pages ------------------------------------------------------------------------------------


async def erasure_page(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    return _page(request, session, found)


def _restriction(request: Request, email: str) -> dict[str, str] | None:
    """The restriction in force (Art. 18) that makes the use-case refuse, in words."""
    stores = state(request).stores
    try:
        refuse_if_restricted(stores, email)
    except InvalidInput:
        current = RestrictionRegister(stores.ledger.engine, stores.secret).current(email)
        return {"since": current.since.date().isoformat() if current else "",
                "request": (current.request_id or "") if current else ""}
    return None


async def start_plan(request: Request, session: Session, form: FormData | None) -> Response:
    """Build (or, for a saved plan, rebuild and so resume) the plan in the background."""
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    web = state(request)
    try:
        resumable_request(web.stores, found.id)
    except InvalidInput:
        return render(request, "error.html", status=409, session=session,
                      message_key="erasure.not_open", back=f"/requests/{found.id}")
    email = found.subject_email or ""
    restricted = _restriction(request, email)
    if restricted is not None:
        web.record("erasure.plan_refused", request_id=found.id, subject_email=email,
                   reason="restricted (GDPR Art. 18)")
        return _page(request, session, found, status=409, restricted=restricted)
    ctx, record, subject = web.ctx, _recorder(request, found), Subject.from_email(email)

    def built(proposal: ErasureProposal) -> None:
        record("erasure.plan_built", actions=len(proposal.preview),
               weak_matches=sum(1 for item in proposal.review
                                if item.status == "awaiting-review"),
               unreachable=sorted(proposal.plan.unreachable))

    started = runner(request).plan(
        found.id, lambda: propose_erasure(ctx, subject, request_id=found.id), built=built,
        refused=lambda reason: record("erasure.plan_refused", reason=reason))
    if started is None:
        return render(request, "error.html", status=409, session=session,
                      message_key="erasure.busy", back=f"/requests/{found.id}/erasure")
    return redirect(f"/requests/{found.id}/erasure")


async def erasure_status(request: Request, session: Session, form: FormData | None
                         ) -> Response:
    """The progress as ``static/progress.js`` reads it: a state line and one line per
    processor (while executing: its actions by state, from the ledger)."""
    run = runner(request).get(request.path_params["request_id"])
    if run is None:
        return JSONResponse({"error": "no erasure"}, status_code=404)
    words = texts(language(request))
    processors = []
    if run.phase is Phase.EXECUTING:
        plan = state(request).stores.actions.plan(run.request_id)
        titles = _titles(request, plan)
        for name, states in by_processor(plan).items():
            label = " · ".join(f"{words.get('erasure_state.' + s, s)}: {n}"
                               for s, n in sorted(states.items()))
            processors.append({"name": titles.get(name, name), "label": label})
    return JSONResponse({"finished": not run.running, "phase": run.phase.value,
                         "state_label": words[f"erasure_phase.{run.phase.value}"],
                         "processors": processors}, headers={"Cache-Control": "no-store"})


def _waiting(request: Request, session: Session,
             form: FormData | None) -> tuple[LedgerRequest, Run, ErasureProposal] | Response:
    """The request, the run whose plan the form confirms and that plan with the ticked weak
    matches approved; or the page that says why it cannot be."""
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    run = runner(request).get(found.id)
    why = unconfirmable(run, field(form, "plan"))
    if why is not None or run is None:
        return render(request, "error.html", status=409, session=session,
                      message_key=f"erasure.{why}", back=f"/requests/{found.id}/erasure")
    proposal = _checked(request, session, found, run, form)
    if isinstance(proposal, Response):
        return proposal
    return found, run, proposal


def _approvals(form: FormData | None) -> list[str] | None:
    """The refs ticked (each once), or None when one is not a ref at all."""
    sent = [value for value in (form.getlist("approve") if form is not None else ())
            if isinstance(value, str)]
    try:
        return list(dict.fromkeys(parse_ref(value) for value in sent))
    except InvalidInput:
        return None


def _checked(request: Request, session: Session, found: LedgerRequest, run: Run,
             form: FormData | None) -> ErasureProposal | Response:
    """The run's proposal with the ticked weak matches approved, or the plan page again with
    the use-case's refusal next to each refused one (400, nothing changed)."""
    assert run.proposal is not None
    refs = _approvals(form)
    if refs is None:
        return _page(request, session, found, status=400, errors={"": "erasure_refusal.bad_ref"})
    refused = refusals(run.proposal, refs)
    if refused:
        return _page(request, session, found, status=400, ticked=refs,
                     errors={ref: f"erasure_refusal.{why}" for ref, why in refused.items()})
    try:
        return with_approvals(state(request).ctx, run.proposal, refs)
    except NotApprovable:  # refused as a set though each passed alone: show the plan again
        return _page(request, session, found, status=400, ticked=refs,
                     errors={"": "erasure_refusal.bad_ref"})


async def confirm(request: Request, session: Session, form: FormData | None) -> Response:
    """The confirmation step: what the plan with these approvals will do; nothing changes."""
    waiting = _waiting(request, session, form)
    if isinstance(waiting, Response):
        return waiting
    found, run, proposal = waiting
    return render(request, "erasure_confirm.html", session=session, r=found, run=run,
                  approve=list(proposal.approve), counts=_counts(proposal.preview),
                  unreachable=sorted(proposal.plan.unreachable))


async def execute(request: Request, session: Session, form: FormData | None) -> Response:
    """"Erase now": carry out the confirmed plan with its approvals, in the background."""
    waiting = _waiting(request, session, form)
    if isinstance(waiting, Response):
        return waiting
    found, run, proposal = waiting
    ctx, lang, record = state(request).ctx, language(request), _recorder(request, found)
    approved = list(proposal.approve)

    def confirmed(chosen: ErasureProposal) -> None:
        # before the run starts: a run that closes the request hashes the address in every
        # entry about it, and an entry written after that would keep it
        if approved:
            record("erasure.approvals", approved=approved)
        record("erasure.confirmed", to_erase=len(chosen.runnable))

    def finished(result: ErasureResult) -> None:
        record("erasure.executed", approved=approved, closed=result.closed,
               states=result.as_dict()["states"], verified=result.verification.ok)

    if not runner(request).execute(run, proposal, lambda p: carry_out(ctx, p, lang=lang),
                                   confirmed=confirmed, finished=finished,
                                   failed=lambda _: record("erasure.failed")):
        return render(request, "error.html", status=409, session=session,
                      message_key="erasure.plan_changed", back=f"/requests/{found.id}/erasure")
    return redirect(f"/requests/{found.id}/erasure")


async def download(request: Request, session: Session, form: FormData | None) -> Response:
    """One of the erasure's letters, and only those: the name is the answer's or an Art. 19
    letter's, the folder the one the ledger recorded for this request inside the report
    folder."""
    found = _get(request)
    name = request.path_params["name"]
    folder = _report_folder(request, found) if found is not None else None
    path = (folder / name).resolve() if folder is not None and _downloadable(name) else None
    if found is None or path is None or path.parent != folder or not path.is_file():
        return render(request, "error.html", status=404, session=session,
                      message_key="errors.no_file")
    state(request).record("file.downloaded", request_id=found.id,
                          subject_email=found.subject_email, file=name)
    return FileResponse(path, media_type=ERASURE_DOWNLOADS.get(name, "text/plain; charset=utf-8"),
                        filename=f"{found.id}-{name}", headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/requests/{request_id}/erasure", guarded(erasure_page), methods=["GET"]),
    Route("/requests/{request_id}/erasure/plan", guarded(start_plan), methods=["POST"]),
    Route("/requests/{request_id}/erasure/status", guarded(erasure_status), methods=["GET"]),
    Route("/requests/{request_id}/erasure/confirm", guarded(confirm), methods=["POST"]),
    Route("/requests/{request_id}/erasure/execute", guarded(execute), methods=["POST"]),
    Route("/requests/{request_id}/erasure/files/{name}", guarded(download), methods=["GET"]),
]
