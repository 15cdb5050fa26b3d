"""Bringing a database to the current schema: Alembic migrations, run under a lock.

Every start used to call ``create_all``, which cannot add a column to a table that exists and
races on PostgreSQL when several processes start at once on an empty database (two of them
create the same type or table). Now each start compares the database's revision with the
newest one and, only when they differ, migrates inside one transaction that holds a lock:
SQLite's write lock (every transaction of ours begins ``IMMEDIATE``), PostgreSQL's
transaction-level advisory lock. Whoever waits for the lock finds the work done.

A database created by a version without migrations has our tables but no
``alembic_version``: it is stamped at the baseline revision (which is that schema) first.

The check on every start is one plain query of ``alembic_version`` against
:data:`HEAD_REVISION`; Alembic (and the migration scripts) is imported only when the two differ,
as importing it costs more than most commands' own work. ``tests/test_startup.py`` keeps the
constant equal to the newest script's revision; were it ever out of step, a current database
would look outdated and the upgrade under the lock would find it current: slower, still correct.

On PostgreSQL the job queue of ``dsar worker`` (procrastinate's tables) is brought up to date
beside it by :func:`upgrade_job_schema`, outside the Alembic chain: procrastinate ships its
schema and its own migrations, and the installed version applied is noted on its jobs table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

BASELINE = "0001_baseline"
#: the newest revision in ``migrations/versions`` (a new migration changes it)
HEAD_REVISION = "0007_restrictions"
#: Alembic's table holding the revision a database is at
VERSION_TABLE = "alembic_version"
#: the key of PostgreSQL's advisory lock that serialises upgrades (any constant of our own)
UPGRADE_LOCK_KEY = 0x64736172  # "dsar"


def _config() -> Config:
    """A fresh configuration per run: it carries the connection, so it is never shared."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "hub.store:migrations")
    return config


@cache
def head_revision() -> str:
    """The newest revision as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated), read with plain SQL so a
    start on a current database does not import Alembic. Our history has one branch, so the
    table holds at most one row."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds several revisions ({', '.join(rows)}); "
                           "the hub's migrations have one branch")
    return rows[0] if rows else None


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current_revision(connection) == HEAD_REVISION


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest revision (a no-op when it is there); returns it."""
    if is_current(engine):
        return HEAD_REVISION
    from alembic import command

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
    from hub.store.tables import Base

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
