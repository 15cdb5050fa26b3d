"""The sandbox's fake Zettle behaves like the documented API, and the real connector works with it.

Everything runs over real HTTP on 127.0.0.1; the server is built from the SPEC directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.sdk.testing import check_against_server, run_static_checks
from connectors.zettle import ZettleConnector, ZettleSettings
from hub.core.errors import CredentialsRejected
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy
from hub.sandbox.server import SandboxOptions
from hub.sandbox.zettle_api import (
    API_KEY,
    CLIENT_ID,
    JWT_BEARER_GRANT,
    SPEC,
    ZettleServer,
    parse_zettle_time,
)

ANNA = "anna.svensson@example.se"
GRANT = {"grant_type": JWT_BEARER_GRANT, "client_id": CLIENT_ID, "assertion": API_KEY}


@pytest.fixture(scope="module")
def server() -> Iterator[ZettleServer]:
    built = SPEC.build(SandboxOptions())
    assert isinstance(built, ZettleServer)
    with built:
        yield built
        assert built.internal_errors == []


@pytest.fixture(scope="module")
def api(server: ZettleServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, trust_env=False) as client:
        token = client.post("/token", data=GRANT).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def settings_for(server: ZettleServer, policy: HttpPolicy | None = None, **values: str
                 ) -> ZettleSettings:
    """What the Sandbox injects: its base_url plus SPEC.credentials as they are."""
    return ZettleSettings.model_validate({
        "base_url": server.base_url, **SPEC.credentials, **values,
        **({"http": policy} if policy else {})})


def read_all(api: httpx.Client, **params: str) -> tuple[list[dict], int]:
    purchases: list[dict] = []
    pages = 0
    while True:
        body = api.get("/purchases/v2", params=params).json()
        pages += 1
        if not body["purchases"]:
            return purchases, pages
        purchases += body["purchases"]
        params = {**params, "lastPurchaseHash": body["lastPurchaseHash"]}


# -------------------------------------------------------------------------------- OAuth
@pytest.mark.parametrize(("form", "status", "error"), [
    ({**GRANT, "grant_type": "password"}, 400, "unsupported_grant_type"),
    ({**GRANT, "assertion": "eyJ.wrong.key"}, 400, "invalid_grant"),
    ({**GRANT, "client_id": "00000000-0000-0000-0000-000000000000"}, 401, "invalid_client"),
    ({"grant_type": JWT_BEARER_GRANT, "client_id": CLIENT_ID}, 400, "invalid_request"),
])
def test_token_endpoint_takes_only_the_documented_assertion_grant(
        server: ZettleServer, form: dict, status: int, error: str) -> None:
    response = httpx.post(f"{server.base_url}/token", data=form, trust_env=False)
    assert response.status_code == status and response.json()["error"] == error


def test_token_endpoint_refuses_json_bodies(server: ZettleServer) -> None:
    response = httpx.post(f"{server.base_url}/token", json=GRANT, trust_env=False)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_granted_token_is_documented_shape(server: ZettleServer) -> None:
    body = httpx.post(f"{server.base_url}/token", data=GRANT, trust_env=False).json()
    assert set(body) == {"access_token", "expires_in"} and body["expires_in"] == 7200


@pytest.mark.parametrize("header", [None, "Bearer not-a-token"])
def test_purchases_need_a_valid_bearer_token(server: ZettleServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{server.base_url}/purchases/v2", headers=headers, trust_env=False)
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]


def test_expired_tokens_are_refused() -> None:
    with ZettleServer(token_seconds=0) as short_lived:
        base = short_lived.base_url
        token = httpx.post(f"{base}/token", data=GRANT, trust_env=False).json()["access_token"]
        response = httpx.get(f"{base}/purchases/v2", trust_env=False,
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "ACCESS_TOKEN_EXPIRED" in response.headers["WWW-Authenticate"]


# -------------------------------------------------------------------------------- paging
def test_paging_by_hash_reads_every_purchase_once_and_ends_with_an_empty_page(
        server: ZettleServer, api: httpx.Client) -> None:
    window = {"startDate": "2019-01-01", "endDate": "2027-01-01", "limit": "1000"}
    purchases, pages = read_all(api, **window)
    assert len(purchases) == len(server.state) > 2000 and pages == 4
    ids = [p["purchaseUUID1"] for p in purchases]
    assert len(set(ids)) == len(ids)
    times = [parse_zettle_time(p["timestamp"]) for p in purchases]
    assert times == sorted(times)  # oldest first unless descending=true
    newest_first, _ = read_all(api, **window, descending="true")
    assert [p["purchaseUUID1"] for p in newest_first] == ids[::-1]


def test_dates_filter_with_start_inclusive_and_end_exclusive(api: httpx.Client) -> None:
    body = api.get("/purchases/v2", params={"startDate": "2025-05-06", "endDate": "2025-05-07",
                                            "descending": "true"}).json()
    days = {p["timestamp"][:10] for p in body["purchases"]}
    assert days == {"2025-05-06"}
    assert body["linkUrls"][0].endswith('>; rel="next"')
    assert body["lastPurchaseHash"] in body["linkUrls"][0]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"},
                                    {"descending": "yes"}, {"startDate": "last year"},
                                    {"lastPurchaseHash": "nonsense"}])
def test_invalid_parameters_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    assert api.get("/purchases/v2", params=params).status_code == 400


# -------------------------------------------------------------------------------- connector
def test_connector_meets_the_static_contract() -> None:
    run_static_checks(ZettleConnector)


async def test_connector_meets_the_server_contract(server: ZettleServer) -> None:
    await check_against_server(ZettleConnector, settings_for(server))


async def test_anna_is_manual_first_then_found_by_her_phone_without_a_second_scan(
        server: ZettleServer) -> None:
    subject = Subject.from_email(ANNA)
    async with ZettleConnector(settings_for(server)) as connector:
        first = await connector.find_subject(subject)
        sent = connector.requests_sent
        widened, new = subject.widened(
            [Identifier(kind="phone", value="+46701234567", source="stripe")])
        second = await connector.find_by_identifiers(widened, new)
        assert connector.requests_sent == sent  # re-matched the cached receipts
    assert first.manual and first.records == [] and "my.zettle.com" in first.notes[1]
    [record] = second.records
    assert record.matched_on == "phone" and record.match_strength == MatchStrength.DERIVED
    assert record.data["timestamp"].startswith("2025-05-06")
    assert "070-123 45 67" in record.data["products"][0]["comment"]


async def test_an_email_in_a_receipt_is_found_in_round_one(server: ZettleServer) -> None:
    async with ZettleConnector(settings_for(server)) as connector:
        findings = await connector.find_subject(Subject.from_email("maria.berg@example.se"))
    [record] = findings.records
    assert record.match_strength == MatchStrength.CASE_INSENSITIVE and not findings.manual


async def test_a_wrong_api_key_is_credentials_rejected(server: ZettleServer) -> None:
    async with ZettleConnector(settings_for(server, api_key="eyJ.revoked.key")) as connector:
        with pytest.raises(CredentialsRejected, match="invalid_grant"):
            await connector.check_credentials()


async def test_connector_regrants_when_the_server_expired_its_token(
        server: ZettleServer, fast_policy: HttpPolicy) -> None:
    async with ZettleConnector(settings_for(server, fast_policy)) as connector:
        await connector.check_credentials()
        server.expire_tokens()
        assert "accepted" in await connector.check_credentials()
        assert connector.auth.grants == 2
