"""The rectification (Art. 16) in the web inbox through Starlette's TestClient, against the
sandbox's processors on loopback (in process, on the test's database): the plan is shown and
nothing changes before "Rätta nu"; a confirmed change reaches each processor once; bad input is
refused next to its field with nothing contacted; a form without the CSRF token is refused;
a failed change is resumed without repeating what was done; the new values never reach a URL,
the ledger or the audit log.

The same flow in a real browser is ``tests/test_web_browser_rectification.py``.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.requests.context import RequestContext
from hub.sandbox import Sandbox
from hub.store.audit import AuditLog
from hub.store.erasure_actions import ErasureLedger
from hub.store.keyed import secret_path
from hub.store.restrictions import RestrictionRegister
from hub.web.app import build_app
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

NEW_PHONE = "+46709998877"
OLD_PHONE = "+46701234567"
STRIPE_CUSTOMER = "cus_Xq2G9xrZAAXepS"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with relaxed_sandbox() as running:
        yield running


@pytest.fixture
def context(database_url: str, tmp_path: Path, sandbox: Sandbox) -> RequestContext:
    return sandbox_context(sandbox, database_url, tmp_path)


def _audit(context: RequestContext) -> list[tuple[str, dict[str, object]]]:
    entries = AuditLog(ledger_of(context).engine, secret_path(context.settings.state_dir)).entries()
    return [(e.action, e.details_data) for e in entries]


def _log_in_and_open(client: TestClient, gate: Gate) -> tuple[str, str]:
    """Log in and open a rectification request through "Ny begäran": (csrf, its id)."""
    csrf = log_in(client, gate)
    return csrf, open_request(client, csrf, type="rectification")


def _wait(client: TestClient, request_id: str) -> str:
    return wait_for_run(client, request_id, "rectification")


def _show_plan(client: TestClient, csrf: str, request_id: str, **values: str) -> str:
    started = client.post(f"/requests/{request_id}/rectification/plan",
                          data={"csrf": csrf, **values}, follow_redirects=False)
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/requests/{request_id}/rectification"
    assert _wait(client, request_id) == "planned"
    page = client.get(f"/requests/{request_id}/rectification")
    assert page.status_code == 200
    return page.text


def _correct_now(client: TestClient, csrf: str, request_id: str, plan: str) -> str:
    executed = client.post(f"/requests/{request_id}/rectification/execute",
                           data={"csrf": csrf, "plan": plan_of(plan)}, follow_redirects=False)
    assert executed.status_code == 303, executed.text
    assert _wait(client, request_id) == "finished"
    return client.get(f"/requests/{request_id}/rectification").text


def _no_values_kept(context: RequestContext, request_id: str, *values: str) -> None:
    """Neither the audit log nor the request's history holds a corrected value."""
    audit = json.dumps(_audit(context), ensure_ascii=False, default=str)
    events = json.dumps([e.details for e in ledger_of(context).get(request_id).events],
                        ensure_ascii=False, default=str)
    for value in values:
        assert value not in audit and value not in events


