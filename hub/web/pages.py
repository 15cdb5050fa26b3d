"""The inbox's pages: the request list, a new request, one request with its history and tasks,
its access lookup and the files it wrote.

Each page calls the use-case the matching ``dsar`` command calls (opening a request, the
lookup, marking a task done), so the browser and the terminal leave the same ledger entries;
each change also gets an audit entry saying it was done via the web. URLs carry request ids
only, never an address.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from hub.core.errors import InvalidInput
from hub.core.request_types import REQUEST_TYPES, RequestType
from hub.requests.access.checks import ManualCheck, complete_check, manual_checks
from hub.requests.erasure.tasks import complete_task, erasure_tasks
from hub.requests.intake import FieldRefused, open_new_request, parse_received
from hub.store.erasure_actions import ActionState
from hub.store.ledger import LedgerRequest, RequestAlreadyOpen, UnknownRequest, local_today
from hub.web.auth import Session
from hub.web.base import (
    details_text,
    field,
    guarded,
    language,
    redirect,
    render,
    state,
    texts,
)
from hub.web.review import answer_panel

#: The inbox's status filter: its choices, the first the default.
STATUS_FILTERS = ("open", "overdue", "closed", "all")

#: The files of a request a browser may download, and how each is sent.
DOWNLOADS = {"report.html": "text/html; charset=utf-8",
             "cover-letter.txt": "text/plain; charset=utf-8",
             "export.zip": "application/zip"}

_OPEN_TASK_STATES = (ActionState.MANUAL_OPEN.value, ActionState.FAILED.value)


def _tasks(request: Request, ledger_request: LedgerRequest) -> list[dict[str, object]]:
    """The request's checklist: an erasure's manual tasks (and failed actions) or an access
    request's manual checks, as rows for the template."""
    web = state(request)
    if ledger_request.type == RequestType.ERASURE.value:
        return [{"key": str(a.id), "name": a.task, "what": a.instructions or a.detail or "",
                 "done": a.state not in _OPEN_TASK_STATES, "note": None}
                for a in erasure_tasks(web.stores, ledger_request.id)]
    checks: list[ManualCheck] = manual_checks(ledger_request, web.ctx.settings.inventory)
    return [{"key": c.key, "name": c.system, "what": c.instructions or "", "done": c.done,
             "note": c.note} for c in checks]


def _get(request: Request) -> LedgerRequest | None:
    try:
        return state(request).stores.ledger.get(request.path_params["request_id"])
    except UnknownRequest:
        return None


def _not_found(request: Request, session: Session) -> Response:
    return render(request, "error.html", status=404, session=session,
                  message_key="errors.unknown_request")


async def inbox(request: Request, session: Session, form: FormData | None) -> Response:
    web = state(request)
    kind = request.query_params.get("type", "")
    kind = kind if kind in REQUEST_TYPES else ""
    status = request.query_params.get("status", "open")
    status = status if status in STATUS_FILTERS else "open"
    today = local_today()
    rows = web.stores.ledger.list_requests(
        status=None if status == "all" else ("closed" if status == "closed" else "open"),
        overdue=status == "overdue", today=today)
    shown = []
    for row in rows:
        if kind and row.type != kind:
            continue
        full = web.stores.ledger.get(row.id)
        open_tasks = sum(1 for task in _tasks(request, full) if not task["done"])
        shown.append({"request": row, "days_left": row.days_left(today),
                      "overdue": row.overdue(today), "open_tasks": open_tasks})
    return render(request, "inbox.html", session=session, rows=shown, types=REQUEST_TYPES,
                  kind=kind, status_filter=status, statuses=STATUS_FILTERS, today=today)


async def export_csv(request: Request, session: Session, form: FormData | None) -> Response:
    """The request log for an auditor (``dsar requests export --csv``), with a BOM so Excel
    reads it as UTF-8."""
    web = state(request)
    text = web.stores.ledger.export_csv()
    web.record("requests.exported", format="csv")
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="dsar-requests-{local_today()}.csv"'})


def _new_form(request: Request, session: Session, *, values: dict[str, str],
              errors: dict[str, str], status: int = 200) -> Response:
    return render(request, "new.html", status=status, session=session, types=REQUEST_TYPES,
                  values=values, errors=errors, today=local_today().isoformat())


async def new_request(request: Request, session: Session, form: FormData | None) -> Response:
    today = local_today().isoformat()
    if form is None:
        return _new_form(request, session, values={"type": "access", "received": today},
                         errors={})
    values = {name: field(form, name).strip()
              for name in ("type", "email", "received", "verified_by")}
    web = state(request)
    errors: dict[str, str] = {}
    received: date | None = None
    try:
        received = parse_received(values["received"])
    except FieldRefused as exc:
        errors[exc.field] = f"errors.{exc.code}"
    if not errors:
        try:
            opened = open_new_request(web.stores.ledger, values["email"], values["type"],
                                      received=received, verified_by=values["verified_by"],
                                      audit=web.audit, actor=web.actor, via="web")
        except FieldRefused as exc:
            errors[exc.field] = f"errors.{exc.code}"
        except RequestAlreadyOpen:
            errors["email"] = "errors.already_open"
        else:
            return redirect(f"/requests/{opened.id}")
    return _new_form(request, session, values=values, errors=errors, status=400)


