"""End-to-end: `dsar erase` (the real CLI in a subprocess) against the sandbox processors,
including a SIGKILL in the middle of the erasure and a resume that repeats nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connectors.sdk.base import Capability
from hub.config.registry import discover
from hub.sandbox import Sandbox
from tests.e2e_helpers import hub_environment, run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"


def mutating(sandbox: Sandbox) -> list[tuple[str, str, str]]:
    """Every request that changes data at a processor (token requests excluded)."""
    found = []
    for name, server in sandbox.servers.items():
        for method, target in list(server.request_log):
            path = target.split("?", 1)[0]
            if method in ("DELETE", "PUT", "PATCH") or (
                    method == "POST" and not path.endswith("/token")):
                found.append((name, method, target))
    return found


def erasing_connectors() -> set[str]:
    return {name for name, cls in discover().items() if Capability.ERASURE in cls.capabilities}


def relaxed(sandbox: Sandbox) -> Sandbox:
    """Fortnox's 25/5 s and the booking system's limits would make the client retry (refused
    429s are logged requests too, so they would look like repeated mutations); these tests
    count mutations, not rate limits (tested in tests/connectors)."""
    sandbox.servers["fortnox"].rate_limit_requests = 10_000  # type: ignore[attr-defined]
    sandbox.servers["booking"].enforce_rate_limit = False  # type: ignore[attr-defined]
    return sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield relaxed(running)


def test_invalid_email_is_exit_2_and_contacts_nobody(sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_dsar("--out", str(tmp_path), "erase", "anna.svensson@", "--yes",
                   env=sandbox_env(sandbox))
    assert run.code == 2 and "not a valid e-mail address" in run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())


@pytest.mark.database
def test_dry_run_and_unconfirmed_only_plan(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    run = run_dsar("--out", str(tmp_path), "erase", ANNA, "--dry-run", env=env)
    assert run.code == 0, run.stderr
    assert "Erasure plan" in run.stdout and "Bokföringslagen" in run.stdout
    assert ANNA not in run.stdout + run.stderr
    run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, env=env)  # no TTY, no --yes
    assert run.code == 3, run.stderr
    document = run.json
    assert document["executed"] is False and document["reason"] == "not-confirmed"
    actions = {(a["processor"], a["record_type"]): a for a in document["actions"]}
    assert actions["stripe", "customer"]["action"] == "delete"
    assert actions["stripe", "charge"]["retained_until"]
    assert actions["journals", "task"]["state"] == "manual-open"
    assert not mutating(sandbox) and not any(tmp_path.iterdir())
    requests = run_dsar("--json", "requests", "list", "--all", env=env)
    assert requests.json["requests"] == []  # nothing entered the ledger


@pytest.mark.database
def test_erase_executes_verifies_reports_and_second_run_is_a_no_op(
        sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    # her access request came first: its report holds what is about to be erased
    access = run_dsar("--json", "--out", str(tmp_path / "access"), "lookup", ANNA,
                      "--no-review", env=env)
    access_folder = Path(access.json["report"]).parent
    assert access.code in (0, 3) and access_folder.is_dir(), access.stderr[-2000:]
    run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
    assert run.code == 3, run.stderr  # manual tasks (paper journals, website, ...) stay open
    assert not access_folder.exists()  # no copy of the erased values is left with us
    summary = run.json
    assert summary["executed"] and summary["suppressed"]
    assert summary["open"].get("manual-open", 0) >= 5
    report = json.loads(Path(summary["report"]).read_text(encoding="utf-8"))
    assert report["request"]["type"] == "erasure"
    assert report["request"]["id"] == summary["request_id"]
    assert ANNA not in Path(summary["report"]).parent.name
    stripe = next(p for p in report["processors"] if p["name"] == "stripe")
    charges = [r for r in stripe["records"] if r["type"] == "charge"]
    assert charges and all(r["action"] == "retained" and r["retained_until"] for r in charges)
    assert {m["key"] for m in report["manual_items"]} >= {"journals", "website"}
    done = {(a["processor"], a["record_type"]) for a in summary["actions"]
            if a["state"] == "done"}
    for name in erasing_connectors() & {"stripe"}:
        assert (name, "customer") in done
    first = Counter(mutating(sandbox))
    assert all(n == 1 for n in first.values()), first

    again = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
    assert again.code == 3, again.stderr
    assert again.json["request_id"] == summary["request_id"]  # resumed the open request
    assert Counter(mutating(sandbox)) == first  # nothing was repeated
    shown = run_dsar("--json", "requests", "show", summary["request_id"], env=env)
    kinds = [e["kind"] for e in shown.json["events"]]
    assert "erasure.planned" in kinds and "erasure.suppressed" in kinds

    tasks = run_dsar("--json", "requests", "task", "list", summary["request_id"], env=env)
    assert {"journals", "website"} <= {t["task"] for t in tasks.json}
    done_task = run_dsar("--json", "requests", "task", "done", summary["request_id"],
                         "journals", "--note", "shredded after talking to the client", env=env)
    assert done_task.code == 3 and done_task.json["state"] == "manual-done"
    unknown = run_dsar("requests", "task", "done", "era-nope", "journals", "--note", "x",
                       env=env)
    assert unknown.code == 2


@pytest.mark.database
def test_retention_due_lists_nothing_today(sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_dsar("--json", "retention", "due", env=sandbox_env(sandbox))
    assert run.code == 0, run.stderr
    assert run.json["due"] == []


@pytest.mark.database
def test_sigkill_after_first_deletion_then_resume_does_everything_once(tmp_path: Path) -> None:
    if "stripe" not in erasing_connectors():
        pytest.skip("no sandbox connector implements erasure yet")
    with Sandbox(latency=0.02) as sandbox:
        relaxed(sandbox)
        env = hub_environment()
        env |= sandbox_env(sandbox)
        command = [sys.executable, "-m", "hub", "--json", "--out", str(tmp_path), "erase", ANNA,
                   "--yes"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not mutating(sandbox) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        before = Counter(mutating(sandbox))
        assert process.returncode == -signal.SIGKILL, "finished before the kill"
        assert sum(before.values()) >= 1

        resumed = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
        assert resumed.code in (0, 3), resumed.stderr
        after = Counter(mutating(sandbox))
        assert all(n == 1 for n in after.values()), after
        assert sum(after.values()) > sum(before.values())
        states = Counter(a["state"] for a in resumed.json["actions"])
        assert states["planned"] == 0
        print(f"\nmutating requests: before kill {sum(before.values())}, "
              f"after resume {sum(after.values())}: {dict(Counter(m[0] for m in after))}")


@pytest.mark.database
def test_two_erasures_of_one_subject_at_once_share_a_request_and_call_once(
        tmp_path: Path) -> None:
    """Cron and a person (two processes, one database) erase Anna in the same moment: one
    request, and every change at a processor made once."""
    with Sandbox(latency=0.02) as sandbox:
        relaxed(sandbox)
        env = hub_environment()
        env |= sandbox_env(sandbox)
        runs = [subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "hub", "--json", "--out", str(tmp_path / name), "erase",
             ANNA, "--yes"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("cron", "person")]
        outputs = [run.communicate(timeout=120) for run in runs]
        for run, (_, stderr) in zip(runs, outputs, strict=True):
            assert run.returncode in (0, 3), stderr
        documents = [json.loads(stdout) for stdout, _ in outputs]
        assert documents[0]["request_id"] == documents[1]["request_id"]
        changes = Counter(mutating(sandbox))
        assert changes and all(n == 1 for n in changes.values()), changes
        listed = run_dsar("--json", "requests", "list", "--all", env=env)
        assert [r["type"] for r in listed.json["requests"]] == ["erasure"]
