"""A ``--sandbox`` run touches nothing outside its throw-away folders: not the real state folder
(ledger, keyed-hash secret, state-encryption key, reports), whatever the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.databases import on_postgres
from tests.e2e_helpers import run_dsar

ANNA = "anna.svensson@example.se"


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    found = {name: tmp_path / name for name in ("state", "xdg", "home", "tmp")}
    for folder in found.values():
        folder.mkdir()
    return found


def _env(places: dict[str, Path]) -> dict[str, str]:
    return {"DSAR_STATE_DIR": str(places["state"]), "XDG_STATE_HOME": str(places["xdg"]),
            "HOME": str(places["home"]), "TMPDIR": str(places["tmp"])}


def _assert_untouched(places: dict[str, Path]) -> None:
    for name in ("state", "xdg", "home"):
        assert not list(places[name].rglob("*")), (name, list(places[name].rglob("*")))


def test_sandbox_erase_and_lookup_leave_the_state_folder_empty(places: dict[str, Path]) -> None:
    env = _env(places)
    erased = run_dsar("--sandbox", "--json", "erase", ANNA, "--yes", env=env)
    assert erased.code in (0, 3), erased.stderr[-2000:]
    looked = run_dsar("--sandbox", "--json", "lookup", ANNA, env=env)
    assert looked.code in (0, 3), looked.stderr[-2000:]
    _assert_untouched(places)
    # the reports are kept for the user to open, in a private temporary folder
    report = Path(looked.json["report_html"])
    assert report.is_file() and places["tmp"] in report.parents
    assert report.parent.parent.name.startswith("dsar-sandbox-reports-")
    assert (report.parent.parent.stat().st_mode & 0o077) == 0
    # the throw-away ledger and keys are gone; only the report folders remain
    assert all(p.name.startswith("dsar-sandbox-reports-") for p in places["tmp"].iterdir())


@pytest.mark.parametrize("args", [
    ["requests", "list"],
    ["requests", "task", "list", "era-20261201-093000-a1b2c3"],
    ["audit", "verify"],
    ["db", "upgrade"],
])
def test_sandbox_commands_without_a_sandbox_leave_the_state_folder_empty(
        places: dict[str, Path], args: list[str]) -> None:
    run = run_dsar("--sandbox", *args, env=_env(places))
    assert run.code in (0, 2), run.stderr[-2000:]
    _assert_untouched(places)
    assert not list(places["tmp"].iterdir())  # the throw-away folder went with the process


@pytest.mark.database
def test_a_real_command_still_uses_the_state_folder(places: dict[str, Path]) -> None:
    run = run_dsar("--json", "requests", "list", env=_env(places))
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["requests"] == []
    if not on_postgres():  # there the real ledger is the test's server database
        assert (places["state"] / "ledger.sqlite3").is_file()
