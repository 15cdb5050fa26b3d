"""Bad input and bad settings exit with 2 and say what is wrong; 1 is for the unexpected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e_helpers import Run, run_dsar

ANNA = "anna.svensson@example.se"


def _assert_usage_error(run: Run, *words: str) -> None:
    assert run.code == 2, (run.code, run.stderr[-2000:])
    assert "unexpected error" not in run.stderr and "Traceback" not in run.stderr
    text = " ".join(run.stderr.replace("│", " ").split())
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize(("args", "words"), [
    (["requests", "open", ANNA, "--type", "access", "--received", "0001-01-01"],
     ["0001-01-01", "before the GDPR applied"]),
    (["requests", "list", "--due-within", "99999999999999999999d"], ["too long a period"]),
    (["consent", "resolve", "99999999999999999999999"], ["task_id"]),
])
def test_out_of_range_input_exits_2(tmp_path: Path, args: list[str], words: list[str]) -> None:
    run = run_dsar(*args, env={"DSAR_STATE_DIR": str(tmp_path / "state")})
    _assert_usage_error(run, *words)


@pytest.mark.parametrize("args", [["requests", "list"], ["lookup", ANNA], ["audit", "verify"]])
def test_a_state_dir_under_a_file_exits_2(tmp_path: Path, args: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    run = run_dsar("--out", str(tmp_path / "out"), *args,
                   env={"DSAR_STATE_DIR": str(blocker / "state")})
    _assert_usage_error(run, "DSAR_STATE_DIR", "is a file")


def test_a_database_path_under_a_file_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    run = run_dsar("requests", "list", env={
        "DSAR_STATE_DIR": str(tmp_path / "state"),
        "DSAR_DATABASE_URL": f"sqlite:///{blocker / 'ledger.sqlite3'}"})
    _assert_usage_error(run, "cannot create the database")


@pytest.mark.parametrize("args", [["requests", "list"], ["lookup", ANNA]])
def test_an_unknown_database_scheme_exits_2_without_echoing_the_url(tmp_path: Path,
                                                                     args: list[str]) -> None:
    run = run_dsar("--out", str(tmp_path / "out"), *args, env={
        "DSAR_STATE_DIR": str(tmp_path / "state"),
        "DSAR_DATABASE_URL": "mongodb://admin:hunter22@db.example.com/dsar"})
    _assert_usage_error(run, "DSAR_DATABASE_URL", "'mongodb'")
    assert "hunter22" not in run.stderr
