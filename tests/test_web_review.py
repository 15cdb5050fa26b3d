"""The answer's last steps in the web inbox (``hub/web/review.py``) through Starlette's
TestClient: the Art. 15(4) review with its refusals, the inline preview under its own
policy, and recording the day the answer was sent.

Hand-made lookup results (invented people) on the test's database (SQLite and PostgreSQL);
the path in a real browser is ``tests/test_web_browser_access.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connectors.zettle import ZettleConnector
from hub.config.settings import HubSettings
from hub.core.inventory import Controller, InventoryEntry
from hub.core.request_types import RequestType
from hub.requests.access.job import record_and_write
from hub.requests.context import RequestContext
from hub.store.audit import AuditLog
from hub.store.keyed import secret_path
from hub.store.ledger import local_today
from hub.web.auth import Gate
from tests.test_access_review import (
    CASHIER,
    FORTNOX_WEAK,
    RECEIPT,
    STRIPE_CUSTOMER,
    lookup_result,
)
from tests.web_helpers import ANNA, client, gate, ledger_of, log_in

__all__ = ["client", "gate"]  # the fixtures, imported to be used here

JOURNALS = InventoryEntry(key="journals", system="Client journals (paper, locked safe)",
                          manual_instructions="Search the binder under the client's name.")
HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    settings = HubSettings(state_dir=tmp_path / "state", database_url=database_url,
                           controller=Controller(name="Självkraft"), inventory=[JOURNALS])
    return RequestContext(settings, {"zettle": ZettleConnector}, out_dir=tmp_path / "reports")


def _audit(context: RequestContext) -> list[tuple[str, object]]:
    log = AuditLog(ledger_of(context).engine, secret_path(context.settings.state_dir))
    return [(e.action, e.details_data.get("via")) for e in log.entries()]


def _looked_up(context: RequestContext, *, flagged: bool = True) -> str:
    """Anna's access request with a lookup: held for review when ``flagged`` (a weak match
    whose name is hostile markup), else with its documents written."""
    ledger = ledger_of(context)
    request = ledger.open_request(ANNA, RequestType.ACCESS,
                                  received=local_today() - timedelta(days=4))
    report = lookup_result(request.id)
    report.processors[1].records[0].data["Name"] = HOSTILE
    if not flagged:
        report.processors = report.processors[:1]
    record_and_write(context, ledger, [report], [request], lang="sv")
    return request.id


def _files(context: RequestContext, request_id: str) -> set[str]:
    return {p.name for p in (context.reports_dir / request_id).iterdir()}


# -- the review -------------------------------------------------------------------------------


def test_a_held_lookup_links_to_the_review_and_cannot_be_marked_sent(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    request_id = _looked_up(context)
    csrf = log_in(client, gate)
    page = client.get(f"/requests/{request_id}").text
    assert f'href="/requests/{request_id}/review"' in page
    assert 'id="sent-form"' not in page and "/preview/" not in page
    refused = client.post(f"/requests/{request_id}/sent",
                          data={"csrf": csrf, "on": local_today().isoformat(), "how": "post"})
    assert refused.status_code == 409 and "inte skrivna" in refused.text
    assert ledger_of(context).get(request_id).status == "open"
    assert "answer_sent" not in [e.kind for e in ledger_of(context).get(request_id).events]


def test_the_review_lists_the_flagged_records_with_their_fields_escaped(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    request_id = _looked_up(context)
    log_in(client, gate)
    page = client.get(f"/requests/{request_id}/review").text
    for ref in (FORTNOX_WEAK, RECEIPT):
        assert f'name="choice:{ref}"' in page
    assert f'name="choice:{STRIPE_CUSTOMER}"' not in page  # not flagged: only with "all"
    assert f'value="{RECEIPT}:userDisplayName"' in page  # the cashier: keep or not
    assert CASHIER in page  # the operator sees what is at stake
    assert HOSTILE not in page and "&lt;img src=x" in page
    assert "Svag träff" in page
    every = client.get(f"/requests/{request_id}/review?all=1").text
    assert f'name="choice:{STRIPE_CUSTOMER}"' in every
    assert client.get("/requests/acc-unknown/review").status_code == 404
    erasure = ledger_of(context).open_request(ANNA, "erasure")
    assert client.get(f"/requests/{erasure.id}/review").status_code == 409
    bare = ledger_of(context).open_request("bo.berg@example.com", "access")
    assert client.get(f"/requests/{bare.id}/review").status_code == 409


@pytest.mark.parametrize(("choices", "error"), [
    ({f"choice:{STRIPE_CUSTOMER}": "include"}, "Det valet finns inte för den här posten."),
    ({f"choice:{RECEIPT}": "shred"}, "Det valet finns inte för den här posten."),
    ({"choice:stripe:customer:cus_NOBODY": "exclude"}, "hör inte till den här sökningen"),
    ({"keep": f"{RECEIPT}:userDisplayName", "redact": f"{RECEIPT}:userDisplayName"},
     "både behållas och tas bort"),
    ({"redact": f"{RECEIPT}:noSuchField"}, "hör inte till den här sökningen"),
])
def test_bad_decisions_are_refused_with_a_message_and_nothing_is_written(
        client: TestClient, gate: Gate, context: RequestContext, choices: dict[str, str],
        error: str) -> None:
    request_id = _looked_up(context)
    csrf = log_in(client, gate)
    response = client.post(f"/requests/{request_id}/review",
                           data={"csrf": csrf, "action": "approve", "all": "1", **choices})
    assert response.status_code == 400
    assert re.search(rf'<p class="error"[^>]*>[^<]*{error}', response.text), response.text
    assert _files(context, request_id) == {"report.json", "review.txt"}
    assert "access.reviewed" not in [e.kind for e in ledger_of(context).get(request_id).events]


def test_showing_the_result_writes_nothing_and_approving_writes_the_documents(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    request_id = _looked_up(context)
    csrf = log_in(client, gate)
    url = f"/requests/{request_id}/review"
    choices = {"csrf": csrf, f"choice:{RECEIPT}": "include",
               f"choice:{FORTNOX_WEAK}": "exclude", "redact": f"{RECEIPT}:products.0.comment",
               "doc_lang": "en"}
    shown = client.post(url, data={**choices, "action": "preview"})
    assert shown.status_code == 200
    assert re.search(r'<strong class="outcome-excluded">\s*utelämnas', shown.text)
    assert _files(context, request_id) == {"report.json", "review.txt"}

    approved = client.post(url, data={**choices, "action": "approve"}, follow_redirects=False)
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/requests/{request_id}#answer"
    assert {"report.html", "cover-letter.txt", "export.zip"} <= _files(context, request_id)
    html = (context.reports_dir / request_id / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and CASHIER not in html and "ombokad" not in html
    [decision] = [e.details for e in ledger_of(context).get(request_id).events
                  if e.kind == "access.reviewed"]
    assert decision["included"] == [RECEIPT] and decision["excluded"] == [FORTNOX_WEAK]
    assert ("access.review_approved", "web") in _audit(context)
    page = client.get(f"/requests/{request_id}").text
    assert 'id="sent-form"' in page and f"/requests/{request_id}/review" not in page
    assert "engelska" in page  # the preview says which language the person reads


# -- the preview ------------------------------------------------------------------------------


def test_the_preview_opens_the_written_document_inline_under_its_own_policy(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    request_id = _looked_up(context, flagged=False)
    log_in(client, gate)
    page = client.get(f"/requests/{request_id}").text
    link = f'href="/requests/{request_id}/preview/report.html" target="_blank" rel="noopener"'
    assert link in page
    response = client.get(f"/requests/{request_id}/preview/report.html")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("inline")
    assert response.content == (context.reports_dir / request_id / "report.html").read_bytes()
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy and "script" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and response.headers["cache-control"] == "no-store"
    letter = client.get(f"/requests/{request_id}/preview/cover-letter.txt")
    assert letter.status_code == 200 and letter.headers["content-type"].startswith("text/plain")
    for name in ("export.zip", "report.json", "review.txt", "..%2F..%2Fetc%2Fpasswd"):
        assert client.get(f"/requests/{request_id}/preview/{name}").status_code == 404, name
    assert ("file.previewed", "web") in _audit(context)
    stranger = TestClient(client.app).get(f"/requests/{request_id}/preview/report.html",
                                          follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"] == "/login"


def test_a_folder_outside_the_report_folder_is_never_previewed(
        client: TestClient, gate: Gate, context: RequestContext, tmp_path: Path) -> None:
    ledger = ledger_of(context)
    request = ledger.open_request(ANNA, "access")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "report.html").write_text("not ours", encoding="utf-8")
    ledger.attach(request.id, "access", {"folder": str(outside)})
    log_in(client, gate)
    assert client.get(f"/requests/{request.id}/preview/report.html").status_code == 404
    assert 'id="sent-form"' not in client.get(f"/requests/{request.id}").text


# -- marked as sent ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"on": "1 december"}, "on", "ÅÅÅÅ-MM-DD"),
    ({"on": (local_today() + timedelta(days=1)).isoformat()}, "on", "i framtiden"),
    ({"on": (local_today() - timedelta(days=40)).isoformat()}, "on", "före dagen då begäran"),
    ({"how": "brevduva"}, "how", "Välj hur svaret skickades."),
])
def test_a_bad_sent_form_shows_the_error_next_to_its_field_and_changes_nothing(
        client: TestClient, gate: Gate, context: RequestContext, fields: dict[str, str],
        field: str, message: str) -> None:
    request_id = _looked_up(context, flagged=False)
    csrf = log_in(client, gate)
    data = {"csrf": csrf, "on": local_today().isoformat(), "how": "e-post", **fields}
    response = client.post(f"/requests/{request_id}/sent", data=data)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1)
    assert f'aria-describedby="{field}-error"' in response.text
    assert ledger_of(context).get(request_id).status == "open"
    assert "answer_sent" not in [e.kind for e in ledger_of(context).get(request_id).events]
    assert client.post(f"/requests/{request_id}/sent",
                       data={**data, "csrf": "forged"}).status_code == 403


def test_marking_sent_closes_the_request_and_the_inbox_shows_it_closed(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    request_id = _looked_up(context, flagged=False)
    csrf = log_in(client, gate)
    page = client.get(f"/requests/{request_id}").text
    assert f'value="{local_today().isoformat()}"' in page  # today by default
    assert "Client journals (paper, locked safe)" in page.split('id="answer"')[1]  # warned
    on = (local_today() - timedelta(days=1)).isoformat()
    done = client.post(f"/requests/{request_id}/sent",
                       data={"csrf": csrf, "on": on, "how": "post"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/requests/{request_id}#answer"
    request = ledger_of(context).get(request_id)
    assert request.status == "closed"
    [event] = [e for e in request.events if e.kind == "answer_sent"]
    assert event.details["on"] == on and event.details["how"] == "post"
    assert event.details["via"] == "web"
    assert ("answer_sent", "web") in _audit(context)
    page = client.get(f"/requests/{request_id}").text
    assert f"Svaret skickades {on} (brev med post)." in page and 'id="sent-form"' not in page
    assert request_id in client.get("/?status=closed").text
    assert request_id not in client.get("/").text
    again = client.post(f"/requests/{request_id}/sent",
                        data={"csrf": csrf, "on": on, "how": "post"})
    assert again.status_code == 409
    assert client.get(f"/requests/{request_id}/sent").status_code == 409
