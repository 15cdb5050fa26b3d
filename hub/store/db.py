"""The hub's database: one SQLAlchemy engine for the request ledger and the state store.

SQLite in the state directory by default (WAL journal so a reader never blocks the scheduled
consent sync, ``busy_timeout`` so two processes wait for each other instead of failing), or any
URL in ``DSAR_DATABASE_URL`` (PostgreSQL in production). State that must survive days of waiting
(requests, rotated tokens, cursors) lives here, never in a cache with an expiry.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from hub.core.errors import ConfigurationError
from hub.core.folders import make_private_dir
from hub.store.schema import upgrade


def _private_sqlite_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite does, whatever the umask or
    the folder's mode: it holds subject addresses and processor tokens. SQLite gives its
    ``-wal`` and ``-shm`` files the database file's mode, so they follow.

    An existing database file is never opened here, only its mode changed: POSIX drops all of
    a process's locks on a file when it closes *any* descriptor of it. Opening and closing the
    file while this process's SQLite connections hold it (a second engine in a running
    ``dsar serve``) would drop their locks; the next ``dsar`` command would then take itself
    for the last user, delete the WAL under the server, and the server's writes would be
    lost."""
    make_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the folder is created (0700) and WAL switched on."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        try:
            _private_sqlite_file(path)
        except OSError as exc:  # the folder cannot be made or written: the settings are wrong
            raise ConfigurationError(
                f"cannot create the database {path} ({exc.strerror or exc}: "
                f"{exc.filename or path}); check DSAR_STATE_DIR or DSAR_DATABASE_URL") from None
    if not url.startswith("sqlite"):
        return _server_engine(url)

    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (BEGIN IMMEDIATE below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Connection) -> None:
        # Take the write lock at the start of every transaction, so read-modify-write sequences
        # (token rotation, ledger state changes) are serialised across processes.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: one engine (one connection pool) per database server URL in this process
_SERVER_ENGINES: dict[str, Engine] = {}
_SERVER_ENGINES_LOCK = threading.Lock()


def _server_engine(url: str) -> Engine:
    """The process's engine for a database server (PostgreSQL). A worker runs hundreds of
    jobs, and each opens the ledger, the plan and the audit log: an engine per opening would
    keep a pool of connections per job until the garbage collector found it, and the server
    refuses clients long before that ("too many clients already"). Disposing the shared engine
    only empties its pool; it stays usable."""
    with _SERVER_ENGINES_LOCK:
        engine = _SERVER_ENGINES.get(url)
        if engine is None:
            engine = _SERVER_ENGINES[url] = create_engine(url, pool_pre_ping=True)
        return engine


def open_database(url: str) -> Engine:
    """Engine on a database at the current schema (migrated first if it is behind)."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
