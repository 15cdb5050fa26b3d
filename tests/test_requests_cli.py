"""``dsar requests``: the ledger's command line, run through typer's CliRunner.

The sub-app is mounted under a root whose callback sets ``ctx.obj`` to
:class:`hub.cli.shared.Options` exactly as ``hub.cli.app.main_options`` does (without
re-configuring logging per invocation).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

import hub.store.ledger
from hub.cli.requests import parse_days, requests_app
from hub.cli.shared import Options

ANNA = "anna.svensson@example.se"


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context,
             json_output: Annotated[bool, typer.Option("--json")] = False,
             sandbox: Annotated[bool, typer.Option("--sandbox")] = False) -> None:
        ctx.obj = Options(config=None, sandbox=sandbox, json=json_output, out=None, verbose=0)

    app.add_typer(requests_app, name="requests")
    return app


@pytest.fixture
def dsar(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DSAR_DATABASE_URL", database_url)
    monkeypatch.setattr(hub.store.ledger, "local_today", lambda: date(2026, 12, 10))
    app, runner = make_app(), CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    return run


def _open(dsar, email: str = ANNA, received: str = "2026-12-01", kind: str = "access") -> dict:  # type: ignore[no-untyped-def]
    result = dsar("--json", "requests", "open", email, "--type", kind, "--received", received,
                  "--verified-by", "replied from the address on file")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_open_records_the_request_and_its_deadline(dsar) -> None:  # type: ignore[no-untyped-def]
    opened = _open(dsar)
    assert opened["type"] == "access" and opened["status"] == "open"
    assert opened["received_on"] == "2026-12-01" and opened["due_at"] == "2027-01-04"
    human = dsar("requests", "open", "erik@example.se", "--type", "erasure")
    assert human.exit_code == 0
    assert "era-" in human.stdout and "--verified-by" in human.stdout  # nudges to record it


@pytest.mark.parametrize(("args", "message"), [
    (["anna@", "--type", "access"], "not a valid e-mail address"),
    ([ANNA, "--type", "deletion"], "unknown request type"),
    ([ANNA, "--received", "2026-12-31"], "in the future"),
    ([ANNA, "--received", "1 Dec"], "not a date"),
])
def test_open_rejects_bad_input_with_exit_2(dsar, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = dsar("requests", "open", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert ANNA not in result.stderr  # messages are redacted


def test_list_overdue_and_due_within(dsar) -> None:  # type: ignore[no-untyped-def]
    late = _open(dsar, "a@example.se", "2026-11-02")        # due 2026-12-02: overdue
    soon = _open(dsar, "b@example.se", "2026-11-16", "erasure")  # due 2026-12-16
    later = _open(dsar, "c@example.se", "2026-12-09", "objection")  # due 2027-01-11
    listing = json.loads(dsar("--json", "requests", "list").stdout)
    assert listing["today"] == "2026-12-10"
    assert [r["id"] for r in listing["requests"]] == [late["id"], soon["id"], later["id"]]
    overdue = json.loads(dsar("--json", "requests", "list", "--overdue").stdout)["requests"]
    assert [(r["id"], r["days_left"], r["overdue"]) for r in overdue] == [(late["id"], -8, True)]
    week = json.loads(dsar("--json", "requests", "list", "--due-within", "7d").stdout)
    assert [r["id"] for r in week["requests"]] == [late["id"], soon["id"]]
    table = dsar("requests", "list")
    assert table.exit_code == 0 and late["id"] in table.stdout and "overdue" in table.stdout
    assert dsar("requests", "list", "--due-within", "soon").exit_code == 2


def test_show_and_unknown_id(dsar) -> None:  # type: ignore[no-untyped-def]
    opened = _open(dsar)
    shown = json.loads(dsar("--json", "requests", "show", opened["id"]).stdout)
    assert shown["subject_email"] == ANNA and [e["kind"] for e in shown["events"]] == ["opened"]
    human = dsar("requests", "show", opened["id"])
    assert human.exit_code == 0 and "2027-01-04" in human.stdout and "opened" in human.stdout
    missing = dsar("requests", "show", "acc-20990101-000000-000000")
    assert missing.exit_code == 2 and "no request with id" in missing.stderr


def test_extend_once_with_a_reason(dsar) -> None:  # type: ignore[no-untyped-def]
    opened = _open(dsar)
    assert dsar("requests", "extend", opened["id"]).exit_code == 2  # --reason is required
    blank = dsar("requests", "extend", opened["id"], "--reason", " ")
    assert blank.exit_code == 2 and "needs a reason" in blank.stderr
    too_long = dsar("requests", "extend", opened["id"], "--reason", "busy", "--months", "3")
    assert too_long.exit_code == 2 and "at most 2" in too_long.stderr
    extended = dsar("--json", "requests", "extend", opened["id"], "--reason",
                    "journals must be copied by hand")
    assert extended.exit_code == 0, extended.output
    assert json.loads(extended.stdout)["extended_due_at"] == "2027-03-01"
    again = dsar("requests", "extend", opened["id"], "--reason", "more")
    assert again.exit_code == 2 and "already extended" in " ".join(again.stderr.split())


def test_export_csv_to_stdout_and_private_file(dsar, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _open(dsar, "åsa.öberg@example.se")
    opened = _open(dsar, received="2026-11-20", kind="erasure")
    assert dsar("requests", "close", opened["id"]).exit_code == 0
    out = dsar("requests", "export", "--csv")
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
    # by receipt; a closed erasure keeps only the keyed hash of its subject's address
    assert [r["subject_email"] for r in rows] == ["", "åsa.öberg@example.se"]
    assert rows[0]["status"] == "closed" and ANNA not in out.stdout
    target = tmp_path / "audit" / "requests.csv"
    written = dsar("--json", "requests", "export", "--csv", "--out", str(target))
    assert written.exit_code == 0 and json.loads(written.stdout)["requests"] == 2
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "åsa.öberg@example.se" in data.decode("utf-8-sig")


@pytest.mark.parametrize(("text", "days"), [("7d", 7), ("2w", 14), ("10", 10), (" 3D ", 3)])
def test_parse_days(text: str, days: int) -> None:
    assert parse_days(text) == days


def test_bad_configuration_exits_2(dsar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DSAR_CONFIG", str(tmp_path / "missing.toml"))
    result = dsar("requests", "list")
    assert result.exit_code == 2 and "missing" in result.stderr


def test_sandbox_runs_use_their_own_ledger(dsar) -> None:  # type: ignore[no-untyped-def]
    real = _open(dsar)
    sandboxed = dsar("--json", "--sandbox", "requests", "open", "erik@example.se")
    assert sandboxed.exit_code == 0, sandboxed.output
    sandbox_ids = [r["id"] for r in json.loads(
        dsar("--json", "--sandbox", "requests", "list").stdout)["requests"]]
    real_ids = [r["id"] for r in json.loads(dsar("--json", "requests", "list").stdout)["requests"]]
    assert real_ids == [real["id"]], "a sandbox run never writes to the real ledger"
    assert sandbox_ids == [], "sandbox ledgers are throw-away: nothing survives the run"
