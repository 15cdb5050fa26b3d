"""MailerLite connector against respx-mocked documented responses."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from hub.core.errors import CredentialsRejected, ProcessorUnavailable, ProtocolError
from hub.core.subject import MatchStrength, Subject
from hub.http import HttpPolicy

BASE = "https://connect.mailerlite.com/api"
TOKEN = "ml-test-token-123456"


def subscriber(email: str, sid: str = "31897397363737859") -> dict:
    return {
        "id": sid, "email": email, "status": "active", "source": "api", "sent": 3,
        "opens_count": 1, "clicks_count": 0, "open_rate": 33.33, "click_rate": 0,
        "ip_address": "192.0.2.10", "subscribed_at": "2021-09-01 14:03:50",
        "unsubscribed_at": None, "created_at": "2021-09-01 14:03:50",
        "updated_at": "2021-09-01 14:03:50",
        "fields": {"name": "Anna", "last_name": "Svensson", "company": None, "country": None,
                   "city": "Uppsala", "phone": None, "state": None, "z_i_p": None},
        "groups": [{"id": "1", "name": "Nyhetsbrev"}], "opted_in_at": "2021-09-01 14:05:00",
        "optin_ip": "192.0.2.10",
    }


@pytest.fixture
def connector(fast_policy: HttpPolicy) -> MailerLiteConnector:
    settings = MailerLiteSettings(api_token=SecretStr(TOKEN), http=fast_policy)
    return MailerLiteConnector(settings)


@respx.mock
async def test_found_with_fields_groups_and_optin_evidence(connector: MailerLiteConnector) -> None:
    route = respx.get(f"{BASE}/subscribers/anna.svensson@example.se").respond(
        200, json={"data": subscriber("anna.svensson@example.se")})
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna.svensson@example.se"))
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    [record] = findings.records
    assert record.type == "subscriber" and record.matched_on == "email"
    assert record.match_strength == MatchStrength.EXACT
    assert record.data["fields"] == {"name": "Anna", "last_name": "Svensson", "city": "Uppsala"}
    assert record.data["groups"] == ["Nyhetsbrev"]
    assert record.data["optin_ip"] == "192.0.2.10"


@respx.mock
async def test_other_case_is_asked_for_and_deduplicated(connector: MailerLiteConnector) -> None:
    respx.get(f"{BASE}/subscribers/Anna.Svensson@example.se").respond(
        200, json={"data": subscriber("anna.svensson@example.se")})
    respx.get(f"{BASE}/subscribers/anna.svensson@example.se").respond(
        200, json={"data": subscriber("anna.svensson@example.se")})
    async with connector:
        findings = await connector.find_subject(Subject.from_email("Anna.Svensson@Example.se"))
    [record] = findings.records
    assert record.match_strength == MatchStrength.CASE_INSENSITIVE


@respx.mock
async def test_plus_address_is_url_encoded_in_the_path(connector: MailerLiteConnector) -> None:
    route = respx.get(url__regex=rf"{BASE}/subscribers/.*").respond(
        404, json={"message": "Resource not found."})
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna+shop@example.se"))
    assert findings.records == []
    assert route.calls.last.request.url.raw_path == b"/api/subscribers/anna%2Bshop@example.se"


@respx.mock
async def test_a_different_person_in_the_answer_is_never_reported(
        connector: MailerLiteConnector) -> None:
    respx.get(f"{BASE}/subscribers/anna@example.se").respond(
        200, json={"data": subscriber("someone.else@example.se")})
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna@example.se"))
    assert findings.records == []


@respx.mock
async def test_429_with_retry_after_then_success(connector: MailerLiteConnector) -> None:
    route = respx.get(f"{BASE}/subscribers/anna@example.se").mock(side_effect=[
        httpx.Response(429, json={"message": "Too Many Attempts."}, headers={"Retry-After": "1"}),
        httpx.Response(200, json={"data": subscriber("anna@example.se")}),
    ])
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna@example.se"))
    assert len(findings.records) == 1
    assert route.call_count == 2


@respx.mock
async def test_500_three_times_is_processor_unavailable(connector: MailerLiteConnector) -> None:
    route = respx.get(f"{BASE}/subscribers/anna@example.se").respond(500, json={"message": "x"})
    async with connector:
        with pytest.raises(ProcessorUnavailable, match="HTTP 500"):
            await connector.find_subject(Subject.from_email("anna@example.se"))
    assert route.call_count == 3


@respx.mock
async def test_timeout_is_retried_then_raised(connector: MailerLiteConnector) -> None:
    route = respx.get(f"{BASE}/subscribers/anna@example.se").mock(
        side_effect=httpx.ReadTimeout("timed out"))
    async with connector:
        with pytest.raises(httpx.ReadTimeout):
            await connector.find_subject(Subject.from_email("anna@example.se"))
    assert route.call_count == 3


@respx.mock
async def test_malformed_json_is_a_protocol_error(connector: MailerLiteConnector) -> None:
    respx.get(f"{BASE}/subscribers/anna@example.se").respond(200, text="<html>oops</html>")
    async with connector:
        with pytest.raises(ProtocolError, match="not JSON"):
            await connector.find_subject(Subject.from_email("anna@example.se"))


@respx.mock
async def test_401_is_credentials_rejected_without_retry(connector: MailerLiteConnector) -> None:
    route = respx.get(f"{BASE}/subscribers/anna@example.se").respond(
        401, json={"message": "Unauthenticated."})
    async with connector:
        with pytest.raises(CredentialsRejected, match="rejected the credentials"):
            await connector.find_subject(Subject.from_email("anna@example.se"))
    assert route.call_count == 1


@respx.mock
async def test_base_url_without_api_suffix_is_completed(fast_policy: HttpPolicy) -> None:
    route = respx.get("http://proxy.example.com/api/subscribers").respond(200, json={"data": []})
    settings = MailerLiteSettings(api_token=SecretStr(TOKEN), http=fast_policy,
                                  base_url="http://proxy.example.com")
    async with MailerLiteConnector(settings) as connector:
        assert "accepted" in await connector.check_credentials()
    assert route.called
