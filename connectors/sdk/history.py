"""Histories read once and shared by every lookup of a batch.

Why: some processors cannot be searched by person (Zettle's receipts name nobody; Stripe's
guest charges are only found by reading the newest charges), so a lookup reads the processor's
whole history and matches locally. Each lookup opens its own connector instances, so without a
shared place ``dsar lookup --batch`` of ten addresses would read the same history ten times:
minutes of requests at a processor's rate limit, for the same bytes.

The hub passes one :class:`HistoryCache` to every connector of a batch as the connector option
``history_cache`` (a connector names it in ``init_options``); a connector given none keeps a
private one, so a single lookup behaves as before. A connector chooses the key (its name, the
account's base URL and what was read: window, cap), and :meth:`HistoryCache.read_once` runs
the read at most once per key: concurrent lookups asking for the same key wait for the first
read instead of starting their own. A read that fails is not kept, so the next lookup tries
again. The cache lives only as long as the batch: nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from hub.core.models import Record
from hub.core.subject import Identifier, address_key, mailbox_key


class HistoryCache:
    """What was read of each unsearchable history, by a key the connector chooses."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        #: how many times each key was actually read (not served from the cache)
        self.reads: dict[Hashable, int] = {}

    async def read_once(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        """The value read for ``key``, reading it with ``read()`` only the first time."""
        if key in self._values:
            return self._values[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._values:
                value = await read()
                self.reads[key] = self.reads.get(key, 0) + 1
                self._values[key] = value
            return self._values[key]


# ------------------------------------------------------------------- the hub's local index
# A processor whose history cannot be searched can instead be read incrementally into the hub's
# own index (hub.store.history_index): per object only keyed hashes of the identifiers found
# in it, and its id, day, amount and currency. The connector knows the processor's paging and
# where identifiers sit; the hub stores, matches and forgets. A lookup then reads only what is
# newer than the source's mark, and fetches just the objects that match.


def index_term(kind: str, value: str) -> str:
    """One identifier as the index hashes it: ``kind:value``, the value already in the
    normal form the hub compares (an e-mail address by ``address_key``, a phone number in
    E.164, a personnummer as twelve digits, a card's ``panHash`` as given)."""
    return f"{kind}:{value}"


def identifier_term(kind: str, value: str) -> str | None:
    """The :func:`index_term` of one identifier as found anywhere (a subject's, or a token in a
    processor's free text), so both sides hash the same form; None if it is not valid."""
    if kind == "email":
        return index_term("email", address_key(value)) if "@" in value else None
    found = Identifier.found(kind, value, "index")
    return None if found is None else index_term(kind, found.value)


def email_terms(address: str) -> set[str]:
    """The terms of one e-mail address: its :func:`identifier_term`, and its loosest form
    (``mailbox:``, :func:`hub.core.subject.mailbox_key`), so the index finds the plus-address
    and look-alike spellings a full scan would have matched too."""
    term = identifier_term("email", address)
    return set() if term is None else {term, index_term("mailbox", mailbox_key(address))}


def subject_terms(identifiers: Iterable[Identifier], email: str | None = None) -> set[str]:
    """The :func:`index_term` strings of a subject's identifiers (what the index is asked for,
    and what is forgotten after their erasure)."""
    pairs = [(i.kind, i.value) for i in identifiers] + ([("email", email)] if email else [])
    terms = {term for kind, value in pairs
             if kind in ("phone", "personnummer")
             and (term := identifier_term(kind, value)) is not None}
    return terms.union(*(email_terms(value) for kind, value in pairs if kind == "email"))


@dataclass(frozen=True)
class IndexEntry:
    """What the index keeps of one object: never the object itself, never clear text."""

    object_id: str
    #: the day the object was made (a receipt's purchase day, a charge's creation day)
    day: date | None
    #: the amount in minor units (öre, cents) and its ISO 4217 code, when it has one
    amount_minor: int | None
    currency: str | None
    #: :func:`index_term` strings of the identifiers found in it; hashed by the hub
    terms: frozenset[str]


@dataclass(frozen=True)
class HistoryPage:
    """One page of objects newer than the mark, and the mark to resume from after it."""

    entries: list[IndexEntry]
    #: JSON-compatible, opaque to the hub (Zettle: a purchase hash; Stripe: an object id);
    #: None keeps the stored mark (a first read newest-first knows its mark only at the end)
    mark: Any


@runtime_checkable
class HistorySource(Protocol):
    """A processor history that the hub indexes incrementally (see above)."""

    #: names the history in the index ("zettle.purchases"); unique per processor account
    history_name: str

    def history_pages(self, since_mark: Any) -> AsyncIterator[HistoryPage]:
        """Pages of the objects newer than ``since_mark`` (None: the whole history), oldest
        page first, so the hub can store each page's mark as soon as the page is stored."""
        ...

    async def fetch(self, object_ids: Sequence[str]) -> list[Record]:
        """The objects with these ids, as records for the report (only the matches)."""
        ...


def history_sources_of(connector: object) -> list[HistorySource]:
    """The connector's :class:`HistorySource` objects, if it declares them as
    ``history_source`` (a ``"module:name"`` path to a callable that takes the open connector and
    returns one source or a list of them), else none. A path rather than a class, so the
    connector's module need not import the module that indexes it."""
    path = getattr(connector, "history_source", None)
    if not isinstance(path, str) or ":" not in path:
        return []
    module, _, name = path.partition(":")
    made = getattr(importlib.import_module(module), name)(connector)
    sources = made if isinstance(made, list) else [made]
    for source in sources:
        if not isinstance(source, HistorySource):
            raise TypeError(f"{path} made {type(source).__name__}, not a HistorySource")
    return sources


@dataclass(frozen=True)
class PaymentQuery:
    """A payment of the subject found elsewhere, as the index is asked for it: the objects of
    this amount and currency made within ``days_either_side`` of ``day`` (a day either side by
    default: an instant's calendar day differs between UTC and the till's time zone)."""

    day: date
    amount_minor: int
    currency: str
    days_either_side: int = 1


@runtime_checkable
class HistoryLookup(Protocol):
    """What the hub offers a connector for its indexed histories (the connector option
    ``history_index``): bring a history up to date, then ask it instead of reading it.

    Why a protocol: the index lives in the hub's database (:mod:`hub.store.history_index`),
    which a connector must not import. A connector given none reads the whole history as
    before (unit tests, a connector used without the hub). Every method is awaited: the
    database is asked off the event loop, because a lookup's other connectors keep working
    meanwhile (a token refresh may hold the database's write lock while it awaits the
    processor, and a blocking call here would stop the loop that refresh needs).
    """

    async def refresh(self, source: HistorySource) -> int:
        """Read what is newer than the stored mark; the hub runs this once per batch and
        history, so lookups that ask again get the same refresh. Returns the pages read."""
        ...

    async def matching(self, history: str, terms: Iterable[str]) -> list[str]:
        """Ids of the objects holding any of these :func:`index_term` strings."""
        ...

    async def objects(self, history: str, object_ids: Iterable[str]) -> list[IndexEntry]:
        """Day, amount and currency of these objects (their terms are not given out)."""
        ...

    async def paid(self, history: str, payments: Sequence[PaymentQuery]) -> list[IndexEntry]:
        """The objects that could be one of these payments (amount, currency, day ± n)."""
        ...

    async def count(self, history: str) -> int:
        """How many objects of the history are indexed."""
        ...

    async def oldest_day(self, history: str) -> date | None:
        """The day of the oldest indexed object (None: nothing indexed)."""
        ...
