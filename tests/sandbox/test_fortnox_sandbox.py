"""The real Fortnox connector against the fake Fortnox (hub/sandbox/fortnox_api.py) over loopback,
and the fake itself against the documented rules. Nothing leaves the machine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.fortnox import FortnoxConnector, FortnoxSettings
from connectors.sdk.testing import check_against_server
from hub.core.errors import CredentialsRejected
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy
from hub.sandbox.fortnox_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    INITIAL_REFRESH_TOKEN,
    SPEC,
    FortnoxServer,
)
from hub.sandbox.server import SandboxOptions
from hub.store.db import open_database
from hub.store.state import StateStore
from tests.databases import hub_database_url

ANNA = "anna.svensson@example.se"


@pytest.fixture
def server() -> Iterator[FortnoxServer]:
    with SPEC.build(SandboxOptions()) as fake:
        assert isinstance(fake, FortnoxServer)
        yield fake
        assert fake.internal_errors == []


@pytest.fixture
def store(database_url: str) -> StateStore:
    return StateStore(open_database(database_url))


def sandbox_settings(server: FortnoxServer, policy: HttpPolicy, **extra: object
                     ) -> FortnoxSettings:
    """What the Sandbox injects: base_url plus SPEC.credentials (token_url is a path)."""
    return FortnoxSettings(base_url=server.base_url, http=policy,
                           **{**SPEC.credentials, **extra})


def token_requests(server: FortnoxServer) -> int:
    return sum(1 for method, target in server.request_log if target == "/oauth-v1/token")


def api_client(server: FortnoxServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{server.base_url}/3",
                        headers={"Authorization": f"Bearer {token}"}, trust_env=False)


def raw_token(server: FortnoxServer, refresh_token: str = INITIAL_REFRESH_TOKEN) -> httpx.Response:
    return httpx.post(f"{server.base_url}/oauth-v1/token", auth=(CLIENT_ID, CLIENT_SECRET),
                      data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                      trust_env=False)


# --------------------------------------------------------------------------- the connector
async def test_finds_anna_not_the_similar_addresses(
        server: FortnoxServer, store: StateStore, fast_policy: HttpPolicy) -> None:
    async with FortnoxConnector(sandbox_settings(server, fast_policy), state=store) as fortnox:
        findings = await fortnox.find_subject(Subject.from_email(ANNA))
    customers = {r.id: r for r in findings.records if r.type == "customer"}
    assert set(customers) == {"1", "10"}  # never 2 (svenssonson@) or 3 (johanna.svensson@)
    assert customers["1"].match_strength == MatchStrength.EXACT
    assert customers["10"].match_strength == MatchStrength.PLUS_ADDRESS
    dates = {r.data["InvoiceDate"] for r in findings.records if r.type == "invoice"}
    assert "2019-03-14" in dates and len(dates) == 10
    invoices = [r for r in findings.records if r.type == "invoice"]
    assert all(r.data["CustomerNumber"] in {"1", "10"} for r in invoices)
    assert invoices[0].data["EmailInformation"]["EmailAddressTo"] == ANNA
    assert Identifier(kind="phone", value="+46701234567", source="fortnox") in findings.identifiers
    assert Identifier(kind="personnummer", value="19850709-1232",
                      source="fortnox") in findings.identifiers


async def test_pages_at_a_small_limit(server: FortnoxServer, fast_policy: HttpPolicy) -> None:
    settings = sandbox_settings(server, fast_policy, page_size=5)
    async with FortnoxConnector(settings) as fortnox:
        findings = await fortnox.find_subject(Subject.from_email(ANNA))
    assert len([r for r in findings.records if r.type == "invoice"]) == 10
    assert any("customernumber=1&limit=5&page=2" in target for _, target in server.request_log)


async def test_phone_only_customer_is_found_by_a_phone_from_another_processor(
        server: FortnoxServer, fast_policy: HttpPolicy) -> None:
    subject = Subject.from_email("asa.oberg@example.se")
    widened, new = subject.widened([Identifier(kind="phone", value="+46812345678",
                                               source="stripe")])
    async with FortnoxConnector(sandbox_settings(server, fast_policy)) as fortnox:
        assert (await fortnox.find_subject(subject)).records == []
        findings = await fortnox.find_by_identifiers(widened, new)
    assert [(r.type, r.id) for r in findings.records] == [
        ("customer", "4"), ("invoice", "5"), ("invoice", "8")]
    assert {r.match_strength for r in findings.records} == {MatchStrength.DERIVED}


async def test_personnummer_from_another_processor(server: FortnoxServer,
                                                   fast_policy: HttpPolicy) -> None:
    subject = Subject.from_email("maria@elsewhere.example.com")
    widened, new = subject.widened([Identifier(kind="personnummer", value="19780330-2467",
                                               source="booking")])
    async with FortnoxConnector(sandbox_settings(server, fast_policy)) as fortnox:
        findings = await fortnox.find_by_identifiers(widened, new)
    assert {r.id for r in findings.records if r.type == "customer"} == {"5"}


async def test_rotation_is_persisted_and_the_spent_seed_is_dead(
        server: FortnoxServer, store: StateStore, fast_policy: HttpPolicy) -> None:
    settings = sandbox_settings(server, fast_policy)
    for _ in range(2):  # two requests, one refresh: the second reuses the stored access token
        async with FortnoxConnector(settings, state=store) as fortnox:
            await fortnox.check_credentials()
    assert token_requests(server) == 1
    key = f"fortnox:tokens:{CLIENT_ID}@{server.base_url.removeprefix('http://')}"
    assert store.get(key)["refresh_token"] == server.tokens.refresh_token
    refused = raw_token(server)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_revoked_access_token_is_refreshed_once(
        server: FortnoxServer, store: StateStore, fast_policy: HttpPolicy) -> None:
    settings = sandbox_settings(server, fast_policy)
    async with FortnoxConnector(settings, state=store) as fortnox:
        await fortnox.check_credentials()
        server.revoke_access_tokens()
        await fortnox.check_credentials()
    assert token_requests(server) == 2


async def test_a_fresh_connector_without_the_store_cannot_reuse_the_spent_seed(
        server: FortnoxServer, fast_policy: HttpPolicy) -> None:
    settings = sandbox_settings(server, fast_policy)
    async with FortnoxConnector(settings) as first:
        await first.check_credentials()
    async with FortnoxConnector(settings) as second:  # no shared store: the hub must pass one
        with pytest.raises(CredentialsRejected, match="re-authorise Fortnox"):
            await second.check_credentials()


async def test_client_side_limit_keeps_a_burst_free_of_429(
        server: FortnoxServer, fast_policy: HttpPolicy) -> None:
    server.rate_limit_seconds = 0.5  # 25 per 0.5 s instead of per 5 s, to keep the test short
    # the client keeps a small margin: requests reach the server a little later than they start
    policy = fast_policy.model_copy(update={"rate_limit_requests": 25,
                                            "rate_limit_seconds": 0.6})
    started = time.monotonic()
    async with FortnoxConnector(sandbox_settings(server, policy)) as fortnox:
        # one after another: unthrottled, 60 loopback requests take milliseconds. (A concurrent
        # burst would overflow the fake's listen backlog of 5 and stall connects by ~1 s.)
        for _ in range(60):
            await fortnox.check_credentials()
    assert server.rate_limited_count == 0
    assert sum(1 for _, target in server.request_log if target.startswith("/3/")) == 60
    assert time.monotonic() - started >= 1.2 - 0.05  # 60 requests needed three windows


def test_the_fake_enforces_the_limit_per_access_token(server: FortnoxServer) -> None:
    server.rate_limit_seconds = 1.0
    tokens = [raw_token(server).json()]
    tokens.append(raw_token(server, tokens[0]["refresh_token"]).json())
    with api_client(server, tokens[0]["access_token"]) as first, \
            api_client(server, tokens[1]["access_token"]) as second:
        statuses = [first.get("/customers", params={"limit": 1}).status_code for _ in range(26)]
        assert statuses[:25] == [200] * 25 and statuses[25] == 429
        assert second.get("/customers").status_code == 200  # its own window
        time.sleep(1.05)
        assert first.get("/customers").status_code == 200  # the window slid on


async def test_passes_the_shared_connector_contract(server: FortnoxServer,
                                                    fast_policy: HttpPolicy) -> None:
    await check_against_server(FortnoxConnector, sandbox_settings(server, fast_policy))


# --------------------------------------------------------------------------- the fake itself
@pytest.fixture
def api(server: FortnoxServer) -> Iterator[httpx.Client]:
    with api_client(server, raw_token(server).json()["access_token"]) as client:
        yield client


def test_token_endpoint_follows_rfc6749(server: FortnoxServer) -> None:
    answer = raw_token(server).json()
    assert set(answer) == {"access_token", "refresh_token", "scope", "expires_in", "token_type"}
    assert answer["expires_in"] == 3600
    wrong_client = httpx.post(f"{server.base_url}/oauth-v1/token", auth=(CLIENT_ID, "nope"),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": answer["refresh_token"]}, trust_env=False)
    assert wrong_client.status_code == 401 and wrong_client.json()["error"] == "invalid_client"


def test_bad_bearer_is_401_with_error_information(server: FortnoxServer) -> None:
    with api_client(server, "made-up") as client:
        response = client.get("/customers")
    assert response.status_code == 401
    assert response.json() == {"ErrorInformation": {
        "Error": 1, "Message": "Ogiltig inloggning", "Code": 2000310}}


def test_expired_access_token_is_401(server: FortnoxServer) -> None:
    server.tokens.access_token_ttl = 0.05
    with api_client(server, raw_token(server).json()["access_token"]) as client:
        time.sleep(0.1)
        assert client.get("/customers").status_code == 401


def test_search_is_partial_and_case_insensitive(api: httpx.Client) -> None:
    body = api.get("/customers", params={"email": "ANNA.svensson@example.se"}).json()
    assert [c["CustomerNumber"] for c in body["Customers"]] == ["1", "3"]  # 3 is johanna.…
    assert set(body["Customers"][0]) == {"@url", "Address1", "Address2", "City",
                                         "CustomerNumber", "Email", "Name",
                                         "OrganisationNumber", "Phone", "ZipCode"}
    assert body["MetaInformation"] == {"@TotalResources": 2, "@TotalPages": 1,
                                       "@CurrentPage": 1}
    by_phone = api.get("/customers", params={"phone": "123 456"}).json()["Customers"]
    assert [c["Name"] for c in by_phone] == ["Åsa Öberg"]
    both = api.get("/customers", params={"email": "a", "name": "b"})
    assert both.status_code == 400
    assert both.json()["ErrorInformation"]["code"] == 2000588


def test_invoice_paging_and_date_filters(api: httpx.Client) -> None:
    first = api.get("/invoices", params={"customernumber": "1", "limit": 5}).json()
    assert first["MetaInformation"] == {"@TotalResources": 12, "@TotalPages": 3,
                                        "@CurrentPage": 1}  # partial: 10, 11 and 12 too
    numbers = {i["CustomerNumber"] for i in first["Invoices"]}
    assert numbers <= {"1", "10", "11", "12"}
    window = api.get("/invoices", params={"customernumber": "1", "fromdate": "2019-01-01",
                                          "todate": "2019-12-31"}).json()["Invoices"]
    assert [i["InvoiceDate"] for i in window] == ["2019-03-14", "2019-05-10", "2019-11-02"]
    assert api.get("/invoices", params={"limit": 501}).status_code == 400
    full = api.get("/invoices/1").json()["Invoice"]
    assert full["EmailInformation"]["EmailAddressTo"] == ANNA and full["Address1"]


def test_customer_put_and_delete(api: httpx.Client, server: FortnoxServer) -> None:
    renamed = api.put("/customers/9", json={"Customer": {"Name": "L. K.", "Email": ""}})
    assert renamed.status_code == 200 and renamed.json()["Customer"]["Name"] == "L. K."
    assert api.put("/customers/9", json={"Customer": {"Nickname": "x"}}).status_code == 400
    refused = api.delete("/customers/1")  # Anna has invoices: bookkeeping keeps her
    assert refused.status_code == 400 and "fakturor" in refused.json()[
        "ErrorInformation"]["message"]
    assert api.delete("/customers/9").status_code == 204
    missing = api.get("/customers/9")
    assert missing.status_code == 404 and missing.json()["ErrorInformation"]["code"] == 2000433


def _everything_stored(url: str) -> bytes:
    """The database's bytes as they lie on disk: the SQLite file with its WAL, or on
    PostgreSQL every stored state value."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        return b"".join(p.read_bytes() for p in files)
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from hub.store.tables import StateEntry

    engine = open_database(url)
    with Session(engine) as session:
        stored = b"".join(v.encode() for v in session.scalars(select(StateEntry.value)))
    engine.dispose()
    return stored


