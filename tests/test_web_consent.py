"""The inbox's consent pages (``hub/web/consent.py``) through Starlette's TestClient: a person's
consent history found by a POSTed address, the opt-out tasks marked done, a withdrawal recorded
from the browser, and the forms' refusals (error beside the field, status 400, nothing
changed). No processor is contacted: MailerLite is installed but not configured, so it and
Paloma become tasks done by hand, as for a shop without the API key.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connectors.mailerlite import MailerLiteConnector
from connectors.sdk.base import Connector
from hub.config.settings import load_settings
from hub.consent.withdrawal import HUB_SYSTEM
from hub.requests.context import RequestContext
from hub.store.audit import AuditLog
from hub.store.consent_register import ConsentRegister, Destination, Observation
from hub.store.keyed import secret_path
from hub.store.ledger import Ledger
from hub.store.suppression import SuppressionList
from hub.web.auth import Gate
from tests.web_helpers import ANNA, client, gate, log_in

__all__ = ["client", "gate"]  # the fixtures, imported to be used here

CONNECTORS: dict[str, type[Connector]] = {"mailerlite": MailerLiteConnector}
PALOMA = Destination("paloma", "Paloma", None, "Unsubscribe the address in Paloma.")


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    settings = load_settings(CONNECTORS).model_copy(update={
        "state_dir": tmp_path / "state", "database_url": database_url})
    return RequestContext(settings, CONNECTORS, out_dir=tmp_path / "reports")


def _register(context: RequestContext) -> ConsentRegister:
    return ConsentRegister(Ledger.open(context.ledger_url).engine)


def _audit(context: RequestContext) -> AuditLog:
    return AuditLog(Ledger.open(context.ledger_url).engine,
                    secret_path(context.settings.state_dir))


def _anna_unsubscribed_in_mailerlite(context: RequestContext) -> int:
    """Anna's opt-out as the consent sync records it; the id of Paloma's manual task."""
    register = _register(context)
    register.apply([Observation(
        system="mailerlite", subscriber_id="1001", email=ANNA, status="unsubscribed",
        evidence={"opted_in_at": "2021-09-08T20:02:35Z", "optin_ip": "192.0.2.44",
                  "unsubscribed_at": "2024-03-02T09:15:00Z"})],
        via="webhook", destinations=[PALOMA])
    [task] = register.history(ANNA)["tasks"]
    return int(task.id)


def test_the_consent_pages_need_a_session(client: TestClient, context: RequestContext) -> None:
    task = _anna_unsubscribed_in_mailerlite(context)
    for method, url in (("GET", "/consent"), ("POST", "/consent/search"),
                        ("POST", "/consent/withdraw"), ("POST", f"/consent/tasks/{task}/done")):
        response = client.request(method, url, data={"email": ANNA, "channel": "phone",
                                                     "note": "x"}, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), url
        assert ANNA not in response.text
    assert [t.state for t in _register(context).history(ANNA)["tasks"]] == ["manual-open"]
    assert Ledger.open(context.ledger_url).list_requests() == []


def test_a_search_shows_the_history_evidence_suppression_and_tasks(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    home = client.get("/consent")
    assert 'href="/consent"' in home.text  # the nav link
    assert "Samtycke till marknadsföring" in home.text
    _anna_unsubscribed_in_mailerlite(context)
    page = client.post("/consent/search", data={"csrf": csrf, "email": " Anna.Svensson@Example.se"})
    assert page.status_code == 200
    assert page.url.path == "/consent/search" and ANNA not in str(page.url)
    text = page.text
    assert "först sedd: avregistrerad" in text
    assert "192.0.2.44" in text and "2021-09-08 20:02" in text  # the opt-in's evidence
    assert "en webhook" in text  # how the hub learned it
    assert "Adressen står inte på spärrlistan." in text
    assert "Paloma" in text and "Unsubscribe the address in Paloma." in text
    assert 'action="/consent/tasks/' in text
    [entry] = [e for e in _audit(context).entries() if e.action == "consent.viewed"]
    assert entry.details_data["via"] == "web"
    assert ANNA not in str(entry.details_data) and entry.subject_email is None
    assert str(entry.details_data["subject"]).startswith("keyed:")

    english = client.post("/consent/search?lang=en", data={"csrf": csrf, "email": ANNA})
    assert "first seen: unsubscribed" in english.text and "Consent history" in english.text


def test_a_person_without_records(client: TestClient, gate: Gate) -> None:
    csrf = log_in(client, gate)
    page = client.post("/consent/search", data={"csrf": csrf, "email": "bo@example.com"})
    assert page.status_code == 200
    assert "Det finns inga samtyckesuppgifter för adressen." in page.text
    assert "Inga avregistreringsuppgifter är öppna." in page.text


def test_a_bad_address_is_refused_beside_the_field(client: TestClient, gate: Gate,
                                                   context: RequestContext) -> None:
    csrf = log_in(client, gate)
    page = client.post("/consent/search", data={"csrf": csrf, "email": "anna.svensson@"})
    assert page.status_code == 400
    assert re.search(r'id="search_email"[^>]*aria-invalid="true"', page.text)
    assert 'id="search_email-error"' in page.text
    assert [e.action for e in _audit(context).entries()] == ["web.login"]


def test_a_task_is_marked_done_from_the_persons_page(client: TestClient, gate: Gate,
                                                     context: RequestContext) -> None:
    csrf = log_in(client, gate)
    task = _anna_unsubscribed_in_mailerlite(context)
    url = f"/consent/tasks/{task}/done"
    forged = client.post(url, data={"note": "done", "email": ANNA})
    assert forged.status_code == 403
    missing = client.post(url, data={"csrf": csrf, "note": "  ", "email": ANNA})
    assert missing.status_code == 400
    assert f'id="consent-note-{task}-error"' in missing.text
    assert "Skriv kort vad som gjordes" in missing.text
    assert [t.state for t in _register(context).history(ANNA)["tasks"]] == ["manual-open"]

    done = client.post(url, data={"csrf": csrf, "note": "Unsubscribed in Paloma <today>",
                                  "email": ANNA})
    assert done.status_code == 200
    assert "Uppgiften är markerad som klar." in done.text
    assert "Unsubscribed in Paloma &lt;today&gt;" in done.text  # escaped, not markup
    [row] = _register(context).history(ANNA)["tasks"]
    assert (row.state, row.receipt) == ("manual-done", "Unsubscribed in Paloma <today>")
    [entry] = [e for e in _audit(context).entries() if e.action == "consent.task_done"]
    assert entry.details_data["task"] == task and entry.details_data["destination"] == "paloma"
    again = client.post(url, data={"csrf": csrf, "note": "again", "email": ANNA})
    assert again.status_code == 200 and "redan markerad som klar" in again.text
    assert len([e for e in _audit(context).entries() if e.action == "consent.task_done"]) == 1
    assert client.post("/consent/tasks/999999/done",
                       data={"csrf": csrf, "note": "x"}).status_code == 404


def test_a_task_marked_done_from_the_list_goes_back_to_the_list(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    task = _anna_unsubscribed_in_mailerlite(context)
    listed = client.get("/consent")
    assert ANNA in listed.text and f'action="/consent/tasks/{task}/done"' in listed.text
    done = client.post(f"/consent/tasks/{task}/done", data={"csrf": csrf, "note": "done"},
                       follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/consent#tasks")
    assert "Inga avregistreringsuppgifter är öppna." in client.get("/consent").text


def test_a_withdrawal_by_phone_is_recorded_suppressed_and_answered(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    page = client.post("/consent/withdraw", data={
        "csrf": csrf, "email": ANNA, "channel": "phone", "note": "call of 3 March <b>",
        "lang": "sv"})
    assert page.status_code == 200, page.text
    assert "Återkallandet är registrerat" in page.text and "telefon" in page.text
    assert "MailerLite" in page.text and "Paloma" in page.text
    assert "görs för hand" in page.text  # neither system could be told by an API
    engine = Ledger.open(context.ledger_url).engine
    history = ConsentRegister(engine).history(ANNA)
    [event] = history["events"]
    assert (event.system, event.status, event.learned_via) == (HUB_SYSTEM, "unsubscribed",
                                                               "phone")
    assert event.evidence["recorded_by"].endswith("via web")
    assert event.evidence["note"] == "call of 3 March <b>"
    assert sorted(t.destination for t in history["tasks"]) == ["mailerlite", "paloma"]
    assert SuppressionList(engine, secret_path(context.settings.state_dir)).is_suppressed(ANNA)
    [request] = Ledger.open(context.ledger_url).list_requests()
    assert request.type == "consent-withdrawal" and request.status == "open"
    assert f'href="/requests/{request.id}"' in page.text
    letters = list((context.reports_dir / request.id).iterdir())
    assert letters and all(p.stat().st_mode & 0o077 == 0 for p in letters)
    [entry] = [e for e in _audit(context).entries() if e.action == "consent.withdrawn"]
    assert entry.request_id == request.id and entry.details_data["channel"] == "phone"
    assert ANNA not in str(entry.details_data)

    shown = client.post("/consent/search", data={"csrf": csrf, "email": ANNA})
    assert "Adressen står på spärrlistan" in shown.text
    assert "call of 3 March &lt;b&gt;" in shown.text  # escaped, not markup
    assert "call of 3 March <b>" not in shown.text

    again = client.post("/consent/withdraw", data={
        "csrf": csrf, "email": ANNA, "channel": "email", "note": "", "lang": "en"})
    assert again.status_code == 200
    assert "Återkallandet var redan registrerat" in again.text
    assert len(ConsentRegister(engine).history(ANNA)["events"]) == 1
    assert len(Ledger.open(context.ledger_url).list_requests()) == 1


def test_a_bad_withdrawal_shows_each_error_beside_its_field_and_records_nothing(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    page = client.post("/consent/withdraw", data={
        "csrf": csrf, "email": "anna.svensson@", "channel": "fax", "note": "x" * 301,
        "lang": "de"})
    assert page.status_code == 400
    for name in ("email", "channel", "note", "lang"):
        assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', page.text), name
        assert f'id="{name}-error"' in page.text, name
    assert 'value="anna.svensson@"' in page.text  # what was typed stays in the form
    assert _register(context).snapshot()["events"] == []
    assert Ledger.open(context.ledger_url).list_requests() == []
    only_channel = client.post("/consent/withdraw", data={
        "csrf": csrf, "email": ANNA, "channel": "", "note": "", "lang": "sv"})
    assert only_channel.status_code == 400
    assert 'id="channel-error"' in only_channel.text and 'id="email-error"' not in (
        only_channel.text)
    assert _register(context).snapshot()["events"] == []


def test_the_form_pages_answer_a_get_with_the_forms(client: TestClient, gate: Gate) -> None:
    log_in(client, gate)
    for url in ("/consent/search?lang=en", "/consent/withdraw"):
        page = client.get(url)
        assert page.status_code == 200 and 'action="/consent/withdraw"' in page.text
