"""The consent source pushes subscriber events, the hub applies them at once: what a delivery
must carry to be applied, and what applying it does. The HTTP side (reading the body, its size
and framing rules, the route at ``[consent] webhook_path``) is :mod:`hub.web.webhook`, served
by ``dsar serve`` and by ``dsar webhook serve`` alike; this module knows no HTTP server.

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
newer state back. The endpoint should still sit behind a TLS reverse proxy.

Malformed requests. The endpoint faces the internet, so whatever a client sends is answered
with a 4xx and never reaches the 500 path (which tells the source to retry): a signature header
that is not ASCII is no signature (401), a body that is not JSON is 400 (the framing rules are
:mod:`hub.web.webhook`'s). A blank secret would let anyone sign, so :class:`WebhookApp` (and
:func:`build`) refuse one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
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
    """One delivery's handling, independent of the HTTP server (tested directly and served
    by :mod:`hub.web.webhook`)."""

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


def build(settings: HubSettings, connectors: dict[str, type[Connector]],
          consent: ConsentSettings, engine: Engine) -> tuple[WebhookApp, PropagationWorker]:
    """The delivery handling and its propagation worker, as ``dsar serve`` and
    ``dsar webhook serve`` run them (the HTTP side is :mod:`hub.web.webhook`)."""
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
    return app, worker
