"""MailerLite erasure (forget) against respx-mocked documented responses.

``POST /api/subscribers/{id}/forget`` → 200, data "completely deleted and forgotten within 30
days" (developers.mailerlite.com/docs/subscribers#forget-a-subscriber); the plain DELETE keeps
the data for re-subscription and must never be used for erasure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.sdk.base import ErasureAction, ErasureState
from hub.core.models import Record
from hub.http import REPLAYABLE, HttpPolicy

BASE = "https://connect.mailerlite.com/api"
TOKEN = "ml-test-token-123456"
SID = "31897397363737859"
FORGET = f"{BASE}/subscribers/{SID}/forget"
NOTICE = "Subscriber data will be completely deleted and forgotten within 30 days."


@pytest.fixture
def connector(fast_policy: HttpPolicy) -> MailerLiteConnector:
    return MailerLiteConnector(MailerLiteSettings(api_token=SecretStr(TOKEN), http=fast_policy))


def forgotten() -> httpx.Response:
    return httpx.Response(200, json={"data": {"id": SID, "email": "anna.svensson@example.se",
                                              "status": "active"}, "message": NOTICE})


async def erase(connector: MailerLiteConnector,
                action: ErasureAction = ErasureAction.DELETE, kind: str = "subscriber"):
    async with connector:
        return await connector.erase(Record(type=kind, id=SID, matched_on="email"), action,
                                     idempotency_key="dsar-req-7:mailerlite:subscriber:" + SID)


@respx.mock
async def test_forget_is_done_within_30_days(connector: MailerLiteConnector) -> None:
    route = respx.post(FORGET).mock(return_value=forgotten())
    plain_delete = respx.delete(f"{BASE}/subscribers/{SID}").respond(204)
    outcome = await erase(connector)
    assert outcome.state == ErasureState.DONE
    assert outcome.completes_by == datetime.now(UTC).date() + timedelta(days=30)
    assert "within 30 days" in outcome.detail
    assert outcome.completes_by.isoformat() in outcome.detail
    assert route.call_count == 1 and not plain_delete.called  # never the plain DELETE
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    # forget is safe to repeat: marked REPLAYABLE so the shared policy retries it on 5xx;
    # MailerLite documents no idempotency key, so none is sent
    assert request.extensions[REPLAYABLE] is True
    assert "Idempotency-Key" not in request.headers


@respx.mock
async def test_unknown_subscriber_is_already_gone(connector: MailerLiteConnector) -> None:
    route = respx.post(FORGET).respond(404, json={"message": "Resource not found."})
    outcome = await erase(connector)
    assert outcome.state == ErasureState.ALREADY_GONE
    assert outcome.completes_by is None
    assert route.call_count == 1


@respx.mock
async def test_unknown_route_is_not_taken_for_gone(connector: MailerLiteConnector) -> None:
    respx.post(FORGET).respond(
        404, json={"message": f"The route api/subscribers/{SID}/forget could not be found."})
    outcome = await erase(connector)
    assert outcome.state == ErasureState.FAILED
    assert "HTTP 404" in outcome.detail


@respx.mock
@pytest.mark.parametrize("first", [
    httpx.Response(429, json={"message": "Too Many Attempts."}, headers={"Retry-After": "0"}),
    httpx.Response(500, json={"message": "Server Error"}),
    httpx.Response(503, text="Service Unavailable"),
], ids=["429", "500", "503"])
async def test_429_and_5xx_are_retried_then_forgotten(connector: MailerLiteConnector,
                                                      first: httpx.Response) -> None:
    route = respx.post(FORGET).mock(side_effect=[first, forgotten()])
    outcome = await erase(connector)
    assert outcome.state == ErasureState.DONE
    assert route.call_count == 2


@respx.mock
async def test_5xx_beyond_the_budget_fails_with_reason(connector: MailerLiteConnector) -> None:
    route = respx.post(FORGET).respond(500, json={"message": "Server Error"})
    outcome = await erase(connector)
    assert outcome.state == ErasureState.FAILED
    assert "HTTP 500" in outcome.detail and "re-run later" in outcome.detail
    assert route.call_count == 3  # fast_policy: three attempts


@respx.mock
async def test_rejected_token_fails_naming_the_credentials(connector: MailerLiteConnector
                                                           ) -> None:
    route = respx.post(FORGET).respond(401, json={"message": "Unauthenticated."})
    outcome = await erase(connector)
    assert outcome.state == ErasureState.FAILED
    assert "credentials" in outcome.detail and "Unauthenticated." in outcome.detail
    assert TOKEN not in outcome.detail
    assert route.call_count == 1


@respx.mock
async def test_unreachable_fails_with_reason(connector: MailerLiteConnector) -> None:
    respx.post(FORGET).mock(side_effect=httpx.ConnectError("refused"))
    outcome = await erase(connector)
    assert outcome.state == ErasureState.FAILED
    assert "could not reach MailerLite" in outcome.detail


@respx.mock
async def test_anonymise_is_refused_with_forget_instead(connector: MailerLiteConnector) -> None:
    route = respx.post(FORGET).mock(return_value=forgotten())
    outcome = await erase(connector, ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.REFUSED
    assert outcome.fallback == ErasureAction.DELETE
    assert not route.called


async def test_unknown_record_type_is_a_programming_error(connector: MailerLiteConnector
                                                          ) -> None:
    with pytest.raises(ValueError, match="no type"):
        await erase(connector, kind="group")
