"""The web inbox (``dsar serve``) through Starlette's TestClient: login, sessions, CSRF, the
security headers, the forms' refusals, the pages' use-cases and their audit entries.

The end-to-end run in a real browser is ``tests/test_web_browser.py``.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.config.settings import HubSettings
from hub.core.inventory import Controller, InventoryEntry
from hub.requests.context import RequestContext
from hub.store.audit import AuditLog
from hub.store.keyed import secret_path
from hub.store.ledger import local_today
from hub.web.app import build_app
from hub.web.auth import (
    MAX_FAILURES,
    PASSWORD_FILE,
    Gate,
    hash_password,
    set_password,
    stored_password,
    verify_password,
)
from tests.e2e_helpers import hub_environment
from tests.web_helpers import (
    ANNA,
    client,
    csrf_of,
    gate,
    ledger_of,
    log_in,
    open_request,
)

__all__ = ["client", "gate"]  # the fixtures, imported to be used here

JOURNALS = InventoryEntry(key="journals", system="Client journals (paper, locked safe)",
                          manual_instructions="Search the binder under the client's name.")


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    settings = HubSettings(state_dir=tmp_path / "state", database_url=database_url,
                           controller=Controller(name="Självkraft"), inventory=[JOURNALS])
    return RequestContext(settings, {}, out_dir=tmp_path / "reports")


def _audit(context: RequestContext) -> AuditLog:
    return AuditLog(ledger_of(context).engine, secret_path(context.settings.state_dir))


# -- who gets in ------------------------------------------------------------------------------


def test_without_a_session_every_page_sends_to_the_login_and_shows_nothing(
        client: TestClient, context: RequestContext) -> None:
    opened = ledger_of(context).open_request(ANNA, "access")
    for url in ("/", f"/requests/{opened.id}", "/requests.csv",
                f"/requests/{opened.id}/files/report.html", "/requests/new"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"] == "/login"
        assert ANNA not in response.text and opened.id not in response.text
    posted = client.post("/requests/new", data={"email": "bo@example.se", "type": "access"},
                         follow_redirects=False)
    assert posted.status_code == 303
    assert [r.id for r in ledger_of(context).list_requests()] == [opened.id]


def test_the_one_time_link_works_once_and_gives_a_strict_http_only_cookie(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    token = gate.login_token
    first = client.get(f"/login/link?token={token}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = next(c for c in first.headers.get_list("set-cookie")
                  if c.startswith("dsar_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    again = TestClient(client.app).get(f"/login/link?token={token}", follow_redirects=False)
    assert again.status_code == 403
    assert "dsar_session" not in again.headers.get("set-cookie", "")
    assert [e.action for e in _audit(context).entries()] == ["web.login"]
    assert _audit(context).entries()[0].details_data["via"] == "web"


def test_a_wrong_token_gives_no_session(client: TestClient) -> None:
    response = client.get("/login/link?token=guess", follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303


def test_under_tls_the_session_cookie_is_secure(context: RequestContext, gate: Gate) -> None:
    client = TestClient(build_app(context, gate, secure=True), base_url="https://testserver")
    response = client.get(f"/login/link?token={gate.login_token}", follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]


def test_password_is_stored_as_a_salted_scrypt_hash_in_an_owner_only_file(
        tmp_path: Path) -> None:
    path = set_password(tmp_path, "correct horse battery")
    assert path == tmp_path / PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = stored_password(tmp_path)
    assert stored is not None and stored.startswith("scrypt$")
    assert "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("same password!") != hash_password("same password!")  # salted
    with pytest.raises(ValueError, match="at least"):
        set_password(tmp_path, "short")


def test_password_login_needs_its_form_token_and_locks_after_failures(
        context: RequestContext) -> None:
    gate = Gate(hash_password("correct horse battery"))
    client = TestClient(build_app(context, gate))
    form = client.get("/login")
    assert 'type="password"' in form.text
    token = csrf_of(form.text)
    assert client.post("/login", data={"password": "correct horse battery"},
                       follow_redirects=False).status_code == 403
    for _ in range(MAX_FAILURES):
        wrong = client.post("/login", data={"csrf": token, "password": "nope"},
                            follow_redirects=False)
        assert wrong.status_code == 401
        token = csrf_of(wrong.text)
    locked = client.post("/login", data={"csrf": token, "password": "correct horse battery"},
                         follow_redirects=False)
    assert locked.status_code == 429
    gate.locked_until = 0.0
    ok = client.post("/login", data={"csrf": csrf_of(locked.text),
                                     "password": "correct horse battery"},
                     follow_redirects=False)
    assert ok.status_code == 303 and client.get("/").status_code == 200


def test_logout_ends_the_session(client: TestClient, gate: Gate) -> None:
    csrf = log_in(client, gate)
    client.post("/logout", data={"csrf": csrf})
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert gate.sessions == {}


def test_other_hosts_are_refused_on_loopback(context: RequestContext, gate: Gate) -> None:
    client = TestClient(build_app(context, gate, allowed_hosts=("127.0.0.1", "localhost")),
                        base_url="http://127.0.0.1:8765")
    assert client.get("/login").status_code == 200
    assert client.get("/login", headers={"host": "rebound.example.com"}).status_code == 400


# -- every response -----------------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(client: TestClient, gate: Gate) -> None:
    log_in(client, gate)
    for url in ("/login", "/", "/requests/new", "/static/style.css"):
        headers = client.get(url).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    page = client.get("/requests/new").text
    assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_post_without_the_csrf_token_is_refused_and_changes_nothing(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    log_in(client, gate)
    fields = {"type": "access", "email": ANNA, "received": ""}
    assert client.post("/requests/new", data=fields).status_code == 403
    assert client.post("/requests/new", data={**fields, "csrf": "forged"}).status_code == 403
    other = Gate(None).new_session()  # another session's token is no good either
    assert client.post("/requests/new", data={**fields, "csrf": other.csrf}).status_code == 403
    assert ledger_of(context).list_requests() == []
    assert [e.action for e in _audit(context).entries()] == ["web.login"]


# -- new request ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"email": "not an address"}, "email", "Det här är ingen giltig e-postadress."),
    ({"received": (local_today() + timedelta(days=1)).isoformat()}, "received",
     "Datumet ligger i framtiden."),
    ({"received": "2017-01-01"}, "received", "före den 25 maj 2018"),
    ({"received": "1 december"}, "received", "ÅÅÅÅ-MM-DD"),
    ({"type": "portability"}, "type", "Välj en av typerna i listan."),
    # the form's maxlength is the browser's; the server refuses too
    ({"verified_by": "x" * 5000}, "verified_by", "Skriv högst 300 tecken."),
])
def test_bad_input_shows_the_error_next_to_its_field_and_changes_nothing(
        client: TestClient, gate: Gate, context: RequestContext, fields: dict[str, str],
        field: str, message: str) -> None:
    csrf = log_in(client, gate)
    data = {"csrf": csrf, "type": "access", "email": ANNA, "received": "",
            "verified_by": "reply", **fields}
    response = client.post("/requests/new", data=data)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1)
    assert f'aria-describedby="{field}-error"' in response.text
    assert ledger_of(context).list_requests() == []
    assert "request.opened" not in [e.action for e in _audit(context).entries()]


def test_bad_input_in_english(client: TestClient, gate: Gate) -> None:
    csrf = log_in(client, gate)
    response = client.post("/requests/new?lang=en", data={
        "csrf": csrf, "type": "access", "email": "nobody", "received": ""})
    assert "This is not a valid e-mail address." in response.text
    assert '<html lang="en">' in client.get("/").text  # the choice is kept in a cookie


def test_a_new_request_is_recorded_with_its_deadline_and_audited_via_web(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    request_id = open_request(client, csrf, received="2026-11-02", type="erasure")
    [request] = ledger_of(context).list_requests()
    assert (request.id, request.type, request.received_on) == (
        request_id, "erasure", date(2026, 11, 2))
    assert request.verified_by == "reply from the address on file"
    entry = _audit(context).entries()[-1]
    assert (entry.action, entry.request_id, entry.details_data["via"]) == (
        "request.opened", request_id, "web")
    assert "via web" in entry.actor
    assert ANNA not in str(entry.details)
    again = client.post("/requests/new", data={"csrf": csrf, "type": "erasure", "email": ANNA,
                                                "received": ""})
    assert again.status_code == 400 and "redan en öppen begäran" in again.text


def test_the_inbox_lists_open_requests_by_deadline_and_marks_the_overdue(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    ledger = ledger_of(context)
    late = ledger.open_request("bo.nilsson@example.se", "erasure",
                               received=local_today() - timedelta(days=70))
    soon = ledger.open_request(ANNA, "access", received=local_today() - timedelta(days=3))
    closed = ledger.open_request("cecilia@example.com", "objection")
    ledger.close(closed.id)
    log_in(client, gate)
    page = client.get("/").text
    assert page.index(late.id) < page.index(soon.id)
    assert closed.id not in page
    assert re.search(r'<tr class="overdue">\s*<td[^>]*>[^<]*<strong class="badge bad">'
                     r'\d+ dagar försenad', page)
    only_access = client.get("/?type=access").text
    assert soon.id in only_access and late.id not in only_access
    assert closed.id in client.get("/?status=closed").text
    assert soon.id not in client.get("/?status=overdue").text


def test_the_auditor_csv_is_the_ledger_export_and_is_audited(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    opened = ledger_of(context).open_request(ANNA, "access")
    log_in(client, gate)
    response = client.get("/requests.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.decode("utf-8-sig") == ledger_of(context).export_csv()
    assert opened.id in response.text
    assert _audit(context).entries()[-1].action == "requests.exported"


# -- a request: lookup, documents, tasks --------------------------------------------------------


def _wait_for_lookup(client: TestClient, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: dict[str, object] = client.get(f"/requests/{request_id}/lookup/status").json()
        if status["finished"]:
            return status
        time.sleep(0.1)
    raise AssertionError("the lookup did not finish")


def test_lookup_writes_the_documents_offers_them_and_closes_manual_checks(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    csrf = log_in(client, gate)
    request_id = open_request(client, csrf)
    assert client.post(f"/requests/{request_id}/lookup", data={}).status_code == 403
    started = client.post(f"/requests/{request_id}/lookup", data={"csrf": csrf},
                          follow_redirects=False)
    assert started.headers["location"] == f"/requests/{request_id}/lookup"
    status = _wait_for_lookup(client, request_id)
    assert status["failed"] is False
    page = client.get(f"/requests/{request_id}/lookup").text
    assert f'href="/requests/{request_id}/files/report.html"' in page
    assert 'src="/static/progress.js"' not in page  # finished: nothing left to poll
    report = client.get(f"/requests/{request_id}/files/report.html")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert report.content == (context.reports_dir / request_id / "report.html").read_bytes()

    detail = client.get(f"/requests/{request_id}").text
    assert "Client journals (paper, locked safe)" in detail
    action = f"/requests/{request_id}/tasks/journals/done"
    assert client.post(action, data={"note": "searched"}).status_code == 403
    assert client.post(action, data={"csrf": csrf, "note": " "}).status_code == 400
    done = client.post(action, data={"csrf": csrf, "note": "searched the binder: nothing"},
                       follow_redirects=False)
    assert done.status_code == 303
    request = ledger_of(context).get(request_id)
    assert request.events[-1].kind == "manual_check.done"
    assert request.events[-1].details == {"item": "journals", "via": "web",
                                          "note": "searched the binder: nothing"}
    assert request.status == "open"  # the checks are done; the answer is not sent yet
    actions = [(e.action, e.details_data.get("via")) for e in _audit(context).entries(request_id)]
    assert actions == [("request.opened", "web"), ("lookup.started", "web"),
                       ("file.downloaded", "web"), ("manual_check.done", "web")]
    assert client.post(action, data={"csrf": csrf, "note": "twice"}).status_code == 409
    assert "Anteckning: searched the binder: nothing" in client.get(
        f"/requests/{request_id}").text


def test_only_the_requests_own_documents_are_served(
        client: TestClient, gate: Gate, context: RequestContext, tmp_path: Path) -> None:
    ledger = ledger_of(context)
    mine = ledger.open_request(ANNA, "access")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "report.html").write_text("not ours", encoding="utf-8")
    ledger.attach(mine.id, "access", {"folder": str(outside)})
    folder = context.reports_dir / mine.id
    folder.mkdir(parents=True)
    (folder / "review.txt").write_text("refs", encoding="utf-8")
    log_in(client, gate)
    assert client.get(f"/requests/{mine.id}/files/report.html").status_code == 404
    ledger.attach(mine.id, "access", {"folder": str(folder)})
    for name in ("review.txt", "..%2F..%2Fetc%2Fpasswd", "report.html"):
        assert client.get(f"/requests/{mine.id}/files/{name}").status_code == 404, name
    assert client.get("/requests/acc-unknown/files/report.html").status_code == 404


def test_a_lookup_runs_only_for_an_open_access_request(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    erasure = ledger_of(context).open_request(ANNA, "erasure")
    csrf = log_in(client, gate)
    response = client.post(f"/requests/{erasure.id}/lookup", data={"csrf": csrf})
    assert response.status_code == 409
    assert client.get(f"/requests/{erasure.id}/lookup/status").status_code == 404


# -- texts and the command ----------------------------------------------------------------------


def test_swedish_and_english_texts_have_the_same_keys() -> None:
    folder = Path(__file__).resolve().parents[1] / "hub" / "web" / "i18n"

    def keys(lang: str) -> set[str]:
        data = tomllib.loads((folder / f"{lang}.toml").read_text("utf-8"))
        return {f"{section}.{key}" for section, table in data.items() for key in table}

    assert keys("sv") == keys("en")
    templates = (folder.parent / "templates").glob("*.html")
    used = {key for page in templates
            for key in re.findall(r"""t\(["']([a-z_]+\.[a-z_]+)["']""", page.read_text("utf-8"))}
    assert used and used <= keys("sv")


def _serve(*args: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-m", "hub", "serve", *args], input=stdin, capture_output=True,
        text=True, timeout=60, check=False,
        env={**hub_environment(), "DSAR_STATE_DIR": str(tmp_path / "state")})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])  # noqa: S104
