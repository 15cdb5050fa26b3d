"""The web inbox as one ASGI app (Starlette): ``dsar serve`` runs it under uvicorn.

The app gets everything from its caller (:func:`build_app`): the use-cases' context (the
sandbox's, for ``dsar --sandbox serve``) and the login state. It adds the browser's safety
rules to every response (:class:`SecurityHeaders`): a Content-Security-Policy that allows only
the app's own files (no inline script or style, so injected markup cannot run), no framing
(clickjacking), no Referer (a request page's address never leaves the machine) and no caching
of pages that show personal data.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.requests.context import RequestContext
from hub.requests.erasure import open_stores
from hub.store.audit import AuditLog
from hub.web import consent as consent_pages
from hub.web import erasure, rectification
from hub.web import review as review_pages
from hub.web.auth import Gate
from hub.web.base import (
    HERE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WebState,
    field,
    redirect,
    render,
    set_cookie,
    state,
)
from hub.web.lookups import LookupRunner
from hub.web.pages import PAGES
from hub.web.settings import ROUTES as SETTINGS_ROUTES
from hub.web.webhook import WebhookRoute, webhook_receiver

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'")

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and ``no-store`` on pages) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _login_form(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, login_csrf=token, error=error,
                      has_password=state(request).gate.password_hash is not None)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


def _logged_in(request: Request, how: str) -> Response:
    web = state(request)
    session = web.gate.new_session()
    web.record("web.login", method=how)
    response = redirect("/")
    set_cookie(request, response, SESSION_COOKIE, session.id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


async def login(request: Request) -> Response:
    if request.method == "GET":
        return _login_form(request)
    form = await request.form()
    sent, expected = field(form, "csrf"), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return render(request, "error.html", status=403, message_key="errors.csrf")
    # scrypt takes a noticeable moment by design: off the event loop, so other pages answer
    verdict = await run_in_threadpool(state(request).gate.check_password,
                                      field(form, "password"))
    if verdict is None:
        return _login_form(request, status=429, error="errors.locked")
    if not verdict:
        state(request).record("web.login_failed")
        return _login_form(request, status=401, error="errors.wrong_password")
    return _logged_in(request, "password")


async def login_link(request: Request) -> Response:
    """The one-time link: its token becomes a session once, then the address is useless."""
    if not state(request).gate.use_token(request.query_params.get("token", "")):
        return _login_form(request, status=403, error="errors.link_used")
    return _logged_in(request, "one-time link")


async def logout(request: Request) -> Response:
    web = state(request)
    session = web.gate.session(request.cookies.get(SESSION_COOKIE))
    form = await request.form()
    if session is not None and hmac.compare_digest(field(form, "csrf").encode(),
                                                   session.csrf.encode()):
        web.gate.end(session.id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def build_app(ctx: RequestContext, gate: Gate, *, secure: bool = False,
              allowed_hosts: Sequence[str] = ("*",)) -> Starlette:
    """The inbox on ``ctx`` (its settings, connectors and ledger) behind ``gate``.

    ``secure``: served over TLS (cookies get ``Secure``). ``allowed_hosts``: the Host headers
    answered; a server on loopback answers only its own names, so a web page that points its
    own domain at 127.0.0.1 (DNS rebinding) gets nothing."""
    stores = open_stores(ctx.settings, sandbox=ctx.sandbox)
    audit = AuditLog(stores.ledger.engine, stores.secret)
    web = WebState(ctx=ctx, gate=gate, stores=stores, audit=audit, runner=LookupRunner(ctx),
                   secure=secure)
    p = PAGES
    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/login/link", login_link, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", p["inbox"], methods=["GET"]),
        Route("/requests.csv", p["export_csv"], methods=["GET"]),
        Route("/requests/new", p["new_request"], methods=["GET", "POST"]),
        Route("/requests/{request_id}", p["show_request"], methods=["GET"]),
        Route("/requests/{request_id}/lookup", p["start_lookup"], methods=["POST"]),
        Route("/requests/{request_id}/lookup", p["lookup_page"], methods=["GET"]),
        Route("/requests/{request_id}/lookup/status", p["lookup_status"], methods=["GET"]),
        Route("/requests/{request_id}/tasks/{task}/done", p["task_done"], methods=["POST"]),
        Route("/requests/{request_id}/files/{name}", p["download"], methods=["GET"]),
        *erasure.ROUTES,
        *consent_pages.ROUTES,
        *review_pages.ROUTES,
        *SETTINGS_ROUTES,
        *rectification.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders),
        Middleware(WebhookRoute, receiver=webhook_receiver(ctx)),  # before the host check
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
    ])
    app.state.web = web
    return app
