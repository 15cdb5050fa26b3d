"""``dsar webhook serve``: the consent source pushes subscriber events, the hub applies them at
once.

Why: polling (``dsar consent-sync``) finds an opt-out within minutes at best; a webhook carries
it within about a minute (MailerLite batches deliveries per minute) and costs no API requests.
The poll stays as the safety net: a delivery the source gave up on is found by the next sync.

How a delivery is signed and what it carries is the source connector's
(``Connector.consent_webhook``, :class:`connectors.sdk.consent.ConsentWebhook`; MailerLite's in
:mod:`connectors.mailerlite_consent`). A delivery whose signature does not verify is answered
401 and changes nothing. Sources wait only seconds for an answer before retrying, so the
handler only records (one transaction) and a background thread pushes opt-outs to the
destinations.

Replay protection. A signature that covers the body but no timestamp or nonce (MailerLite's)
stays valid forever for a captured delivery. Two defences: (1) the SHA-256 of every applied
body is stored; the same body again (an attacker's replay or the source's own retry) is
acknowledged with 200 but applied no second time; (2) the register ignores a picture of a
subscriber older than the one it holds (``updated_at``), so re-sent old events cannot roll a
newer state back. The endpoint should still sit behind a TLS reverse proxy: it binds to
127.0.0.1 by default.

Malformed requests. The endpoint faces the internet, so whatever a client sends is answered
with a 4xx and never reaches the 500 path (which tells the source to retry): a signature header
that is not ASCII is no signature (401), a ``Content-Length`` that is not plain ASCII digits,
appears twice with different values or promises more than arrives is 400, one above the limit
413 for every method. A blank secret would let anyone sign, so the server refuses to start
without a real one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine

from connectors.sdk.base import Connector
from connectors.sdk.consent import ConsentWebhook
from hub.config.consent import DEFAULT_SOURCE, DEFAULT_WEBHOOK_PATH, ConsentSettings
from hub.config.registry import discover
from hub.config.settings import HubSettings
from hub.consent.lock import SyncLock
from hub.consent.propagate import Propagator, resolve_destinations
from hub.consent.source import observation_of, source_webhook
from hub.consent.suppression import Suppression
from hub.core.errors import ConfigurationError
from hub.store.consent_register import ConsentRegister, Destination, Observation
from hub.store.keyed import secret_path
from hub.store.state import connector_state
from hub.store.suppression import SuppressionList

log = logging.getLogger(__name__)

#: a Content-Length the handler accepts: ASCII digits, short enough for ``int``
_LENGTH = re.compile(r"[0-9]{1,18}")


def installed_webhook(system: str) -> ConsentWebhook:
    """The webhook format of the installed connector named ``system``."""
    return source_webhook(discover().get(system), system)


def observations_from(payload: Any, system: str = DEFAULT_SOURCE,
                      webhook: ConsentWebhook | None = None) -> list[Observation]:
    """The subscriber pictures in a parsed delivery, as the register records them; events
    that are not about a subscriber's consent (campaigns) yield nothing. ``webhook`` is the
    source's format (default: the installed connector named ``system``)."""
    webhook = webhook or installed_webhook(system)
    return [observation_of(state, system) for state in webhook.states(payload)]


