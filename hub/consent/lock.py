"""One consent run at a time: the lock ``dsar consent-sync`` and the webhook server take.

A timer may start the sync every minute, and a long full reconciliation outlasts that; two
runs walking the same lists would double the requests against the source's rate limit, and
two propagations would push the same opt-out twice. The lock is one the operating system (or
the database server) drops when the process dies, so a crash never leaves a stale lock that
blocks every later run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from hub.core.folders import make_private_dir
from hub.store.state import StateStore


class SyncLock:
    """At most one holder per name and database, held for a process's lifetime.

    SQLite (the database is a local file): ``flock`` on ``<state dir>/<name>.lock``.
    PostgreSQL (several hosts may share it): a session advisory lock on a dedicated connection.
    Either way the operating system or the server drops the lock when the process dies. Who
    holds it (pid, host, since when) is written to the state store for the message a second
    run prints.
    """

    def __init__(self, engine: Engine, state_dir: Path, name: str) -> None:
        self.engine, self.state_dir, self.name = engine, state_dir, name
        self._file: Any = None
        self._connection: Any = None
        self._store = StateStore(engine)

    @property
    def _holder_key(self) -> str:
        return f"lock.{self.name}"

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; False at once otherwise (never waits)."""
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(uuid.uuid5(uuid.NAMESPACE_OID, self.name).bytes[:8], "big",
                                 signed=True)
            connection = self.engine.connect()
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": key}).scalar():
                connection.close()
                return False
            connection.commit()
            self._connection, self._key = connection, key
        else:
            import fcntl

            make_private_dir(self.state_dir)
            # 0600 like every file of ours, whatever the umask (os.open's mode is masked)
            path = self.state_dir / f"{self.name}.lock"
            handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
            os.fchmod(handle.fileno(), 0o600)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
        self._store.put(self._holder_key, {"pid": os.getpid(), "host": socket.gethostname(),
                                           "since": datetime.now(UTC).isoformat()})
        return True

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (pid, host, since), as its holder recorded it."""
        value = self._store.get(self._holder_key)
        return value if isinstance(value, dict) else None

    def release(self) -> None:
        if self._file is None and self._connection is None:
            return
        with contextlib.suppress(Exception):
            self._store.put(self._holder_key, None)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": self._key})
            self._connection.close()
            self._connection = None
        if self._file is not None:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SyncLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
