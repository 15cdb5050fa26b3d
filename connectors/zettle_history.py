"""Zettle's receipts as a :class:`~connectors.sdk.history.HistorySource`: read incrementally
into the hub's index instead of the whole window on every lookup.

Paging follows the Purchase API reference (https://developer.zettle.com/docs/api/purchase/
api-reference-md): ``GET /purchases/v2`` oldest first (``descending=false``) from the start of
the bookkeeping window, each next page asked for with the previous answer's
``lastPurchaseHash``; an empty page ends the listing. The mark is the ``lastPurchaseHash`` of the
newest page stored, so the next refresh asks only for purchases after it: usually no purchase or
one page. The matching receipts are then read by the days they were rung up on
(``startDate``/``endDate`` of those days, neighbouring days in one request) rather than one by
one with ``GET /purchase/v2/{purchaseUuid}`` (iZettle/api-documentation ``purchase.adoc``,
"Fetch purchase by id"): the receipts tied by a payment are candidates of one amount on a day
either side, several to a day, and the listing endpoint is the one every Zettle-compatible
server we meet serves.

What the index gets per receipt: its ``purchaseUUID1``, local day, amount (öre) and currency,
and the identifiers written in its free texts (the same fields :func:`connectors.zettle.
find_mentions` reads: e-mail-shaped tokens, phone numbers libphonenumber finds, personnummer)
and its cards' ``panHash``, each only as :func:`~connectors.sdk.history.index_term` for the hub
to hash.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from connectors.sdk.history import HistoryPage, IndexEntry, email_terms, identifier_term
from connectors.zettle import PurchaseHashPaginator, ZettleConnector, _purchases_of
from connectors.zettle_matching import (
    EMAIL_TOKEN,
    PERSONNUMMER_TOKEN,
    SEVEN_DIGITS,
    UUID_TEXT,
    Mention,
    Purchase,
    card_terms,
    free_texts,
    purchase_id,
    purchase_record,
    receipt_day,
)
from hub.core.models import Record
from hub.core.subject import MatchStrength


def purchase_terms(purchase: Purchase) -> frozenset[str]:
    """The index terms of every identifier written on a receipt, and of its cards."""
    region = str(purchase.get("country") or "SE")
    terms: set[str] = set()
    for _, text in free_texts(purchase):
        if "@" in text:
            terms.update(*(email_terms(token) for token in EMAIL_TOKEN.findall(text)))
        if UUID_TEXT.fullmatch(text.strip()) or not SEVEN_DIGITS.search(text):
            continue
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if (term := identifier_term("phone", e164)) is not None:
                terms.add(term)
        terms.update(t for raw in PERSONNUMMER_TOKEN.findall(text)
                     if (t := identifier_term("personnummer", raw)) is not None)
    terms.update(card_terms(purchase))
    return frozenset(terms)


class ZettleHistory:
    """The receipts of one Zettle account, read through an open :class:`ZettleConnector`."""

    history_name = "zettle.purchases"

    def __init__(self, connector: ZettleConnector) -> None:
        self.connector = connector
        self.zone = ZoneInfo(connector.settings.timezone)

    def entry(self, purchase: Purchase) -> IndexEntry:
        amount = purchase.get("amount")
        return IndexEntry(
            object_id=purchase_id(purchase) or "",
            day=receipt_day(purchase, self.zone),
            amount_minor=amount if isinstance(amount, int) and not isinstance(amount, bool)
            else None,
            currency=str(purchase.get("currency") or "").upper()[:3] or None,
            terms=purchase_terms(purchase))

    async def _pages(self, params: dict[str, str], cursor: str | None
                     ) -> AsyncGenerator[tuple[list[Purchase], str | None]]:
        paginator = PurchaseHashPaginator()
        settings = self.connector.settings
        while True:
            asked = {**params, **({"lastPurchaseHash": cursor} if cursor else {})}
            response = await self.connector._client.get(settings.purchases_endpoint,
                                                         params=asked)
            body = self.connector._body(response)
            purchases = _purchases_of(body)
            token = paginator.next_token(response, body, len(purchases))
            if token is None:
                return
            cursor = str(token)
            yield purchases, cursor

    async def history_pages(self, since_mark: Any) -> AsyncIterator[HistoryPage]:
        start, end = self.connector.window()
        params = {"startDate": start.isoformat(), "endDate": end.isoformat(),
                  "limit": str(self.connector.settings.limit), "descending": "false"}
        async for purchases, mark in self._pages(params, since_mark or None):
            yield HistoryPage([self.entry(p) for p in purchases], mark)

    async def fetch(self, object_ids: Sequence[str], days: Sequence[date] = ()) -> list[Record]:
        """The receipts with these ids, as records of the index's own match, read from the
        pages of the ``days`` they were rung up on; the whole window when no day is given."""
        wanted = set(object_ids)
        spans = [(first, after, wanted) for first, after in _spans(days)]
        return [_indexed_record(p) for p in await self._read(
            spans or [(*self.connector.window(), wanted)])]

    async def fetch_purchases(self, entries: Sequence[IndexEntry]) -> list[Purchase]:
        """The receipts of these index entries, each read from the pages of its day.

        A day is what the listing can be asked for: ``startDate``/``endDate`` a day either
        side (the index keeps the local day, the API filters in UTC), neighbouring days asked
        for in one span, and a span's paging stops as soon as its receipts are found. An entry
        without a day is looked for in the whole window."""
        dated = [(e.object_id, e.day) for e in entries if e.day is not None]
        spans = [(first, after, {key for key, day in dated
                                 if first < day < after - timedelta(days=1)})
                 for first, after in _spans([day for _, day in dated])]
        undated = {e.object_id for e in entries if e.day is None}
        if undated:
            spans.append((*self.connector.window(), undated))
        return await self._read(spans)

    async def _read(self, spans: list[tuple[date, date, set[str]]]) -> list[Purchase]:
        found: dict[str, Purchase] = {}
        for first, after, wanted in spans:
            wanted.difference_update(found)
            if not wanted:
                continue
            params = {"startDate": first.isoformat(), "endDate": after.isoformat(),
                      "limit": str(self.connector.settings.limit), "descending": "false"}
            pages = self._pages(params, None)
            try:
                async for purchases, _ in pages:
                    for purchase in purchases:
                        key = purchase_id(purchase) or ""
                        if key in wanted:
                            wanted.discard(key)
                            found[key] = purchase
                    if not wanted:  # all found: the page that would end the listing is not needed
                        break
            finally:
                await pages.aclose()
        return list(found.values())


def _spans(days: Sequence[date]) -> list[tuple[date, date]]:
    """[first, after) spans covering each day with a day either side, overlapping ones merged."""
    spans: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        first, after = day - timedelta(days=1), day + timedelta(days=2)
        if spans and first <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(after, spans[-1][1]))
        else:
            spans.append((first, after))
    return spans


def _indexed_record(purchase: Purchase) -> Record:
    return purchase_record(purchase, Mention("index", MatchStrength.DERIVED, ""))
