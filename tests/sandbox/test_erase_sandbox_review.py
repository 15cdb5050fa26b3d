"""Weak matches against the sandbox through the real CLI: approving one never approves another,
and a client who only shares the subject's phone number is never erased nor reported to her.

The scenario: the booking system also holds "Erik Svensson" (an invented client) whose phone
number is Anna's. The lookup widens by Anna's phone and finds him as a derived match; Anna's own
duplicate at Fortnox (a ``+kurs`` address) is a weak match too. The operator approves only
Anna's duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from hub.sandbox.booking_api import BookingServer
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import mutating, relaxed

ANNA = "anna.svensson@example.se"
ERIK_ID = "6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f"
ERIK_MAIL = "erik.svensson@example.com"
ERIK_PHONE = "070 1234567"  # Anna's number, written his way
ERIK = f"booking:customer:{ERIK_ID}"
ANNAS_DUPLICATE = "fortnox:customer:10"  # anna.svensson+kurs@, her own
DUPLICATES_INVOICE = "fortnox:invoice:2"  # found through that customer only
RECEIPT = "zettle:purchase:fbd16b30-9867-1f89-8598-a6fdaaee8a3a"  # her number in a comment


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        server = running.servers["booking"]
        assert isinstance(server, BookingServer)
        server.state.customers[ERIK_ID] = {
            "Id": ERIK_ID, "Firstname": "Erik", "Lastname": "Svensson", "Email": ERIK_MAIL,
            "Phone": ERIK_PHONE, "PersonalIdentityNumber": None, "ImageUrl": None,
            "SubscribedToNewsletter": False, "InvoiceAddress": None, "Comments": [],
            "Created": "2024-02-01T09:00:00", "Updated": "2024-02-01T09:00:00"}
        server.state.bookings[7901] = {
            "Id": 7901, "CompanyId": server.state.company_id, "CustomerId": ERIK_ID,
            "From": "2024-02-05T09:00:00", "To": "2024-02-05T10:00:00", "StatusId": 1,
            "StatusName": "Booked", "ServiceId": 12, "Service": {"Id": 12, "Name": "Samtal"},
            "BookedComments": "", "CreatedDate": "2024-02-01T09:00:00"}
        yield relaxed(running)
        for name, server in running.servers.items():
            assert server.internal_errors == [], f"{name} fake crashed"


def touched(sandbox: Sandbox, fragment: str) -> list[tuple[str, str, str]]:
    return [m for m in mutating(sandbox) if fragment in m[2]]


@pytest.mark.database
def test_the_plan_shows_whose_each_weak_match_is(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    run = run_dsar("--out", str(tmp_path), "erase", ANNA, "--dry-run", env=env)
    assert run.code == 0, run.stderr
    table = run.stdout  # cells wrap inside their columns: look for short pieces
    assert "Erik Svensson" in table and ERIK_MAIL in table and "phone, derived" in table
    assert "address +kurs" in table and ANNAS_DUPLICATE in table
    assert "19850709-****" in table and "19850709-1232" not in table
    flat = " ".join(table.split())
    assert "2 record(s) marked 'not the subject'" in flat  # his customer and his booking
    assert "--approve REF" in flat
    assert ANNA not in run.stdout + run.stderr
    assert "--include-weak-matches" not in run.stdout + run.stderr

    document = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--dry-run",
                        env=env).json
    review = {item["ref"]: item for item in document["review"]}
    assert review[ERIK]["status"] == "not-the-subject"
    assert review[ERIK]["matched_on"] == "phone"
    assert review[ERIK]["identity"]["names"] == ["Erik Svensson"]
    assert review[ANNAS_DUPLICATE]["status"] == "awaiting-review"
    assert ERIK not in {a["task"] for a in document["actions"]}
    assert not mutating(sandbox)


@pytest.mark.database
def test_someone_elses_record_cannot_be_approved(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    run = run_dsar("--out", str(tmp_path), "erase", ANNA, "--approve", ANNAS_DUPLICATE,
                   "--approve", ERIK, "--yes", env=env)
    assert run.code == 2, run.stderr
    message = " ".join(run.stderr.split())
    assert "cannot be approved" in message and "another person's record" in message
    assert not mutating(sandbox)
    assert run_dsar("--json", "requests", "list", "--all", env=env).json["requests"] == []
    malformed = run_dsar("erase", ANNA, "--approve", "fortnox-customer-10", "--yes", env=env)
    assert malformed.code == 2 and "processor:type:id" in malformed.stderr


@pytest.mark.database
def test_approving_annas_weak_match_erases_only_hers(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox_env(sandbox)
    booking = sandbox.servers["booking"]
    assert isinstance(booking, BookingServer)
    run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--approve",
                   ANNAS_DUPLICATE, "--yes", env=env)
    assert run.code == 3, run.stderr  # manual tasks and the other weak matches stay open
    summary = run.json
    actions = {a["task"]: a for a in summary["actions"]}

    # Erik is untouched: no call about him, still at the processor, not in the plan
    assert not touched(sandbox, ERIK_ID)
    assert ERIK_ID in booking.state.customers and 7901 in booking.state.bookings
    assert ERIK not in actions
    # Anna's approved duplicate was erased; her other weak matches still wait for review
    assert actions[ANNAS_DUPLICATE]["state"] == "done"
    assert touched(sandbox, "/3/customers/10")
    for other in (DUPLICATES_INVOICE, RECEIPT):
        assert (actions[other]["action"], actions[other]["state"]) == ("manual", "manual-open")

    # His e-mail and phone are not in her erasure report (nor anything else of his)
    folder = Path(summary["report"]).parent
    for name in ("report.json", "report.html", "erasure.json"):
        text = (folder / name).read_text(encoding="utf-8")
        for his in (ERIK_MAIL, ERIK_PHONE, ERIK_ID, "Erik"):
            assert his not in text, f"{his!r} in {name}"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    fortnox = next(p for p in report["processors"] if p["name"] == "fortnox")
    assert "10" in {r["id"] for r in fortnox["records"] if r["type"] == "customer"}

    # The approval is in the request's history, once, for that record only
    request_id = summary["request_id"]
    events = run_dsar("--json", "requests", "show", request_id, env=env).json["events"]
    approvals = [e["details"]["task"] for e in events if e["kind"] == "erasure.approved"]
    assert approvals == [ANNAS_DUPLICATE]

    # `requests review` lists the weak matches and approves the same way, one by one
    review = run_dsar("--json", "requests", "review", request_id, env=env)
    assert review.code == 0, review.stderr
    items = {i["ref"]: i for i in review.json["review"]}
    assert items[ERIK]["status"] == "not-the-subject"
    assert items[ERIK]["identity"]["emails"] == [ERIK_MAIL]
    # anonymised, so no longer found by her address: listed from the plan
    assert (items[ANNAS_DUPLICATE]["status"], items[ANNAS_DUPLICATE]["state"]) == (
        "approved", "done")
    assert items[DUPLICATES_INVOICE]["status"] == "awaiting-review"
    assert items[RECEIPT]["status"] == "awaiting-review"
    for ref, why in ((ERIK, "another person's record"), (DUPLICATES_INVOICE, "not a record "
                                                         "found"), ("zettle:purchase:x", "not")):
        refused = run_dsar("requests", "review", request_id, "--approve", ref, env=env)
        assert refused.code == 2 and why in " ".join(refused.stderr.split()), refused.stderr
    approved = run_dsar("--json", "requests", "review", request_id, "--approve", RECEIPT,
                        env=env)
    assert approved.code == 0, approved.stderr
    [action] = approved.json["approved"]
    assert action["task"] == RECEIPT and action["action"] == "retain"
    table = run_dsar("requests", "review", request_id, env=env)
    assert table.code == 0 and "Erik Svensson" in table.stdout and RECEIPT[:20] in table.stdout

    resumed = run_dsar("--json", "--out", str(tmp_path), "requests", "resume", request_id,
                       env=env)
    assert resumed.code == 3, resumed.stderr
    assert not touched(sandbox, ERIK_ID) and ERIK_ID in booking.state.customers
    states = {a["task"]: a["state"] for a in resumed.json["actions"]}
    assert states[RECEIPT] == "retained" and states[DUPLICATES_INVOICE] == "manual-open"


@pytest.mark.database
def test_an_approved_record_that_now_belongs_to_someone_else_is_not_erased(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Approved while it read "Anna Svensson" (another address, her phone); by the time the
    request is resumed the record names another person at another address."""
    env = sandbox_env(sandbox)
    booking = sandbox.servers["booking"]
    assert isinstance(booking, BookingServer)
    work_id = "7a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d"
    work = f"booking:customer:{work_id}"
    booking.state.customers[work_id] = {
        **booking.state.customers[ERIK_ID], "Id": work_id, "Firstname": "Anna",
        "Email": "anna.svensson@work.example.com"}
    first = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
    assert first.code == 3, first.stderr
    request_id = first.json["request_id"]
    assert {a["task"]: a["state"] for a in first.json["actions"]}[work] == "manual-open"
    approved = run_dsar("--json", "requests", "review", request_id, "--approve", work, env=env)
    assert approved.code == 0, approved.stderr
    assert [(a["task"], a["state"]) for a in approved.json["approved"]] == [(work, "planned")]

    booking.state.customers[work_id].update(Firstname="Erik", Email="erik@work.example.com")
    resumed = run_dsar("--json", "--out", str(tmp_path), "requests", "resume", request_id,
                       env=env)
    assert resumed.code == 3, resumed.stderr
    action = next(a for a in resumed.json["actions"] if a["task"] == work)
    assert action["state"] == "manual-open" and "now both differ" in action["detail"]
    assert work_id in booking.state.customers and not touched(sandbox, work_id)
