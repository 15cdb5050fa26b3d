"""A small durable key-value store for state that must never be lost or raced.

Used for values a processor hands us once, such as Fortnox's rotating refresh token (a lost
token locks the user out until they re-authorise), and for sync cursors. Reads and writes of
one key happen inside :meth:`StateStore.locked`, which holds the database's write lock
(SQLite ``BEGIN IMMEDIATE``; a row lock on PostgreSQL), so two processes never both use the
same one-time value, and a value is committed before the caller does anything else with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.store.tables import StateEntry


class LockedValue:
    """The value of one key while its lock is held; ``set`` writes within the same transaction."""

    def __init__(self, session: Session, key: str, entry: StateEntry | None) -> None:
        self._session, self._key, self._entry = session, key, entry

    @property
    def value(self) -> Any:
        return json.loads(self._entry.value) if self._entry else None

    def set(self, value: Any) -> None:
        now = datetime.now(UTC)
        if self._entry is None:
            self._entry = StateEntry(key=self._key, value=json.dumps(value), updated_at=now)
            self._session.add(self._entry)
        else:
            self._entry.value, self._entry.updated_at = json.dumps(value), now
        self._session.flush()

    def commit(self) -> None:
        """Make what was set durable now, keeping the lock for the rest of the block."""
        self._session.commit()
        self._entry = self._session.get(StateEntry, self._key, with_for_update=True)


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> Any:
        with Session(self.engine) as session:
            entry = session.get(StateEntry, key)
            return json.loads(entry.value) if entry else None

    def put(self, key: str, value: Any) -> None:
        with self.locked(key) as locked:
            locked.set(value)

    @contextmanager
    def locked(self, key: str) -> Iterator[LockedValue]:
        """Hold the write lock for ``key``; commit on success, roll back on error."""
        with Session(self.engine) as session:
            try:
                entry = session.scalars(
                    select(StateEntry).where(StateEntry.key == key).with_for_update()
                ).first()
                yield LockedValue(session, key, entry)
                session.commit()
            except BaseException:
                session.rollback()
                raise
