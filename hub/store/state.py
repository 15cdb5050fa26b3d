"""A small durable key-value store for state that must never be lost or raced.

Used for values a processor hands us once, such as Fortnox's rotating refresh token (a lost
token locks the user out until they re-authorise), and for sync cursors. Reads and writes of
one key happen inside :meth:`StateStore.locked`, which holds the database's write lock
(SQLite ``BEGIN IMMEDIATE``; an advisory lock on the key on PostgreSQL), so two processes never
both use the same one-time value, and a value is committed before the caller does anything
else with it. A key is locked whether or not it holds a value yet (:mod:`hub.store.locks`):
the first token refresh of two processes is serialised like every later one.

The store connectors are given (:func:`connector_state`) encrypts every value it writes
(:mod:`hub.store.sealed`): what a connector keeps are credentials. The hub's own entries
(cursors, lock holders, fingerprints) hold no secrets and stay readable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.core.errors import ConfigurationError
from hub.store.locks import lock_state_entry
from hub.store.sealed import Sealer, UnreadableValue, is_sealed
from hub.store.tables import StateEntry

log = logging.getLogger(__name__)


def _dump(value: Any, sealer: Sealer | None) -> str:
    text = json.dumps(value)
    return sealer.seal(text) if sealer is not None else text


def _load(key: str, stored: str, sealer: Sealer | None) -> Any:
    """The value of a stored entry: opened when sealed, as it is when written in clear
    before encryption existed. A sealed value this key cannot open counts as absent (a
    connector then starts afresh, e.g. from a newly configured token) and is logged."""
    if is_sealed(stored):
        if sealer is None:
            raise ConfigurationError(f"the stored value {key!r} is encrypted; only the store "
                                     "connectors are given can read it")
        try:
            stored = sealer.open(stored)
        except UnreadableValue as exc:
            log.error("state %r: %s; treating it as absent", key, exc)
            return None
    return json.loads(stored)


class LockedValue:
    """The value of one key while its lock is held; ``set`` writes within the same transaction."""

    def __init__(self, session: Session, key: str, entry: StateEntry | None,
                 sealer: Sealer | None = None) -> None:
        self._session, self._key, self._entry = session, key, entry
        self._sealer = sealer

    @property
    def value(self) -> Any:
        return _load(self._key, self._entry.value, self._sealer) if self._entry else None

    def set(self, value: Any) -> None:
        now = datetime.now(UTC)
        text = _dump(value, self._sealer)
        if self._entry is None:
            self._entry = StateEntry(key=self._key, value=text, updated_at=now)
            self._session.add(self._entry)
        else:
            self._entry.value, self._entry.updated_at = text, now
        self._session.flush()

    def commit(self) -> None:
        """Make what was set durable now, keeping the lock for the rest of the block."""
        self._session.commit()
        lock_state_entry(self._session, self._key)
        self._entry = self._session.get(StateEntry, self._key, with_for_update=True,
                                        populate_existing=True)


class StateStore:
    """Durable values by key (see the module docstring); with a ``sealer`` every value is
    written encrypted, and values written in clear before are still read."""

    def __init__(self, engine: Engine, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sealer = sealer

    def get(self, key: str) -> Any:
        with Session(self.engine) as session:
            entry = session.get(StateEntry, key)
            return _load(key, entry.value, self.sealer) if entry else None

    def put(self, key: str, value: Any) -> None:
        with self.locked(key) as locked:
            locked.set(value)

    @contextmanager
    def locked(self, key: str) -> Iterator[LockedValue]:
        """Hold the write lock for ``key``; commit on success, roll back on error."""
        with Session(self.engine) as session:
            try:
                lock_state_entry(session, key)
                entry = session.scalars(
                    select(StateEntry).where(StateEntry.key == key).with_for_update()
                ).first()
                locked = LockedValue(session, key, entry, self.sealer)
                if entry is not None and self.sealer is not None and not is_sealed(entry.value):
                    locked.set(locked.value)  # written in clear before: encrypted from now on
                yield locked
                session.commit()
            except BaseException:
                session.rollback()
                raise


def connector_state(engine: Engine, state_dir: Path) -> StateStore:
    """The store the hub gives connectors (their ``state`` option): every value encrypted
    under the state-encryption key in ``state_dir`` (or the configured one), whose fingerprint
    the database keeps (:mod:`hub.store.sealed`)."""
    sealer = Sealer.for_state_dir(state_dir)
    sealer.remember_key(engine)
    return StateStore(engine, sealer)
