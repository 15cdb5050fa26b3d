"""The consent sync and a restricted subscriber (GDPR Art. 18): what the source says is
recorded (storing is allowed), but no task is opened that would change the subscriber at
another processor, and a return to a consenting status is held for a person; after the lift
the same change propagates again."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import respx
from pydantic import SecretStr

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from hub.config.consent import ConsentSettings
from hub.consent.summary import SyncSummary
from hub.consent.suppression import Suppression
from hub.consent.sync import ConsentSync
from hub.http import HttpPolicy
from hub.store.consent_register import ConsentRegister
from hub.store.restrictions import RestrictionRegister
from hub.store.state import StateStore
from hub.store.suppression import SuppressionList
from tests.test_consent_sync import PALOMA, TOKEN, FakeMailerLite, engine, initial

__all__ = ["engine"]  # the fixture, shared with the consent sync's tests


async def _sync(engine, policy: HttpPolicy, secret: Path) -> SyncSummary:
    settings = MailerLiteSettings(api_token=SecretStr(TOKEN), http=policy, page_size=2)
    async with MailerLiteConnector(settings) as connector:
        job = ConsentSync(source=connector, register=ConsentRegister(engine),
                          store=StateStore(engine), destinations=[PALOMA],
                          consent=ConsentSettings(),
                          suppression=Suppression(SuppressionList(engine, secret), secret),
                          now=lambda: datetime.now(UTC))
        return await job.run(full=True)


def _paloma_tasks(engine, n: int) -> list[str]:
    return [t.state for t in ConsentRegister(engine).open_tasks(include_closed=True)
            if t.subscriber_id == str(1000 + n) and t.destination == "paloma"]


@respx.mock
async def test_restricted_opt_out_is_recorded_without_tasks_until_lifted(
        engine, fast_policy, respx_mock, tmp_path: Path) -> None:
    secret = tmp_path / "keyed-hash.key"
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    first = await _sync(engine, fast_policy, secret)
    assert first.restricted == 0
    restrictions = RestrictionRegister(engine, secret)
    restrictions.restrict("Person3@Example.se", "accuracy contested", request_id="R1")

    fake.unsubscribe(3)
    fake.unsubscribe(4)
    held = await _sync(engine, fast_policy, secret)
    assert held.restricted >= 1 and "restricted subscribers" in held.line()
    register = ConsentRegister(engine)
    assert [e.status for e in register.history("person3@example.se")["events"]][-1] == \
        "unsubscribed"  # recorded
    assert _paloma_tasks(engine, 3) == []  # but nothing opened that changes her elsewhere
    assert _paloma_tasks(engine, 4) == ["manual-open"]  # an unrestricted one as always

    fake.subscribers["1003"].update(status="active", opted_in_at="2026-11-21 09:00:00",
                                    optin_ip="192.0.2.99", unsubscribed_at=None,
                                    updated_at="2026-11-21 09:00:00")
    back = await _sync(engine, fast_policy, secret)
    assert back.review_opened == 1  # a fresh opt-in while restricted: a person decides

    restrictions.lift("person3@example.se", notified_on=date(2026, 11, 25), request_id="R2")
    fake.unsubscribe(3, at="2026-11-26 08:00:00")
    after = await _sync(engine, fast_policy, secret)
    assert after.restricted == 0
    assert _paloma_tasks(engine, 3) == ["manual-open"]  # the sync acts again


def test_a_webhook_for_a_restricted_subscriber_opens_no_task(database_url: str,
                                                             tmp_path: Path) -> None:
    from hub.consent.database import open_consent_database
    from hub.consent.webhook import WebhookApp
    from hub.sandbox.mailerlite_api import MailerLiteServer, sign_webhook, webhook_payload

    engine = open_consent_database(database_url)
    secret = tmp_path / "keyed-hash.key"
    register = ConsentRegister(engine)
    app = WebhookApp(register, "ybmcD7PQ9R", [PALOMA],
                     suppression=Suppression(SuppressionList(engine, secret), secret))
    RestrictionRegister(engine, secret).restrict("anna.svensson@example.se", "accuracy",
                                                 request_id="R1")
    mailerlite = MailerLiteServer()
    payloads = [webhook_payload(mailerlite.unsubscribe(email), "subscriber.unsubscribed")
                for email in ("anna.svensson@example.se", "lars.lindqvist@example.com")]
    for payload in payloads:
        body = json.dumps(payload).encode()
        status, answer = app.handle("POST", app.path, sign_webhook(body, "ybmcD7PQ9R"), body)
        assert (status, answer["status"]) == (200, "ok")
    anna = register.history("anna.svensson@example.se")
    assert [e.status for e in anna["events"]] == ["unsubscribed"] and anna["tasks"] == []
    assert [t.destination for t in register.history("lars.lindqvist@example.com")["tasks"]] \
        == ["paloma"]