def _folder(request: Request, ledger_request: LedgerRequest) -> Path | None:
    """The newest lookup's folder of this request, if it lies in the report folder."""
    folder = None
    for event in ledger_request.events:
        if event.kind == RequestType.ACCESS.value and event.details.get("folder"):
            folder = Path(str(event.details["folder"])).resolve()
    root = state(request).ctx.reports_dir.resolve()
    if folder is None or not folder.is_relative_to(root) or folder == root:
        return None
    return folder


def _files(request: Request, ledger_request: LedgerRequest) -> list[str]:
    folder = _folder(request, ledger_request)
    if folder is None:
        return []
    return [name for name in DOWNLOADS if (folder / name).is_file()]


async def show_request(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    web = state(request)
    today = local_today()
    run = web.runner.get(found.id)
    return render(request, "request.html", session=session, r=found, today=today,
                  days_left=found.days_left(today), overdue=found.overdue(today),
                  tasks=_tasks(request, found), files=_files(request, found),
                  answer=answer_panel(request, found),
                  running=run is not None and not run.finished,
                  can_look_up=found.status == "open" and found.type == "access"
                  and bool(found.subject_email),
                  events=[(e.at, e.kind, details_text(e.details)) for e in found.events])


async def start_lookup(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    if found.status != "open" or found.type != "access" or not found.subject_email:
        return render(request, "error.html", status=409, session=session,
                      message_key="errors.not_lookupable")
    web = state(request)
    web.runner.start(found.id, found.subject_email, lang=language(request))
    web.record("lookup.started", request_id=found.id, subject_email=found.subject_email)
    return redirect(f"/requests/{found.id}/lookup")


async def lookup_page(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    run = state(request).runner.get(found.id)
    if run is None:
        return redirect(f"/requests/{found.id}")
    return render(request, "lookup.html", session=session, r=found, run=run,
                  files=_files(request, found) if run.finished else [])


async def lookup_status(request: Request, session: Session, form: FormData | None) -> Response:
    run = state(request).runner.get(request.path_params["request_id"])
    if run is None:
        return JSONResponse({"error": "no lookup"}, status_code=404)
    words = texts(language(request))
    status = run.as_dict()
    status["state_label"] = words["lookup.failed" if run.failed else
                                  "lookup.finished" if run.finished else "lookup.running"]
    for processor in status["processors"]:
        processor["label"] = words.get(f"processor.{processor['status']}", processor["status"])
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


async def task_done(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _not_found(request, session)
    web = state(request)
    task = request.path_params["task"]
    note = field(form, "note").strip()
    if not note:
        return render(request, "error.html", status=400, session=session,
                      message_key="errors.note_missing", back=f"/requests/{found.id}")
    try:
        if found.type == RequestType.ERASURE.value:
            done = complete_task(web.stores, found.id, task, note)
            web.record("task.done", request_id=found.id, subject_email=found.subject_email,
                       task=done.task, closed=done.closed)
            if done.closed and found.subject_email:
                # the erasure closed (and its address was hashed): this entry keeps none either
                web.audit.pseudonymise(found.subject_email)
        else:
            complete_check(web.stores.ledger, web.audit, found.id, task, note,
                           inventory=web.ctx.settings.inventory, actor=web.actor, via="web")
    except InvalidInput:
        return render(request, "error.html", status=409, session=session,
                      message_key="errors.task_not_open", back=f"/requests/{found.id}")
    return redirect(f"/requests/{found.id}#tasks")


async def download(request: Request, session: Session, form: FormData | None) -> Response:
    """One of the request's own documents, and only those (the name is one of
    :data:`DOWNLOADS`; the folder is the one the ledger recorded, inside the report folder)."""
    found = _get(request)
    name = request.path_params["name"]
    if found is None or name not in DOWNLOADS:
        return render(request, "error.html", status=404, session=session,
                      message_key="errors.no_file")
    folder = _folder(request, found)
    path = (folder / name).resolve() if folder is not None else None
    if path is None or path.parent != folder or not path.is_file():
        return render(request, "error.html", status=404, session=session,
                      message_key="errors.no_file")
    state(request).record("file.downloaded", request_id=found.id,
                          subject_email=found.subject_email, file=name)
    return FileResponse(path, media_type=DOWNLOADS[name],
                        filename=f"{found.id}-{name}",
                        headers={"Cache-Control": "no-store"})


PAGES = {"inbox": guarded(inbox), "export_csv": guarded(export_csv),
         "new_request": guarded(new_request), "show_request": guarded(show_request),
         "start_lookup": guarded(start_lookup), "lookup_page": guarded(lookup_page),
         "lookup_status": guarded(lookup_status), "task_done": guarded(task_done),
         "download": guarded(download)}
