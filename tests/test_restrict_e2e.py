"""End-to-end: `dsar restrict` (the real CLI in a subprocess) against the sandbox processors.

Bad input contacts nobody; a restriction marks the records that can carry a marker (Stripe's
customer metadata, the booking system's declared field) once; while it is in force an erasure
is refused, `retention due --execute` leaves the subject's retained records alone and the
consent sync changes nothing elsewhere; after `--lift --notified-on` they act again."""

from __future__ import annotations

import stat
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.sandbox import Sandbox
from hub.store.db import open_database
from hub.store.tables import ErasureActionRow
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_consent_cli import run_consent_cli
from tests.test_erase_e2e import mutating, relaxed

ANNA = "anna.svensson@example.se"
STRIPE_CUSTOMER = "cus_Xq2G9xrZAAXepS"


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield relaxed(running)


@pytest.fixture
def env(sandbox: Sandbox, database_url: str) -> dict[str, str]:
    """Zettle's receipts carry no marker and no subject of their own (nothing to restrict);
    left out, its long history read does not hold the SQLite database meanwhile."""
    names = tuple(name for name in sandbox.base_urls if name != "zettle")
    return sandbox_env(sandbox, names) | {"DSAR_ZETTLE__ENABLED": "false"}


def _hub_database() -> str:
    """The database the CLI's hub uses here (the state folder the conftest set up, or the
    test's PostgreSQL database)."""
    from hub.config.settings import HubSettings
    from tests.databases import hub_database_url

    return hub_database_url(HubSettings().state_dir)


@pytest.mark.parametrize("args, said", [
    ((), "--reason is required"),
    (("--reason", "  "), "--reason is required"),
    (("--lift",), "--notified-on"),
    (("--lift", "--notified-on", "2026-13-01"), "is not a date"),
    (("--lift", "--notified-on", (date.today() + timedelta(days=3)).isoformat()),
     "in the future"),
    (("--reason", "x", "--notified-on", "2026-01-01"), "belongs to --lift"),
])
def test_bad_input_is_exit_2_and_contacts_nobody(sandbox: Sandbox, env: dict[str, str],
                                                 tmp_path: Path, args: tuple[str, ...],
                                                 said: str) -> None:
    run = run_dsar("--out", str(tmp_path / "out"), "restrict", ANNA, *args, "--yes", env=env)
    assert run.code == 2 and said in run.stderr, run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())


def test_lifting_what_is_not_restricted_is_exit_2_and_contacts_nobody(
        sandbox: Sandbox, env: dict[str, str], tmp_path: Path) -> None:
    today = date.today().isoformat()
    run = run_dsar("--out", str(tmp_path / "out"), "restrict", ANNA, "--lift", "--notified-on",
                   today, "--yes", env=env)
    assert run.code == 2 and "nothing to lift" in run.stderr, run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())