class WebhookApp:
    """The request handling, independent of the HTTP server (tested directly and served)."""

    def __init__(
        self,
        register: ConsentRegister,
        secret: str,
        destinations: Sequence[Destination],
        *,
        path: str = DEFAULT_WEBHOOK_PATH,
        max_body_bytes: int = 1_000_000,
        system: str = DEFAULT_SOURCE,
        system_title: str | None = None,
        webhook: ConsentWebhook | None = None,
        suppression: Any = None,
        on_recorded: Callable[[], None] | None = None,
    ) -> None:
        """``system`` names the source connector; its installed class gives the webhook
        format and title unless ``webhook`` and ``system_title`` are passed."""
        if not secret or not secret.strip():
            raise ValueError("a webhook secret is required (a blank one would let anyone sign)")
        self.register, self.secret, self.destinations = register, secret, list(destinations)
        self.path, self.max_body_bytes, self.system = path, max_body_bytes, system
        self.webhook = webhook or installed_webhook(system)
        self.system_title = system_title or getattr(discover().get(system), "title", system)
        self.suppression, self.on_recorded = suppression, on_recorded
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0}

    def handle(self, method: str, path: str, signature: str | None, body: bytes
               ) -> tuple[int, dict[str, Any]]:
        if path.split("?", 1)[0] != self.path:
            return 404, {"error": "not found"}
        if method != "POST":
            return 405, {"error": "use POST"}
        if signature is not None and not signature.isascii():
            signature = None  # header bytes that are not ASCII: no signature of any source
        if not self.webhook.verify(body, signature, self.secret):
            self.counts["rejected"] += 1
            log.warning("webhook: rejected a delivery with a missing or invalid %s header",
                        self.webhook.signature_header)
            return 401, {"error": "invalid signature"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        observations = observations_from(payload, self.system, self.webhook)
        digest = hashlib.sha256(body).hexdigest()
        restricted = self.suppression.restricted(observations) if self.suppression else set()
        free = [o for o in observations if o.email not in restricted]
        hashes = self.suppression.hashes(free) if self.suppression else None
        result = self.register.apply(
            free, via="webhook", destinations=self.destinations,
            suppressed_hashes=hashes,
            suppression_lookup=self.suppression.lookup if self.suppression else None,
            delivery_digest=digest, source_title=self.system_title)
        if restricted and not result.duplicate_delivery:
            # GDPR Art. 18, as in the sync (hub.consent.sync): recorded, no task that changes
            # the subscriber elsewhere, a return to consenting held for a person
            held = [o for o in observations if o.email in restricted]
            result.merge(self.register.apply(
                held, via="webhook", destinations=(),
                suppressed_hashes={o.email: o.email for o in held},
                suppression_lookup=Suppression.everyone, source_title=self.system_title))
        if result.duplicate_delivery:
            self.counts["duplicate"] += 1
            log.info("webhook: delivery %s already applied; acknowledged, nothing changed",
                     digest[:12])
            return 200, {"status": "duplicate", "changes": 0}
        self.counts["accepted"] += 1
        log.info("webhook: delivery %s applied: %d subscriber(s), %d change(s), %d stale",
                 digest[:12], len(observations), result.events, result.stale)
        if result.tasks.get("pending") and self.on_recorded is not None:
            self.on_recorded()
        return 200, {"status": "ok", "subscribers": len(observations),
                     "changes": result.events, "changes_by_kind": dict(result.kinds)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """No access log with client data; the app logs what matters."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _refuse(self, status: int, error: str) -> None:
        """Answer an unreadable request and drop the connection (its body was not read, so
        nothing after it on this connection can be trusted to start a new request)."""
        self.close_connection = True
        self._answer(status, {"error": error})

    def _body(self) -> bytes | None:
        """The request body, or None once a refusal has been answered.

        ``Content-Length`` must be plain ASCII digits (``str.isdigit`` also accepts ``²`` and
        other digits ``int`` refuses, and ``int`` refuses more than 4,300 of them); two
        different values are refused (the classic request-smuggling shape). The size limit
        holds for every method, so no request makes the server allocate what it announces.
        """
        values = self.headers.get_all("Content-Length") or []
        if not values:
            if self.command == "POST":
                self._refuse(411, "Content-Length required")
                return None
            return b""
        texts = {value.strip() for value in values}
        if len(texts) > 1 or not all(_LENGTH.fullmatch(text) for text in texts):
            self._refuse(400, "malformed Content-Length")
            return None
        length = int(texts.pop())
        if length > self.server.app.max_body_bytes:
            self._refuse(413, "body too large")
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self._refuse(400, "the body is shorter than its Content-Length")
            return None
        return body

    def _dispatch(self) -> None:
        app = self.server.app
        body = self._body()
        if body is None:
            return
        try:
            status, answer = app.handle(self.command, self.path,
                                        self.headers.get(app.webhook.signature_header), body)
        except Exception:  # answer 500 so the source retries; the next sync is the safety net
            log.exception("webhook: could not apply a delivery")
            status, answer = 500, {"error": "internal error; retry later"}
        self._answer(status, answer)

    do_POST = do_GET = do_PUT = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: WebhookApp


class PropagationWorker:
    """Pushes opt-outs recorded by webhooks in the background (the source waits only seconds
    for an answer)."""

    def __init__(self, run_once: Callable[[], Any]) -> None:
        self._run_once = run_once
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="consent-propagation",
                                        daemon=True)

    def start(self) -> PropagationWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._run_once()
            except Exception:  # never kill the worker: failed tasks stay for the next run
                log.exception("webhook: background propagation failed")


class WebhookServer:
    """The app on a threaded stdlib HTTP server (port 0 picks a free one, for tests)."""

    def __init__(self, app: WebhookApp, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.app, self.host, self.requested_port = app, host, port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the webhook server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.app.path}"

    def start(self) -> WebhookServer:
        httpd = _Server((self.host, self.requested_port), _Handler)
        httpd.app = self.app
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def build(settings: HubSettings, connectors: dict[str, type[Connector]],
          consent: ConsentSettings, engine: Engine, *, host: str | None = None,
          port: int | None = None) -> tuple[WebhookServer, PropagationWorker]:
    """The server and its propagation worker as ``dsar webhook serve`` runs them."""
    source = connectors.get(consent.source)
    title = getattr(source, "title", consent.source)
    if consent.webhook_secret is None or not consent.webhook_secret.get_secret_value().strip():
        raise ConfigurationError(f"set DSAR_CONSENT__WEBHOOK_SECRET (the secret {title} "
                                 "shows for the webhook) before serving webhooks; a blank one "
                                 "would let anyone sign a delivery")
    webhook = source_webhook(source, consent.source)
    register = ConsentRegister(engine)
    destinations, _ = resolve_destinations(settings, connectors, consent)
    path = secret_path(settings.state_dir)

    def propagate() -> None:
        lock = SyncLock(engine, settings.state_dir, "consent-sync.propagation")
        if not lock.acquire():
            return  # a consent-sync is propagating right now; it takes these tasks too
        try:
            asyncio.run(Propagator(register, destinations, settings, connectors,
                                   state=connector_state(engine, settings.state_dir)).run())
        finally:
            lock.release()

    worker = PropagationWorker(propagate)
    app = WebhookApp(register, consent.webhook_secret.get_secret_value(), destinations,
                     path=consent.webhook_path, max_body_bytes=consent.webhook_max_body_bytes,
                     system=consent.source, system_title=title, webhook=webhook,
                     suppression=Suppression(SuppressionList(engine, path), path),
                     on_recorded=worker.wake)
    server = WebhookServer(app, host or consent.webhook_host,
                           consent.webhook_port if port is None else port)
    return server, worker
