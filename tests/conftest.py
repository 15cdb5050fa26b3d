"""Shared fixtures. Tests never reach the network: respx mocks, or the sandbox on loopback.

The database. Tests get theirs from :func:`database_url` (or :func:`new_database_url` for a
second one): a SQLite file in the test's ``tmp_path`` by default, or, when
``DSAR_TEST_DATABASE_URL`` names a PostgreSQL server (``postgresql+psycopg://user@host:port/db``),
a database of its own created on that server for the test and dropped after it. On PostgreSQL
every hub the test starts, in process through ``HubSettings`` or as a ``python -m hub``
subprocess, uses the test's database too (``DSAR_DATABASE_URL``), so one suite proves both
databases. Tests about SQLite itself (file modes, the sandbox's throw-away database, upgrading
an old SQLite file) build their SQLite URLs by hand and run on SQLite either way.

Which tests run on PostgreSQL. A test that never opens the hub's database proves nothing more
by running twice, so the PostgreSQL run keeps only the tests that ask for ``database_url`` or
``new_database_url`` (directly or through another fixture) or carry ``@pytest.mark.database``
(:func:`tests.databases.touches_database`), and prints how many it left out. The SQLite run
makes sure none is left out wrongly: every other test gets a ``DSAR_DATABASE_URL`` in an empty
folder of its own, so any hub it starts, in process or as a subprocess, opens its database
there, and the test fails when something appeared in that folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from hub.core.logs import ensure_redaction
from hub.http import HttpPolicy
from tests.databases import DATABASE_MARKER, POSTGRES_URL, touches_database

if TYPE_CHECKING:
    from sqlalchemy import Connection


def pytest_report_header() -> str:
    if POSTGRES_URL is None:
        return "database: SQLite (set DSAR_TEST_DATABASE_URL to run on PostgreSQL)"
    from sqlalchemy.engine import make_url

    return f"database: {make_url(POSTGRES_URL).render_as_string(hide_password=True)}"


#: per test, decided at collection: whether it touches the database (runs on PostgreSQL too)
_TOUCHES_DATABASE = pytest.StashKey[bool]()
#: (tests that touch the database, database-free tests) among those selected
_SELECTION = pytest.StashKey[tuple[int, int]]()
_SELECTION_OUTPUT = "dsar_database_selection"  # the key a pytest-xdist worker reports it under


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{DATABASE_MARKER}: the test reaches the hub's database without asking for "
        "the database_url fixture (the real CLI, DSAR_DATABASE_URL): it runs on PostgreSQL too")


@pytest.hookimpl(trylast=True)  # after -k/-m, so the counts are of the tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remembers which tests touch the database; on PostgreSQL keeps only those."""
    database = []
    for item in items:
        item.stash[_TOUCHES_DATABASE] = touches_database(item)
        if item.stash[_TOUCHES_DATABASE]:
            database.append(item)
    config.stash[_SELECTION] = (len(database), len(items) - len(database))
    workeroutput = getattr(config, "workeroutput", None)  # set in a pytest-xdist worker
    if workeroutput is not None:
        workeroutput[_SELECTION_OUTPUT] = config.stash[_SELECTION]
    if POSTGRES_URL is not None and len(database) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if not i.stash[_TOUCHES_DATABASE]])
        items[:] = database


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist: the workers collect, the controller prints; every worker collects the same
    tests, so the first one's counts stand for all."""
    counts = getattr(node, "workeroutput", {}).get(_SELECTION_OUTPUT)
    config: pytest.Config = node.config  # type: ignore[attr-defined]
    if counts is not None and _SELECTION not in config.stash:
        database, free = counts
        config.stash[_SELECTION] = (int(database), int(free))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    """One line in the CI log: how the tests divide between the two database runs."""
    if _SELECTION not in config.stash:
        return
    database, free = config.stash[_SELECTION]
    if POSTGRES_URL is None:
        line = (f"database: {database} tests touch the database and run on PostgreSQL too; "
                f"{free} database-free tests run on SQLite only")
    else:
        line = (f"database: PostgreSQL run of the {database} tests that touch the database; "
                f"{free} database-free tests deselected (the SQLite run covers them)")
    terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) \
        -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On SQLite, a test that skips because it needs PostgreSQL yet is not marked would run
    nowhere (the PostgreSQL run leaves it out): it fails instead, naming the marker."""
    report = yield
    if (POSTGRES_URL is None and report.skipped and not item.stash.get(_TOUCHES_DATABASE, True)
            and any(word in str(report.longrepr) for word in ("PostgreSQL", "DSAR_TEST_DATABASE"))):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} skips on SQLite for PostgreSQL but does not touch the "
                           "database as far as the PostgreSQL run can tell, so it would run on "
                           "neither: decorate it with tests.databases.postgres_only (or give it "
                           f"the database_url fixture or @pytest.mark.{DATABASE_MARKER})")
    return report


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
    if POSTGRES_URL is None and not request.node.stash.get(_TOUCHES_DATABASE, True):
        pytest.fail(f"{request.node.nodeid} asks for a database while it runs "
                    "(request.getfixturevalue): the PostgreSQL run cannot see that and would "
                    "leave it out; ask for the fixture as an argument or mark the test (or its "
                    f"pytest.param) with @pytest.mark.{DATABASE_MARKER}", pytrace=False)
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
                                tmp_path_factory: pytest.TempPathFactory,
                                _isolated_environment: None) -> Iterator[None]:
    """On PostgreSQL, point every hub the test starts at the test's database; subprocesses get
    it through :func:`tests.e2e_helpers.hub_environment`. On SQLite a test that touches the
    database gets nothing: each hub uses the file in its state folder, as for a user. Any other
    test gets a database URL in an empty folder, and fails if a hub opened it: it would be left
    out of the PostgreSQL run (see the module docstring)."""
    if POSTGRES_URL is not None:
        monkeypatch.setenv("DSAR_DATABASE_URL", request.getfixturevalue("database_url"))
        yield
        return
    if request.node.stash.get(_TOUCHES_DATABASE, True):
        yield
        return
    folder = tmp_path_factory.mktemp("database-free")
    monkeypatch.setenv("DSAR_DATABASE_URL", f"sqlite:///{folder / 'ledger.sqlite3'}")
    yield
    if any(folder.iterdir()):
        pytest.fail(f"{request.node.nodeid} opened the hub's database (DSAR_DATABASE_URL) but "
                    "neither asks for the database_url fixture nor carries "
                    f"@pytest.mark.{DATABASE_MARKER}: the PostgreSQL run would leave it out. "
                    "Give it one of them.", pytrace=False)
