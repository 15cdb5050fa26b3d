"""Start-up stays fast: help loads typer and the command modules and nothing heavy; a ledger
command loads the database layer but no processor code; a database already at the newest
schema opens without Alembic.

Each check runs the command in a fresh process under ``python -X importtime``, which names
every module the process imported; ``bench/startup.py`` prints the time this buys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from alembic import command

from hub.cli import app
from hub.store.db import make_engine, open_database
from hub.store.schema import HEAD_REVISION, _config, current_revision, head_revision
from tests.e2e_helpers import hub_environment, run_dsar

#: What help never needs: the processors' SDKs and HTTP stack, the event loop, the database
#: layer and its migrations, settings, templates, the job queue, typer's Rich help renderer.
HEAVY = ("stripe", "asyncio.base_events", "sqlalchemy", "alembic", "httpx", "pydantic_settings",
         "jinja2", "procrastinate", "typer.rich_utils")

#: What a command that only reads the ledger never needs: processor code and what serves it.
PROCESSOR_CODE = ("connectors", "stripe", "httpx", "jinja2", "alembic", "procrastinate")

#: Every top-level command and group of ``dsar``, so a new one joins the help checks.
TOP_LEVEL = tuple(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _run_importtime(*args: str, env: dict[str, str] | None = None
                    ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``dsar ARGS`` in a fresh process, and the names of the modules it imported."""
    done = subprocess.run(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-X", "importtime", "-m", "hub", *args],
        env={**hub_environment(), **(env or {})}, capture_output=True, text=True, timeout=120,
        check=False)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    modules.discard("imported package")  # the header line
    return done, modules


def _among(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))


def test_help_imports_nothing_heavy() -> None:
    done, modules = _run_importtime("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"typer", "hub.cli.app", "hub.cli.requests"} <= modules  # the probe does see imports
    assert _among(modules, HEAVY) == []
    assert "lookup" in done.stdout and "requests" in done.stdout


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_the_help_of_each_command_imports_nothing_heavy(name: str) -> None:
    done, modules = _run_importtime(name, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage:" in done.stdout
    assert _among(modules, HEAVY) == []


def test_command_summaries_are_whole_first_paragraphs() -> None:
    """Click alone would cut "Erasure request (Art. 17): …" after "(Art."."""
    top = " ".join(run_dsar("--help").stdout.split())
    assert "Erasure request (Art. 17): plan, confirm, execute, verify, write the erasure " \
           "report." in top
    assert "[default: $DSAR_CONFIG, else config/hub.toml]" in top  # help text is not markup
    requests = " ".join(run_dsar("requests", "--help").stdout.split())
    assert "Record an Art. 12(3) extension (at most two further months" in requests


def test_listing_requests_loads_no_processor_code(tmp_path: Path, database_url: str) -> None:
    env = {"DSAR_STATE_DIR": str(tmp_path)}
    created = run_dsar("requests", "open", "anna.svensson@example.se", env=env)
    assert created.code == 0, created.stderr[-2000:]
    done, modules = _run_importtime("--json", "requests", "list", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(done.stdout)["requests"]) == 1 and "sqlalchemy" in modules
    assert _among(modules, PROCESSOR_CODE) == []


def test_head_revision_is_the_newest_migration() -> None:
    """The constant the start-up check compares with must follow the migration scripts."""
    assert head_revision() == HEAD_REVISION


def test_a_current_database_opens_without_alembic(database_url: str) -> None:
    open_database(database_url).dispose()  # created and migrated here
    probe = subprocess.run(  # noqa: S603 - this interpreter, the test's database
        [sys.executable, "-c", "import sys\nfrom hub.store.db import open_database\n"
         "open_database(sys.argv[1]).dispose()\nprint(sorted(m for m in sys.modules "
         "if m.split('.')[0] == 'alembic'))", database_url],
        capture_output=True, text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "[]"


def test_a_database_at_an_older_revision_is_upgraded(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_rate_budget")
    with engine.connect() as connection:
        assert current_revision(connection) == "0003_rate_budget"
    engine.dispose()

    upgraded = open_database(database_url)
    with upgraded.connect() as connection:
        assert current_revision(connection) == HEAD_REVISION
    upgraded.dispose()
