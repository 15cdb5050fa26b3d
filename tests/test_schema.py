"""Schema migrations: a database from before migrations upgrades in place, concurrent starts on
an empty database all succeed, and the migrated schema is the one the tables declare."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from hub.store.db import make_engine, open_database
from hub.store.ledger import Ledger, subject_key
from hub.store.schema import _config, current_revision, head_revision
from hub.store.tables import Base


def _pre_migration_database(url: str) -> str:
    """A database as versions without migrations left it: the baseline tables, no
    ``alembic_version``."""
    engine = make_engine(url)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_baseline")
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    return url


def test_a_database_from_before_migrations_upgrades_in_place(database_url: str) -> None:
    url = _pre_migration_database(database_url)
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC).isoformat()
    engine = create_engine(url)
    with engine.begin() as connection:
        for request_id, created in (("era-1", "2026-11-01"), ("era-2", "2026-11-02")):
            connection.execute(text(
                "INSERT INTO requests (id, type, status, subject_email, received_at, "
                "received_on, due_at, created_at) VALUES (:id, 'erasure', 'open', "
                "'anna.svensson@example.se', :now, :day, '2026-12-02', :created)"),
                {"id": request_id, "now": now, "day": created, "created": created})
    engine.dispose()

    upgraded = open_database(url)

    with upgraded.connect() as connection:
        assert current_revision(connection) == head_revision()
        columns = {c["name"] for c in inspect(connection).get_columns("erasure_actions")}
        keys = dict(connection.execute(text("SELECT id, subject_key FROM requests")).all())
    assert {"claimed_by", "claimed_at"} <= columns
    # both requests survive; only the newer of the two open ones is keyed
    assert keys == {"era-1": None, "era-2": subject_key("anna.svensson@example.se")}
    found = Ledger(upgraded).find_open_request("anna.svensson@example.se", "erasure")
    assert found is not None and found.id == "era-2"


def test_twelve_processes_starting_on_an_empty_database_all_succeed(database_url: str) -> None:
    url = database_url
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def start() -> None:
        try:
            barrier.wait()
            open_database(url).dispose()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with create_engine(url).connect() as connection:
        assert current_revision(connection) == head_revision()


def test_the_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
