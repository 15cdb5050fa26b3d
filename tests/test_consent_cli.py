"""``dsar consent-sync`` and ``dsar consent ...`` end to end: the real CLI in a subprocess against
the sandbox MailerLite, as cron or a systemd timer would start it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.consent.database import open_consent_database
from hub.consent.lock import SyncLock
from hub.sandbox import Sandbox
from tests.databases import hub_database_url
from tests.e2e_helpers import Run, hub_environment, sandbox_env

ANNA = "anna.svensson@example.se"
# The consent commands wired into the main app exactly as hub/cli.py does (idempotent, so this
# keeps working once hub/cli.py wires them itself).
BOOT = ("import sys\nfrom hub import cli\nfrom hub.cli.consent import wire\n"
        "wire(cli.app)\ncli.main()\n")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = hub_environment()
    return {**base, **(extra or {})}


def run_consent_cli(*args: str, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-c", BOOT, *args], env=_env(env), capture_output=True, text=True,
        timeout=120, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.mark.database
def test_sandbox_unsubscribe_reaches_the_register_and_paloma(tmp_path: Path,
                                                            database_url: str) -> None:
    with Sandbox() as sandbox:
        env = sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path)}
        first = run_consent_cli("--json", "consent-sync", env=env)
        assert first.code == 3, first.stderr  # the first sync opens Paloma tasks
        assert first.json["mode"] == "full" and first.json["changes"]["first_seen"] == 34
        # Paloma by hand; the sandbox booking system declares its newsletter-flag call
        assert first.json["destinations"] == ["Paloma (mail provider)", "Booking system"]

        sandbox.servers["mailerlite"].unsubscribe(ANNA)
        second = run_consent_cli("-vv", "--json", "consent-sync", env=env)
        assert second.code == 3, second.stderr  # a new manual step
        assert second.json["changes"] == {"opt_out": 1}
        assert second.json["propagation"]["manual_opened"] == 1
        assert "DEBUG" in second.stderr
        assert "anna" not in (second.stdout + second.stderr).lower()

        shown = run_consent_cli("--json", "consent", "show", "Anna.Svensson@Example.se",
                                env=env)
        assert shown.code == 0, shown.stderr
        assert [e["kind"] for e in shown.json["events"]] == ["first_seen", "opt_out"]
        assert shown.json["current"][0]["status"] == "unsubscribed"
        assert shown.json["events"][1]["evidence"]["unsubscribed_at"]
        task, booked = shown.json["tasks"]
        assert (task["destination"], task["state"]) == ("paloma", "manual-open")
        # the opt-out reached the booking system too: its newsletter flag is cleared
        assert (booked["destination"], booked["state"]) == ("booking", "done")
        customer = sandbox.servers["booking"].state.customers[  # type: ignore[attr-defined]
            "e3657bad-8de3-5bad-85a9-69e48429cff2"]
        assert customer["SubscribedToNewsletter"] is False

        human = run_consent_cli("consent", "show", ANNA, env=env)
        assert human.code == 0 and "opt out" in human.stdout and "Paloma" in human.stdout

        listed = run_consent_cli("--json", "consent", "tasks", env=env)
        assert task["id"] in {t["id"] for t in listed.json["tasks"]}
        resolved = run_consent_cli("consent", "resolve", str(task["id"]), "--note",
                                   "unsubscribed in Paloma", env=env)
        assert resolved.code == 0 and "manual-done" in resolved.stdout
        assert run_consent_cli("consent", "resolve", "999999", env=env).code == 2

        quiet = run_consent_cli("consent-sync", env=env)
        assert quiet.code == 0, quiet.stderr
        assert "5 requests" in quiet.stdout and "no changes" in quiet.stdout


def test_show_refuses_an_invalid_address(tmp_path: Path) -> None:
    run = run_consent_cli("consent", "show", "anna.svensson@", env={"DSAR_STATE_DIR":
                                                                     str(tmp_path)})
    assert run.code == 2 and "not a valid e-mail address" in run.stderr


@pytest.mark.database
def test_lock_contention_exits_at_once_with_a_message(tmp_path: Path) -> None:
    engine = open_consent_database(hub_database_url(tmp_path))
    env = {"DSAR_STATE_DIR": str(tmp_path)}
    with SyncLock(engine, tmp_path, "consent-sync") as lock:
        assert lock.acquire()
        run = run_consent_cli("--json", "consent-sync", env=env)
        assert run.code == 0, run.stderr
        assert run.json["status"] == "locked" and run.json["lock_holder"]["pid"] == os.getpid()
        human = run_consent_cli("consent-sync", env=env)
        assert human.code == 0 and "another run holds the lock" in human.stderr
        assert human.stdout == ""
    bad = run_consent_cli("consent-sync", "--every", "soon", env=env)
    assert bad.code == 2 and "not an interval" in bad.stderr


@pytest.mark.database
def test_every_runs_until_terminated(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        env = _env(sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path)})
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-c", BOOT, "--json", "consent-sync", "--every", "10s"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(process.stdout.readline())  # one JSON document per line
            assert first["mode"] == "full"
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 3, err  # the last run's code: it opened Paloma tasks
    assert out.strip() == ""  # stopped while waiting: no second run


def test_consent_commands_are_in_help() -> None:
    run = run_consent_cli("--help")
    assert run.code == 0
    for command in ("consent-sync", "consent", "webhook"):
        assert command in run.stdout
