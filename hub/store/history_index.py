"""The local index of histories that cannot be searched by person, kept up to date
incrementally.

Why: Zettle's receipts (eight years of bookkeeping, ~146,000 receipts for a shop with 50 a day)
and Stripe's guest charges cannot be searched by person, so without an index every lookup reads
the whole history again. The index remembers per history how far it was read (the connector's
mark) and per object only what matching needs: its id, day, amount and currency, and keyed
hashes (HMAC under the hub's secret, :mod:`hub.store.keyed`) of the identifiers found in it.
Nothing readable about anyone is stored, so the index is no second copy of the processor's
personal data; without the secret a hash cannot be tied to a person.

The connector side is a :class:`connectors.sdk.history.HistorySource` (processor-specific paging
and identifier extraction); this module is generic: :meth:`HistoryIndex.refresh` reads only the
pages newer than the stored mark (storing each page and its mark in one transaction, so an
interrupted refresh resumes where it stopped), :meth:`HistoryIndex.matching` answers which
objects hold one of the subject's identifiers, :meth:`HistoryIndex.forget` removes a
subject's hashes after their erasure, and :meth:`HistoryIndex.clear` starts a history over
(``dsar index rebuild``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from connectors.sdk.history import (
    HistoryCache,
    HistoryPage,
    HistorySource,
    IndexEntry,
    PaymentQuery,
)
from hub.store.keyed import Pseudonymiser
from hub.store.locks import lock_key
from hub.store.tables import HistoryMark, HistoryObject, HistoryTerm

_LABEL = b"dsar-hub history index v1\x00"


class HistoryIndex:
    """The index in one database, hashing with that database's keyed-hash secret."""

    def __init__(self, engine: Engine, pseudonymiser: Pseudonymiser) -> None:
        self.engine, self.pseudonymiser = engine, pseudonymiser

    def term_hash(self, term: str) -> str:
        """The keyed hash of one :func:`connectors.sdk.history.index_term` (domain-separated
        from the suppression list's hashes, so the two cannot be joined)."""
        return hmac.new(self.pseudonymiser.secret(), _LABEL + term.encode(),
                        hashlib.sha256).hexdigest()

    # -- reading --------------------------------------------------------------------------------

    def mark(self, source: str) -> Any:
        """The stored resume point of ``source`` (None: never read)."""
        with Session(self.engine) as session:
            row = session.get(HistoryMark, source)
            return None if row is None else json.loads(row.mark)

    def count(self, source: str) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(HistoryObject)
                                      .where(HistoryObject.source == source)) or 0)

    def oldest_day(self, source: str) -> date | None:
        """The day of the oldest indexed object of ``source`` (None: nothing indexed)."""
        with Session(self.engine) as session:
            return session.scalar(select(func.min(HistoryObject.day))
                                  .where(HistoryObject.source == source))

    def paid(self, source: str, payments: Sequence[PaymentQuery]) -> list[IndexEntry]:
        """The objects of ``source`` that could be one of ``payments``: the same amount and
        currency, made within the payment's days either side. One query per 100 payments, each
        an OR of (amount, currency, day range) that the (source, amount, day) index answers
        without reading the history's other objects."""
        found: dict[str, IndexEntry] = {}
        wanted = list(dict.fromkeys(payments))
        with Session(self.engine) as session:
            for chunk in (wanted[i:i + 100] for i in range(0, len(wanted), 100)):
                rows = session.scalars(select(HistoryObject).where(
                    HistoryObject.source == source,
                    or_(*(and_(HistoryObject.amount_minor == p.amount_minor,
                               HistoryObject.currency == p.currency.upper(),
                               HistoryObject.day.between(
                                   p.day - timedelta(days=p.days_either_side),
                                   p.day + timedelta(days=p.days_either_side)))
                          for p in chunk)))).all()
                found.update((r.object_id, IndexEntry(r.object_id, r.day, r.amount_minor,
                                                      r.currency, frozenset())) for r in rows)
        return [found[key] for key in sorted(found)]

    def matching(self, source: str, terms: Iterable[str]) -> list[str]:
        """Ids of the objects of ``source`` holding any of ``terms``, oldest id order."""
        hashes = sorted({self.term_hash(t) for t in terms})
        if not hashes:
            return []
        with Session(self.engine) as session:
            ids = session.scalars(select(HistoryTerm.object_id).distinct()
                                  .where(HistoryTerm.source == source,
                                         HistoryTerm.term_hash.in_(hashes))).all()
        return sorted(ids)

    def objects(self, source: str, object_ids: Iterable[str]) -> list[IndexEntry]:
        """What the index holds of these objects (without their terms)."""
        wanted = sorted(set(object_ids))
        with Session(self.engine) as session:
            rows = session.scalars(select(HistoryObject).where(
                HistoryObject.source == source, HistoryObject.object_id.in_(wanted))).all()
            return [IndexEntry(r.object_id, r.day, r.amount_minor, r.currency, frozenset())
                    for r in rows]

    # -- writing --------------------------------------------------------------------------------

    async def refresh(self, source: HistorySource) -> int:
        """Read what is newer than the stored mark into the index; returns the pages read.
        The database work runs in a worker thread: on SQLite every transaction waits for the
        write lock, which another connector's token refresh may hold across an await, and
        waiting on the event loop would stop that refresh from ever finishing."""
        pages = 0
        mark = await asyncio.to_thread(self.mark, source.history_name)
        async for page in source.history_pages(mark):
            await asyncio.to_thread(self._store, source.history_name, page)
            pages += 1
        return pages

    def _store(self, source: str, page: HistoryPage) -> None:
        # Hashed before the transaction: the first use of the secret checks its fingerprint
        # in a session of its own, which on SQLite would wait for this one's write lock.
        hashed = {entry.object_id: sorted({self.term_hash(t) for t in entry.terms})
                  for entry in page.entries}
        ids = list(hashed)
        with Session(self.engine) as session, session.begin():
            # two lookups refreshing one history at once (two worker jobs) store the same page:
            # the second waits, then replaces the first one's rows instead of colliding on them
            lock_key(session, f"history index {source}")
            # an object read again (a page boundary, a rebuild) replaces its old rows; in bulk,
            # as a first read stores ~150 pages of 1,000 receipts
            for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
                for table in (HistoryTerm, HistoryObject):
                    session.execute(delete(table).where(table.source == source,
                                                        table.object_id.in_(chunk)))
            if page.entries:
                session.execute(insert(HistoryObject), [
                    {"source": source, "object_id": e.object_id, "day": e.day,
                     "amount_minor": e.amount_minor, "currency": e.currency}
                    for e in {e.object_id: e for e in page.entries}.values()])
            terms = [{"source": source, "object_id": object_id, "term_hash": term_hash}
                     for object_id, hashes in hashed.items() for term_hash in hashes]
            if terms:
                session.execute(insert(HistoryTerm), terms)
            if page.mark is not None:  # None: the resume point is known only later
                session.merge(HistoryMark(source=source, mark=json.dumps(page.mark),
                                          updated_at=datetime.now(UTC)))

    def forget(self, terms: Iterable[str]) -> int:
        """Remove these identifiers' hashes from every history (after the subject's erasure);
        the objects stay indexed without them. Returns the hashes removed."""
        hashes = sorted({self.term_hash(t) for t in terms})
        if not hashes:
            return 0
        with Session(self.engine) as session, session.begin():
            result = session.execute(delete(HistoryTerm).where(
                HistoryTerm.term_hash.in_(hashes)))
            return int(getattr(result, "rowcount", 0) or 0)

    def clear(self, source: str) -> None:
        """Forget everything of ``source`` and its mark: the next refresh reads it all."""
        with Session(self.engine) as session, session.begin():
            for table in (HistoryTerm, HistoryObject, HistoryMark):
                session.execute(delete(table).where(table.source == source))

    async def rebuild(self, source: HistorySource) -> int:
        """Read ``source`` into the index from scratch; returns the pages read."""
        await asyncio.to_thread(self.clear, source.history_name)
        return await self.refresh(source)


