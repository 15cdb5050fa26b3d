"""The consent pages of the inbox: a person's consent history, the open opt-out tasks, and a
withdrawal that reached us by mail, phone, letter or at the counter.

They call what ``dsar consent show|tasks|resolve|withdraw`` call (the consent register, the
suppression list, :func:`hub.consent.withdrawal.withdraw_consent` and the withdrawal's letter),
so the browser and the terminal record the same things. An address is only ever sent in a
POST body: a search or a withdrawal answers with the page itself instead of redirecting to an
address-bearing URL, so no address lands in a URL, a browser history or an access log. The
audit entries name the person by keyed hash only (``subject`` in their details): a search
opens no request whose closing would later pseudonymise a readable label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.consent.withdrawal import CHANNELS, withdraw_consent, withdrawal_in_force
from hub.core.errors import ConfigurationError, InvalidInput
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from hub.core.logs import register_secret
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.requests.objection import answer_marketing
from hub.store.consent_register import ConsentRegister, TaskState, aware
from hub.store.keyed import secret_path
from hub.store.suppression import SuppressionList
from hub.web.auth import Session
from hub.web.base import WebState, field, guarded, language, redirect, render, state, texts

#: how a withdrawal can reach us from a person (objection and restriction have their own pages)
PEOPLE_CHANNELS = tuple(c for c in CHANNELS if c not in ("objection", "restriction"))

#: evidence fields shown in this order (others after them, by name)
_EVIDENCE_ORDER = ("opted_in_at", "subscribed_at", "optin_ip", "ip_address", "unsubscribed_at",
                   "channel", "recorded_by", "note")

_OPEN_STATES = (TaskState.PENDING, TaskState.FAILED, TaskState.MANUAL_OPEN)


def _labeller(request: Request) -> Callable[[str, object], str]:
    """``label(section, code)``: the code's text in the page's language, else the code itself
    (a status or event kind added later still shows, untranslated)."""
    words = texts(language(request))

    def label(section: str, code: object) -> str:
        return words.get(f"{section}.{code}", str(code))

    return label


def _when(value: Any) -> str:
    moment = aware(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _stamp(value: Any) -> str:
    """``2021-09-08T20:02:35Z`` (the evidence's form) as ``2021-09-08 20:02``."""
    return str(value).replace("T", " ").replace("Z", "")[:16] if value else ""


def _evidence(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) pairs of an event's evidence, the empty ones left out."""
    names = [n for n in _EVIDENCE_ORDER if evidence.get(n)] + sorted(
        n for n in evidence if n not in _EVIDENCE_ORDER and evidence.get(n))
    return [(name, _stamp(evidence[name]) if name.endswith("_at") else str(evidence[name]))
            for name in names]


def _task_row(task: Any) -> dict[str, Any]:
    return {"id": task.id, "system": task.destination_title, "action": task.action,
            "state": task.state, "open": task.state in _OPEN_STATES,
            "manual": task.state == TaskState.MANUAL_OPEN, "email": task.email,
            "updated": _when(task.updated_at), "instructions": task.instructions,
            "result": task.receipt or task.last_error or ""}


def _suppressed(web: WebState, email: str) -> bool:
    path = secret_path(web.ctx.settings.state_dir)
    return path.exists() and SuppressionList(web.stores.ledger.engine, path).is_suppressed(email)


def _history(web: WebState, email: str) -> dict[str, Any]:
    """What ``dsar consent show`` prints, as rows for the template."""
    found = ConsentRegister(web.stores.ledger.engine).history(email)
    return {
        "current": [{"system": s.system, "status": s.status, "since": _when(s.changed_at),
                     "evidence": _evidence(s.evidence)} for s in found["subscribers"]],
        "events": [{"learned": _when(e.learned_at), "at_source": _when(e.changed_at),
                    "system": e.system, "kind": e.kind, "status": e.status,
                    "previous": e.previous_status, "via": e.learned_via, "note": e.note,
                    "evidence": _evidence(e.evidence)} for e in found["events"]],
        "tasks": [_task_row(t) for t in found["tasks"]],
        "suppressed": _suppressed(web, email),
    }


def _open_tasks(web: WebState) -> list[dict[str, Any]]:
    return [_task_row(t) for t in ConsentRegister(web.stores.ledger.engine).open_tasks()]


def _home(request: Request, session: Session, *, status: int = 200,
          values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          task_errors: dict[int, str] | None = None) -> Response:
    return render(request, "consent.html", status=status, session=session,
                  values=values or {"channel": "", "lang": DEFAULT_LANGUAGE.value},
                  errors=errors or {}, task_errors=task_errors or {},
                  tasks=_open_tasks(state(request)), channels=PEOPLE_CHANNELS,
                  languages=LANGUAGES, label=_labeller(request))


def _person(request: Request, session: Session, email: str, *, status: int = 200,
            notice: str | None = None, task_errors: dict[int, str] | None = None
            ) -> Response:
    return render(request, "consent_person.html", status=status, session=session,
                  email=email, notice=notice, task_errors=task_errors or {},
                  label=_labeller(request), **_history(state(request), email))


def _subject(raw: str) -> Subject | None:
    try:
        subject = Subject.from_email(raw)
    except InvalidInput:
        return None
    register_secret(subject.email, "subject")  # never in a log line
    register_secret(raw.strip(), "subject")
    return subject


async def consent_home(request: Request, session: Session, form: FormData | None) -> Response:
    return _home(request, session)


async def back_home(request: Request, session: Session, form: FormData | None) -> Response:
    """A GET of a form's address (the language switch, a bookmark): the forms' page, since
    the answer to the form is not kept."""
    return _home(request, session)


async def search(request: Request, session: Session, form: FormData | None) -> Response:
    raw = field(form, "email").strip()
    subject = _subject(raw)
    if subject is None:
        return _home(request, session, status=400, values={"search_email": raw},
                     errors={"search_email": "errors.invalid_email"})
    state(request).record("consent.viewed", subject=subject.email)
    return _person(request, session, subject.email)


async def task_done(request: Request, session: Session, form: FormData | None) -> Response:
    """Mark a manual opt-out task done (``dsar consent resolve``). From a person's page the
    form carries the address back (in the body), and that page is shown again."""
    web = state(request)
    task_id = int(request.path_params["task_id"])
    note = field(form, "note").strip()
    subject = _subject(field(form, "email"))
    error = ("consent_errors.note_missing" if not note else
             "consent_errors.note_too_long" if len(note) > 300 else None)
    if error is None:
        register = ConsentRegister(web.stores.ledger.engine)
        was_open = any(t.id == task_id for t in await run_in_threadpool(register.open_tasks))
        try:
            task = await run_in_threadpool(register.resolve_task, task_id, note)
        except KeyError:
            return render(request, "error.html", status=404, session=session,
                          message_key="consent_errors.unknown_task", back="/consent")
        if was_open:  # a second click (or another tab) changes nothing and records nothing
            web.record("consent.task_done", task=task.id, destination=task.destination,
                       subject=task.email)
        if subject is not None:
            return _person(request, session, subject.email,
                           notice="consent.task_marked" if was_open
                           else "consent.task_already_done")
        return redirect("/consent#tasks")
    if subject is not None:
        return _person(request, session, subject.email, status=400,
                       task_errors={task_id: error})
    return _home(request, session, status=400, task_errors={task_id: error})


def _withdraw(web: WebState, email: str, channel: str, note: str | None,
              lang: str) -> dict[str, Any]:
    """What ``dsar consent withdraw`` does: record the withdrawal and push it; with an open
    consent-withdrawal request (opened here unless the withdrawal was recorded before), write
    its letter and close it once every system confirmed."""
    ctx, ledger = web.ctx, web.stores.ledger
    kind = RequestType.CONSENT_WITHDRAWAL
    opened = ledger.find_open_request(email, kind)
    if opened is None and not withdrawal_in_force(ctx.settings, ledger.engine, email):
        opened = ledger.find_or_open(email, kind)[0]
    outcome = asyncio.run(withdraw_consent(
        ctx.settings, ctx.connectors, ctx.settings.consent, ledger.engine, email,
        channel=channel, recorded_by=web.actor,
        note=note or (f"request {opened.id}" if opened else None)))
    answer = None
    if opened is not None:
        answer = answer_marketing(
            web.stores, opened, ctx.reports_dir, kind="withdrawal",
            destinations=outcome.keyed_systems(), confirmed=outcome.confirmed,
            settings=ctx.settings, draft=ctx.draft, lang=lang,
            details={"destinations": {d.key: d.state for d in outcome.destinations}})
    return {"outcome": outcome, "request_id": opened.id if opened else None,
            "letters": [path.name for path in answer.letters] if answer else [],
            "closed": bool(answer and answer.closed)}


async def withdraw(request: Request, session: Session, form: FormData | None) -> Response:
    values = {name: field(form, name).strip() for name in ("email", "channel", "note", "lang")}
    errors: dict[str, str] = {}
    subject = _subject(values["email"])
    if subject is None:
        errors["email"] = "errors.invalid_email"
    if values["channel"] not in PEOPLE_CHANNELS:
        errors["channel"] = "consent_errors.channel"
    if len(values["note"]) > 300:
        errors["note"] = "errors.too_long"
    if values["lang"] not in LANGUAGES:
        errors["lang"] = "consent_errors.lang"
    if errors or subject is None:
        return _home(request, session, status=400, values=values, errors=errors)
    web = state(request)
    try:
        done = await run_in_threadpool(_withdraw, web, subject.email, values["channel"],
                                       values["note"] or None, values["lang"])
    except ConfigurationError:
        return render(request, "error.html", status=409, session=session,
                      message_key="consent_errors.configuration", back="/consent")
    outcome = done.pop("outcome")
    web.record("consent.withdrawn", request_id=done["request_id"], subject=subject.email,
               channel=outcome.channel, already_recorded=outcome.already_recorded,
               confirmed=outcome.confirmed)
    return render(request, "consent_withdrawn.html", session=session, email=subject.email,
                  outcome=outcome, recorded_at=_when(outcome.recorded_at),
                  label=_labeller(request), **done)


ROUTES = [
    Route("/consent", guarded(consent_home), methods=["GET"]),
    Route("/consent/search", guarded(search), methods=["POST"]),
    Route("/consent/withdraw", guarded(withdraw), methods=["POST"]),
    Route("/consent/search", guarded(back_home), methods=["GET"]),
    Route("/consent/withdraw", guarded(back_home), methods=["GET"]),
    Route("/consent/tasks/{task_id:int}/done", guarded(task_done), methods=["POST"]),
]
