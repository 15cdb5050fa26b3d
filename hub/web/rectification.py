"""A rectification request (Art. 16) in the browser: the same flow as ``dsar rectify EMAIL --set
FIELD=VALUE …``, one step a page.

1. *The corrected values*: name, e-mail address, phone number and postal address, each
   optional, checked exactly as ``--set`` is (:func:`hub.requests.rectification.parse_changes`);
   a value it refuses is shown next to its field (400) and nothing is contacted.
2. *Show the plan*: the use-case looks the subject up in the background and proposes, per
   record, which field changes from what (masked, as the terminal shows it) to what, or why
   the record stays as it is (a booked accounting record, a weak match, a system that cannot
   be changed); nothing changes.
3. *Confirm*: a separate page says how many records will be corrected, and only its "Correct
   now" button (a POST naming the plan it confirms) sends the changes. The result shows each
   record's outcome, what the verifying lookup found, who was told (Art. 19) and the letter.

The new values are personal data: they travel only in POST bodies and live in the server's
memory between the plan and its confirmation (:mod:`.runs`); the ledger, the audit log, URLs and
logs never see them (the audit entries name the fields only). Running it again resumes the
request: the use-case claims each change in the ledger before it is sent and never sends one
twice.
"""

from __future__ import annotations

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
from hub.requests.rectification import (
    Changes,
    PlanLine,
    RectificationProposal,
    RectificationResult,
    carry_out,
    parse_changes,
    propose_rectification,
)
from hub.store.erasure_actions import ActionState, PlannedAction
from hub.store.ledger import LedgerRequest
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

#: The form's fields and the ``--set`` field each one corrects, in the form's order.
FORM_FIELDS = {"name": "name", "email": "email", "phone": "phone", "street": "address.street",
               "postal_code": "address.postal_code", "city": "address.city",
               "country": "address.country"}
#: The form fields whose values ``parse_changes`` checks (the others take any text).
_CHECKED = ("email", "phone", "country")

#: The rectification's letters a browser may download, and how each is sent.
LETTERS = {"rectification-letter.html": "text/html; charset=utf-8",
           "rectification-letter.txt": "text/plain; charset=utf-8"}

#: The plan's reasons for leaving a record unchanged, by the start of the use-case's words.
_UNCHANGED = (("weak match", "weak"), ("processor not enabled", "not_enabled"),
              ("refers to", "refers"))

_OPEN = (ActionState.PLANNED.value, ActionState.FAILED.value, ActionState.IN_PROGRESS.value,
         ActionState.MANUAL_OPEN.value)

Run = PlannedRun[RectificationProposal, RectificationResult]


def runner(request: Request) -> PlannedRunner[RectificationProposal, RectificationResult]:
    """The server's rectification runs (one per app)."""
    return runner_for(request.app.state, "rectification")


def _get(request: Request) -> LedgerRequest | None:
    return request_of(request, RequestType.RECTIFICATION)


def _error(request: Request, session: Session, status: int, key: str,
           back: str | None = None) -> Response:
    return render(request, "error.html", status=status, session=session, message_key=key,
                  back=back)


def _record(request: Request, found: LedgerRequest) -> Callable[..., None]:
    """Audit entries about this request, via the web; callers pass counts and field names,
    never values."""
    web = state(request)

    def record(action: str, **details: Any) -> None:
        web.record(action, request_id=found.id, subject_email=found.subject_email, **details)

    return record


# -- the form ------------------------------------------------------------------------------------


def read_form(form: FormData | None) -> tuple[dict[str, str], Changes | None, dict[str, str]]:
    """The form's values, the corrections they make and the errors by form field ('' for the
    form as a whole), each a text key; with an error there are no corrections."""
    values = {key: field(form, key).strip() for key in FORM_FIELDS}
    errors: dict[str, str] = {}
    pairs = []
    for key, name in FORM_FIELDS.items():
        if not values[key]:
            continue
        pair = f"{name}={values[key]}"
        try:
            parse_changes([pair])
        except InvalidInput:
            errors[key] = f"rectification_error.{key if key in _CHECKED else 'unreadable'}"
        pairs.append(pair)
    if not pairs:
        errors[""] = "rectification_error.nothing"
    if errors:
        return values, None, errors
    return values, parse_changes(pairs), errors


def _filled(changes: Changes) -> dict[str, str]:
    """A proposal's corrections as the form shows them (to correct and show the plan again)."""
    return {key: changes.values.get(name, "") for key, name in FORM_FIELDS.items()}


# -- what the pages show -----------------------------------------------------------------------


