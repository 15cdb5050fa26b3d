"""Shared fixtures. Tests never reach the network: respx mocks, or the sandbox on loopback.

The database. Tests get theirs from :func:`database_url` (or :func:`new_database_url` for a
second one): a SQLite file in the test's ``tmp_path`` by default, or, when
``DSAR_TEST_DATABASE_URL`` names a PostgreSQL server (``postgresql+psycopg://user@host:port/db``),
a database of its own created on that server for the test and dropped after it. On PostgreSQL
every hub the test starts, in process through ``HubSettings`` or as a ``python -m hub``
subprocess, uses the test's database too (``DSAR_DATABASE_URL``), so one suite proves both
databases. Tests about SQLite itself (file modes, the sandbox's throw-away database, upgrading
an old SQLite file) build their SQLite URLs by hand and run on SQLite either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from hub.core.logs import ensure_redaction
from hub.http import HttpPolicy
from tests.databases import POSTGRES_URL

if TYPE_CHECKING:
    from sqlalchemy import Connection


def pytest_report_header() -> str:
    if POSTGRES_URL is None:
        return "database: SQLite (set DSAR_TEST_DATABASE_URL to run on PostgreSQL)"
    from sqlalchemy.engine import make_url

    return f"database: {make_url(POSTGRES_URL).render_as_string(hide_password=True)}"


@pytest.fixture(autouse=True, scope="session")
def _redaction() -> None:
    ensure_redaction()


@pytest.fixture
def fast_policy() -> HttpPolicy:
    """Retries without long waits; three attempts as the tests' contract."""
    return HttpPolicy(max_attempts=3, max_retry_seconds=10, backoff_max_seconds=0.05,
                      rate_limit_requests=1000, rate_limit_seconds=1.0, timeout_seconds=2)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No test reads the developer's DSAR_* variables, .env or state directory."""
    import os

    for name in list(os.environ):
        if name.startswith("DSAR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _reports_match_schema(request: pytest.FixtureRequest):
    """Every report.json a test leaves under its tmp_path validates against the published
    schema (``dsar schema report``)."""
    yield
    tmp_path = getattr(request.node, "funcargs", {}).get("tmp_path")
    if tmp_path is not None:
        from tests.report_schema import assert_reports_valid_under

        assert_reports_valid_under(tmp_path)


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[Connection]:
    """One autocommit connection to the test server for creating and dropping databases."""
    from sqlalchemy import create_engine

    assert POSTGRES_URL is not None
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


@pytest.fixture
def new_database_url(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """Makes a fresh, empty database per call and returns its URL; ``name`` (a word) only
    names the SQLite file. On PostgreSQL each one is dropped after the test, with any
    connections the test left open."""
    created: list[str] = []
    admin: list[Connection] = []  # the server connection, once a database is made there

    def make(name: str = "ledger") -> str:
        if POSTGRES_URL is None:
            folder = request.getfixturevalue("tmp_path")
            path = folder / f"{name}.sqlite3"
            while str(path) in created:
                path = folder / f"{name}-{len(created)}.sqlite3"
            created.append(str(path))
            return f"sqlite:///{path}"
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        if not admin:
            admin.append(request.getfixturevalue("_postgres_admin"))
        database = f"dsar_test_{uuid.uuid4().hex[:20]}"
        admin[0].execute(text(f'CREATE DATABASE "{database}"'))
        created.append(database)
        return make_url(POSTGRES_URL).set(database=database).render_as_string(
            hide_password=False)

    yield make
    if admin:
        from sqlalchemy import text

        for database in created:
            admin[0].execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture
def database_url(new_database_url: Callable[[str], str]) -> str:
    """The test's database (see the module docstring): on SQLite ``tmp_path/ledger.sqlite3``,
    the file a hub with ``DSAR_STATE_DIR=tmp_path`` uses."""
    return new_database_url("ledger")


@pytest.fixture(autouse=True)
def _hub_uses_the_test_database(request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch,
                                _isolated_environment: None) -> None:
    """On PostgreSQL, point every hub the test starts at the test's database; subprocesses get
    it through :func:`tests.e2e_helpers.hub_environment`. On SQLite nothing is set: each hub
    uses the file in its state folder, as for a user."""
    if POSTGRES_URL is not None:
        monkeypatch.setenv("DSAR_DATABASE_URL", request.getfixturevalue("database_url"))
