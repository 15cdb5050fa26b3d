"""``dsar webhook serve``: MailerLite's signed deliveries, verified and applied once."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from connectors.mailerlite_consent import sign
from hub.consent.database import open_consent_database
from hub.consent.webhook import (
    PropagationWorker,
    WebhookApp,
    observations_from,
)
from hub.sandbox.mailerlite_api import (
    MailerLiteServer,
    send_webhook,
    sign_webhook,
    webhook_payload,
)
from hub.store.consent_register import ConsentRegister, Destination
from hub.web.webhook import WebhookServer
from tests.databases import hub_database_url
from tests.e2e_helpers import hub_environment

SECRET = "ybmcD7PQ9R"  # the shape MailerLite shows for a webhook's secret
PALOMA = Destination("paloma", "Paloma", None, "Unsubscribe the address in Paloma.")
LARS_ID = "109463365921650215"


@pytest.fixture
def register(database_url: str) -> ConsentRegister:
    return ConsentRegister(open_consent_database(database_url))


@pytest.fixture
def mailerlite():
    return MailerLiteServer()  # its state only; no need to serve HTTP here


@pytest.fixture
def served(register: ConsentRegister):
    woken = threading.Event()
    app = WebhookApp(register, SECRET, [PALOMA], on_recorded=woken.set)
    with WebhookServer(app, port=0) as server:
        server.woken = woken  # type: ignore[attr-defined]
        yield server


def anna_unsubscribes(mailerlite: MailerLiteServer) -> dict:
    subscriber = mailerlite.unsubscribe("anna.svensson@example.se")
    return webhook_payload(subscriber, "subscriber.unsubscribed")


def test_valid_signature_applies_the_opt_out(served, register, mailerlite) -> None:
    status, body = send_webhook(served.url, SECRET, anna_unsubscribes(mailerlite))
    assert (status, body["status"], body["changes"]) == (200, "ok", 1)
    history = register.history("anna.svensson@example.se")
    [event] = history["events"]
    assert (event.kind, event.status, event.learned_via) == ("first_seen", "unsubscribed",
                                                              "webhook")
    assert event.evidence["unsubscribed_at"] and event.evidence["optin_ip"] == "192.0.2.44"
    [task] = history["tasks"]
    assert (task.destination, task.state) == ("paloma", "manual-open")
    assert not served.woken.is_set()  # a manual task needs no background push


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no header",
                                     "upper-case of another body"])
def test_invalid_signature_is_401_and_changes_nothing(served, register, mailerlite,
                                                      forgery: str) -> None:
    payload = anna_unsubscribes(mailerlite)
    body = json.dumps(payload).encode()
    signature = {
        "wrong secret": sign_webhook(body, "not-the-secret"),
        "tampered body": sign_webhook(body.replace(b"unsubscribed", b"active  "), SECRET),
        "no header": "",
        "upper-case of another body": sign_webhook(b"{}", SECRET).upper(),
    }[forgery]
    before = register.snapshot()
    status, answer = send_webhook(served.url, SECRET, body, signature=signature)
    assert (status, answer) == (401, {"error": "invalid signature"})
    assert register.snapshot() == before
    assert served.app.counts["rejected"] == 1


def test_signature_is_case_insensitive_hex(served, register, mailerlite) -> None:
    body = json.dumps(anna_unsubscribes(mailerlite)).encode()
    status, _ = send_webhook(served.url, SECRET, body, signature=sign(body, SECRET).upper())
    assert status == 200


def test_replayed_delivery_is_acknowledged_and_applied_once(served, register,
                                                            mailerlite) -> None:
    body = json.dumps(anna_unsubscribes(mailerlite)).encode()
    assert send_webhook(served.url, SECRET, body)[0] == 200
    after_first = register.snapshot()
    status, answer = send_webhook(served.url, SECRET, body)  # a replay, or MailerLite's retry
    assert (status, answer["status"]) == (200, "duplicate")  # 2xx: MailerLite stops retrying
    assert register.snapshot() == after_first
    # the same change in a differently serialised body is a new delivery but no new event
    rebody = json.dumps(json.loads(body), indent=1).encode()
    status, answer = send_webhook(served.url, SECRET, rebody)
    assert (status, answer["changes"]) == (200, 0)
    assert len(register.history("anna.svensson@example.se")["events"]) == 1


def test_an_old_event_sent_late_does_not_roll_back(served, register, mailerlite) -> None:
    old = webhook_payload(mailerlite.state.find(LARS_ID), "subscriber.updated")
    resubscribed = mailerlite.resubscribe(LARS_ID)
    assert send_webhook(served.url, SECRET,
                        webhook_payload(resubscribed, "subscriber.updated"))[0] == 200
    status, answer = send_webhook(served.url, SECRET, old)  # unsubscribed, older updated_at
    assert (status, answer["changes"]) == (200, 0)
    [row] = register.history("lars.lindqvist@example.com")["subscribers"]
    assert row.status == "active"


def test_batched_nested_and_campaign_events(served, register, mailerlite) -> None:
    anna = mailerlite.unsubscribe("anna.svensson@example.se")
    lars = mailerlite.state.find(LARS_ID)
    batch = {"events": [
        webhook_payload(anna, "subscriber.unsubscribed"),
        {"type": "subscriber.added_to_group", "subscriber": dict(lars),
         "group": {"id": "1", "name": "Nyhetsbrev"}, "account_id": 1},
        {"id": "55", "name": "Juli", "event": "campaign.sent", "account_id": 1},
        {"id": "106161576515803499", "email": "gone@example.se", "event": "subscriber.deleted",
         "account_id": 1},
    ], "total": 4}
    status, answer = send_webhook(served.url, SECRET, batch)
    assert (status, answer["subscribers"], answer["changes"]) == (200, 3, 3)
    assert register.counts_by_status("mailerlite") == {"unsubscribed": 2, "deleted": 1}


def test_spam_report_without_status_counts_as_opt_out() -> None:
    [observation] = observations_from({"id": "7", "email": "x@example.se",
                                       "event": "subscriber.spam_reported"})
    assert observation.status == "junk"


def test_wrong_path_method_and_oversized_body(register) -> None:
    app = WebhookApp(register, SECRET, [], max_body_bytes=100)
    with WebhookServer(app, port=0) as server:
        base = server.url.rsplit("/webhooks", 1)[0]
        assert send_webhook(base + "/elsewhere", SECRET, {})[0] == 404
        assert send_webhook(server.url, SECRET, b"x" * 200)[0] == 413
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url, timeout=5)  # noqa: S310 - loopback
        assert refused.value.code == 405
    assert app.handle("POST", "/webhooks/mailerlite", sign(b"nope", SECRET), b"nope")[0] == 400


def test_propagation_worker_runs_when_woken() -> None:
    ran = threading.Event()
    worker = PropagationWorker(ran.set).start()
    worker.wake()
    assert ran.wait(5)
    worker.stop()


@pytest.mark.database
def test_cli_serve_refuses_without_secret_and_serves_with_it(tmp_path: Path) -> None:
    boot = ("import sys\nfrom hub import cli\nfrom hub.cli.consent import wire\n"
            "wire(cli.app)\ncli.main()\n")
    env = hub_environment()
    env["DSAR_STATE_DIR"] = str(tmp_path)
    refused = subprocess.run([sys.executable, "-c", boot, "webhook", "serve"], env=env,  # noqa: S603
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "DSAR_CONSENT__WEBHOOK_SECRET" in refused.stderr
    env["DSAR_CONSENT__WEBHOOK_SECRET"] = SECRET
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-c", boot, "webhook", "serve", "--port", "0"], env=env,
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        url = re.search(r"on (http://\S+)", line).group(1)  # type: ignore[union-attr]
        server = MailerLiteServer()
        payload = webhook_payload(server.unsubscribe(LARS_ID), "subscriber.unsubscribed")
        assert send_webhook(url, SECRET, payload)[0] == 200
        assert send_webhook(url, "guess", payload)[0] == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "1 deliveries applied" in err and "1 rejected" in err
    assert "lars" not in err.lower()
    register = ConsentRegister(open_consent_database(hub_database_url(tmp_path)))
    assert [e.kind for e in register.history("lars.lindqvist@example.com")["events"]] == [
        "first_seen"]


def test_a_webhook_and_a_poll_recording_one_opt_out_at_once_record_it_once(
        database_url: str, mailerlite, monkeypatch) -> None:
    """The webhook server and the scheduled poll learn of Anna's opt-out in the same instant.
    Both read her as active before either writes (as on PostgreSQL, where reading takes no
    write lock; on SQLite modelled by an engine whose reads run outside a transaction).
    The opt-out is recorded once and queued once per destination."""
    from sqlalchemy import create_engine

    from connectors.mailerlite_consent import subscriber_state
    from hub.consent.source import observation_of
    from hub.store.tables import PropagationTask

    url = database_url
    stripe = Destination("stripe", "Stripe", "stripe")
    anna = "anna.svensson@example.se"
    seeded = ConsentRegister(open_consent_database(url))
    seeded.apply([observation_of(subscriber_state(dict(mailerlite.state.find(anna))),
                                 "mailerlite")], via="sync")
    unsubscribed = mailerlite.unsubscribe(anna)
    webhook = observations_from(webhook_payload(unsubscribed, "subscriber.unsubscribed"))
    poll = [observation_of(subscriber_state(dict(unsubscribed)), "mailerlite")]

    both_read = threading.Barrier(2, timeout=10)
    read_once = threading.local()
    original = ConsentRegister._current

    def read_then_wait(session, keys):
        current = original(session, keys)
        if not getattr(read_once, "done", False):
            read_once.done = True
            both_read.wait()
        return current

    sqlite = url.startswith("sqlite")
    if sqlite:
        monkeypatch.setattr(ConsentRegister, "_current", staticmethod(read_then_wait))
    # On PostgreSQL the read itself locks Anna's row: the second writer waits inside it for the
    # first to commit, so both cannot be held past it; they start together instead.
    both_start = threading.Barrier(2, timeout=10)
    results: dict[str, object] = {}

    def writer(via: str, observations, digest: str | None) -> None:
        register = ConsentRegister(create_engine(url, connect_args={"timeout": 30})
                                   if sqlite else create_engine(url))
        both_start.wait()
        results[via] = register.apply(observations, via=via, destinations=[stripe],
                                      delivery_digest=digest)

    threads = [threading.Thread(target=writer, args=("webhook", webhook, "d" * 64)),
               threading.Thread(target=writer, args=("sync", poll, None))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {"webhook", "sync"}  # neither failed
    history = seeded.history(anna)
    assert [e.kind for e in history["events"]].count("opt_out") == 1
    assert len(history["events"]) == 2  # first_seen, opt_out
    assert [(t.destination, t.action, t.state) for t in history["tasks"]] == [
        ("stripe", "opt_out", "pending")]
    [row] = history["subscribers"]
    assert row.status == "unsubscribed"

    # The rule behind it: one open task per subscriber, destination and kind.
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    [task] = history["tasks"]
    with pytest.raises(IntegrityError), Session(seeded.engine) as session, session.begin():
        session.add(PropagationTask(**{
            column: getattr(task, column) for column in (
                "event_id", "system", "subscriber_id", "email", "email_key", "destination",
                "destination_title", "action", "state", "attempts", "created_at",
                "updated_at")}))
