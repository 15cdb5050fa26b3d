"""The PostgreSQL run keeps the tests that touch the database and leaves out the rest (see
tests/conftest.py): checked on the suite as collected for PostgreSQL, which needs no server."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = "database: PostgreSQL run of the "

#: Test modules that use the store's code but never the hub's database. Add one here only
#: with the reason; a module that opens a database needs its tests marked instead.
USES_THE_STORE_WITHOUT_A_DATABASE: frozenset[str] = frozenset({
    # SQLite's own file locking between processes: a SQLite file made for the test, on
    # purpose; there is nothing of it to run on PostgreSQL
    "test_sqlite_locks.py",
    # only the store's idea of "today" (local_today); the browser drives `dsar --sandbox
    # serve`, whose ledger is the sandbox's throw-away SQLite file whatever the database
    "test_web_browser_access.py",
})


@cache
def collected_for_postgres() -> tuple[frozenset[str], str]:
    """Test ids the PostgreSQL run would run, and its output. Collecting connects to nothing,
    so a port where no server listens does."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "DSAR_TEST_DATABASE_URL":
             "postgresql+psycopg://nobody@127.0.0.1:9/nothing"})
    ids = frozenset(line for line in completed.stdout.splitlines() if "::" in line)
    assert ids, completed.stdout[-3000:] + completed.stderr[-3000:]
    return ids, completed.stdout


def _reaches_the_store(module: Path) -> bool:
    """The module imports the hub's database layer (or the job queue, which lives in
    PostgreSQL) or names a helper that opens the hub's database."""
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module.startswith(("hub.store", "hub.jobs"))
                or (node.module == "tests.databases"
                    and any(alias.name == "hub_database_url" for alias in node.names))):
            return True
        if isinstance(node, ast.Import) and any(
                alias.name.startswith(("hub.store", "hub.jobs")) for alias in node.names):
            return True
    return False


def test_database_tests_are_kept_and_the_others_left_out() -> None:
    ids, output = collected_for_postgres()
    storage = "tests/connectors/test_sdk_storage.py::test_a_value_set_in_a_locked_block_is_kept"
    assert f"{storage}[database]" in ids  # marked through its pytest.param
    assert f"{storage}[memory]" not in ids
    # the database_url fixture, asked for directly
    assert "tests/test_worker.py::test_job_schema_is_applied_once" in ids
    # skipped on SQLite: only its marker (tests.databases.postgres_only) keeps it
    assert "tests/test_worker.py::test_two_workers_run_the_periodic_consent_sync_once_per_tick" \
        in ids
    # the real CLI in a subprocess, on its ledger: marked
    assert "tests/test_sandbox_isolation.py::test_a_real_command_still_uses_the_state_folder" \
        in ids
    # a sandbox run keeps a throw-away SQLite ledger whatever the database: left out
    assert not [i for i in ids if "test_sandbox_commands_without_a_sandbox" in i]
    assert "tests/test_database_selection.py::" not in "".join(ids)
    [summary] = [line for line in output.splitlines() if line.startswith(SUMMARY)]
    assert f"{SUMMARY}{len(ids)} tests that touch the database; " in summary
    assert "database-free tests deselected" in summary


def test_every_module_that_reaches_the_store_runs_on_postgresql() -> None:
    """A cheap net beside the SQLite run's check (which catches each test that opens the hub's
    database unmarked): a module that imports the database layer has tests on PostgreSQL."""
    ids, _ = collected_for_postgres()
    modules_run = {i.split("::")[0] for i in ids}
    missing = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
        if _reaches_the_store(path) and str(path.relative_to(ROOT)) not in modules_run
        and path.name not in USES_THE_STORE_WITHOUT_A_DATABASE)
    assert not missing, (
        f"{missing} import the database layer but none of their tests would run on PostgreSQL: "
        "give the tests that open the database the database_url fixture or "
        "@pytest.mark.database")