def _reason(line: PlanLine) -> str | None:
    """The text key of why a record is not corrected (None: it is, or the use-case's reason is
    not one the inbox knows; the template shows that as it is)."""
    fixed = {"kept": "booked", "not-applicable": "immutable", "correct": "already"}
    if line.action in fixed:
        return f"rectification_reason.{fixed[line.action]}"
    if line.action != "unchanged":
        return None
    if "does not keep" in line.reason:
        return "rectification_reason.not_kept"
    for start, key in _UNCHANGED:
        if line.reason.startswith(start):
            return f"rectification_reason.{key}"
    return None


def plan_rows(lines: Sequence[PlanLine]) -> list[dict[str, Any]]:
    """One row per record: what changes from what (old values masked) to what, or why not."""
    return [{"processor": line.processor, "record": f"{line.record_type} {line.record_id}",
             "action": line.action, "reason": line.reason, "reason_key": _reason(line),
             "changes": [{"field": c.field, "old": c.as_dict()["from"] or "", "new": c.new}
                         for c in line.changes]}
            for line in lines]


def _actions(actions: Sequence[PlannedAction]) -> list[dict[str, Any]]:
    return [{"processor": a.processor, "record": f"{a.record_type} {a.record_id}",
             "state": a.state, "fields": list(a.fields or ()),
             "detail": a.detail if a.state in (ActionState.FAILED.value,
                                               ActionState.MANUAL_OPEN.value) else None}
            for a in actions]


def _letters(request: Request, found: LedgerRequest) -> list[str]:
    """The letters the use-case wrote for this request (in its folder in the report folder)."""
    folder = _folder(request, found)
    return [name for name in LETTERS if folder is not None and (folder / name).is_file()]


def _folder(request: Request, found: LedgerRequest) -> Path | None:
    root = state(request).ctx.reports_dir.resolve()
    folder = (root / found.id).resolve()
    return folder if folder.parent == root else None


def _page(request: Request, session: Session, found: LedgerRequest, *, status: int = 200,
          values: dict[str, str] | None = None, errors: dict[str, str] | None = None
          ) -> Response:
    run = runner(request).get(found.id)
    proposal = run.proposal if run is not None else None
    shown: dict[str, Any] = {}
    if run is not None and run.phase is Phase.PLANNED and proposal is not None:
        shown = {"rows": plan_rows(proposal.lines), "to_change": len(proposal.runnable),
                 "unreachable": dict(sorted(proposal.unreachable.items())),
                 "restricted_since": proposal.restricted_since}
    if run is not None and run.phase is Phase.FINISHED and run.result is not None:
        result = run.result
        shown = {"outcome": _actions(result.actions), "problems": result.problems,
                 "notified": result.notified, "closed": result.closed,
                 "unreachable": dict(sorted(result.unreachable.items())),
                 "followed": result.followed,
                 "open_work": sum(1 for a in result.actions if a.state in _OPEN)}
    saved = state(request).stores.actions.plan(found.id)
    if values is None:
        values = _filled(proposal.changes) if proposal is not None else {}
    return render(request, "rectification.html", status=status, session=session, r=found,
                  run=run, phase=run.phase.value if run else None, values=values,
                  errors=errors or {}, saved=_actions(saved) if run is None else [],
                  files=_letters(request, found), **shown)


def _can_run(found: LedgerRequest) -> bool:
    return found.status == "open" and bool(found.subject_email)


# -- the pages ------------------------------------------------------------------------------------


async def rectification_page(request: Request, session: Session, form: FormData | None
                             ) -> Response:
    found = _get(request)
    if found is None:
        return _error(request, session, 404, "errors.unknown_request")
    return _page(request, session, found)


async def start_plan(request: Request, session: Session, form: FormData | None) -> Response:
    """Check the corrected values, then build the plan in the background."""
    found = _get(request)
    if found is None:
        return _error(request, session, 404, "errors.unknown_request")
    if not _can_run(found):
        return _error(request, session, 409, "rectification.not_open", f"/requests/{found.id}")
    values, changes, errors = read_form(form)
    if changes is None:
        return _page(request, session, found, status=400, values=values, errors=errors)
    ctx, record = state(request).ctx, _record(request, found)
    subject = Subject.from_email(found.subject_email or "")
    fields = list(changes.fields)

    def built(proposal: RectificationProposal) -> None:
        record("rectification.plan_built", fields=fields, to_correct=len(proposal.runnable),
               unreachable=sorted(proposal.unreachable),
               restricted=proposal.restricted_since is not None)

    started = runner(request).plan(
        found.id, lambda: propose_rectification(ctx, subject, changes), built=built,
        refused=lambda _: record("rectification.plan_refused", fields=fields),
        failed=lambda _: record("rectification.plan_failed", fields=fields))
    if started is None:
        return _error(request, session, 409, "rectification.busy",
                      f"/requests/{found.id}/rectification")
    return redirect(f"/requests/{found.id}/rectification")


