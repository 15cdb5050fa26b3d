"""The erasure in the web inbox through Starlette's TestClient, against the sandbox's processors
on loopback (in process, on the test's database): the plan is shown and nothing changes before
"Erase now"; a weak match is erased only when ticked; someone else's record is refused; a
restricted subject is refused before anything is contacted; a resume repeats nothing.

The same flow in a real browser is ``tests/test_web_browser_erasure.py``.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.requests.context import RequestContext
from hub.sandbox import Sandbox
from hub.sandbox.booking_api import BookingServer
from hub.store.audit import AuditLog
from hub.store.erasure_actions import ErasureLedger
from hub.store.keyed import secret_path
from hub.store.restrictions import RestrictionRegister
from hub.web.auth import Gate
from tests.test_erase_e2e import mutating
from tests.web_helpers import (
    ANNA,
    client,
    gate,
    ledger_of,
    log_in,
    open_request,
    plan_of,
    relaxed_sandbox,
    sandbox_context,
    wait_for_run,
)

__all__ = ["client", "gate"]  # the fixtures, imported to be used here

ANNAS_DUPLICATE = "fortnox:customer:10"  # anna.svensson+kurs@: hers, a weak match
DUPLICATES_INVOICE = "fortnox:invoice:2"  # found through that customer only
ERIK_ID = "6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f"
ERIK = f"booking:customer:{ERIK_ID}"  # shares Anna's phone: someone else's record
ERIK_MAIL = "erik.svensson@example.com"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with relaxed_sandbox() as running:
        booking = running.servers["booking"]
        assert isinstance(booking, BookingServer)
        booking.state.customers[ERIK_ID] = {
            "Id": ERIK_ID, "Firstname": "Erik", "Lastname": "Svensson", "Email": ERIK_MAIL,
            "Phone": "070 1234567", "PersonalIdentityNumber": None, "ImageUrl": None,
            "SubscribedToNewsletter": False, "InvoiceAddress": None, "Comments": [],
            "Created": "2024-02-01T09:00:00", "Updated": "2024-02-01T09:00:00"}
        yield running


@pytest.fixture
def context(database_url: str, tmp_path: Path, sandbox: Sandbox) -> RequestContext:
    return sandbox_context(sandbox, database_url, tmp_path)


def _audit(context: RequestContext) -> list[tuple[str, str | None]]:
    entries = AuditLog(ledger_of(context).engine, secret_path(context.settings.state_dir)).entries()
    return [(e.action, e.details_data.get("via")) for e in entries]


def _log_in_and_open(client: TestClient, gate: Gate, email: str = ANNA) -> tuple[str, str]:
    """Log in and open an erasure request through the "new request" page: (csrf, its id)."""
    csrf = log_in(client, gate)
    return csrf, open_request(client, csrf, type="erasure", email=email)


def _wait(client: TestClient, request_id: str) -> str:
    return wait_for_run(client, request_id, "erasure")


def _build_plan(client: TestClient, csrf: str, request_id: str) -> str:
    started = client.post(f"/requests/{request_id}/erasure/plan", data={"csrf": csrf},
                          follow_redirects=False)
    assert started.status_code == 303
    assert started.headers["location"] == f"/requests/{request_id}/erasure"
    assert _wait(client, request_id) == "planned"
    page = client.get(f"/requests/{request_id}/erasure")
    assert page.status_code == 200
    return page.text


def _touched(sandbox: Sandbox, fragment: str) -> list[tuple[str, str, str]]:
    return [m for m in mutating(sandbox) if fragment in m[2]]


def test_the_plan_is_shown_and_nothing_changes_before_erase_now(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    request_page = client.get(f"/requests/{request_id}").text
    assert f'action="/requests/{request_id}/erasure/plan"' in request_page
    assert "Ta fram planen" in request_page

    plan = _build_plan(client, csrf, request_id)
    assert "Raderas" in plan and "Sparas med stöd av lag" in plan  # in words, per record
    assert "Bokföringslagen" in plan and "sparas till och med 20" in plan
    assert "Uppgift för hand" in plan
    # each weak match on its own, with both people's identifying fields side by side
    weak = plan[plan.index('id="weak-h"'):]
    assert f'value="{ANNAS_DUPLICATE}"' in weak and "personens adress +kurs" in weak
    assert "Personen som begär" in weak and "Den här posten" in weak
    assert "Erik Svensson" in weak and ERIK_MAIL in weak
    assert re.search(rf'value="{re.escape(ERIK)}"[^>]* disabled', weak)

    confirm = client.post(f"/requests/{request_id}/erasure/confirm", data={
        "csrf": csrf, "plan": plan_of(plan), "approve": [ANNAS_DUPLICATE]})
    assert confirm.status_code == 200
    assert "Radera nu" in confirm.text and ANNAS_DUPLICATE in confirm.text
    counts = re.findall(r"<li>(\d+) poster (raderas|anonymiseras|sparas)", confirm.text)
    assert {kind for _, kind in counts} == {"raderas", "anonymiseras", "sparas"}
    assert int(dict((kind, n) for n, kind in counts)["raderas"]) > 0

    # no call that changes anything, nothing in the ledger's plan, no approval recorded
    assert mutating(sandbox) == []
    assert ErasureLedger(ledger_of(context).engine).plan(request_id) == []
    assert [e.kind for e in ledger_of(context).get(request_id).events] == ["opened"]

    # "Erase now" without the form's token is refused and changes nothing
    forged = client.post(f"/requests/{request_id}/erasure/execute", data={
        "plan": plan_of(plan), "approve": [ANNAS_DUPLICATE]})
    assert forged.status_code == 403
    assert client.post(f"/requests/{request_id}/erasure/plan", data={}).status_code == 403
    # a confirmation for another plan (an old tab) is refused too
    stale = client.post(f"/requests/{request_id}/erasure/execute", data={
        "csrf": csrf, "plan": "an-older-plan", "approve": [ANNAS_DUPLICATE]})
    assert stale.status_code == 409
    time.sleep(0.5)
    assert mutating(sandbox) == []
    assert client.get(f"/requests/{request_id}/erasure/status").json()["phase"] == "planned"
    assert [a for a, _ in _audit(context) if a.startswith("erasure.")] == ["erasure.plan_built"]
    english = client.get(f"/requests/{request_id}/erasure?lang=en").text
    assert "Weak matches" in english and "Approve this record" in english


def test_someone_elses_record_is_refused_next_to_it_and_nothing_changes(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    plan = _build_plan(client, csrf, request_id)
    for step in ("confirm", "execute"):
        refused = client.post(f"/requests/{request_id}/erasure/{step}", data={
            "csrf": csrf, "plan": plan_of(plan), "approve": [ANNAS_DUPLICATE, ERIK]})
        assert refused.status_code == 400, step
        error = re.search(r'<p class="error" id="(approve-\d+)-error">([^<]*)</p>', refused.text)
        assert error and "en annan persons" in error.group(2)
        field = re.search(rf'<input[^>]*id="{error.group(1)}"[^>]*>', refused.text)
        assert field and f'value="{ERIK}"' in field.group(0)
        assert "Radera nu" not in refused.text
    malformed = client.post(f"/requests/{request_id}/erasure/confirm", data={
        "csrf": csrf, "plan": plan_of(plan), "approve": ["fortnox-customer-10"]})
    assert malformed.status_code == 400
    time.sleep(0.5)
    assert mutating(sandbox) == []
    assert ErasureLedger(ledger_of(context).engine).plan(request_id) == []


def test_only_the_approved_weak_match_is_erased_and_a_resume_repeats_nothing(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    plan = _build_plan(client, csrf, request_id)
    executed = client.post(f"/requests/{request_id}/erasure/execute", data={
        "csrf": csrf, "plan": plan_of(plan), "approve": [ANNAS_DUPLICATE]},
        follow_redirects=False)
    assert executed.status_code == 303
    assert _wait(client, request_id) == "finished"

    actions = {a.task: a for a in ErasureLedger(ledger_of(context).engine).plan(request_id)}
    assert actions[ANNAS_DUPLICATE].state == "done" and _touched(sandbox, "/3/customers/10")
    # the weak matches nobody ticked are not erased: they wait for a person
    assert (actions[DUPLICATES_INVOICE].action, actions[DUPLICATES_INVOICE].state) == (
        "manual", "manual-open")
    assert not _touched(sandbox, "/3/invoices/2")
    assert ERIK not in actions and not _touched(sandbox, ERIK_ID)
    assert any(a.processor == "stripe" and a.state == "done" for a in actions.values())
    approvals = [e.details["task"] for e in ledger_of(context).get(request_id).events
                 if e.kind == "erasure.approved"]
    assert approvals == [ANNAS_DUPLICATE]

    result = client.get(f"/requests/{request_id}/erasure").text
    assert 'id="result-h"' in result and "Stripe" in result and "klar:" in result
    assert f'href="/requests/{request_id}#tasks"' in result
    letters = re.findall(rf'href="/requests/{request_id}/erasure/files/([^"]+)"', result)
    assert "report.html" in letters and "cover-letter.txt" in letters
    assert any(name.startswith("art19-") for name in letters)
    answer = client.get(f"/requests/{request_id}/erasure/files/report.html")
    folder = context.reports_dir / request_id
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    assert answer.content == (folder / "report.html").read_bytes()
    for name in ("report.json", "erasure.json", "..%2Freport.html", "art19-x.json"):
        assert client.get(f"/requests/{request_id}/erasure/files/{name}").status_code == 404
    # the manual tasks are on the request's checklist
    detail = client.get(f"/requests/{request_id}").text
    assert DUPLICATES_INVOICE in detail and "Fortsätt raderingen" in detail

    ours = [(a, via) for a, via in _audit(context) if a.startswith("erasure.")
            and via == "web"]
    assert [a for a, _ in ours] == ["erasure.plan_built", "erasure.approvals",
                                    "erasure.confirmed", "erasure.executed"]

    # resume: the saved plan is built again, shows what is done, and repeats nothing
    first = Counter(mutating(sandbox))
    again = _build_plan(client, csrf, request_id)
    assert "klar" in again
    executed = client.post(f"/requests/{request_id}/erasure/execute", data={
        "csrf": csrf, "plan": plan_of(again)}, follow_redirects=False)
    assert executed.status_code == 303
    assert _wait(client, request_id) == "finished"
    assert Counter(mutating(sandbox)) == first


def test_a_restricted_subject_is_refused_in_words_and_nothing_is_contacted(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    engine = ledger_of(context).engine
    RestrictionRegister(engine, secret_path(context.settings.state_dir)).restrict(
        ANNA, "accuracy contested", request_id="res-20261129-100000-abcdef")
    refused = client.post(f"/requests/{request_id}/erasure/plan", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "begränsad (artikel 18)" in refused.text and "res-20261129-100000-abcdef" in refused.text
    assert "Radera nu" not in refused.text
    assert client.get(f"/requests/{request_id}/erasure/status").status_code == 404
    assert all(server.request_count == 0 for server in sandbox.servers.values())
    assert ErasureLedger(engine).plan(request_id) == []
    assert ("erasure.plan_refused", "web") in _audit(context)


def test_only_an_open_erasure_request_has_an_erasure_page(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    access = ledger_of(context).open_request(ANNA, "access")
    csrf, request_id = _log_in_and_open(client, gate)
    assert client.get(f"/requests/{access.id}/erasure").status_code == 404
    assert client.post(f"/requests/{access.id}/erasure/plan",
                       data={"csrf": csrf}).status_code == 404
    assert "Ta fram planen" not in client.get(f"/requests/{access.id}").text
    ledger_of(context).close(request_id, note="withdrawn")
    closed = client.post(f"/requests/{request_id}/erasure/plan", data={"csrf": csrf})
    assert closed.status_code == 409
    assert all(server.request_count == 0 for server in sandbox.servers.values())