def test_the_plan_is_shown_and_nothing_changes_before_correct_now(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    request_page = client.get(f"/requests/{request_id}").text
    assert f'action="/requests/{request_id}/rectification/plan"' in request_page
    assert "Telefonnummer" in request_page and "Visa planen" in request_page

    plan = _show_plan(client, csrf, request_id, phone="070-999 88 77")
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<tr data-action="([a-z-]+)">(.*?)</tr>', plan, re.S)}
    assert set(rows) >= {"rectify", "kept"}
    assert "Rättas" in plan and "Bokförd post" in plan  # in words, per record
    assert STRIPE_CUSTOMER in plan and NEW_PHONE in plan  # normalised as the CLI does
    assert OLD_PHONE not in plan and "+4…67" in plan  # the old value masked
    assert 'name="phone"' in plan and f'value="{NEW_PHONE}"' in plan  # to correct it again

    confirm = client.post(f"/requests/{request_id}/rectification/confirm",
                          data={"csrf": csrf, "plan": plan_of(plan)})
    assert confirm.status_code == 200
    assert "Rätta nu" in confirm.text and "Telefonnummer" in confirm.text
    count = re.search(r"<li>(\d+) poster rättas", confirm.text)
    assert count and int(count.group(1)) >= 4

    # nothing sent, nothing in the ledger's plan, no request event
    assert mutating(sandbox) == []
    assert ErasureLedger(ledger_of(context).engine).plan(request_id) == []
    assert [e.kind for e in ledger_of(context).get(request_id).events] == ["opened"]

    # "Rätta nu" without the form's token is refused and changes nothing
    forged = client.post(f"/requests/{request_id}/rectification/execute",
                         data={"plan": plan_of(plan)})
    assert forged.status_code == 403
    assert client.post(f"/requests/{request_id}/rectification/plan",
                       data={"phone": NEW_PHONE}).status_code == 403
    # a confirmation for another plan (an old tab) is refused too
    stale = client.post(f"/requests/{request_id}/rectification/execute",
                        data={"csrf": csrf, "plan": "an-older-plan"})
    assert stale.status_code == 409
    time.sleep(0.5)
    assert mutating(sandbox) == []
    assert client.get(f"/requests/{request_id}/rectification/status").json()["phase"] == \
        "planned"
    assert [a for a, _ in _audit(context) if a.startswith("rectification.")] == [
        "rectification.plan_built"]
    _no_values_kept(context, request_id, NEW_PHONE, "070-999 88 77")
    english = client.get(f"/requests/{request_id}/rectification?lang=en").text
    assert "Booked accounting record" in english and "Phone number" in english


@pytest.mark.parametrize("values, field_id, said", [
    ({"phone": "12"}, "rect-phone", "inget giltigt telefonnummer"),
    ({"email": "anna@"}, "rect-email", "ingen giltig e-postadress"),
    ({"country": "Sverige", "city": "Lund"}, "rect-country", "landskod med två bokstäver"),
])
def test_bad_input_is_refused_next_to_its_field_and_contacts_nobody(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox,
        values: dict[str, str], field_id: str, said: str) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    refused = client.post(f"/requests/{request_id}/rectification/plan",
                          data={"csrf": csrf, **values})
    assert refused.status_code == 400
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', refused.text)
    assert error and said in error.group(1)
    assert re.search(rf'<input id="{field_id}"[^>]*aria-invalid="true"', refused.text)
    # what was typed is shown again (in the page, not the URL), escaped
    for value in values.values():
        assert f'value="{value}"' in refused.text
    assert client.get(f"/requests/{request_id}/rectification/status").status_code == 404
    assert all(server.request_count == 0 for server in sandbox.servers.values())
    assert [a for a, _ in _audit(context) if a.startswith("rectification.")] == []


def test_an_empty_form_says_at_least_one_and_markup_is_shown_as_text(
        client: TestClient, gate: Gate, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    empty = client.post(f"/requests/{request_id}/rectification/plan",
                        data={"csrf": csrf, "name": "  ", "city": ""})
    assert empty.status_code == 400 and "minst en uppgift" in empty.text
    hostile = client.post(f"/requests/{request_id}/rectification/plan",
                          data={"csrf": csrf, "name": "<script>x</script>", "phone": "1"})
    assert hostile.status_code == 400
    assert "<script>x</script>" not in hostile.text and "&lt;script&gt;" in hostile.text
    assert all(server.request_count == 0 for server in sandbox.servers.values())


def test_a_confirmed_change_reaches_each_processor_once(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    plan = _show_plan(client, csrf, request_id, phone=NEW_PHONE)
    result = _correct_now(client, csrf, request_id, plan)

    changed = mutating(sandbox)
    assert changed and all(n == 1 for n in Counter(changed).values())
    assert not any("invoice" in target or "charge" in target for _, _, target in changed)
    assert {name for name, _, _ in changed} >= {"stripe", "mailerlite", "fortnox", "booking"}
    stripe = sandbox.servers["stripe"].state  # type: ignore[attr-defined]
    assert stripe.get("customers", STRIPE_CUSTOMER)["phone"] == NEW_PHONE
    fortnox = sandbox.servers["fortnox"].state  # type: ignore[attr-defined]
    assert fortnox.customers["1"]["Phone1"] == NEW_PHONE

    assert 'id="result-h"' in result and "rättad" in result
    assert "avslutad" in result and 'id="notified"' in result
    assert f'href="/requests/{request_id}/preview/rectification-letter.html"' in result
    assert client.post(f"/requests/{request_id}/rectification/execute", data={
        "csrf": csrf, "plan": plan_of(plan)}).status_code == 409  # a second click: nothing
    letter = client.get(f"/requests/{request_id}/rectification/files/rectification-letter.txt")
    assert letter.status_code == 200 and "attachment" in letter.headers["content-disposition"]
    assert letter.content == (context.reports_dir / request_id /
                              "rectification-letter.txt").read_bytes()
    for name in ("rectification.json", "..%2Frectification-letter.txt", "report.html"):
        assert client.get(f"/requests/{request_id}/rectification/files/{name}"
                          ).status_code == 404
    preview = client.get(f"/requests/{request_id}/preview/rectification-letter.html")
    assert preview.status_code == 200 and "inline" in preview.headers["content-disposition"]

    # the answer panel offers the letter and "mark as sent"
    detail = client.get(f"/requests/{request_id}").text
    answer = detail[detail.index('id="answer"'):]
    assert "Brevet om rättelsen" in answer and 'action="/requests/' in answer
    sent = client.post(f"/requests/{request_id}/sent", data={
        "csrf": csrf, "on": time.strftime("%Y-%m-%d"), "how": "e-post"},
        follow_redirects=False)
    assert sent.status_code == 303
    assert "answer_sent" in [e.kind for e in ledger_of(context).get(request_id).events]

    ours = [(a, d) for a, d in _audit(context) if a.startswith("rectification.")]
    assert [a for a, _ in ours] == ["rectification.plan_built", "rectification.confirmed",
                                    "rectification.executed"]
    assert all(d["via"] == "web" for _, d in ours)
    assert ours[1][1]["fields"] == ["phone"]
    _no_values_kept(context, request_id, NEW_PHONE)
    assert client.post(f"/requests/{request_id}/rectification/plan",
                       data={"csrf": csrf, "phone": NEW_PHONE}).status_code == 409  # closed


def test_a_failed_change_is_resumed_and_nothing_done_is_sent_again(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.sandbox import fortnox_api

    csrf, request_id = _log_in_and_open(client, gate)
    refusing = {k: v for k, v in fortnox_api.CUSTOMER_DEFAULTS.items() if k != "Phone1"}
    with monkeypatch.context() as patched:
        patched.setattr(fortnox_api, "CUSTOMER_DEFAULTS", refusing)  # PUT Phone1: 400
        plan = _show_plan(client, csrf, request_id, phone=NEW_PHONE)
        first = _correct_now(client, csrf, request_id, plan)
    assert "misslyckades" in first and "avslutad" not in first
    states = {(a.processor, a.record_type): a.state
              for a in ErasureLedger(ledger_of(context).engine).plan(request_id)}
    assert states["fortnox", "customer"] == "failed" and states["stripe", "customer"] == "done"
    sent = Counter(mutating(sandbox))

    # after a restart (a new app: the values typed are gone with the old server's memory)
    # the page shows the saved outcome from the ledger; the values are typed again
    restarted = TestClient(build_app(context, gate), cookies=client.cookies)
    saved = restarted.get(f"/requests/{request_id}/rectification").text
    assert 'id="saved-h"' in saved and "misslyckades" in saved and NEW_PHONE not in saved
    again = _show_plan(restarted, csrf, request_id, phone=NEW_PHONE)
    assert "Redan rätt" in again  # what was done is shown as done, and not sent again
    second = _correct_now(restarted, csrf, request_id, again)
    assert "avslutad" in second
    assert Counter(mutating(sandbox)) - sent == Counter({("fortnox", "PUT", "/3/customers/1"): 1})
    assert ledger_of(context).get(request_id).status == "closed"
    _no_values_kept(context, request_id, NEW_PHONE)


def test_a_restricted_subject_is_told_in_the_plan_and_may_still_be_corrected(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    csrf, request_id = _log_in_and_open(client, gate)
    RestrictionRegister(ledger_of(context).engine, secret_path(context.settings.state_dir)
                        ).restrict(ANNA, "accuracy contested",
                                   request_id="res-20261129-100000-abcdef")
    plan = _show_plan(client, csrf, request_id, name="Anna Svensson-Berg")
    notice = re.search(r'<p class="warn" id="restricted">([^<]*)</p>', plan)
    assert notice and "begränsad (artikel 18) sedan 20" in notice.group(1)
    assert "Rätta nu" in client.post(f"/requests/{request_id}/rectification/confirm", data={
        "csrf": csrf, "plan": plan_of(plan)}).text
    built = [d for a, d in _audit(context) if a == "rectification.plan_built"]
    assert built and built[0]["restricted"] is True and built[0]["fields"] == ["name"]
    assert mutating(sandbox) == []


def test_only_an_open_rectification_request_has_a_rectification_page(
        client: TestClient, gate: Gate, context: RequestContext, sandbox: Sandbox) -> None:
    access = ledger_of(context).open_request(ANNA, "access")
    csrf, request_id = _log_in_and_open(client, gate)
    assert client.get(f"/requests/{access.id}/rectification").status_code == 404
    assert client.post(f"/requests/{access.id}/rectification/plan",
                       data={"csrf": csrf, "phone": NEW_PHONE}).status_code == 404
    assert "rectification/plan" not in client.get(f"/requests/{access.id}").text
    ledger_of(context).close(request_id, note="withdrawn")
    closed = client.post(f"/requests/{request_id}/rectification/plan",
                         data={"csrf": csrf, "phone": NEW_PHONE})
    assert closed.status_code == 409
    assert all(server.request_count == 0 for server in sandbox.servers.values())
