"""The webhook route (``dsar serve``, ``dsar webhook serve``) against malformed requests, through
the real HTTP server (uvicorn) on loopback and through the route alone.

A request the server cannot read is answered 400/401/411/413 and changes nothing; it never
becomes a 500 with a traceback or an exception in the server thread. A blank secret (which would
let anyone sign) is refused before the server starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.mailerlite_consent import MAILERLITE_WEBHOOK, sign
from hub.consent.database import open_consent_database
from hub.consent.webhook import WebhookApp
from hub.sandbox.mailerlite_api import MailerLiteServer, send_webhook, webhook_payload
from hub.store.consent_register import ConsentRegister
from hub.web import webhook as webhook_route
from hub.web.webhook import WebhookServer, deliver
from tests.e2e_helpers import hub_environment

SECRET = "ybmcD7PQ9R"
LARS_ID = "109463365921650215"


@pytest.fixture
def register(database_url: str) -> ConsentRegister:
    return ConsentRegister(open_consent_database(database_url))


@pytest.fixture
def served(register: ConsentRegister):
    app = WebhookApp(register, SECRET, [], max_body_bytes=10_000)
    with WebhookServer(app, port=0) as server:
        yield server


def delivery() -> bytes:
    subscriber = MailerLiteServer().unsubscribe(LARS_ID)
    return json.dumps(webhook_payload(subscriber, "subscriber.unsubscribed")).encode()


def raw_post(server: WebhookServer, headers: list[bytes], body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these header lines (bytes, unchecked by any client library); return the
    status code and the answer's body. The request says ``Connection: close`` rather than
    half-closing the socket: uvicorn takes a half-close for a client gone away."""
    head = b"".join(line + b"\r\n" for line in [
        f"POST {server.app.path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close",
        *headers])
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(head + b"\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("signature", [
    "\u00e9" * 64,  # sent as UTF-8 bytes, read back as Latin-1 text
    "\u00ff" + "a" * 63,
    "\u2603",
])
def test_a_non_ascii_signature_is_401_not_500(served, register, caplog,
                                              signature: str) -> None:
    body = delivery()
    before = register.snapshot()
    with caplog.at_level(logging.WARNING, logger="hub.consent.webhook"):
        status, answer = raw_post(served, [
            b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode(),
            b"Signature: " + signature.encode()], body)
    assert (status, json.loads(answer)) == (401, {"error": "invalid signature"})
    assert register.snapshot() == before
    assert "Traceback" not in caplog.text and "could not apply" not in caplog.text


def test_verify_says_no_to_non_ascii_and_blank_secrets() -> None:
    body = b"{}"
    assert MAILERLITE_WEBHOOK.verify(body, sign(body, SECRET), SECRET)
    assert not MAILERLITE_WEBHOOK.verify(body, "\u00e9" * 64, SECRET)
    assert not MAILERLITE_WEBHOOK.verify(body, sign(body, "   "), "   ")
    assert not MAILERLITE_WEBHOOK.verify(body, sign(body, "\t\n"), "\t\n")


MALFORMED_LENGTHS = [
    b"\xc2\xb2",  # '²': str.isdigit() says yes, int() says no
    b"\xd9\xa3",  # an Arabic-Indic three
    b"9" * 5000,  # more digits than int() converts
    b"-1", b"+5", b"0x10", b"1e3", b"", b"12abc",
]

#: uvicorn's own refusal of a request h11 cannot frame, sent before the route runs
SERVER_REFUSAL = b"Invalid HTTP request received."


@pytest.mark.parametrize("length", MALFORMED_LENGTHS)
def test_a_malformed_content_length_is_400(served, register, length: bytes) -> None:
    body = delivery()
    before = register.snapshot()
    status, answer = raw_post(served, [b"Content-Length: " + length,
                                       b"Signature: " + sign(body, SECRET).encode()], body)
    assert status == 400
    assert answer in (SERVER_REFUSAL, b'{"error": "malformed Content-Length"}')
    assert register.snapshot() == before


