""""Connect Fortnox" in the web inbox: OAuth 2's authorization-code flow as Fortnox documents it
(https://www.fortnox.se/developer/authorization).

Why in the browser: Fortnox hands out its first refresh token only to a person who logs in to
Fortnox and allows the integration; before this page, the owner had to do that by hand and paste
the token into ``DSAR_FORTNOX__REFRESH_TOKEN`` (and again after 45 days unused).

The flow. The settings page's button (a POST with the session's CSRF token) makes a random
``state``, remembered for this session for ten minutes, and sends the browser to the
authorisation page (``auth_url``, default ``https://apps.fortnox.se/oauth-v1/auth``) with
``client_id``, ``redirect_uri``, ``scope``, ``state``, ``access_type=offline`` and
``response_type=code``. Fortnox sends the browser back to ``/oauth/fortnox/callback`` with
``code`` and ``state`` (or ``error=access_denied``). The callback accepts a ``state`` it issued,
once, for a session still logged in (a missing, unknown, spent or expired one is refused: RFC
6749 §10.12, so nobody can plant their own Fortnox account in the hub), exchanges the code at
the token endpoint (HTTP Basic client credentials, ``grant_type=authorization_code``, the same
``redirect_uri``), and stores the tokens encrypted where the connector's token store reads them
(:mod:`connectors.fortnox.tokens`), so the next lookup uses them.

Two browser rules shape the pages. The inbox's CSP allows forms to post only to the inbox
(``form-action 'self'``), which a redirect after a POST must obey too, so the button's answer is
a page that moves on to Fortnox by itself (a meta refresh, with a link). And the session cookie
is ``SameSite=Strict``: a browser coming back from Fortnox (another site) does not send it, so
the callback is authorised by its ``state`` (bound to the session that asked) rather than by the
cookie, and its answer is a page that moves on to the settings page, where the cookie is sent
again.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.fortnox.settings import FortnoxSettings
from connectors.fortnox.tokens import REMEMBERED_SEEDS, TokenState, fingerprint, state_key
from connectors.sdk.base import api_root
from hub.config.settings import HubSettings, env_name
from hub.core.logs import register_secret
from hub.store.credentials import SavedCredentials, filled
from hub.store.state import StateStore
from hub.web.auth import Session
from hub.web.base import guarded, render, state
from hub.web.stored import saved_credentials, token_store

log = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/fortnox/callback"
#: the scopes the connector needs (customer register and invoices), space-separated
SCOPE = "customer invoice"
#: how long a started connection may take at Fortnox before its ``state`` expires
PENDING_SECONDS = 600.0
#: the token request waits at most this long
TOKEN_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Pending:
    session_id: str
    redirect_uri: str
    started: float


@dataclass
class PendingStates:
    """The ``state`` values handed out and not yet used back, in the server's memory."""

    states: dict[str, Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new(self, session_id: str, redirect_uri: str) -> str:
        value = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, p in self.states.items() if now - p.started > PENDING_SECONDS]:
                del self.states[old]
            self.states[value] = Pending(session_id, redirect_uri, now)
        return value

    def take(self, value: str) -> Pending | None:
        """The pending connection of ``value``, spent by this call; None when unknown, spent
        or expired."""
        if not value:
            return None
        with self._lock:
            found = self.states.pop(value, None)
        if found is None or time.monotonic() - found.started > PENDING_SECONDS:
            return None
        return found


def pending_states(request: Request) -> PendingStates:
    found = getattr(request.app.state, "fortnox_pending", None)
    if not isinstance(found, PendingStates):
        found = request.app.state.fortnox_pending = PendingStates()
    return found


def fortnox_settings(request: Request) -> FortnoxSettings | None:
    """The running server's Fortnox settings, None when the connector is not installed."""
    found = getattr(state(request).ctx.settings, "fortnox", None)
    return found if isinstance(found, FortnoxSettings) else None


def endpoint(settings: FortnoxSettings, url: str) -> httpx.URL:
    """``url`` resolved as the connector resolves ``token_url``: absolute, or on the API's host."""
    return httpx.URL(api_root(settings.base_url, "/3")).join(url)


def missing_client(settings: FortnoxSettings) -> list[str]:
    """The settings still to set before Fortnox can be connected (environment variables)."""
    return [env_name("fortnox", name) for name in ("client_id", "client_secret")
            if not configured_value_of(settings, name)]


def configured_value_of(settings: FortnoxSettings, name: str) -> str:
    value = getattr(settings, name, None)
    return value.get_secret_value() if value is not None else ""


def redirect_uri(request: Request, settings: FortnoxSettings) -> str:
    """The callback's address: as configured (behind a proxy), else where the browser is."""
    if settings.redirect_uri:
        return settings.redirect_uri
    return f"{request.url.scheme}://{request.url.netloc}{CALLBACK_PATH}"


def authorize_url(settings: FortnoxSettings, *, uri: str, state_value: str) -> str:
    query = urlencode({"client_id": configured_value_of(settings, "client_id"),
                       "redirect_uri": uri, "scope": SCOPE, "state": state_value,
                       "access_type": "offline", "response_type": "code"})
    return f"{endpoint(settings, settings.auth_url)}?{query}"