def test_serve_refuses_a_public_address_without_tls(host: str, tmp_path: Path) -> None:
    done = _serve("--host", host, "--port", "1", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "without TLS" in done.stderr


def test_serve_refuses_a_port_in_use_before_printing_a_link(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _serve("--port", str(taken.getsockname()[1]), tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "cannot listen" in done.stderr and "--port" in done.stderr
    assert "login/link" not in done.stdout


def test_serve_set_password_stores_a_hash(tmp_path: Path) -> None:
    done = _serve("--set-password", tmp_path=tmp_path, stdin="correct horse battery\n")
    assert done.returncode == 0, done.stderr
    stored = stored_password(tmp_path / "state")
    assert stored is not None and verify_password("correct horse battery", stored)
    assert _serve("--set-password", tmp_path=tmp_path, stdin="short\n").returncode == 2


def test_an_erasure_task_is_closed_through_the_task_use_case(
        client: TestClient, gate: Gate, context: RequestContext) -> None:
    from hub.store.erasure_actions import ErasureLedger, PlannedAction

    ledger = ledger_of(context)
    request = ledger.open_request(ANNA, "erasure")
    elog = ErasureLedger(ledger.engine, secret_path(context.settings.state_dir),
                         subject_email=ANNA)
    elog.save_plan(request.id, [
        PlannedAction(processor=name, record_type="task", record_id="-", action="manual",
                      legal_basis="GDPR Art. 17(1)", instructions=f"Delete the person in {name}.")
        for name in ("paloma", "website")])
    csrf = log_in(client, gate)
    page = client.get(f"/requests/{request.id}").text
    assert "Delete the person in paloma." in page
    assert "<td data-label=\"Öppna uppgifter\">2</td>" in client.get("/").text
    [paloma, website] = elog.plan(request.id)
    client.post(f"/requests/{request.id}/tasks/{paloma.id}/done",
                data={"csrf": csrf, "note": "deleted in Paloma"})
    assert elog.action(paloma.id or 0).state == "manual-done"
    assert ledger.get(request.id).status == "open"
    client.post(f"/requests/{request.id}/tasks/{website.id}/done",
                data={"csrf": csrf, "note": "removed from the site"})
    assert ledger.get(request.id).status == "closed"  # the last task closes it, as in the CLI
    done = [e for e in _audit(context).entries(request.id) if e.action == "task.done"]
    assert [e.details_data["task"] for e in done] == ["paloma", "website"]
    assert all(e.details_data["via"] == "web" for e in done)
    assert [e.seq for e in _audit(context).entries() if e.subject_email] == []
    assert done[-1].subject_hash is not None