def _through_the_route(app: WebhookApp, headers: list[tuple[bytes, bytes]], body: bytes,
                       method: str = "POST") -> tuple[int, dict, list[tuple[bytes, bytes]]]:
    """The route's own answer, whatever server runs it (uvicorn refuses some of these shapes
    before the route sees them; another ASGI server may not)."""
    sent: list[dict] = []
    parts = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": app.path, "headers": headers}
    asyncio.run(deliver(app, scope, receive, send))
    return (sent[0]["status"], json.loads(sent[1]["body"]), sent[0]["headers"])


@pytest.mark.parametrize("length", MALFORMED_LENGTHS)
def test_the_route_itself_refuses_a_malformed_content_length(register, length: bytes) -> None:
    body = delivery()
    app = WebhookApp(register, SECRET, [], max_body_bytes=10_000)
    before = register.snapshot()
    status, answer, headers = _through_the_route(
        app, [(b"content-length", length), (b"signature", sign(body, SECRET).encode())], body)
    assert (status, answer) == (400, {"error": "malformed Content-Length"})
    assert (b"connection", b"close") in headers
    assert register.snapshot() == before


def test_the_route_itself_refuses_two_lengths_a_short_body_and_a_missing_length(
        register) -> None:
    body = delivery()
    app = WebhookApp(register, SECRET, [], max_body_bytes=10_000)
    signature = (b"signature", sign(body, SECRET).encode())
    two = [(b"content-length", str(len(body)).encode()), (b"content-length", b"5"), signature]
    assert _through_the_route(app, two, body)[:2] == (400, {"error": "malformed Content-Length"})
    longer = [(b"content-length", str(len(body) + 10).encode()), signature]
    assert _through_the_route(app, longer, body)[:2] == (
        400, {"error": "the body is shorter than its Content-Length"})
    assert _through_the_route(app, [signature], body)[:2] == (
        411, {"error": "Content-Length required"})
    huge = [(b"content-length", b"999999999999")]
    assert _through_the_route(app, huge, b"", method="GET")[:2] == (
        413, {"error": "body too large"})
    assert register.snapshot()["events"] == []


def test_two_different_content_lengths_are_400(served, register) -> None:
    body = delivery()
    status, _ = raw_post(served, [b"Content-Length: " + str(len(body)).encode(),
                                  b"Content-Length: 5",
                                  b"Signature: " + sign(body, SECRET).encode()], body)
    assert status == 400
    assert register.snapshot()["events"] == []


def test_a_body_shorter_than_announced_is_400(served, monkeypatch) -> None:
    monkeypatch.setattr(webhook_route, "BODY_TIMEOUT_SECONDS", 1.0)  # the rest never comes
    body = delivery()
    status, _ = raw_post(served, [b"Content-Length: " + str(len(body) + 10).encode(),
                                  b"Signature: " + sign(body, SECRET).encode()], body)
    assert status == 400


def test_the_size_limit_holds_for_every_method(served) -> None:
    with socket.create_connection((served.host, served.port), timeout=10) as connection:
        connection.sendall(f"GET {served.app.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: 999999999999\r\n\r\n".encode())
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_well_formed_delivery_still_applies(served, register) -> None:
    body = delivery()
    status, answer = raw_post(served, [b"Content-Length: " + str(len(body)).encode(),
                                       b"Signature: " + sign(body, SECRET).upper().encode()],
                              body)
    assert (status, json.loads(answer)["changes"]) == (200, 1)
    assert send_webhook(served.url, SECRET, body)[1]["status"] == "duplicate"


@pytest.mark.parametrize("secret", ["", " ", "   \t\n"])
def test_a_blank_secret_is_refused_by_the_app(register, secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookApp(register, secret, [])


@pytest.mark.database
def test_cli_serve_refuses_a_whitespace_secret(tmp_path: Path) -> None:
    boot = ("import sys\nfrom hub import cli\nfrom hub.cli.consent import wire\n"
            "wire(cli.app)\ncli.main()\n")
    env = hub_environment()
    env["DSAR_STATE_DIR"] = str(tmp_path)
    env["DSAR_CONSENT__WEBHOOK_SECRET"] = "   "
    refused = subprocess.run([sys.executable, "-c", boot, "webhook", "serve", "--port", "0"],  # noqa: S603
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2, refused.stderr
    assert "DSAR_CONSENT__WEBHOOK_SECRET" in refused.stderr
    assert "Listening" not in refused.stderr
