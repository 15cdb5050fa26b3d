"""Text from outside (a processor's error, a stored task result) is printed as text: a stray
``[/]`` must not crash the terminal renderer before the summary and the cover letter are out,
and ``[link=...]`` must not become a clickable terminal link."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.sandbox import PROCESSORS, Sandbox
from hub.sandbox.server import HOSTILE_MESSAGE
from tests.e2e_helpers import run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
OSC8_LINK = "\x1b]8;"


@pytest.fixture
def hostile():
    """Every processor answers each request with a 400 quoting terminal markup."""
    with Sandbox(fail=dict.fromkeys(PROCESSORS, "hostile")) as running:
        yield running


def _assert_printed_as_text(stdout: str, stderr: str) -> None:
    text = stdout + stderr
    assert "Traceback" not in text and "MarkupError" not in text, stderr[-2000:]
    assert OSC8_LINK not in text
    flat = " ".join(stdout.split()).replace("│ ", "").replace(" │", "")
    assert "[/] Bad request" in flat and "[link=https://x.example.com]" in flat


@pytest.mark.parametrize("command", [
    ["lookup", ANNA],
    ["erase", ANNA, "--yes"],
    ["config", "check"],
])
@pytest.mark.database
def test_markup_in_a_processor_error_is_printed_as_text(hostile: Sandbox, tmp_path: Path,
                                                        command: list[str]) -> None:
    # FORCE_COLOR makes Rich render as on a terminal, where [link=...] would become a link
    env = sandbox_env(hostile) | {"DSAR_STATE_DIR": str(tmp_path / "state"), "FORCE_COLOR": "1",
                                  "COLUMNS": "400"}
    run = run_dsar("--out", str(tmp_path / "out"), *command, env=env)
    assert run.code == 3, run.stderr[-2000:]  # partial: the processors failed, nothing crashed
    _assert_printed_as_text(run.stdout, run.stderr)
    if command[0] == "lookup":
        assert "cover letter" in run.stdout


def test_the_hostile_fail_mode_quotes_the_message_in_each_envelope(hostile: Sandbox) -> None:
    import httpx

    for name, url in hostile.base_urls.items():
        answer = httpx.get(f"{url}/anything", timeout=5)
        assert answer.status_code == 400, name
        assert HOSTILE_MESSAGE in answer.text, name


def test_consent_task_results_are_printed_as_text(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli.consent import _print_tasks

    monkeypatch.setenv("COLUMNS", "300")
    _print_tasks([{"id": 7, "system": "paloma[/]", "action": "unsubscribe", "state": "failed",
                   "updated_at": None, "receipt": None, "instructions": None,
                   "error": f"Paloma said: {HOSTILE_MESSAGE}", "email": "[b]x[/b]"}],
                 "Open consent tasks", with_email=True)
    out = " ".join(capsys.readouterr().out.split())
    assert "paloma[/]" in out and "[link=https://x.example.com]" in out