async def connect(request: Request, session: Session, form: FormData | None) -> Response:
    settings = fortnox_settings(request)
    if settings is None or missing_client(settings):
        return render(request, "error.html", status=409, session=session,
                      message_key="oauth.client_missing", back="/settings")
    uri = redirect_uri(request, settings)
    value = pending_states(request).new(session.id, uri)
    state(request).record("fortnox.connect_started")
    return render(request, "oauth_continue.html", session=session,
                  url=authorize_url(settings, uri=uri, state_value=value))


def _done(request: Request, message_key: str, *, status: int = 200) -> Response:
    return render(request, "oauth_done.html", status=status, message_key=message_key,
                  ok=status == 200)


#: the error codes of an authorization response (RFC 6749 §4.1.2.1)
OAUTH_ERRORS = frozenset({"invalid_request", "unauthorized_client", "access_denied",
                          "unsupported_response_type", "invalid_scope", "server_error",
                          "temporarily_unavailable"})


async def callback(request: Request) -> Response:
    """Fortnox's answer (see the module docstring for why no session cookie is needed)."""
    web = state(request)
    params = request.query_params
    pending = pending_states(request).take(params.get("state", ""))
    if pending is None or web.gate.session(pending.session_id) is None:
        # no audit entry: anyone (any page the owner has open) can call this address, and
        # the owner did nothing; a log line without the parameters is enough
        log.info("Fortnox callback refused: unknown, used or expired state")
        return _done(request, "oauth.bad_state", status=400)
    error = params.get("error")
    if error:
        # Fortnox's error code, kept only when it is one OAuth defines (RFC 6749 §4.1.2.1)
        web.record("fortnox.connect_refused",
                   reason=error if error in OAUTH_ERRORS else "other error")
        return _done(request, "oauth.denied" if error == "access_denied" else "oauth.failed",
                     status=400)
    settings = fortnox_settings(request)
    code = params.get("code", "")
    if settings is None or missing_client(settings) or not code:
        return _done(request, "oauth.failed", status=400)
    register_secret(code, "fortnox-code")
    try:
        body = await exchange_code(settings, code, pending.redirect_uri)
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("the Fortnox code exchange failed: %s", exc)
        web.record("fortnox.connect_failed", reason=str(exc)[:200])
        return _done(request, "oauth.failed", status=502)
    save_grant(token_store(request), saved_credentials(request), web.ctx.settings, settings,
               body)
    web.record("fortnox.connected", scope=str(body.get("scope", ""))[:100])
    return _done(request, "oauth.connected")


async def exchange_code(settings: FortnoxSettings, code: str, uri: str) -> dict[str, Any]:
    """The token endpoint's answer to the code; ValueError (in the operator's words) when it
    refuses or answers without tokens."""
    url = endpoint(settings, settings.token_url)
    async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT_SECONDS, follow_redirects=False) as http:
        response = await http.post(
            str(url), data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": uri},
            auth=httpx.BasicAuth(configured_value_of(settings, "client_id"),
                                 configured_value_of(settings, "client_secret")),
            headers={"Accept": "application/json"})
    try:
        body = response.json()
    except ValueError:
        body = None
    if not response.is_success:
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"Fortnox's token endpoint answered HTTP {response.status_code}"
                         f" ({error or 'no error code'})")
    if not (isinstance(body, dict) and isinstance(body.get("access_token"), str)
            and isinstance(body.get("refresh_token"), str)):
        raise ValueError("Fortnox's token endpoint answered without an access and a refresh "
                         "token")
    register_secret(body["access_token"], "fortnox-access-token")
    register_secret(body["refresh_token"], "fortnox-refresh-token")
    return body


def save_grant(store: StateStore, saved: SavedCredentials, live: HubSettings,
               settings: FortnoxSettings, body: dict[str, Any]) -> None:
    """Store the new tokens where the connector reads them, and make the connector use them.

    The token state lists the new refresh token and the one the running settings hold (if
    any) as already seen (:class:`connectors.fortnox.tokens.TokenState` ``seeds``), so the
    connector uses the stored tokens instead of spending an older configured token. The
    refresh token is also saved as the Fortnox credential, which makes Fortnox count as set up
    without ``DSAR_FORTNOX__REFRESH_TOKEN``; the running server's settings get it at once
    unless the configuration gives one (that one is then merely known as seen)."""
    refresh = str(body["refresh_token"])
    lifetime = float(body.get("expires_in") or 3600)
    key = state_key(configured_value_of(settings, "client_id"),
                    endpoint(settings, settings.token_url))
    seed = configured_value_of(settings, "refresh_token")
    previous = saved.get("fortnox", "refresh_token")
    with store.locked(key) as locked:
        before = TokenState.load(locked.value)
        seeds = [*(before.seeds if before else ()), *([fingerprint(seed)] if seed else []),
                 fingerprint(refresh)]
        locked.set(TokenState(refresh_token=refresh, access_token=str(body["access_token"]),
                              expires_at=time.time() + lifetime, lifetime=lifetime,
                              seeds=tuple(dict.fromkeys(seeds))[-REMEMBERED_SEEDS:]).dump())
    saved.save("fortnox", "refresh_token", refresh)
    if not seed or (previous is not None and seed == previous.value):
        setattr(live, "fortnox", filled(settings, "refresh_token", refresh))  # noqa: B010


ROUTES = [
    Route("/settings/fortnox/connect", guarded(connect), methods=["POST"]),
    Route(CALLBACK_PATH, callback, methods=["GET"]),
]