async def status(request: Request, session: Session, form: FormData | None) -> Response:
    """The progress as ``static/progress.js`` reads it: a state line and, while executing,
    one line per processor with its records by state (read from the ledger's plan)."""
    run = runner(request).get(request.path_params["request_id"])
    if run is None:
        return JSONResponse({"error": "no rectification"}, status_code=404)
    words = texts(language(request))
    processors = []
    if run.phase is Phase.EXECUTING:
        plan = state(request).stores.actions.plan(run.request_id)
        for name, states in by_processor(plan).items():
            label = " · ".join(f"{words.get('rectification_state.' + s, s)}: {n}"
                               for s, n in sorted(states.items()))
            processors.append({"name": name, "label": label})
    return JSONResponse({"finished": not run.running, "phase": run.phase.value,
                         "state_label": words[f"rectification_phase.{run.phase.value}"],
                         "processors": processors}, headers={"Cache-Control": "no-store"})


def _waiting(request: Request, session: Session, form: FormData | None
             ) -> tuple[LedgerRequest, Run, RectificationProposal] | Response:
    """The request, the run whose plan the form confirms and that plan; or the page that says
    why it cannot be."""
    found = _get(request)
    if found is None:
        return _error(request, session, 404, "errors.unknown_request")
    run = runner(request).get(found.id)
    if not _can_run(found):
        return _error(request, session, 409, "rectification.not_open", f"/requests/{found.id}")
    why = unconfirmable(run, field(form, "plan"))
    if why is not None or run is None or run.proposal is None:
        return _error(request, session, 409, f"rectification.{why}",
                      f"/requests/{found.id}/rectification")
    return found, run, run.proposal


async def confirm(request: Request, session: Session, form: FormData | None) -> Response:
    """The confirmation step: what "Correct now" will do; nothing changes."""
    waiting = _waiting(request, session, form)
    if isinstance(waiting, Response):
        return waiting
    found, run, proposal = waiting
    return render(request, "rectification_confirm.html", session=session, r=found, run=run,
                  to_change=len(proposal.runnable),
                  fields=list(proposal.changes.fields),
                  kept=sum(1 for line in proposal.lines if line.action == "kept"),
                  unreachable=sorted(proposal.unreachable),
                  restricted_since=proposal.restricted_since)


async def execute(request: Request, session: Session, form: FormData | None) -> Response:
    """"Correct now": carry out the confirmed plan in the background."""
    waiting = _waiting(request, session, form)
    if isinstance(waiting, Response):
        return waiting
    found, run, proposal = waiting
    record = _record(request, found)
    ctx, lang = state(request).ctx, language(request)

    def finished(result: RectificationResult) -> None:
        states: dict[str, int] = {}
        for action in result.actions:
            states[action.state] = states.get(action.state, 0) + 1
        record("rectification.executed", closed=result.closed, states=states,
               verified=not result.problems, notified=list(result.notified))

    def confirmed(confirmed_proposal: RectificationProposal) -> None:
        # before the run starts, so the history reads confirmed → executed
        record("rectification.confirmed", fields=list(confirmed_proposal.changes.fields),
               to_correct=len(confirmed_proposal.runnable))

    if not runner(request).execute(run, proposal, lambda p: carry_out(ctx, p, lang=lang),
                                   confirmed=confirmed, finished=finished,
                                   failed=lambda _: record("rectification.failed")):
        return _error(request, session, 409, "rectification.plan_changed",
                      f"/requests/{found.id}/rectification")
    return redirect(f"/requests/{found.id}/rectification")


async def download(request: Request, session: Session, form: FormData | None) -> Response:
    """One of the rectification's letters, and only those, from the request's own folder in
    the report folder."""
    found = _get(request)
    name = request.path_params["name"]
    folder = _folder(request, found) if found is not None else None
    path = (folder / name).resolve() if folder is not None and name in LETTERS else None
    if found is None or path is None or path.parent != folder or not path.is_file():
        return _error(request, session, 404, "errors.no_file")
    state(request).record("file.downloaded", request_id=found.id,
                          subject_email=found.subject_email, file=name)
    return FileResponse(path, media_type=LETTERS[name], filename=f"{found.id}-{name}",
                        headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/requests/{request_id}/rectification", guarded(rectification_page),
          methods=["GET"]),
    Route("/requests/{request_id}/rectification/plan", guarded(start_plan), methods=["POST"]),
    Route("/requests/{request_id}/rectification/status", guarded(status), methods=["GET"]),
    Route("/requests/{request_id}/rectification/confirm", guarded(confirm), methods=["POST"]),
    Route("/requests/{request_id}/rectification/execute", guarded(execute), methods=["POST"]),
    Route("/requests/{request_id}/rectification/files/{name}", guarded(download),
          methods=["GET"]),
]
