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

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from connectors.sdk.history import HistoryPage, HistorySource, IndexEntry
from hub.store.keyed import Pseudonymiser
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
            return len(session.scalars(select(HistoryObject.object_id)
                                       .where(HistoryObject.source == source)).all())

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
        """Read what is newer than the stored mark into the index; returns the pages read."""
        pages = 0
        async for page in source.history_pages(self.mark(source.history_name)):
            self._store(source.history_name, page)
            pages += 1
        return pages

    def _store(self, source: str, page: HistoryPage) -> None:
        # Hashed before the transaction: the first use of the secret checks its fingerprint
        # in a session of its own, which on SQLite would wait for this one's write lock.
        hashed = {entry.object_id: sorted({self.term_hash(t) for t in entry.terms})
                  for entry in page.entries}
        ids = list(hashed)
        with Session(self.engine) as session, session.begin():
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
        self.clear(source.history_name)
        return await self.refresh(source)