class BatchIndex:
    """The index as one batch of lookups sees it (:class:`connectors.sdk.history.HistoryLookup`):
    every connector instance of the batch asks to refresh, and only the first request per
    history reads the processor; the others wait for it and then share its result.

    Why not refresh per connector: each lookup of ``dsar lookup --batch`` opens its own
    connectors, and ten refreshes of one history would each ask the processor for what is new
    (usually nothing, but one request each, and the first read of a history would run ten
    times at once). The batch's :class:`~connectors.sdk.history.HistoryCache` holds the
    refresh as it holds a full read; a failed refresh is not kept, so the next asks again.
    """

    def __init__(self, index: HistoryIndex, cache: HistoryCache | None = None) -> None:
        self.index = index
        self.cache = cache or HistoryCache()

    async def refresh(self, source: HistorySource) -> int:
        key: Hashable = ("history index refresh", source.history_name)
        pages: int = await self.cache.read_once(key, lambda: self.index.refresh(source))
        return pages

    # the reads run in a worker thread, for the reason given in HistoryIndex.refresh
    async def matching(self, history: str, terms: Iterable[str]) -> list[str]:
        return await asyncio.to_thread(self.index.matching, history, list(terms))

    async def objects(self, history: str, object_ids: Iterable[str]) -> list[IndexEntry]:
        return await asyncio.to_thread(self.index.objects, history, list(object_ids))

    async def paid(self, history: str, payments: Sequence[PaymentQuery]) -> list[IndexEntry]:
        return await asyncio.to_thread(self.index.paid, history, payments)

    async def count(self, history: str) -> int:
        return await asyncio.to_thread(self.index.count, history)

    async def oldest_day(self, history: str) -> date | None:
        return await asyncio.to_thread(self.index.oldest_day, history)
