"""The inbox's settings page (``/settings``) and "Connect Fortnox" through Starlette's
TestClient: the key forms' refusals, a saved key encrypted and used by the connector, which key
is in use, and the OAuth callback's checks of ``state`` against the sandbox's Fortnox fake.

The whole flow in a real browser is ``tests/test_web_browser_fortnox.py``.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from connectors.fortnox import FortnoxConnector
from connectors.fortnox.settings import FortnoxSettings
from connectors.fortnox.tokens import TokenState, state_key
from connectors.stripe import StripeConnector, StripeSettings
from hub.config.settings import HubSettings, settings_class
from hub.core.subject import Subject
from hub.http import HttpPolicy
from hub.requests.context import RequestContext
from hub.requests.fanout import open_connectors
from hub.sandbox.fortnox_api import (
    AUTH_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    INITIAL_REFRESH_TOKEN,
    TOKEN_PATH,
    FortnoxServer,
)
from hub.store.audit import AuditLog
from hub.store.credentials import SavedCredentials
from hub.store.db import open_database
from hub.store.keyed import secret_path
from hub.store.state import connector_state
from hub.store.tables import StateEntry
from hub.web.app import build_app
from hub.web.auth import Gate

STRIPE_KEY = "rk_test_51InventedRestrictedKeyAbCd"
CONNECTORS = {"fortnox": FortnoxConnector, "stripe": StripeConnector}
POLICY = HttpPolicy(max_attempts=1, rate_limit_requests=1000, rate_limit_seconds=1.0,
                    timeout_seconds=5)


@pytest.fixture
def fortnox() -> Iterator[FortnoxServer]:
    with FortnoxServer() as server:
        yield server


def _settings(database_url: str, tmp_path: Path, fortnox: FortnoxServer | None,
              **stripe: object) -> HubSettings:
    fortnox_settings = FortnoxSettings(
        base_url=fortnox.base_url if fortnox else "https://api.fortnox.se/3",
        token_url=TOKEN_PATH if fortnox else FortnoxSettings.model_fields["token_url"].default,
        auth_url=AUTH_PATH if fortnox else FortnoxSettings.model_fields["auth_url"].default,
        client_id=SecretStr(CLIENT_ID) if fortnox else None,
        client_secret=SecretStr(CLIENT_SECRET) if fortnox else None,
        enabled=fortnox is not None, http=POLICY)
    model = settings_class(CONNECTORS, None)
    return model(state_dir=tmp_path / "state", database_url=database_url,
                 fortnox=fortnox_settings, stripe=StripeSettings(http=POLICY, **stripe))


def _context(settings: HubSettings) -> RequestContext:
    state = connector_state(open_database(settings.ledger_url), settings.state_dir)
    return RequestContext(settings, CONNECTORS, {"state": state}, out_dir=settings.state_dir)


def _client(context: RequestContext) -> tuple[TestClient, str]:
    """A logged-in client and its session's CSRF token."""
    gate = Gate(None)
    client = TestClient(build_app(context, gate))
    client.get(f"/login/link?token={gate.login_token}")
    page = client.get("/settings")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return client, found.group(1)


def _audit(context: RequestContext) -> AuditLog:
    return AuditLog(open_database(context.ledger_url), secret_path(context.settings.state_dir))


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    return _context(_settings(database_url, tmp_path, None))


# -- the Stripe and MailerLite keys ---------------------------------------------------------


