"""Bringing a database to the current schema: Alembic migrations, run under a lock.

Every start used to call ``create_all``, which cannot add a column to a table that exists and
races on PostgreSQL when several processes start at once on an empty database (two of them
create the same type or table). Now each start compares the database's revision with the
newest one and, only when they differ, migrates inside one transaction that holds a lock:
SQLite's write lock (every transaction of ours begins ``IMMEDIATE``), PostgreSQL's
transaction-level advisory lock. Whoever waits for the lock finds the work done.

A database created by a version without migrations has our tables but no
``alembic_version``: it is stamped at the baseline revision (which is that schema) first.

On PostgreSQL the job queue of ``dsar worker`` (procrastinate's tables) is brought up to date
beside it by :func:`upgrade_job_schema`, outside the Alembic chain: procrastinate ships its
schema and its own migrations, and the installed version applied is noted on its jobs table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

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


#: procrastinate's jobs table; its comment names the procrastinate version whose schema it has
JOB_TABLE = "procrastinate_jobs"
_JOB_SCHEMA_NOTE = "dsar-hub job queue: procrastinate "


def upgrade_job_schema(engine: Engine) -> str | None:
    """Create or migrate the job queue's schema (PostgreSQL only; a no-op when current).

    Returns the procrastinate version the schema now has, or None when there is no queue here
    (SQLite, or procrastinate is not installed). Runs under the upgrade lock, so two machines
    starting at once apply it once; the version noted on the jobs table tells which of
    procrastinate's migrations a newer release still has to apply."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        from importlib.metadata import version

        from procrastinate.schema import SchemaManager
    except ImportError:
        return None
    installed = version("procrastinate")
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
        if not inspect(connection).has_table(JOB_TABLE):
            _run_script(connection, SchemaManager.get_schema())
        else:
            applied = _job_schema_version(connection)
            if applied is None or _version_key(applied) >= _version_key(installed):
                return applied or installed
            for migration in _job_migrations(SchemaManager.get_migrations_path(), applied,
                                             installed):
                _run_script(connection, migration.read_text(encoding="utf-8"))
        note = f"{_JOB_SCHEMA_NOTE}{installed}".replace("'", "")
        connection.exec_driver_sql(f"COMMENT ON TABLE {JOB_TABLE} IS '{note}'")
    return installed


def _run_script(connection: Connection, script: str) -> None:
    """A multi-statement SQL script of procrastinate's, as it runs them: the driver is handed
    parameters, so a literal ``%`` is doubled."""
    connection.exec_driver_sql(script.replace("%", "%%"))


def _job_schema_version(connection: Connection) -> str | None:
    """The procrastinate version noted on the jobs table (None: created by someone else, then
    taken as current: its migrations are that installer's business)."""
    note = connection.execute(
        text("SELECT obj_description(CAST(:table AS regclass), 'pg_class')"),
        {"table": JOB_TABLE}).scalar()
    if not note or not str(note).startswith(_JOB_SCHEMA_NOTE):
        return None
    return str(note).removeprefix(_JOB_SCHEMA_NOTE)


def _version_key(value: str) -> tuple[int, ...]:
    """``3.10.0`` → (3, 10, 0); a pre-release suffix is ignored."""
    parts = []
    for part in value.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _job_migrations(folder: str, applied: str, installed: str) -> list[Path]:
    """procrastinate's migrations newer than ``applied`` up to ``installed``, in order (their
    names start with the version that brought them, e.g. ``03.04.00_01_….sql``)."""
    low, high = _version_key(applied), _version_key(installed)
    found = []
    for path in sorted(Path(folder).glob("*.sql")):
        key = _version_key(path.name.split("_", 1)[0])
        if low < key <= high:
            found.append(path)
    return found