def test_restrict_marks_once_refuses_erasure_and_lift_removes_the_marks(
        sandbox: Sandbox, env: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    dry = run_dsar("--json", "--out", out, "restrict", ANNA, "--reason", "accuracy contested",
                   "--dry-run", env=env)
    assert dry.code == 0, dry.stderr
    plan = {(p["processor"], p["record_type"], p["record_id"]): p["action"]
            for p in dry.json["plan"]}
    assert plan["stripe", "customer", STRIPE_CUSTOMER] == "mark"
    assert plan["fortnox", "customer", "1"] == "manual"
    assert not mutating(sandbox)

    run = run_dsar("--json", "--out", out, "restrict", ANNA, "--reason", "accuracy contested",
                   "--yes", env=env)
    assert run.code == 3, run.stderr  # Fortnox's customer is marked by a person
    result = run.json
    assert result["in_force"] and result["recorded_now"]
    states = {(a["processor"], a["record_type"]): a["state"] for a in result["actions"]}
    assert states["stripe", "customer"] == "done" and states["booking", "customer"] == "done"
    assert states["fortnox", "customer"] == "manual-open"
    stripe = sandbox.servers["stripe"].state  # type: ignore[attr-defined]
    assert stripe.get("customers", STRIPE_CUSTOMER)["metadata"]["gdpr_restricted"] == "true"
    booking = sandbox.servers["booking"].state  # type: ignore[attr-defined]
    marked = [c for c in booking.customers.values() if c.get("CustomFields")]
    assert len(marked) == 2  # both of Anna's customers (one in other letter case)
    assert all("18" in c["CustomFields"][0]["Value"] for c in marked)
    markers = Counter(m for m in mutating(sandbox) if m[0] == "stripe")
    assert markers and all(n == 1 for n in markers.values())
    assert result["marketing"]["channel"] == "restriction"
    assert ANNA not in run.stdout  # the withdrawal's outcome is shown without the address
    sent = Counter(mutating(sandbox))

    letter = Path(result["letter"])
    assert stat.S_IMODE(letter.stat().st_mode) == 0o600
    text = letter.read_text(encoding="utf-8")
    assert "begränsat behandlingen" in text and "Stripe" in text
    assert "accuracy" not in text and "gdpr_restricted" not in text and "{" not in text

    again = run_dsar("--json", "--out", out, "restrict", ANNA, "--reason", "another",
                     "--yes", env=env)
    assert again.json["request_id"] == result["request_id"], again.stderr
    assert again.json["restriction"]["reason"] == "accuracy contested"
    assert Counter(mutating(sandbox)) == sent  # nothing was sent twice

    erase = run_dsar("--out", out, "erase", ANNA, "--yes", env=env)
    assert erase.code == 2 and "restricted" in erase.stderr, erase.stderr
    lookups = run_dsar("--json", "--out", out, "lookup", ANNA, env=env)
    assert lookups.code in (0, 3), lookups.stderr  # lookups stay allowed

    lift_open = run_dsar("--out", out, "restrict", ANNA, "--lift", "--notified-on",
                         date.today().isoformat(), "--yes", env=env)
    assert lift_open.code == 2 and "still open" in lift_open.stderr
    done = run_dsar("requests", "task", "done", result["request_id"],
                    "fortnox:customer:1", "--note", "noted in Fortnox", env=env)
    assert done.code in (0, 3), done.stderr
    run_dsar("requests", "close", result["request_id"], "--note", "marked", env=env)

    # the person cannot have been told of the lift before the restriction began
    before = run_dsar("--out", out, "restrict", ANNA, "--lift", "--notified-on", "2019-01-01",
                      "--yes", env=env)
    assert before.code == 2 and "before the restriction began" in before.stderr, before.stderr
    told = date.today().isoformat()
    lifted = run_dsar("--json", "--out", out, "restrict", ANNA, "--lift", "--notified-on", told,
                      "--yes", env=env)
    assert lifted.code in (0, 3), lifted.stderr
    assert lifted.json["lift"] and not lifted.json["in_force"]
    assert lifted.json["restriction"]["notified_on"] == told
    assert "gdpr_restricted" not in (stripe.get("customers", STRIPE_CUSTOMER)["metadata"] or {})
    assert all(booking.customers[c["Id"]]["CustomFields"][0]["Value"] == "" for c in marked)
    shown = run_dsar("--json", "requests", "show", lifted.json["request_id"], env=env)
    events = {e["kind"]: e["details"] for e in shown.json["events"]}
    assert events["restriction.lifted"]["notified_on"] == told
    audit = run_dsar("--json", "audit", "show", "--request", lifted.json["request_id"],
                     env=env)
    entries = {e["action"]: e["details"] for e in audit.json}
    assert entries["restriction.lifted"]["notified_on"] == told, audit.stderr
    lift_letter = Path(lifted.json["letter"]).read_text(encoding="utf-8")
    assert "hävt begränsningen" in lift_letter


def test_retention_due_leaves_a_restricted_subjects_records_until_lifted(
        sandbox: Sandbox, env: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    erased = run_dsar("--json", "--out", out, "erase", ANNA, "--yes", env=env)
    assert erased.code == 3, erased.stderr  # manual steps and retained records remain
    engine = open_database(_hub_database())
    with engine.begin() as connection:  # the legal hold ends: the records are due today
        ended = connection.execute(update(ErasureActionRow).where(
            ErasureActionRow.request_id == erased.json["request_id"],
            ErasureActionRow.state == "retained").values(
            retained_until=date.today() - timedelta(days=1))).rowcount
    assert ended

    restricted = run_dsar("--json", "--out", out, "restrict", ANNA, "--reason",
                          "needed for a legal claim (Art. 18(1)(c))", "--yes", env=env)
    assert restricted.json["in_force"], restricted.stderr
    before = Counter(mutating(sandbox))
    due = run_dsar("--json", "retention", "due", "--execute", env=env)
    assert due.code == 0, due.stderr
    assert due.json["due"] == [] and len(due.json["skipped"]) == ended
    assert all("restricted" in s["why"] for s in due.json["skipped"])
    human = run_dsar("retention", "due", env=env)
    assert "Skipped" in human.stdout and "restricted" in human.stdout
    assert Counter(mutating(sandbox)) == before  # nothing erased

    run_dsar("requests", "close", restricted.json["request_id"], "--note", "marked", env=env)
    lifted = run_dsar("--json", "--out", out, "restrict", ANNA, "--lift", "--notified-on",
                      date.today().isoformat(), "--yes", env=env)
    assert not lifted.json["in_force"], lifted.stderr
    acted = run_dsar("--json", "retention", "due", "--execute", env=env)
    assert acted.json["skipped"] == [] and len(acted.json["due"]) == ended, acted.stderr
    assert Counter(mutating(sandbox)) - before  # the hold's end is acted on now


def test_consent_sync_leaves_a_restricted_subscriber_alone_until_lifted(
        sandbox: Sandbox, env: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    first = run_consent_cli("--json", "consent-sync", env=env)
    assert first.json["mode"] == "full" and first.json["restricted_left_alone"] == 0, \
        first.stderr
    restricted = run_dsar("--json", "--out", out, "restrict", ANNA, "--reason",
                          "accuracy contested", "--yes", env=env)
    assert restricted.json["in_force"], restricted.stderr
    mailerlite = sandbox.servers["mailerlite"]
    assert mailerlite.state.find(ANNA)["status"] == "unsubscribed"  # type: ignore[attr-defined]
    before = Counter(mutating(sandbox))

    seen = run_consent_cli("--json", "consent-sync", "--full", env=env)
    assert seen.json["restricted_left_alone"] >= 1, seen.stdout + seen.stderr
    assert seen.json["changes"].get("opt_out") == 1  # recorded: storing is allowed
    assert seen.json["propagation"]["manual_opened"] == 0  # but no task changes her elsewhere
    mailerlite.resubscribe(ANNA)  # type: ignore[attr-defined]  # a sign-up form, say
    sync = run_consent_cli("--json", "consent-sync", "--full", env=env)
    assert sync.json["restricted_left_alone"] >= 1, sync.stdout + sync.stderr
    assert sync.json["propagation"]["review_opened"] == 1  # held for a person
    assert Counter(mutating(sandbox)) == before  # nobody was changed anywhere
    assert "anna" not in (seen.stdout + seen.stderr + sync.stdout + sync.stderr).lower()

    run_dsar("requests", "close", restricted.json["request_id"], "--note", "marked", env=env)
    lifted = run_dsar("--json", "--out", out, "restrict", ANNA, "--lift", "--notified-on",
                      date.today().isoformat(), "--yes", env=env)
    assert not lifted.json["in_force"], lifted.stderr
    mailerlite.unsubscribe(ANNA)  # type: ignore[attr-defined]
    again = run_consent_cli("--json", "consent-sync", "--full", env=env)
    assert again.json["restricted_left_alone"] == 0, again.stdout
    assert again.json["changes"].get("opt_out") == 1, again.stdout
