"""``dsar worker`` and ``dsar jobs``: jobs queued by one process, run by worker processes that
share the test's PostgreSQL database, against the sandbox processors on loopback.

The queue needs PostgreSQL: those tests skip on SQLite (the CI runs the suite on a throw-away
PostgreSQL server too); that SQLite is refused with exit 2 is checked on either database.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core.errors import ConfigurationError
from hub.jobs.queue import QueueUnavailable, conninfo, parse_queues
from hub.jobs.settings import load_worker_settings
from hub.sandbox import Sandbox
from hub.store.db import make_engine, open_database
from hub.store.ledger import Ledger
from hub.store.schema import _job_migrations, upgrade_job_schema
from tests.databases import postgres_only
from tests.e2e_helpers import hub_environment, run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
MARIA = "maria.berg@example.se"

needs_postgres = postgres_only(
    reason="the job queue lives in PostgreSQL: set DSAR_TEST_DATABASE_URL "
    "(the CI runs the suite on a throw-away PostgreSQL server as well)")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _env(sandbox: Sandbox, state: Path, **extra: str) -> dict[str, str]:
    return {**sandbox_env(sandbox), "DSAR_STATE_DIR": str(state), **extra}


def _popen_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-m", "hub", "--json", "worker", *args],
        env={**hub_environment(), **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _stop(worker: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as a service manager stops a worker: running jobs finish, exit 0."""
    worker.send_signal(signal.SIGTERM)
    stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr[-3000:]
    return stdout, stderr


# -- without PostgreSQL ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["worker"], ["jobs", "defer", "lookup", ANNA], ["jobs", "list"]])
def test_sqlite_has_no_queue_exit_2(tmp_path: Path, args: list[str]) -> None:
    run = run_dsar(*args, env={"DSAR_STATE_DIR": str(tmp_path),
                               "DSAR_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}"})
    assert run.code == 2, run.stderr
    assert "workers need PostgreSQL: set DSAR_DATABASE_URL=postgresql+psycopg://" in run.stderr
    assert ANNA not in run.stderr


def test_sandbox_worker_is_refused(tmp_path: Path) -> None:
    """A sandbox ledger lives and dies with its process: no job could reach another one."""
    run = run_dsar("--sandbox", "worker", env={"DSAR_STATE_DIR": str(tmp_path)})
    assert run.code == 2 and "--sandbox" in run.stderr, run.stderr


def test_queued_erasure_needs_yes(tmp_path: Path) -> None:
    run = run_dsar("jobs", "defer", "erase", MARIA, env={"DSAR_STATE_DIR": str(tmp_path)})
    assert run.code == 2 and "--yes" in run.stderr, run.stderr


