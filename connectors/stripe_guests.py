"""Stripe's guest payments: charges and payment intents that no Customer holds.

Neither the list nor the search API filters charges or payment intents by e-mail, so a guest
payment is found by its payer's ``billing_details.email`` / ``receipt_email``
(:func:`connectors.stripe_records.payer_addresses`), either

- through the hub's index (the connector option ``history_index``;
  :mod:`connectors.stripe_history` indexes the lists): the index is brought up to date (once per
  batch: ``ending_before`` the newest object indexed, usually one request), asked for the
  subject's address terms, and only the matching objects are retrieved by id
  (https://docs.stripe.com/api/charges/retrieve, /api/payment_intents/retrieve) and confirmed
  against the subject, so an index hit the object no longer bears out is dropped; or
- without an index (a connector used without the hub), by reading the newest
  ``guest_scan_max_objects`` of each list, once per batch
  (:class:`~connectors.sdk.history.HistoryCache`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol

from connectors.sdk.base import Findings
from connectors.sdk.history import HistoryLookup, HistorySource, email_terms
from connectors.stripe_records import best_match, payer_addresses, stripe_record
from hub.core.models import Record
from hub.core.subject import Subject

#: the unsearchable lists, by record type
GUEST_KINDS = ("charge", "payment_intent")


class ObjectSource(HistorySource, Protocol):
    """A guest list's :class:`~connectors.sdk.history.HistorySource` that also retrieves the
    objects themselves (:class:`connectors.stripe_history.StripeHistory`)."""

    kind: str

    async def fetch_objects(self, object_ids: Sequence[str]) -> list[dict[str, Any]]:
        ...


def address_terms(subject: Subject) -> set[str]:
    """The index terms of every address the subject is known by (guest payments are matched
    by address only, as the scan does)."""
    addresses = [subject.email, *(i.value for i in subject.identifiers if i.kind == "email")]
    return set().union(*(email_terms(a) for a in addresses))


async def guest_payment_records(
    subject: Subject, limits: Findings, *, cap: int,
    scan: Callable[[str], Awaitable[list[dict[str, Any]]]],
    index: HistoryLookup | None = None, sources: Sequence[ObjectSource] = (),
    known: Collection[str] = (),
) -> list[Record]:
    """The subject's guest charges and payment intents: ``scan(kind)`` reads the newest
    ``cap`` objects of a list when there is no ``index``; with one, ``sources`` (one per list)
    are refreshed into it and only the matching objects are retrieved, except those already
    ``known`` (listed under the subject's customers: they are in the answer already)."""
    by_kind = {source.kind: source for source in sources}
    records: list[Record] = []
    for kind in GUEST_KINDS:
        source = by_kind.get(kind)
        if index is not None and source is not None:
            await index.refresh(source)
            ids = [i for i in await index.matching(source.history_name,
                                                   address_terms(subject)) if i not in known]
            objects = await source.fetch_objects(ids) if ids else []
            count = await index.count(source.history_name)
        else:
            objects = await scan(kind)
            count = len(objects)
        for obj in objects:
            strength = best_match(subject, payer_addresses(obj))
            if strength:
                records.append(stripe_record(kind, obj, "email", strength))
        if count >= cap:
            limits.note(f"Only the newest {cap} {kind.replace('_', ' ')}s were scanned for "
                        "guest payments (guest_scan_max_objects); older ones were not.",
                        "stripe.guest_scan_capped", incomplete=True)
    return records
