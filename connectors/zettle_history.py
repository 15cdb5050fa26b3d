"""Zettle's receipts as a :class:`~connectors.sdk.history.HistorySource`: read incrementally
into the hub's index instead of the whole window on every lookup.

Paging follows the Purchase API reference (https://developer.zettle.com/docs/api/purchase/
api-reference-md): ``GET /purchases/v2`` oldest first (``descending=false``) from the start of
the bookkeeping window, each next page asked for with the previous answer's
``lastPurchaseHash``; an empty page ends the listing. The mark is the ``lastPurchaseHash`` of the
newest page stored, so the next refresh asks only for purchases after it: usually no purchase or
one page. The API has no endpoint for one purchase by id, so :meth:`ZettleHistory.fetch` reads
the days the matching receipts were rung up on (``startDate``/``endDate`` of those days).

What the index gets per receipt: its ``purchaseUUID1``, local day, amount (öre) and currency,
and the identifiers written in its free texts (the same fields :func:`connectors.zettle.
find_mentions` reads: e-mail-shaped tokens, phone numbers libphonenumber finds, personnummer)
and its cards' ``panHash``, each only as :func:`~connectors.sdk.history.index_term` for the hub
to hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from connectors.sdk.history import HistoryPage, IndexEntry, identifier_term, index_term
from connectors.zettle import (
    _EMAIL_TOKEN,
    _PERSONNUMMER_TOKEN,
    _SEVEN_DIGITS,
    _UUID,
    Mention,
    PurchaseHashPaginator,
    ZettleConnector,
    _purchases_of,
    card_hashes,
    free_texts,
    purchase_id,
    purchase_record,
    receipt_day,
)
from hub.core.models import Record
from hub.core.subject import MatchStrength

Purchase = dict[str, Any]


def purchase_terms(purchase: Purchase) -> frozenset[str]:
    """The index terms of every identifier written on a receipt, and of its cards."""
    region = str(purchase.get("country") or "SE")
    terms: set[str] = set()
    for _, text in free_texts(purchase):
        if "@" in text:
            terms.update(t for token in _EMAIL_TOKEN.findall(text)
                         if (t := identifier_term("email", token)) is not None)
        if _UUID.fullmatch(text.strip()) or not _SEVEN_DIGITS.search(text):
            continue
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if (term := identifier_term("phone", e164)) is not None:
                terms.add(term)
        terms.update(t for raw in _PERSONNUMMER_TOKEN.findall(text)
                     if (t := identifier_term("personnummer", raw)) is not None)
    terms.update(index_term("card", card) for card in card_hashes(purchase))
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
                     ) -> AsyncIterator[tuple[list[Purchase], str | None]]:
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
        """The receipts with these ids, from the pages of the ``days`` they were rung up on
        (the index knows them); the whole window when no day is given."""
        wanted = set(object_ids)
        found: list[Record] = []
        spans = ([(d - timedelta(days=1), d + timedelta(days=2)) for d in sorted(set(days))]
                 or [self.connector.window()])  # a day either side: UTC vs local time
        for first, after in spans:
            params = {"startDate": first.isoformat(), "endDate": after.isoformat(),
                      "limit": str(self.connector.settings.limit), "descending": "false"}
            async for purchases, _ in self._pages(params, None):
                for purchase in purchases:
                    key = purchase_id(purchase)
                    if key in wanted:
                        wanted.discard(key)
                        found.append(_indexed_record(purchase))
            if not wanted:
                break
        return found


def _indexed_record(purchase: Purchase) -> Record:
    return purchase_record(purchase, Mention("index", MatchStrength.DERIVED, ""))