def test_settings_need_a_session_and_a_post_needs_its_csrf_token(
        context: RequestContext) -> None:
    stranger = TestClient(build_app(context, Gate(None)))
    response = stranger.get("/settings", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"

    client, _ = _client(context)
    for url in ("/settings/keys/stripe", "/settings/fortnox/connect", "/settings/check"):
        refused = client.post(url, data={"key": STRIPE_KEY})
        assert refused.status_code == 403, url
        refused = client.post(url, data={"key": STRIPE_KEY, "csrf": "not-the-token"})
        assert refused.status_code == 403, url
    assert SavedCredentials(context.connector_options["state"]).all() == {}


@pytest.mark.parametrize(("value", "error"), [
    ("", "Klistra in nyckeln."),
    ("sk_live_51Invented Key", "mellanslag"),
    ("sk_live_51Invented\nKey", "mellanslag"),
    ("pk_live_51InventedPublishable", "publicerbar nyckel"),
    ("whsec_51InventedWebhookSecret", "börjar med sk_ eller rk_"),
    ("sk_live_åäö123456789", "tecken som en nyckel inte har"),
    ("sk_live_1", "för kort"),
    ("rk_live_" + "A" * 5000, "för långt"),
])
def test_a_bad_key_is_refused_next_to_its_field_and_nothing_is_saved(
        context: RequestContext, value: str, error: str) -> None:
    client, csrf = _client(context)
    response = client.post("/settings/keys/stripe", data={"csrf": csrf, "key": value})
    assert response.status_code == 400
    field = re.search(r'<input id="key-stripe"[^>]*>\s*<button[^>]*>[^<]*</button>\s*'
                      r'<p class="error" id="key-stripe-error">([^<]*)</p>', response.text)
    assert field, response.text
    assert error in html.unescape(field.group(1))
    assert 'aria-describedby="key-stripe-error"' in response.text
    if value:
        assert value not in response.text  # never echoed back
    assert SavedCredentials(context.connector_options["state"]).all() == {}
    assert [e.action for e in _audit(context).entries()] == ["web.login"]


def test_an_unknown_processor_takes_no_key(context: RequestContext) -> None:
    client, csrf = _client(context)
    response = client.post("/settings/keys/fortnox", data={"csrf": csrf, "key": STRIPE_KEY})
    assert response.status_code == 404
    assert SavedCredentials(context.connector_options["state"]).all() == {}


def test_a_saved_key_is_encrypted_never_shown_again_and_used_by_the_connector(
        context: RequestContext) -> None:
    client, csrf = _client(context)
    page = client.get("/settings").text
    assert "Ingen nyckel är angiven." in page
    assert "inte inställt, ingår inte i sökningarna" in page

    saved = client.post("/settings/keys/stripe", data={"csrf": csrf, "key": STRIPE_KEY},
                        follow_redirects=False)
    assert saved.status_code == 303
    page = client.get("/settings?saved=stripe").text
    assert STRIPE_KEY not in page and "AbCd" in page  # only the last four characters
    assert "Den sparade nyckeln används." in page and "Nyckeln är sparad." in page

    with Session(open_database(context.ledger_url)) as session:
        raw = " ".join(e.value for e in session.scalars(select(StateEntry)))
    assert STRIPE_KEY not in raw and "AbCd" not in raw
    [entry] = [e for e in _audit(context).entries() if e.action == "credentials.saved"]
    assert entry.details_data["processor"] == "stripe"
    assert entry.details_data["in_use"] == "saved" and entry.details_data["via"] == "web"
    assert STRIPE_KEY not in str(entry.details_data)

    with respx.mock(assert_all_called=True) as mock:
        customers = mock.get("https://api.stripe.com/v1/customers").mock(
            return_value=httpx.Response(200, json={"object": "list", "data": [],
                                                   "has_more": False, "url": "/v1/customers"}))
        checked = client.post("/settings/check", data={"csrf": csrf})
    assert checked.status_code == 200
    assert customers.calls.last.request.headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    assert "fungerar" in checked.text and "API key accepted" in checked.text
    assert STRIPE_KEY not in checked.text

    removed = client.post("/settings/keys/stripe/remove", data={"csrf": csrf},
                          follow_redirects=False)
    assert removed.status_code == 303
    assert "Ingen nyckel är angiven." in client.get("/settings").text
    assert context.settings.processor("stripe").missing_credentials() == ["api_key"]


def test_a_configured_key_stays_in_use_and_the_page_says_so(database_url: str,
                                                            tmp_path: Path) -> None:
    context = _context(_settings(database_url, tmp_path, None,
                                 api_key=SecretStr("sk_live_51FromTheEnvironment")))
    client, csrf = _client(context)
    response = client.post("/settings/keys/stripe", data={"csrf": csrf, "key": STRIPE_KEY})
    assert response.status_code == 200  # after the redirect
    assert "Nyckeln från konfigurationen (DSAR_STRIPE__API_KEY) används" in response.text
    key = context.settings.processor("stripe").api_key  # type: ignore[attr-defined]
    assert key.get_secret_value() == "sk_live_51FromTheEnvironment"
    saved = SavedCredentials(context.connector_options["state"]).get("stripe", "api_key")
    assert saved is not None and saved.value == STRIPE_KEY


# -- Connect Fortnox ------------------------------------------------------------------------


def _connect(client: TestClient, csrf: str) -> dict[str, str]:
    """Press "Connect Fortnox": the authorisation URL's query (the page moves on by itself)."""
    page = client.post("/settings/fortnox/connect", data={"csrf": csrf})
    assert page.status_code == 200
    url = html.unescape(re.search(r'http-equiv="refresh" content="0;url=([^"]+)"',
                                  page.text).group(1))  # type: ignore[union-attr]
    return {**{k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}, "_url": url}


def _at_fortnox(query: dict[str, str], decision: str) -> str:
    """The person at the (fake) Fortnox page presses Allow or Deny: where it sends them."""
    with httpx.Client() as browser:
        page = browser.get(query["_url"])
        assert page.status_code == 200 and "Allow" in page.text and "Deny" in page.text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        fields = {k: html.unescape(v) for k, v in fields.items()}
        answer = browser.post(str(page.url.copy_with(query=None)),
                              data={**fields, "decision": decision})
    assert answer.status_code == 302
    return answer.headers["location"]


def _callback_path(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/oauth/fortnox/callback"
    return f"{parts.path}?{parts.query}"


def test_connect_fortnox_stores_the_new_tokens_and_the_next_lookup_uses_them(
        database_url: str, tmp_path: Path, fortnox: FortnoxServer) -> None:
    context = _context(_settings(database_url, tmp_path, fortnox))
    client, csrf = _client(context)
    page = client.get("/settings").text
    assert "Fortnox är inte anslutet." in page and "Anslut Fortnox" in page
    assert "http://testserver/oauth/fortnox/callback" in page

    query = _connect(client, csrf)
    assert query["_url"].startswith(f"{fortnox.base_url}{AUTH_PATH}?")
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["access_type"] == "offline" and query["scope"] == "customer invoice"
    assert query["redirect_uri"] == "http://testserver/oauth/fortnox/callback"
    assert len(query["state"]) >= 32

    location = _at_fortnox(query, "allow")
    done = TestClient(client.app).get(_callback_path(location))  # no session cookie: Strict
    assert done.status_code == 200, done.text
    assert "Fortnox är anslutet." in done.text
    assert fortnox.tokens.authorisations == 1

    store = context.connector_options["state"]
    stored = TokenState.load(store.get(state_key(CLIENT_ID, httpx.URL(fortnox.base_url
                                                                         + TOKEN_PATH))))
    assert stored is not None and stored.refresh_token == fortnox.tokens.refresh_token
    with Session(open_database(context.ledger_url)) as session:
        raw = " ".join(e.value for e in session.scalars(select(StateEntry)))
    assert stored.refresh_token not in raw and stored.access_token not in raw
    assert "Fortnox är anslutet (i webbläsaren" in client.get("/settings").text
    assert [e.action for e in _audit(context).entries()][-2:] == [
        "fortnox.connect_started", "fortnox.connected"]

    # the running server's settings now count Fortnox as set up, and its connector reads the
    # stored access token: Fortnox sees no refresh, only the new token
    assert context.settings.processor("fortnox").missing_credentials() == []

    async def look_up() -> int:
        async with open_connectors(context.settings, context.connectors,
                                   **context.connector_options) as (opened, skipped):
            assert "fortnox" in opened, skipped
            findings = await opened["fortnox"].find_subject(
                Subject.from_email("anna.svensson@example.se"))
            return len(findings.records)

    assert asyncio.run(look_up()) > 0
    assert fortnox.tokens.refreshes == 0

    replay = TestClient(client.app).get(_callback_path(location))  # the same answer again
    assert replay.status_code == 400 and "redan använts" in replay.text


def test_the_callback_refuses_a_missing_or_foreign_state_and_a_denial(
        database_url: str, tmp_path: Path, fortnox: FortnoxServer) -> None:
    context = _context(_settings(database_url, tmp_path, fortnox))
    client, csrf = _client(context)
    query = _connect(client, csrf)
    location = _at_fortnox(query, "allow")
    code = parse_qs(urlsplit(location).query)["code"][0]

    for path in (f"/oauth/fortnox/callback?code={code}",
                 f"/oauth/fortnox/callback?code={code}&state=planted-by-someone-else"):
        refused = client.get(path)
        assert refused.status_code == 400 and "hörde inte till en anslutning" in refused.text
    assert fortnox.tokens.authorisations == 0  # the code was never exchanged

    denied = client.get(_callback_path(_at_fortnox(_connect(client, csrf), "deny")))
    assert denied.status_code == 400 and "nekades hos Fortnox" in denied.text
    assert "Fortnox är inte anslutet." in client.get("/settings").text
    refusals = [e.details_data["reason"] for e in _audit(context).entries()
                if e.action == "fortnox.connect_refused"]
    # a refused state writes no audit entry (anyone can call the address); the owner's
    # denial at Fortnox does
    assert refusals == ["access_denied"]

    # a state of a session that has logged out is no longer good either
    query = _connect(client, csrf)
    location = _at_fortnox(query, "allow")
    client.post("/logout", data={"csrf": csrf})
    late = TestClient(client.app).get(_callback_path(location))
    assert late.status_code == 400
    assert fortnox.tokens.authorisations == 0


def test_without_a_client_id_the_page_says_what_to_set(context: RequestContext) -> None:
    client, csrf = _client(context)
    page = client.get("/settings").text
    assert "DSAR_FORTNOX__CLIENT_ID, DSAR_FORTNOX__CLIENT_SECRET" in page
    assert "Anslut Fortnox</button>" not in page
    assert client.post("/settings/fortnox/connect", data={"csrf": csrf}).status_code == 409


def test_the_fake_fortnox_takes_a_code_once_and_only_with_its_redirect_uri(
        fortnox: FortnoxServer) -> None:
    auth = httpx.BasicAuth(CLIENT_ID, CLIENT_SECRET)

    def exchange(code: str, uri: str) -> httpx.Response:
        return httpx.post(f"{fortnox.base_url}{TOKEN_PATH}", auth=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": uri})

    uri = "http://127.0.0.1:9/oauth/fortnox/callback"
    first = fortnox.tokens.issue_code(uri)
    wrong = exchange(first, "http://127.0.0.1:9/elsewhere")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(first, uri).status_code == 400  # spent by the refused attempt
    second = fortnox.tokens.issue_code(uri)
    answer = exchange(second, uri)
    assert answer.status_code == 200 and answer.json()["refresh_token"]
    assert exchange(second, uri).json()["error"] == "invalid_grant"
    old = httpx.post(f"{fortnox.base_url}{TOKEN_PATH}", auth=auth, data={
        "grant_type": "refresh_token", "refresh_token": INITIAL_REFRESH_TOKEN})
    assert old.json()["error"] == "invalid_grant"  # re-authorised: the old token is dead
    page = httpx.get(f"{fortnox.base_url}{AUTH_PATH}",
                     params={"client_id": "someone-else", "redirect_uri": uri,
                             "response_type": "code", "state": "s"})
    assert page.status_code == 400 and "location" not in page.headers
    elsewhere = httpx.get(f"{fortnox.base_url}{AUTH_PATH}", params={
        "client_id": fortnox.tokens.client_id, "redirect_uri": "https://evil.example.com/x",
        "response_type": "code", "state": "s"})
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers
