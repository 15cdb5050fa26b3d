"""The consent source's webhook (MailerLite's subscriber events) as a route of the web app:
``POST [consent] webhook_path`` (default ``/webhooks/mailerlite``).

What a delivery must carry and what applying it does is :class:`hub.consent.webhook.WebhookApp`
(the signature, the replay and stale-event rules); this module is its HTTP side, in one place
for both servers that run it: ``dsar serve`` (the inbox answers the path when
``DSAR_CONSENT__WEBHOOK_SECRET`` is set) and ``dsar webhook serve`` (the route alone, for a
machine that should not run the inbox). Nothing here knows about sessions.

Why the route sits in front of the inbox's guards. MailerLite cannot log in: a delivery
authenticates by its HMAC signature alone, so it is not a page and goes through no session or
CSRF check (both would refuse every delivery; the signature is the stronger check anyway, as it
covers the body). :class:`WebhookRoute` answers the path before the ``TrustedHostMiddleware``
too. That middleware protects the inbox on loopback from DNS rebinding (a web page that points
its own domain at 127.0.0.1 to read the inbox through the owner's browser); a reverse proxy that
forwards the public ``Host`` (nginx's common ``proxy_set_header Host $host``) would have every
delivery refused with 400, and MailerLite would disable the webhook after its retries. Skipping
it here gives nothing away: a rebound browser can send a delivery, but without the secret it
cannot sign one (401, nothing recorded), and the answer holds only counts. The security headers
still apply. Behind a proxy, publish only this path to the internet and keep the inbox's pages
private (e.g. nginx ``location = /webhooks/mailerlite { proxy_pass ...; }`` and nothing else).

Framing rules (the endpoint faces the internet; each of these refusals is a 4xx with a JSON
body that closes the connection, and none reaches the 500 path, which makes the source retry): a
``Content-Length`` that is not plain ASCII digits or appears twice with different values is
400; one above ``[consent] webhook_max_body_bytes`` is 413 for every method, before any of the
body is read, so no request makes the server hold what it announces; a POST without one is 411;
a body that ends before its announced length, or stops arriving for
:data:`BODY_TIMEOUT_SECONDS`, is 400. The HTTP server in front (uvicorn's h11)
refuses some of these shapes itself with a plain 400 before this code runs; both are refusals
that change nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.consent.database import open_consent_database
from hub.consent.webhook import PropagationWorker, WebhookApp, build
from hub.requests.context import RequestContext

log = logging.getLogger(__name__)

#: a Content-Length accepted: ASCII digits, short enough for ``int``
_LENGTH = re.compile(rb"[0-9]{1,18}")

#: A body that stops arriving for this long is refused (400): a client that announces more
#: than it sends must not hold the request open for ever.
BODY_TIMEOUT_SECONDS = 10.0


@dataclass
class Receiver:
    """The delivery handling and the worker that pushes the opt-outs it records."""

    app: WebhookApp
    worker: PropagationWorker | None = None


def webhook_receiver(ctx: RequestContext) -> Receiver | None:
    """The receiver for the inbox on ``ctx``, or None when no webhook secret is set (then the
    path is an ordinary unknown page). A secret of blanks raises ConfigurationError: it would
    let anyone sign."""
    consent = ctx.settings.consent
    if consent.webhook_secret is None:
        return None
    app, worker = build(ctx.settings, ctx.connectors, consent,
                        open_consent_database(ctx.ledger_url))
    return Receiver(app, worker)


async def _answer(send: Send, status: int, body: dict[str, Any], *, close: bool = False
                  ) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    if close:  # the body was not read: nothing after it on this connection can be trusted
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _announced(scope: Scope, limit: int) -> tuple[int | None, tuple[int, str] | None]:
    """(the announced body length, None) or (None, the refusal) under the framing rules."""
    values = {value.strip() for name, value in scope["headers"]
              if name.lower() == b"content-length"}
    if not values:
        if scope["method"] == "POST":
            return None, (411, "Content-Length required")
        return 0, None
    if len(values) > 1 or not all(_LENGTH.fullmatch(value) for value in values):
        return None, (400, "malformed Content-Length")
    length = int(values.pop())
    if length > limit:
        return None, (413, "body too large")
    return length, None


async def _body(receive: Receive, length: int) -> bytes | None:
    """Exactly ``length`` bytes of body, or None when the client sent fewer (or more)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            return None
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > length:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size == length else None


async def deliver(receiver: WebhookApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one request to the webhook's path (any method: ``receiver`` says 405)."""
    length, refusal = _announced(scope, receiver.max_body_bytes)
    if refusal is not None or length is None:
        status, error = refusal or (400, "malformed Content-Length")
        await _answer(send, status, {"error": error}, close=True)
        return
    body = await _body(receive, length)
    if body is None:
        await _answer(send, 400, {"error": "the body is shorter than its Content-Length"},
                      close=True)
        return
    wanted = receiver.webhook.signature_header.lower().encode("latin-1")
    signature = next((value.decode("latin-1") for name, value in scope["headers"]
                      if name.lower() == wanted), None)
    try:
        # the register's transaction blocks: off the event loop, so the inbox keeps answering
        status, answer = await run_in_threadpool(receiver.handle, scope["method"],
                                                 scope["path"], signature, body)
    except Exception:  # answer 500 so the source retries; the next sync is the safety net
        log.exception("webhook: could not apply a delivery")
        status, answer = 500, {"error": "internal error; retry later"}
    await _answer(send, status, answer)


class WebhookRoute:
    """ASGI middleware: requests to the receiver's path are deliveries (answered here, before
    the inbox's host check, session and CSRF: see the module docstring); everything else goes
    on to ``app``. Starts the propagation worker with the server and stops it with it."""

    def __init__(self, app: ASGIApp, receiver: Receiver | None) -> None:
        self.app, self.receiver = app, receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = self.receiver
        if receiver is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == receiver.app.path:
            await deliver(receiver.app, scope, receive, send)
        elif scope["type"] == "lifespan" and receiver.worker is not None:
            await self.app(scope, self._starting(receive, receiver.worker),
                           self._stopping(send, receiver.worker))
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _starting(receive: Receive, worker: PropagationWorker) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                worker.start()
                worker.wake()  # push what earlier deliveries left pending
            return message
        return wrapped

    @staticmethod
    def _stopping(send: Send, worker: PropagationWorker) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await run_in_threadpool(worker.stop)
            await send(message)
        return wrapped


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Everything but the webhook's path when the route is served alone; lifespan events
    are acknowledged so the middleware above sees them."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "http":
        await _answer(send, 404, {"error": "not found"})


def webhook_only(receiver: Receiver) -> ASGIApp:
    """The webhook route alone (``dsar webhook serve``): every other path is 404."""
    return WebhookRoute(_not_found, receiver)


class WebhookServer:
    """:func:`webhook_only` under uvicorn on a thread of its own (port 0 picks a free one).

    ``dsar webhook serve`` runs it this way so its main thread stays free for signals and the
    summary it prints at the end."""

    def __init__(self, app: WebhookApp, host: str = "127.0.0.1", port: int = 8787, *,
                 worker: PropagationWorker | None = None) -> None:
        self.app, self.host, self.requested_port, self.worker = app, host, port, worker
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the webhook server is not running")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.app.path}"

    def start(self) -> WebhookServer:
        """Bind (OSError when the address is taken), then serve until :meth:`stop`."""
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, self.requested_port), family=family)
        config = uvicorn.Config(webhook_only(Receiver(self.app, self.worker)),
                                log_level="warning", access_log=False, lifespan="on")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self._socket]},
                                        name="webhook", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            self._thread.join(0.02)
        if not server.started:
            raise RuntimeError("the webhook server did not start")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