@pytest.mark.database
def test_rotated_tokens_never_reach_the_database_file_in_clear(
        server: FortnoxServer, tmp_path: Path) -> None:
    """``dsar config check`` (the real CLI) spends the configured refresh token at the fake
    Fortnox and stores the rotated pair; the database file, with its WAL, holds neither."""
    from hub.config.registry import discover
    from tests.e2e_helpers import run_dsar

    env = {"XDG_STATE_HOME": str(tmp_path), "DSAR_FORTNOX__BASE_URL": server.base_url,
           **{f"DSAR_FORTNOX__{name.upper()}": str(value)
              for name, value in SPEC.credentials.items()},
           **{f"DSAR_{name.upper()}__ENABLED": "false" for name in discover()
              if name != "fortnox"}}
    run = run_dsar("--json", "config", "check", env=env)
    [fortnox] = run.json["processors"]
    assert fortnox["ok"], fortnox
    assert token_requests(server) == 1  # rotated: the stored refresh token is a new one
    issued = [server.tokens.refresh_token, *server.tokens.access_tokens]
    state_dir = tmp_path / "dsar"
    stored = _everything_stored(hub_database_url(state_dir))
    assert b"fernet:v1:" in stored  # the tokens are there, encrypted
    for token in issued:
        assert token.encode() not in stored
    assert (state_dir / "state-encryption.key").stat().st_mode & 0o077 == 0
    again = run_dsar("--json", "config", "check", env=env)  # a later run can read them
    assert again.json["processors"][0]["ok"] and token_requests(server) == 1
