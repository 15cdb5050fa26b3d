"""End-to-end: `dsar rectify` (the real CLI in a subprocess) against the sandbox processors:
bad input contacts nobody, a dry run changes nothing, a correction reaches every register that
keeps the field and leaves booked records alone, and a second run changes nothing."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import mutating, relaxed

ANNA = "anna.svensson@example.se"
NEW_PHONE = "+46709998877"


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield relaxed(running)


@pytest.mark.parametrize("setting, said", [
    ("shoe_size=42", "expected FIELD=VALUE"),
    ("phone=12", "not a valid phone number"),
    ("email=anna@", "not a valid e-mail address"),
    ("address.country=Sweden", "two-letter country code"),
    ("name=", "empty"),
])
def test_bad_input_is_exit_2_and_contacts_nobody(sandbox: Sandbox, tmp_path: Path,
                                                 setting: str, said: str) -> None:
    run = run_dsar("--out", str(tmp_path), "rectify", ANNA, "--set", setting, "--yes",
                   env=sandbox_env(sandbox))
    assert run.code == 2 and said in run.stderr, run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())


def test_no_set_is_exit_2(sandbox: Sandbox, tmp_path: Path) -> None:
    run = run_dsar("--out", str(tmp_path), "rectify", ANNA, "--yes", env=sandbox_env(sandbox))
    assert run.code == 2 and "nothing to correct" in run.stderr


@pytest.mark.database
def test_dry_run_and_unconfirmed_only_plan(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    run = run_dsar("--out", str(tmp_path), "rectify", ANNA, "--set", f"phone={NEW_PHONE}",
                   "--dry-run", env=env)
    assert run.code == 0, run.stderr
    assert "Rectification plan" in run.stdout and "Bokföringslagen" in run.stdout
    assert "+46701234567" not in run.stdout  # the old number is masked
    assert "+4…67" in run.stdout
    unconfirmed = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set",
                           f"phone={NEW_PHONE}", env=env)  # no TTY, no --yes
    assert unconfirmed.code == 3
    document = unconfirmed.json
    assert document["executed"] is False and document["reason"] == "not-confirmed"
    plan = {(p["processor"], p["record_type"], p["record_id"]): p for p in document["plan"]}
    assert plan["stripe", "customer", "cus_Xq2G9xrZAAXepS"]["action"] == "rectify"
    assert all(p["action"] == "kept" for key, p in plan.items()
               if key[:2] in {("stripe", "invoice"), ("fortnox", "invoice")})
    assert not mutating(sandbox) and not any(tmp_path.iterdir())
    requests = run_dsar("--json", "requests", "list", "--all", env=env)
    assert requests.json["requests"] == []


@pytest.mark.database
def test_phone_is_corrected_everywhere_once_and_booked_records_are_kept(
        sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    run = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set",
                   f"phone={NEW_PHONE}", "--yes", env=env)
    assert run.code == 0, run.stderr
    result = run.json
    assert result["closed"] and result["verification"]["ok"]
    done = {(a["processor"], a["record_type"]) for a in result["actions"]
            if a["state"] == "done"}
    assert {("stripe", "customer"), ("mailerlite", "subscriber"), ("fortnox", "customer"),
            ("booking", "customer")} <= done
    assert {n["recipient"] for n in result["art19"]} >= {"stripe", "mailerlite", "fortnox",
                                                         "booking"}
    changed = mutating(sandbox)
    assert changed and not any("invoice" in target or "charge" in target
                               for _, _, target in changed)
    assert all(n == 1 for n in Counter(changed).values())

    stripe = sandbox.servers["stripe"].state  # type: ignore[attr-defined]
    assert stripe.get("customers", "cus_Xq2G9xrZAAXepS")["phone"] == NEW_PHONE
    invoices = [i for i in stripe.collections["invoices"].values()
                if i.get("customer") == "cus_Xq2G9xrZAAXepS"]
    assert invoices and all(i.get("customer_phone") != NEW_PHONE for i in invoices)
    fortnox = sandbox.servers["fortnox"].state  # type: ignore[attr-defined]
    assert fortnox.customers["1"]["Phone1"] == NEW_PHONE
    assert all(i.get("Phone1") != NEW_PHONE for i in fortnox.invoices.values())

    letter = Path(result["letter"])
    assert stat.S_IMODE(letter.stat().st_mode) == 0o600
    text = letter.read_text(encoding="utf-8")
    assert "telefonnummer" in text and "bokföringslagen" in text and "phone" not in text
    shown = run_dsar("--json", "requests", "show", result["request_id"], env=env)
    kinds = [e["kind"] for e in shown.json["events"]]
    assert "rectification.art19" in kinds and "rectification.verified" in kinds
    assert json.dumps(shown.json).count(NEW_PHONE) == 0  # the ledger holds no values

    again = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set",
                     f"phone={NEW_PHONE}", "--yes", env=env)
    assert again.code == 0, again.stderr
    assert again.json["request_id"] is None and again.json["actions"] == []
    assert mutating(sandbox) == changed  # nothing was sent again


@pytest.mark.database
def test_new_email_is_an_alias_and_mailerlite_needs_a_person(
        sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    new = "anna.ny@example.se"
    run = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set", f"email={new}",
                   "--yes", env=env)
    assert run.code == 3, run.stderr  # MailerLite's address is changed by a person
    result = run.json
    states = {(a["processor"], a["record_type"]): a["state"] for a in result["actions"]}
    assert states["mailerlite", "subscriber"] == "manual-open"
    assert states["stripe", "customer"] == "done" and states["fortnox", "customer"] == "done"
    assert result["email_followed"]["alias"] is True
    assert not result["closed"]
    shown = run_dsar("--json", "requests", "show", result["request_id"], env=env)
    aliases = [e for e in shown.json["events"] if e["kind"] == "rectification.alias"]
    assert len(aliases) == 1 and new not in json.dumps(aliases)


@pytest.mark.database
def test_a_failed_change_is_resumed_and_nothing_done_is_sent_again(
        sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.sandbox import fortnox_api

    env = sandbox_env(sandbox)
    refusing = {k: v for k, v in fortnox_api.CUSTOMER_DEFAULTS.items() if k != "Phone1"}
    with monkeypatch.context() as patched:
        patched.setattr(fortnox_api, "CUSTOMER_DEFAULTS", refusing)  # PUT Phone1: 400
        first = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set",
                         f"phone={NEW_PHONE}", "--yes", env=env)
    assert first.code == 3, first.stderr
    states = {(a["processor"], a["record_type"]): a["state"] for a in first.json["actions"]}
    assert states["fortnox", "customer"] == "failed" and states["stripe", "customer"] == "done"
    assert not first.json["closed"]
    sent = Counter(mutating(sandbox))

    second = run_dsar("--json", "--out", str(tmp_path), "rectify", ANNA, "--set",
                      f"phone={NEW_PHONE}", "--yes", env=env)
    assert second.code == 0, second.stderr
    assert second.json["request_id"] == first.json["request_id"] and second.json["closed"]
    now = Counter(mutating(sandbox))
    assert now - sent == Counter({("fortnox", "PUT", "/3/customers/1"): 1})
