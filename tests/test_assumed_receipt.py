"""A request that ``dsar lookup`` / ``dsar erase`` had to open itself has no known receipt date:
"now" is recorded as assumed (``received_at_assumed``), the run warns on stderr and says so in
``--json``, and ``dsar requests show`` shows it. A request opened with ``dsar requests open``
has a given receipt date and none of that."""

from __future__ import annotations

import pytest

from hub.sandbox import Sandbox
from hub.store.ledger import Ledger
from tests.e2e_helpers import run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
MARIA = "maria.berg@example.se"


def test_the_ledger_marks_only_a_request_opened_without_a_date(database_url: str) -> None:
    ledger = Ledger.open(database_url)
    opened, created = ledger.find_or_open(ANNA, "access")
    assert created and opened.received_at_assumed
    assert opened.as_dict()["received_at_assumed"] is True
    assert opened.events[0].details["received_assumed"] is True
    again, created = ledger.find_or_open(ANNA, "access")
    assert not created and again.id == opened.id and again.received_at_assumed
    given = ledger.open_request(MARIA, "access")  # `dsar requests open` without --received
    assert not given.received_at_assumed and "received_assumed" not in given.events[0].details
    dated, _ = ledger.find_or_open(MARIA, "erasure", received=given.received_on)
    assert not dated.received_at_assumed
    exported = ledger.export_csv()
    assert "received_at_assumed" in exported.splitlines()[0]
    assert sorted(line.split(",")[6] for line in exported.splitlines()[1:]) == ["no", "no", "yes"]


@pytest.fixture
def sandbox():  # type: ignore[no-untyped-def]
    with Sandbox() as running:
        running.servers["fortnox"].rate_limit_requests = 10_000  # type: ignore[attr-defined]
        yield running


@pytest.mark.database
def test_lookup_without_an_open_request_warns_and_records_the_date_as_assumed(
        sandbox: Sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = sandbox_env(sandbox)
    run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA, env=env)
    assert run.code in (0, 3), run.stderr
    assert run.json["received_at_assumed"] is True
    warning = " ".join(run.stderr.split())
    assert f"request {run.json['request_id']}" in warning and "(assumed)" in warning
    assert ANNA not in run.stderr
    shown = run_dsar("--json", "requests", "show", run.json["request_id"], env=env)
    assert shown.json["received_at_assumed"] is True
    human = run_dsar("requests", "show", run.json["request_id"], env={**env, "COLUMNS": "200"})
    assert "assumed" in human.stdout

    opened = run_dsar("--json", "requests", "open", MARIA, "--received",
                      shown.json["received_on"], env=env)
    assert opened.code == 0, opened.stderr
    given = run_dsar("--json", "--out", str(tmp_path), "lookup", MARIA, env=env)
    assert given.json["request_id"] == opened.json["id"]
    assert given.json["received_at_assumed"] is False and "assumed" not in given.stderr


@pytest.mark.database
def test_erase_warns_before_the_plan_is_confirmed_and_after_it_ran(
        sandbox: Sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = sandbox_env(sandbox)
    planned = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--dry-run", env=env)
    assert planned.code == 0, planned.stderr
    assert planned.json["received_at_assumed"] is True
    assert "will record today" in " ".join(planned.stderr.split()) and ANNA not in planned.stderr
    run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
    assert run.code in (0, 3), run.stderr
    assert run.json["received_at_assumed"] is True
    assert f"request {run.json['request_id']}" in " ".join(run.stderr.split())
    assert "will record today" not in " ".join(run.stderr.split())  # --yes: no plan to confirm
    shown = run_dsar("--json", "requests", "show", run.json["request_id"], env=env)
    assert shown.json["received_at_assumed"] is True
