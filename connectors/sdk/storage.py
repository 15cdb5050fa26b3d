"""A key-value store with an exclusive lock per key: what a connector keeps between runs.

Why: some processors hand out a value only once. Fortnox rotates its refresh token on every use
and warns that "if multiple instances of your integration attempt to refresh the token
simultaneously, it could result in token invalidation"
(https://www.fortnox.se/developer/authorization/get-refresh-token), so the newest token must
outlive the process and only one process at a time may spend it.

Connectors own no storage: the hub injects its durable store as the connector option ``state``
(:class:`hub.store.state.StateStore` fits :class:`KeyValueStore` structurally: a database row
lock per key), and :class:`MemoryStore` stands in for tests and one-off runs. The contract:

* ``get``/``put`` read and write one key's JSON-compatible value;
* ``locked(key)`` holds an exclusive lock on the key (across processes, for a durable store)
  for the whole ``with`` block. What the block ``set`` is kept when it ends normally and
  dropped when it raises, unless it called ``commit``, which makes it durable at once and keeps
  the lock: a token just received is saved before anything else can fail.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any, Protocol, runtime_checkable


class LockedEntry(Protocol):
    """The value of one key while its lock is held."""

    @property
    def value(self) -> Any:
        """The current value (None when the key has none)."""
        ...

    def set(self, value: Any) -> None:
        """Replace the value (JSON-compatible) within the lock."""
        ...

    def commit(self) -> None:
        """Make what was set durable now, keeping the lock for the rest of the block."""
        ...


@runtime_checkable
class KeyValueStore(Protocol):
    """Durable values by key, each with an exclusive lock (see the module docstring)."""

    def get(self, key: str) -> Any:
        """The value of ``key``, or None."""
        ...

    def put(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` under its lock."""
        ...

    def locked(self, key: str) -> AbstractContextManager[LockedEntry]:
        """Hold the lock of ``key``; keep what was set on success, drop it on error."""
        ...


class _MemoryEntry:
    """One key of a :class:`MemoryStore` inside its lock; values are kept as JSON text, so a
    caller never shares a mutable object with the store (as with a database)."""

    def __init__(self, store: MemoryStore, key: str) -> None:
        self._store, self._key = store, key
        self._text = store._read(key)

    @property
    def value(self) -> Any:
        return json.loads(self._text) if self._text is not None else None

    def set(self, value: Any) -> None:
        self._text = json.dumps(value)

    def commit(self) -> None:
        self._store._write(self._key, self._text)


class MemoryStore:
    """A :class:`KeyValueStore` in this process's memory: the default when the hub injects no
    store. Its locks are thread locks, so a lock taken in a worker thread may be given back from
    the event loop (see :func:`hold`)."""

    def __init__(self) -> None:
        self._values: dict[str, str | None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _read(self, key: str) -> str | None:
        with self._guard:
            return self._values.get(key)

    def _write(self, key: str, text: str | None) -> None:
        with self._guard:
            self._values[key] = text

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: str) -> Any:
        text = self._read(key)
        return json.loads(text) if text is not None else None

    def put(self, key: str, value: Any) -> None:
        with self.locked(key) as entry:
            entry.set(value)

    @contextmanager
    def locked(self, key: str) -> Iterator[_MemoryEntry]:
        lock = self._lock(key)
        lock.acquire()
        try:
            entry = _MemoryEntry(self, key)
            yield entry
            entry.commit()
        finally:
            lock.release()


@asynccontextmanager
async def hold(store: KeyValueStore, key: str) -> AsyncIterator[LockedEntry]:
    """``store.locked(key)`` entered in a worker thread, so waiting while another process holds
    the lock does not freeze the event loop.

    A cancelled wait still lets the thread finish taking the lock and gives it back before the
    cancellation goes on: a lock left to a thread would block every other user of the store.
    """
    manager = store.locked(key)
    entering = asyncio.ensure_future(asyncio.to_thread(manager.__enter__))
    try:
        locked = await asyncio.shield(entering)
    except asyncio.CancelledError:
        await asyncio.wait([entering])
        if not entering.cancelled() and entering.exception() is None:
            manager.__exit__(None, None, None)
        raise
    try:
        yield locked
    except BaseException:
        if not manager.__exit__(*sys.exc_info()):
            raise
    else:
        manager.__exit__(None, None, None)
