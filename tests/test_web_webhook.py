"""MailerLite's webhook served by the inbox (``dsar serve``) at ``[consent] webhook_path``:
signed deliveries are applied without a session, a CSRF token or a host name the inbox
answers to; unsigned, forged and oversized ones are refused and change nothing. The same route
serves ``dsar webhook serve`` (``tests/test_webhook.py``, ``tests/test_webhook_hardening.py``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from connectors.mailerlite import MailerLiteConnector
from connectors.mailerlite_consent import sign
from connectors.sdk.base import Connector
from hub.config.settings import load_settings
from hub.consent.database import open_consent_database
from hub.core.errors import ConfigurationError
from hub.requests.context import RequestContext
from hub.sandbox.mailerlite_api import MailerLiteServer, send_webhook, webhook_payload
from hub.store.consent_register import ConsentRegister
from hub.store.ledger import Ledger
from hub.web.app import build_app
from hub.web.auth import Gate
from hub.web.webhook import WebhookRoute
from tests.databases import hub_database_url
from tests.e2e_helpers import hub_environment

SECRET = "ybmcD7PQ9R"
LARS_ID = "109463365921650215"
LARS = "lars.lindqvist@example.com"
CONNECTORS: dict[str, type[Connector]] = {"mailerlite": MailerLiteConnector}
LOOPBACK = ("127.0.0.1", "localhost")
PATH = "/webhooks/mailerlite"


def _context(database_url: str, tmp_path: Path, secret: str | None = SECRET,
             **consent: object) -> RequestContext:
    settings = load_settings(CONNECTORS).model_copy(update={
        "state_dir": tmp_path / "state", "database_url": database_url})
    settings = settings.model_copy(update={"consent": settings.consent.model_copy(update={
        "webhook_secret": SecretStr(secret) if secret is not None else None, **consent})})
    return RequestContext(settings, CONNECTORS, out_dir=tmp_path / "reports")


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    return _context(database_url, tmp_path)


@pytest.fixture
def client(context: RequestContext) -> TestClient:
    """The inbox as ``dsar serve`` builds it on loopback (only loopback host names answered),
    with nobody logged in."""
    return TestClient(build_app(context, Gate(None), allowed_hosts=LOOPBACK),
                      base_url="http://127.0.0.1:8765")


def _register(context: RequestContext) -> ConsentRegister:
    return ConsentRegister(Ledger.open(context.ledger_url).engine)


def _delivery() -> bytes:
    subscriber = MailerLiteServer().unsubscribe(LARS_ID)
    return json.dumps(webhook_payload(subscriber, "subscriber.unsubscribed")).encode()


def _post(client: TestClient, body: bytes, signature: str | None,
          headers: dict[str, str | bytes] | None = None):
    sent: dict[str, str | bytes] = {"content-type": "application/json", **(headers or {})}
    if signature is not None:
        sent["signature"] = signature
    return client.post(PATH, content=body, headers=sent, follow_redirects=False)


def test_a_signed_delivery_is_applied_without_a_session_or_csrf(
        client: TestClient, context: RequestContext) -> None:
    body = _delivery()
    answer = _post(client, body, sign(body, SECRET))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok" and answer.json()["changes"] == 1
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"  # the app's headers still
    [event] = _register(context).history(LARS)["events"]
    assert (event.status, event.learned_via) == ("unsubscribed", "webhook")
    assert event.evidence["unsubscribed_at"]
    again = _post(client, body, sign(body, SECRET).upper())
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(_register(context).history(LARS)["events"]) == 1
    assert "set-cookie" not in answer.headers  # no session was made for it


def test_behind_a_proxy_that_forwards_the_public_host_deliveries_still_arrive(
        client: TestClient, context: RequestContext) -> None:
    """nginx ``proxy_set_header Host $host``: the inbox refuses the name (DNS rebinding), the
    webhook does not (its signature is its authentication)."""
    assert client.get("/login", headers={"host": "dsar.example.se"}).status_code == 400
    body = _delivery()
    answer = _post(client, body, sign(body, SECRET), headers={"host": "dsar.example.se"})
    assert answer.status_code == 200
    assert len(_register(context).history(LARS)["events"]) == 1
    # and a forgery with that host is refused like any other
    forged = _post(client, body.replace(b"unsubscribed", b"active      "), sign(body, SECRET),
                   headers={"host": "dsar.example.se"})
    assert forged.status_code == 401


@pytest.mark.parametrize("forgery", ["missing", "blank", "wrong secret", "tampered body",
                                     "not ascii"])
def test_a_bad_or_missing_signature_is_401_and_records_nothing(
        client: TestClient, context: RequestContext, forgery: str) -> None:
    body = _delivery()
    signature, sent = {
        "missing": (None, body),
        "blank": ("", body),
        "wrong secret": (sign(body, "not-the-secret"), body),
        "tampered body": (sign(body, SECRET), body.replace(b"unsubscribed", b"active      ")),
        "not ascii": ("\u00e9" * 64, body),
    }[forgery]
    before = _register(context).snapshot()
    headers: dict[str, str | bytes] = {}
    if forgery == "not ascii":  # as raw UTF-8 bytes: httpx sends a str header as ASCII only
        headers = {"signature": signature.encode("utf-8")}
        signature = None
    answer = _post(client, sent, signature, headers)
    assert (answer.status_code, answer.json()) == (401, {"error": "invalid signature"})
    assert _register(context).snapshot() == before


def test_an_oversized_body_is_refused_before_it_is_read(database_url: str,
                                                        tmp_path: Path) -> None:
    context = _context(database_url, tmp_path, webhook_max_body_bytes=200)
    client = TestClient(build_app(context, Gate(None), allowed_hosts=LOOPBACK),
                        base_url="http://127.0.0.1:8765")
    body = _delivery()
    assert len(body) > 200
    answer = _post(client, body, sign(body, SECRET))
    assert (answer.status_code, answer.json()) == (413, {"error": "body too large"})
    assert answer.headers["connection"] == "close"
    assert _register(context).snapshot()["events"] == []


def test_other_methods_and_a_body_that_is_not_json(client: TestClient,
                                                   context: RequestContext) -> None:
    assert client.get(PATH).status_code == 405
    assert _post(client, b"nope", sign(b"nope", SECRET)).status_code == 400
    assert _register(context).snapshot()["events"] == []


def test_without_a_secret_the_path_is_no_webhook(database_url: str, tmp_path: Path) -> None:
    context = _context(database_url, tmp_path, secret=None)
    client = TestClient(build_app(context, Gate(None)))
    body = _delivery()
    answer = _post(client, body, sign(body, SECRET))
    assert answer.status_code == 404
    assert _register(context).snapshot()["events"] == []


def test_a_blank_secret_stops_the_inbox_from_starting(database_url: str,
                                                      tmp_path: Path) -> None:
    context = _context(database_url, tmp_path, secret="   ")
    with pytest.raises(ConfigurationError, match="DSAR_CONSENT__WEBHOOK_SECRET"):
        build_app(context, Gate(None))


def test_the_propagation_worker_runs_with_the_server(context: RequestContext) -> None:
    """It starts and stops with the app (the ASGI lifespan) and is woken when a delivery
    leaves opt-outs to push."""
    app = build_app(context, Gate(None), allowed_hosts=LOOPBACK)
    [receiver] = [m.kwargs["receiver"] for m in app.user_middleware if m.cls is WebhookRoute]
    assert receiver is not None and receiver.worker is not None
    thread = receiver.worker._thread
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    with client:
        assert thread.is_alive()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not thread.is_alive()


@pytest.mark.database
def test_dsar_serve_answers_deliveries_on_its_own_port(tmp_path: Path) -> None:
    """The real command under uvicorn: the inbox's port takes MailerLite's deliveries when the
    secret is set, and the register gets them (on the test's database)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = hub_environment()
    env["DSAR_STATE_DIR"] = str(tmp_path)
    env["DSAR_CONSENT__WEBHOOK_SECRET"] = SECRET
    process = subprocess.Popen(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-m", "hub", "--out", str(tmp_path / "reports"), "serve", "--draft",
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "login/link" in line:
                break
        url = f"http://127.0.0.1:{port}{PATH}"
        deadline = time.monotonic() + 30
        status, answer = 0, {}
        while time.monotonic() < deadline:
            try:
                status, answer = send_webhook(url, SECRET, _delivery())
                break
            except OSError:
                time.sleep(0.1)
        assert (status, answer.get("changes")) == (200, 1), answer
        assert send_webhook(url, "guess", _delivery())[0] == 401
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    register = ConsentRegister(open_consent_database(hub_database_url(tmp_path)))
    [event] = register.history(LARS)["events"]
    assert event.learned_via == "webhook"