def test_queues_and_settings_are_checked(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_queues(None) == ["lookups", "erasures", "consent"]
    assert parse_queues(" erasures, lookups,erasures") == ["erasures", "lookups"]
    with pytest.raises(ValueError, match="unknown queue"):
        parse_queues("lookups,mail")
    with pytest.raises(QueueUnavailable, match="workers need PostgreSQL"):
        conninfo(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert conninfo("postgresql+psycopg://u:p%40ss@127.0.0.1:5/hub") == \
        "postgresql://u:p%40ss@127.0.0.1:5/hub"

    assert load_worker_settings(None).consent_sync_cron == "*/5 * * * *"
    config = tmp_path / "hub.toml"
    config.write_text('[worker]\nconsent_sync_cron = "0 * * * *"\n', encoding="utf-8")
    assert load_worker_settings(config).consent_sync_cron == "0 * * * *"
    monkeypatch.setenv("DSAR_WORKER__CONSENT_SYNC_CRON", "every five minutes")
    with pytest.raises(ConfigurationError, match="not a cron expression"):
        load_worker_settings(config)


def test_only_newer_job_migrations_are_picked(tmp_path: Path) -> None:
    for name in ("03.03.00_01_a.sql", "03.04.00_01_pre_b.sql", "03.04.00_50_post_b.sql",
                 "03.11.00_01_c.sql"):
        (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    picked = _job_migrations(str(tmp_path), "3.3.0", "3.10.0")
    assert [p.name for p in picked] == ["03.04.00_01_pre_b.sql", "03.04.00_50_post_b.sql"]
    assert _job_migrations(str(tmp_path), "3.10.0", "3.10.0") == []


def test_job_schema_is_postgres_only(tmp_path: Path) -> None:
    assert upgrade_job_schema(make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")) is None


# -- on PostgreSQL -----------------------------------------------------------------------------


@needs_postgres
def test_job_schema_is_applied_once(database_url: str) -> None:
    engine = open_database(database_url)
    version = upgrade_job_schema(engine)
    assert version and version[0] == "3"
    assert upgrade_job_schema(engine) == version  # idempotent: nothing applied twice
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
    upgraded = run_dsar("db", "upgrade")
    assert upgraded.code == 0, upgraded.stderr
    assert f"job queue schema is current (procrastinate {version})" in upgraded.stdout


@needs_postgres
def test_jobs_queued_by_one_process_are_run_by_a_worker(
        sandbox: Sandbox, database_url: str, tmp_path: Path) -> None:
    env = _env(sandbox, tmp_path)
    looked = run_dsar("--json", "jobs", "defer", "lookup", ANNA, env=env)
    assert looked.code == 0, looked.stderr
    lookup = looked.json
    assert lookup["task"] == "dsar.lookup" and lookup["job_id"] and lookup["opened"]
    again = run_dsar("--json", "jobs", "defer", "lookup", ANNA, env=env)
    assert again.code == 0, again.stderr  # one waiting job per request
    assert again.json == {**lookup, "job_id": None, "already_queued": True, "opened": False}
    erased = run_dsar("jobs", "defer", "erase", MARIA, "--yes", env=env)
    assert erased.code == 0, erased.stderr
    assert "queued as job" in erased.stdout and MARIA not in erased.stdout

    ledger = Ledger(open_database(database_url))
    with ledger.engine.connect() as connection:  # the queue holds request ids, not addresses
        args = connection.execute(text("SELECT args::text FROM procrastinate_jobs")).scalars()
        assert "@" not in " ".join(args)

    worker = run_dsar("--json", "worker", "--until-empty", "--concurrency", "2", env=env,
                      timeout=300)
    assert worker.code == 0, worker.stderr[-3000:]
    outcomes = [json.loads(line) for line in worker.stdout.splitlines()]
    assert sorted(o["job"] for o in outcomes) == ["erasure", "lookup"]
    printed = (worker.stdout + worker.stderr).lower()
    assert "anna.svensson" not in printed and "maria.berg" not in printed

    access = ledger.get(lookup["request_id"])
    kinds = [event.kind for event in access.events]
    assert kinds.index("job.queued") < kinds.index("access")  # queued, then answered
    [answered] = [event for event in access.events if event.kind == "access"]
    assert answered.details["processors"]["stripe"]["status"] == "found"
    assert answered.details["processors"]["stripe"]["records"] > 100
    folder = Path(answered.details["folder"])
    assert folder.parent == tmp_path / "reports"  # the worker's state folder, as configured
    written = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert written["request"]["id"] == lookup["request_id"]
    erasure = ledger.get(next(o for o in outcomes if o["job"] == "erasure")["request_id"])
    assert "erasure.verified" in [event.kind for event in erasure.events]
    assert "erasure.suppressed" in [event.kind for event in erasure.events]
    with ledger.engine.connect() as connection:
        left = connection.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'")).scalar()
    assert left == 0  # succeeded jobs are removed; none waits or failed

    listed = run_dsar("--json", "jobs", "list", env=env)
    assert listed.code == 0 and listed.json["lookups"]["todo"] == 0, listed.stderr


@needs_postgres
def test_two_workers_run_the_periodic_consent_sync_once_per_tick(
        sandbox: Sandbox, tmp_path: Path) -> None:
    env = _env(sandbox, tmp_path, DSAR_WORKER__CONSENT_SYNC_CRON="* * * * * */4")
    first = _popen_worker(env, "--queues", "consent")
    second = _popen_worker(env, "--queues", "consent,lookups")
    started = time.time()
    try:
        time.sleep(14)
    finally:
        out_first, _ = _stop(first)
        out_second, err_second = _stop(second)
    elapsed = time.time() - started
    runs = [json.loads(line) for line in (out_first + out_second).splitlines()]
    syncs = [run for run in runs if run["job"] == "consent-sync"]
    ticks = [run["tick"] for run in syncs]
    assert len(ticks) == len(set(ticks)), ticks  # no tick ran twice across the two workers
    assert all(tick % 4 == 0 for tick in ticks)
    assert len(ticks) >= 2, err_second[-3000:]
    assert len(ticks) <= elapsed / 4 + 2
    # never two at once: no run found the sync's lock taken
    assert not [run for run in syncs if "holds the lock" in run["line"]], syncs
    assert all(run["exit_code"] in (0, 3) for run in syncs)  # 3: Paloma tasks opened
