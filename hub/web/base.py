"""What every page of the web inbox shares: the server's state, the login guard with its CSRF
check, the language, the templates and the audit entries.

Every page but the login needs a session: without one the browser is sent to the login page
and shown nothing else. Every POST must carry the session's CSRF token; one without it (or with
another session's) is refused with 403 before anything is read or changed, so a page on another
site cannot make the owner's browser act for it.
"""

from __future__ import annotations

import getpass
import hmac
import json
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from hub.core.request_types import RequestType
from hub.requests.context import RequestContext
from hub.requests.erasure import ErasureStores
from hub.store.audit import AuditLog
from hub.store.erasure_actions import PlannedAction
from hub.store.ledger import LedgerRequest, UnknownRequest
from hub.web.auth import Gate, Session
from hub.web.lookups import LookupRunner

HERE = Path(__file__).parent
SESSION_COOKIE = "dsar_session"
LANG_COOKIE = "dsar_lang"
#: The login form's CSRF token rides in this cookie until a session exists (double submit).
LOGIN_CSRF_COOKIE = "dsar_login_csrf"


@dataclass
class WebState:
    """One running inbox: the use-cases' context, its stores and the login state."""

    ctx: RequestContext
    gate: Gate
    stores: ErasureStores
    audit: AuditLog
    runner: LookupRunner
    #: served over TLS: cookies get ``Secure``
    secure: bool = False

    @property
    def actor(self) -> str:
        """Who acted, for the audit log: the user running the server, through the web."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = "unknown"
        return f"{user} via web"

    def record(self, action: str, *, request_id: str | None = None,
               subject_email: str | None = None, **details: Any) -> None:
        """One audit entry for something done in the browser (``via: web`` in its details)."""
        self.audit.append(action, request_id=request_id, actor=self.actor,
                          subject_email=subject_email, details={**details, "via": "web"})


def state(request: Request) -> WebState:
    found: WebState = request.app.state.web
    return found


@cache
def texts(lang: str) -> dict[str, str]:
    """The inbox's texts in ``lang`` (``hub/web/i18n/<lang>.toml``), as ``section.key``."""
    with (HERE / "i18n" / f"{lang}.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return {f"{section}.{key}": str(value) for section, table in data.items()
            for key, value in table.items()}


def language(request: Request) -> str:
    """``?lang=`` when given, else the language cookie, else Swedish."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE.value


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def render(request: Request, template: str, *, status: int = 200,
           session: Session | None = None, **values: Any) -> HTMLResponse:
    """``template`` in the request's language; a ``?lang=`` choice is kept in a cookie."""
    lang = language(request)
    words = texts(lang)

    def t(key: str, **fields: object) -> str:
        text = words.get(key, key)
        return text.format(**fields) if fields else text

    html = _templates().get_template(template).render(
        t=t, lang=lang, csrf=session.csrf if session else None, path=request.url.path,
        logged_in=session is not None, sandbox=state(request).ctx.sandbox, **values)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(request, response, LANG_COOKIE, lang, http_only=False,
                   max_age=365 * 86400)
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, *,
               http_only: bool = True, max_age: int | None = None) -> None:
    """A cookie for this site only: SameSite=Strict, HttpOnly, Secure under TLS."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only,
                        samesite="strict", secure=state(request).secure)


def redirect(url: str) -> RedirectResponse:
    """See-other: the browser GETs ``url`` (a form is never re-sent by a reload)."""
    return RedirectResponse(url, status_code=303)


Page = Callable[[Request, Session, FormData | None], Awaitable[Response]]


def guarded(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """``page`` for logged-in users only (else: to the login page, nothing shown); a POST
    also needs the session's CSRF token (else 403, nothing changed)."""

    async def endpoint(request: Request) -> Response:
        session = state(request).gate.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return redirect("/login")
        form = None
        if request.method == "POST":
            form = await request.form()
            sent = form.get("csrf")
            if not isinstance(sent, str) or not hmac.compare_digest(
                    sent.encode("utf-8"), session.csrf.encode("utf-8")):
                return render(request, "error.html", status=403, session=session,
                              message_key="errors.csrf")
        return await page(request, session, form)

    return endpoint


def field(form: FormData | None, name: str) -> str:
    """A text field of ``form`` ('' when missing or a file)."""
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


def request_of(request: Request, kind: RequestType) -> LedgerRequest | None:
    """The ledger's request the URL names, or None when there is none or it is of another type:
    the pages of one right never act on another right's request."""
    try:
        found = state(request).stores.ledger.get(request.path_params["request_id"])
    except UnknownRequest:
        return None
    return found if found.type == kind.value else None


def by_processor(actions: Sequence[PlannedAction]) -> dict[str, dict[str, int]]:
    """Each processor's planned actions counted by state, processors by name: what the result
    tables and the progress of an erasure or a rectification show."""
    found: dict[str, dict[str, int]] = {}
    for action in actions:
        states = found.setdefault(action.processor, {})
        states[action.state] = states.get(action.state, 0) + 1
    return dict(sorted(found.items()))


def details_text(details: dict[str, Any]) -> str:
    """A ledger event's details on one line for the history table."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True)[:400]
