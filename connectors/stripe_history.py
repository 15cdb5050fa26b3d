"""Stripe's charges and payment intents as :class:`~connectors.sdk.history.HistorySource`
objects: guest payments are found by the hub's index instead of reading the newest 10,000 of
each on every lookup.

Paging follows Stripe's list API (https://docs.stripe.com/api/pagination): lists are newest
first; ``starting_after=<id>`` continues to older objects, ``ending_before=<id>`` returns the
objects just newer than ``<id>`` (still newest first) with ``has_more`` when there are more
newer ones. The first read walks newest first with ``starting_after`` up to
``guest_scan_max_objects`` and stores the newest id as the mark only once every page is stored
(an interrupted first read starts over); later refreshes ask ``ending_before=<mark>`` and move
the mark to each page's newest object, oldest page first: usually one request that returns
nothing. The objects matching a subject are then retrieved by id
(https://docs.stripe.com/api/charges/retrieve, /api/payment_intents/retrieve).

What the index gets per object: its id, creation day (UTC), amount (minor units) and currency,
and the payer's ``billing_details.email`` / ``receipt_email`` / ``billing_details.phone`` as
:func:`~connectors.sdk.history.index_term` strings for the hub to hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.history import HistoryPage, IndexEntry, email_terms, identifier_term
from connectors.sdk.paths import path_segment
from connectors.stripe import StripeConnector
from connectors.stripe_records import payer_addresses, stripe_record
from hub.core.errors import ProtocolError
from hub.core.models import Record
from hub.core.subject import MatchStrength
from hub.http import raise_for_response, read_json

PAGE = 100


def payer_terms(obj: dict[str, Any]) -> frozenset[str]:
    """The index terms of the payer identifiers a charge or payment intent holds."""
    terms = set().union(*(email_terms(address) for address in payer_addresses(obj)))
    billing = obj.get("billing_details")
    phone = billing.get("phone") if isinstance(billing, dict) else None
    if isinstance(phone, str) and (term := identifier_term("phone", phone)) is not None:
        terms.add(term)
    return frozenset(terms)


def entry_of(obj: dict[str, Any]) -> IndexEntry:
    created, amount = obj.get("created"), obj.get("amount")
    return IndexEntry(
        object_id=str(obj["id"]),
        day=(datetime.fromtimestamp(created, tz=UTC).date()
             if isinstance(created, int) and not isinstance(created, bool) else None),
        amount_minor=amount if isinstance(amount, int) and not isinstance(amount, bool)
        else None,
        currency=str(obj.get("currency") or "").upper()[:3] or None,
        terms=payer_terms(obj))


class StripeHistory:
    """One of Stripe's unsearchable lists (``charge`` or ``payment_intent``) of one account."""

    def __init__(self, connector: StripeConnector, kind: str) -> None:
        self.connector, self.kind = connector, kind
        self.history_name = f"stripe.{kind}s"
        root = connector.settings.base_url.rstrip("/").removesuffix("/v1")
        self.url = f"{root}/v1/{kind}s"

    async def _get(self, url: str, params: dict[str, str] | None = None) -> Any:
        settings = self.connector.settings
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        headers = {"Authorization": f"Bearer {key}"}
        if settings.api_version:
            headers["Stripe-Version"] = settings.api_version
        response = await self.connector._http.get(url, params=params, headers=headers)
        raise_for_response(response, "Stripe")
        return read_json(response, "Stripe")

    async def _page(self, params: dict[str, str]) -> tuple[list[dict[str, Any]], bool]:
        body = await self._get(self.url, {"limit": str(PAGE), **params})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(o, dict) and o.get("id")
                                                 for o in data):
            raise ProtocolError(f"Stripe answered a {self.kind} list without objects")
        return data, bool(body.get("has_more"))

    async def history_pages(self, since_mark: Any) -> AsyncIterator[HistoryPage]:
        if since_mark:
            mark = str(since_mark)
            while True:
                objects, more = await self._page({"ending_before": mark})
                if not objects:
                    return
                mark = str(objects[0]["id"])
                yield HistoryPage([entry_of(o) for o in objects], mark)
                if not more:
                    return
        cap = self.connector.settings.guest_scan_max_objects
        newest: str | None = None
        read, params = 0, dict[str, str]()
        while read < cap:
            objects, more = await self._page(params)
            objects = objects[:cap - read]
            if not objects:
                break
            newest = newest or str(objects[0]["id"])
            read += len(objects)
            last = not more or read >= cap
            yield HistoryPage([entry_of(o) for o in objects], newest if last else None)
            if last:
                return
            params = {"starting_after": str(objects[-1]["id"])}

    async def fetch(self, object_ids: Sequence[str]) -> list[Record]:
        """Each matching object retrieved by id, as the guest scan would have reported it."""
        return [stripe_record(self.kind, obj, "email", MatchStrength.EXACT)
                for obj in await self.fetch_objects(object_ids)]

    async def fetch_objects(self, object_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Each object retrieved by id (``GET /v1/charges/{id}``); one deleted meanwhile
        (404 ``resource_missing``) is left out: the index only remembered it."""
        found = []
        for object_id in object_ids:
            url = f"{self.url}/{path_segment(object_id, what=self.kind)}"
            try:
                obj = await self._get(url)
            except ProtocolError as exc:
                if exc.status_code != 404:
                    raise
                continue
            if isinstance(obj, dict) and obj.get("id"):
                found.append(obj)
        return found


def stripe_histories(connector: StripeConnector) -> list[StripeHistory]:
    """Both unsearchable lists: charges and payment intents."""
    return [StripeHistory(connector, "charge"), StripeHistory(connector, "payment_intent")]
