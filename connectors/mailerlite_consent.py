"""MailerLite as the consent sync's source: its subscriber lists and its signed webhooks, in the
neutral terms of :mod:`connectors.sdk.consent`.

What the subscriber API offers (developers.mailerlite.com/docs/subscribers)
    ``GET /api/subscribers`` with ``filter[status]`` (active, unsubscribed, unconfirmed,
    bounced, junk), ``limit`` and an opaque ``cursor``, newest first, i.e. in order of
    *creation* (subscriber id): a subscriber who unsubscribes today keeps their place deep in
    the list. There is no "updated since" filter. ``limit=0`` answers the count of a status.
    120 requests per minute per account, shared with every lookup and erasure. So the sync
    compares counts, reads the small lists whole and the large one (active, about 90 % of an
    account) only down to the highest subscriber id an earlier run saw: ids grow, so they are
    the position the high-water mark compares (:mod:`hub.consent.sync` has the strategy).

What the webhooks carry (developers.mailerlite.com/docs/webhooks)
    * a POST with a JSON body: one event with the subscriber's fields at the top level beside
      ``event`` / ``type`` and ``account_id``, the subscriber nested under ``subscriber`` for
      group and automation events, or ``{"events": [...], "total": N}`` for a ``batchable``
      webhook (required for ``subscriber.deleted``);
    * a ``Signature`` header: HMAC-SHA256 of the raw body under the webhook's secret, as hex
      (PHP ``hash_hmac('sha256', $payload, $secret)``). It is recomputed over the exact bytes
      received and compared in constant time;
    * an answer is expected within 3 seconds, else the delivery is retried (after 10, 100 and
      1000 seconds; a webhook failing for days is disabled).

Timestamps: list answers say ``2024-06-03 18:22:10`` (UTC), webhook bodies and SDK samples ISO
8601 (``2024-02-05T21:48:53.000000Z``). Both become the same ISO 8601 UTC instant, so the same
state read two ways has one fingerprint in the register.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from connectors.sdk.consent import (
    DELETED,
    EVIDENCE_FIELDS,
    ConsentPage,
    SubscriberState,
)

#: the statuses ``filter[status]`` accepts; every subscriber has exactly one
CONSENT_STATUSES = ("active", "unsubscribed", "unconfirmed", "bounced", "junk")
#: the list holding most subscribers: read from the top down to the high-water mark only
LARGE_STATUSES = frozenset({"active"})
SIGNATURE_HEADER = "Signature"
#: the status an event implies when its body does not carry one
EVENT_STATUS = {
    "subscriber.unsubscribed": "unsubscribed",
    "subscriber.bounced": "bounced",
    "subscriber.spam_reported": "junk",
    "subscriber.deleted": DELETED,
}


class SubscriberApi(Protocol):
    """The listing calls of :class:`connectors.mailerlite.MailerLiteConnector` this module
    reads through (named structurally, so the connector can hand itself over)."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def requests_sent(self) -> int: ...

    def subscriber_pages(self, status: str, *, cursor: str | None = None) -> Any: ...

    async def count_subscribers(self, status: str) -> int: ...

    async def get_subscriber(self, subscriber_id: str) -> dict[str, Any] | None: ...


def parse_time(value: Any) -> datetime | None:
    """A MailerLite timestamp (either spelling) as an aware UTC datetime; None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def subscriber_state(subscriber: dict[str, Any], *, status: str | None = None
                     ) -> SubscriberState:
    """A subscriber object of the API or a webhook as the sync sees it; ``status`` when the
    object itself does not say (a list filtered by status, an event that implies one)."""
    evidence: dict[str, str | None] = {}
    for name in EVIDENCE_FIELDS:
        if name not in subscriber:
            continue
        raw = subscriber[name]
        if name.endswith("_at"):
            evidence[name] = _iso(parse_time(raw))
        else:
            evidence[name] = raw if isinstance(raw, str) and raw else None
    subscriber_id = str(subscriber["id"])
    return SubscriberState(
        subscriber_id=subscriber_id,
        email=str(subscriber.get("email") or ""),
        status=str(status or subscriber.get("status") or ""),
        evidence=evidence,
        updated_at=parse_time(subscriber.get("updated_at")),
        position=int(subscriber_id) if subscriber_id.isdigit() else None,
    )


class MailerLiteConsentSource:
    """One MailerLite account's subscriber lists (a :class:`connectors.sdk.consent.
    ConsentSource`), read through an opened connector."""

    statuses = CONSENT_STATUSES
    large_statuses = LARGE_STATUSES

    def __init__(self, api: SubscriberApi) -> None:
        self._api = api
        self.name, self.title = api.name, api.title

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent

    async def pages(self, status: str, *, cursor: str | None = None
                    ) -> AsyncIterator[ConsentPage]:
        async for page in self._api.subscriber_pages(status, cursor=cursor):
            yield ConsentPage(
                states=[subscriber_state(s, status=s.get("status") or status)
                        for s in page.subscribers],
                next_cursor=page.next_cursor)

    async def count(self, status: str) -> int:
        return await self._api.count_subscribers(status)

    async def get(self, subscriber_id: str) -> SubscriberState | None:
        subscriber = await self._api.get_subscriber(subscriber_id)
        return subscriber_state(subscriber) if subscriber is not None else None


def sign(body: bytes, secret: str) -> str:
    """The ``Signature`` MailerLite sends for ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class MailerLiteWebhook:
    """MailerLite's subscriber webhooks (a :class:`connectors.sdk.consent.ConsentWebhook`)."""

    signature_header = SIGNATURE_HEADER

    def verify(self, body: bytes, signature: str | None, secret: str) -> bool:
        """True when ``signature`` is the HMAC-SHA256 of ``body`` under ``secret`` (constant
        time, any case of hex). An empty or blank secret or signature never verifies: a
        blank key would let anyone sign. A header that is not ASCII (the HTTP server hands
        undecodable bytes over as Latin-1 text) is simply wrong, never an error:
        ``compare_digest`` refuses non-ASCII text with a ``TypeError``."""
        if not secret or not secret.strip() or not signature:
            return False
        given = signature.strip().lower()
        if not given.isascii():
            return False
        return hmac.compare_digest(sign(body, secret).encode(), given.encode())

    def states(self, payload: Any) -> list[SubscriberState]:
        """The subscribers in a flat, nested or batched delivery; events that are not about a
        subscriber (campaigns) yield nothing."""
        batch = payload.get("events") if isinstance(payload, dict) else None
        items: list[Any] = batch if isinstance(batch, list) else [payload]
        found: list[SubscriberState] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            event = str(item.get("event") or item.get("type") or "")
            if event and not event.startswith("subscriber."):
                continue
            subscriber = item["subscriber"] if isinstance(item.get("subscriber"), dict) else item
            if "id" not in subscriber:
                continue
            status = EVENT_STATUS.get(event) if event == "subscriber.deleted" else (
                subscriber.get("status") or EVENT_STATUS.get(event))
            if status == DELETED:
                found.append(SubscriberState(subscriber_id=str(subscriber["id"]),
                                             email=str(subscriber.get("email") or ""),
                                             status=DELETED))
            elif status in CONSENT_STATUSES:
                found.append(subscriber_state(subscriber, status=status))
        return found


MAILERLITE_WEBHOOK = MailerLiteWebhook()
