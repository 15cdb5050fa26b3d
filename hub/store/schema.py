"""Bringing a database to the current schema: Alembic migrations, run under a lock.

Every start used to call ``create_all``, which cannot add a column to a table that exists and
races on PostgreSQL when several processes start at once on an empty database (two of them
create the same type or table). Now each start compares the database's revision with the
newest one and, only when they differ, migrates inside one transaction that holds a lock:
SQLite's write lock (every transaction of ours begins ``IMMEDIATE``), PostgreSQL's
transaction-level advisory lock. Whoever waits for the lock finds the work done.

A database created by a version without migrations has our tables but no
``alembic_version``: it is stamped at the baseline revision (which is that schema) first.
"""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from hub.store.tables import Base

BASELINE = "0001_baseline"
#: the key of PostgreSQL's advisory lock that serialises upgrades (any constant of our own)
UPGRADE_LOCK_KEY = 0x64736172  # "dsar"


def _config() -> Config:
    """A fresh configuration per run: it carries the connection, so it is never shared."""
    config = Config()
    config.set_main_option("script_location", "hub.store:migrations")
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current_revision(connection) == head_revision()


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest revision (a no-op when it is there); returns it."""
    if is_current(engine):
        return head_revision()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": UPGRADE_LOCK_KEY})
        revision = current_revision(connection)
        if revision == head_revision():  # another process upgraded while we waited
            return revision
        config = _config()
        config.attributes["connection"] = connection
        if revision is None and _has_our_tables(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return head_revision()


def _has_our_tables(connection: Connection) -> bool:
    existing = set(inspect(connection).get_table_names())
    return bool(existing & set(Base.metadata.tables))
