"""``dsar consent withdraw`` end to end: the real CLI in a subprocess against the sandbox
processors. A withdrawal by phone unsubscribes the person in MailerLite, clears the booking
system's newsletter flag and opens the Paloma task; a second run sends nothing; an unsubscribe
seen by the consent sync reaches the booking system too; bad input contacts nobody."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import mutating, relaxed

ANNA = "anna.svensson@example.se"
ANNA_CUSTOMER = "e3657bad-8de3-5bad-85a9-69e48429cff2"  # her booking customer, newsletter on
JOHAN = "johan.nilsson@example.com"
JOHAN_CUSTOMER = "388b0a5a-1179-57ef-9b6d-abf21f308fac"


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield relaxed(running)


def _env(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    return sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path)}


def _newsletter(sandbox: Sandbox, customer_id: str) -> bool:
    return bool(sandbox.servers["booking"].state.customers[customer_id]  # type: ignore[attr-defined]
                ["SubscribedToNewsletter"])


def _ml_status(sandbox: Sandbox, email: str) -> str:
    return str(sandbox.servers["mailerlite"].state.find(email)["status"])  # type: ignore[attr-defined]


def test_withdrawal_by_phone_stops_marketing_everywhere_once(
        sandbox: Sandbox, tmp_path: Path, database_url: str) -> None:
    env = _env(sandbox, tmp_path)
    assert _newsletter(sandbox, ANNA_CUSTOMER) and _ml_status(sandbox, ANNA) == "active"
    run = run_dsar("--json", "consent", "withdraw", ANNA, "--channel", "phone",
                   "--recorded-by", "Lena Ek", "--note", "called the shop", env=env)
    assert run.code == 3, run.stderr  # Paloma has no API: a manual task is open
    result = run.json
    assert (result["channel"], result["recorded_by"]) == ("phone", "Lena Ek")
    assert result["already_recorded"] is False and result["suppressed"] is True
    states = {d["destination"]: d["state"] for d in result["destinations"]}
    assert states == {"mailerlite": "done", "booking": "done", "paloma": "manual-open"}
    assert _ml_status(sandbox, ANNA) == "unsubscribed"
    assert not _newsletter(sandbox, ANNA_CUSTOMER)
    sent = mutating(sandbox)
    assert ("booking", "PUT", f"/customers/{ANNA_CUSTOMER}") in [
        (name, method, target.split("?")[0]) for name, method, target in sent]
    assert [m for m in sent if m[0] == "mailerlite"] == [
        ("mailerlite", "PUT", "/api/subscribers/106161576515803467")]
    assert "anna" not in run.stderr.lower()
    request_id = result["request_id"]
    assert result["answer"]["closed"] is False  # open until Paloma's task is done
    letter = tmp_path / "reports" / request_id / "withdrawal-letter.txt"
    assert stat.S_IMODE(letter.stat().st_mode) == 0o600
    text = letter.read_text("utf-8")
    assert "återkallar ditt samtycke" in text and "MailerLite" in text
    # Paloma's task is open: the letter does not yet name it among the systems that stopped
    assert "Paloma" not in text and "görs för hand" in text
    assert "SubscribedToNewsletter" not in text and "phone" not in text
    opened = run_dsar("--json", "requests", "list", env=env)
    assert [(r["id"], r["type"]) for r in opened.json["requests"]] == [
        (request_id, "consent-withdrawal")]

    again = run_dsar("--json", "consent", "withdraw", ANNA, "--channel", "email", env=env)
    assert again.code == 3, again.stderr
    assert again.json["already_recorded"] is True and again.json["channel"] == "phone"
    assert again.json["request_id"] == request_id  # one open request per subject and type
    assert mutating(sandbox) == sent  # nothing sent twice

    shown = run_dsar("--json", "consent", "show", ANNA, env=env)
    assert shown.json["suppressed"] is True
    [withdrawal] = [e for e in shown.json["events"] if e["system"] == "dsar-hub"]
    assert withdrawal["learned_via"] == "phone" and withdrawal["status"] == "unsubscribed"
    assert withdrawal["evidence"]["recorded_by"] == "Lena Ek"
    assert withdrawal["evidence"]["note"] == "called the shop"
    assert withdrawal["evidence"]["unsubscribed_at"]
    paloma = [t for t in shown.json["tasks"] if t["destination"] == "paloma"]
    assert [t["state"] for t in paloma] == ["manual-open"]

    # the consent sync then reads MailerLite's unsubscribe: it confirms, and tells nobody twice
    sync = run_dsar("--json", "consent-sync", env=env)
    assert sync.code in (0, 3), sync.stderr
    assert mutating(sandbox)[:len(sent)] == sent
    assert not [m for m in mutating(sandbox)[len(sent):]
                if m[2].split("?")[0] == f"/customers/{ANNA_CUSTOMER}"]
    shown = run_dsar("--json", "consent", "show", ANNA, env=env)
    assert [t["state"] for t in shown.json["tasks"] if t["destination"] == "paloma"] == [
        "manual-open"]
    ml = [s for s in shown.json["current"] if s["system"] == "mailerlite"]
    assert [s["status"] for s in ml] == ["unsubscribed"]

    resolved = run_dsar("consent", "resolve", str(paloma[0]["id"]), env=env)
    assert resolved.code == 0, resolved.stderr
    done = run_dsar("consent", "withdraw", ANNA, "--channel", "phone", env=env)
    assert done.code == 0, done.stderr + done.stdout
    assert "Already recorded" in done.stdout
    assert "the request is closed" in done.stdout
    closed = run_dsar("--json", "requests", "list", "--all", env=env)
    assert [r["status"] for r in closed.json["requests"]] == ["closed"]
    # after the request is answered, a further call opens nothing and sends nothing
    late = run_dsar("--json", "consent", "withdraw", ANNA, "--channel", "phone", env=env)
    assert late.code == 0 and late.json["request_id"] is None
    assert len(run_dsar("--json", "requests", "list", "--all", env=env).json["requests"]) == 1


def test_an_unsubscribe_seen_by_the_sync_clears_the_booking_flag(
        sandbox: Sandbox, tmp_path: Path, database_url: str) -> None:
    env = _env(sandbox, tmp_path)
    first = run_dsar("--json", "consent-sync", env=env)
    assert first.code in (0, 3), first.stderr
    assert "Booking system" in first.json["destinations"]
    assert _newsletter(sandbox, JOHAN_CUSTOMER)
    sandbox.servers["mailerlite"].unsubscribe(JOHAN)  # type: ignore[attr-defined]
    second = run_dsar("--json", "consent-sync", env=env)
    assert second.code == 3, second.stderr  # Paloma's manual task
    assert second.json["changes"] == {"opt_out": 1}
    assert not _newsletter(sandbox, JOHAN_CUSTOMER)
    # MailerLite, where the opt-out happened, is never told about it
    assert not [m for m in mutating(sandbox) if m[0] == "mailerlite"]


@pytest.mark.parametrize("args, said", [
    (("anna.svensson@", "--channel", "phone"), "not a valid e-mail address"),
    ((ANNA, "--channel", "pigeon"), "unknown channel"),
    ((ANNA, "--channel", "objection"), "unknown channel"),
])
def test_bad_input_is_exit_2_and_contacts_nobody(
        sandbox: Sandbox, tmp_path: Path, database_url: str, args: tuple[str, ...],
        said: str) -> None:
    run = run_dsar("consent", "withdraw", *args, env=_env(sandbox, tmp_path))
    assert run.code == 2 and said in run.stderr, run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())


def test_a_failed_destination_is_retried_by_the_next_run(
        sandbox: Sandbox, tmp_path: Path, database_url: str) -> None:
    env = _env(sandbox, tmp_path)
    sandbox.servers["booking"].fail_mode = "500"
    run = run_dsar("--json", "consent", "withdraw", ANNA, "--channel", "letter", env=env,
                   timeout=300)
    assert run.code == 3, run.stderr
    states = {d["destination"]: d["state"] for d in run.json["destinations"]}
    assert states["booking"] == "failed" and states["mailerlite"] == "done"
    assert _newsletter(sandbox, ANNA_CUSTOMER)

    sandbox.servers["booking"].fail_mode = None
    again = run_dsar("--json", "consent", "withdraw", ANNA, "--channel", "letter", env=env)
    assert again.code == 3, again.stderr  # Paloma's task is still open
    states = {d["destination"]: d["state"] for d in again.json["destinations"]}
    assert states["booking"] == "done" and again.json["already_recorded"] is True
    assert not _newsletter(sandbox, ANNA_CUSTOMER)
    ml_puts = [m for m in mutating(sandbox) if m[0] == "mailerlite"]
    assert len(ml_puts) == 1  # MailerLite, done in the first run, was not told again
