"""End-to-end: the real CLI against the sandbox processors over loopback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield running


def _report(out: Path, run_json: dict) -> dict:
    path = Path(run_json["report"])
    assert path.parent.parent == out
    return json.loads(path.read_text(encoding="utf-8"))


def test_sandbox_lookup_finds_anna_everywhere(tmp_path: Path) -> None:
    run = run_dsar("--sandbox", "--json", "--out", str(tmp_path), "lookup", ANNA)
    # partial: Zettle's card receipts name nobody, so its search is incomplete (by hand)
    assert run.code == 3, run.stderr
    summary = run.json
    statuses = {p["name"]: p["status"] for p in summary["processors"]}
    assert statuses["stripe"] == "found" and statuses["mailerlite"] == "found"
    assert set(statuses) == set(Sandbox().credentials), "every sandbox processor was asked"
    incomplete = {p["name"]: p["note_codes"] for p in summary["processors"] if p["incomplete"]}
    assert incomplete == {"zettle": ["zettle.card_payments_unlinkable"]}
    report_path = Path(summary["report"])
    assert stat.S_IMODE(os.stat(report_path).st_mode) == 0o600
    assert ANNA not in str(report_path)
    report = _report(tmp_path, summary)
    assert report["request"]["type"] == "access"
    assert report["subject"]["email"] == ANNA
    stripe = next(p for p in report["processors"] if p["name"] == "stripe")
    customers = [r for r in stripe["records"] if r["type"] == "customer"]
    assert len(customers) == 2  # one per spelling of her address
    assert {r["match_strength"] for r in customers} == {"exact", "case-insensitive"}
    assert len([r for r in stripe["records"] if r["type"] == "charge"]) >= 120
    assert {"invoice", "subscription", "payment_method"} <= {r["type"] for r in stripe["records"]}
    mailerlite = next(p for p in report["processors"] if p["name"] == "mailerlite")
    [subscriber] = mailerlite["records"]
    assert subscriber["match_strength"] == "case-insensitive"
    assert subscriber["data"]["status"] == "active"


def test_guest_payment_without_customer_is_found(tmp_path: Path) -> None:
    run = run_dsar("--sandbox", "--json", "--out", str(tmp_path), "lookup",
                   "erik.guest@example.com")
    # Zettle receipts carry no identifiers of his: a person must look (manual → exit 3)
    assert run.code == 3, run.stderr
    assert {p["name"]: p["status"] for p in run.json["processors"]}["zettle"] == "manual"
    report = _report(tmp_path, run.json)
    stripe = next(p for p in report["processors"] if p["name"] == "stripe")
    types = {r["type"] for r in stripe["records"]}
    assert {"charge", "checkout_session"} <= types and "customer" not in types
    mailerlite = next(p for p in report["processors"] if p["name"] == "mailerlite")
    assert mailerlite["status"] == "not_found"


def test_human_output_has_summary_table_and_no_address(tmp_path: Path) -> None:
    run = run_dsar("--sandbox", "--out", str(tmp_path), "lookup", ANNA)
    assert run.code == 3, run.stderr  # Zettle's search is incomplete
    assert "stripe" in run.stdout and "mailerlite" in run.stdout and "report.json" in run.stdout
    assert ANNA not in run.stdout + run.stderr


def test_invalid_email_exits_2_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_dsar("--out", str(tmp_path), "lookup", "anna.svensson@", env=sandbox_env(sandbox))
    assert run.code == 2
    assert "not a valid e-mail address" in run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())
    assert not any(tmp_path.iterdir())


@pytest.mark.database
def test_one_processor_down_is_partial_and_keeps_the_other(tmp_path: Path) -> None:
    with Sandbox(fail={"mailerlite": "500"}) as sandbox:
        env = sandbox_env(sandbox) | {"DSAR_MAILERLITE__HTTP__MAX_ATTEMPTS": "2",
                                      "DSAR_MAILERLITE__HTTP__BACKOFF_MAX_SECONDS": "0.1"}
        run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA, env=env)
    assert run.code == 3, run.stderr
    report = _report(tmp_path, run.json)
    statuses = {p["name"]: p for p in report["processors"]}
    assert statuses["mailerlite"]["status"] == "error"
    assert "HTTP 500" in statuses["mailerlite"]["error"]
    assert statuses["stripe"]["status"] == "found" and statuses["stripe"]["records"]


@pytest.mark.database
def test_unreachable_processor_is_an_error_not_a_crash(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox) | {"DSAR_MAILERLITE__BASE_URL": "http://127.0.0.1:9",
                                  "DSAR_MAILERLITE__HTTP__MAX_ATTEMPTS": "1"}
    run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA, env=env)
    assert run.code == 3
    [mailerlite] = [p for p in run.json["processors"] if p["name"] == "mailerlite"]
    assert "could not reach MailerLite" in mailerlite["error"]


@pytest.mark.database
def test_missing_credentials_are_skipped_with_the_setting_name(tmp_path: Path) -> None:
    run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA,
                   env={"DSAR_STRIPE__ENABLED": "true", "DSAR_MAILERLITE__ENABLED": "true"})
    assert run.code == 3
    errors = {p["name"]: p["error"] for p in run.json["processors"]}
    assert "DSAR_STRIPE__API_KEY" in errors["stripe"]
    assert "DSAR_MAILERLITE__API_TOKEN" in errors["mailerlite"]
    assert {p["status"] for p in run.json["processors"]} == {"skipped"}


@pytest.mark.database
def test_processors_not_set_up_are_listed_but_do_not_make_the_request_partial(
        sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA,
                   env=sandbox_env(sandbox, ("stripe", "mailerlite")))
    assert run.code == 0, run.stdout
    statuses = {p["name"]: p["status"] for p in run.json["processors"]}
    assert statuses["stripe"] == "found" and statuses["mailerlite"] == "found"
    assert statuses["fortnox"] == statuses["zettle"] == statuses["booking"] == "skipped"
    errors = {p["name"]: p["error"] for p in run.json["processors"]}
    assert "DSAR_FORTNOX__CLIENT_ID" in errors["fortnox"]


@pytest.mark.database
def test_nothing_set_up_is_a_usage_error(tmp_path: Path) -> None:
    run = run_dsar("--out", str(tmp_path), "lookup", ANNA)
    assert run.code == 2
    assert "No processor is set up" in run.stdout


@pytest.mark.database
def test_config_check_against_sandbox(sandbox: Sandbox) -> None:
    run = run_dsar("--json", "config", "check", env=sandbox_env(sandbox))
    assert run.code == 0, run.stdout + run.stderr
    assert all(p["ok"] for p in run.json["processors"])
    env = sandbox_env(sandbox) | {"DSAR_STRIPE__API_KEY": "sk_test_wrong_key_42"}
    run = run_dsar("--json", "config", "check", env=env)
    assert run.code == 3
    stripe = next(p for p in run.json["processors"] if p["name"] == "stripe")
    assert not stripe["ok"] and "rejected" in stripe["details"]
    assert "sk_test_wrong_key_42" not in run.stdout


@pytest.mark.database
def test_no_secret_or_address_in_debug_logs_and_output(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    secrets = [env["DSAR_STRIPE__API_KEY"], env["DSAR_MAILERLITE__API_TOKEN"]]
    for args in (["-vv", "lookup", ANNA], ["-vv", "--json", "lookup", "Anna+Shop@Example.se"],
                 ["-vv", "config", "check"]):
        run = run_dsar("--out", str(tmp_path), *args, env=env)
        assert run.code in (0, 3), run.stderr
        assert "DEBUG" in run.stderr  # debug logging really was on
        text = (run.stdout + run.stderr).lower()
        for needle in [*secrets, ANNA, "anna.svensson%40example.se", "anna+shop", "anna%2bshop"]:
            assert needle.lower() not in text, needle


def test_help_is_fast_and_does_not_import_the_stripe_sdk() -> None:
    run = run_dsar("--help")
    assert run.code == 0 and "lookup" in run.stdout
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv=['dsar','--help']\n"
         "from hub.cli import app\ntry:\n app()\nexcept SystemExit: pass\n"
         "print('STRIPE' if 'stripe' in sys.modules else 'NO-STRIPE')"],
        capture_output=True, text=True, check=False)
    assert probe.stdout.strip().endswith("NO-STRIPE")


def test_schema_report_is_json_schema() -> None:
    run = run_dsar("schema", "report")
    schema = json.loads(run.stdout)
    assert schema["title"] == "Report"
    assert {"request", "subject", "processors"} <= set(schema["properties"])


def test_batch_lookup_writes_one_report_per_address(tmp_path: Path) -> None:
    batch = tmp_path / "batch.txt"
    batch.write_text(f"{ANNA}\n# a comment\n\nerik.guest@example.com\n{ANNA.upper()}\n",
                     encoding="utf-8")
    out = tmp_path / "out"
    run = run_dsar("--sandbox", "--json", "--out", str(out), "lookup", "--batch", str(batch))
    assert run.code == 3, run.stderr  # Erik's Zettle receipts need a manual check
    assert run.json["exit_code"] == 3
    requests = run.json["requests"]
    assert len(requests) == 2, "one address in two spellings is one person, one request"
    assert len({r["request_id"] for r in requests}) == 2
    assert all(Path(r["report"]).is_file() for r in requests)


def test_batch_with_an_invalid_line_contacts_nobody(sandbox: Sandbox, tmp_path: Path) -> None:
    batch = tmp_path / "batch.txt"
    batch.write_text(f"{ANNA}\nnot-an-address\n", encoding="utf-8")
    run = run_dsar("--out", str(tmp_path / "out"), "lookup", "--batch", str(batch),
                   env=sandbox_env(sandbox))
    assert run.code == 2 and "line(s) 2" in run.stderr
    assert "not-an-address" not in run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())
