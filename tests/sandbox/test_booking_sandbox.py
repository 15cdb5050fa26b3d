"""The fake booking system behaves like BokaMera's API, and the real connector, declared by
``hub/sandbox/booking-declaration.toml``, finds the right people in it over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.rest import BookingConnector, BookingSettings
from connectors.sdk.testing import check_against_server
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.errors import CredentialsRejected
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy
from hub.sandbox.booking_api import API_KEY, SPEC, BookingServer
from hub.sandbox.fixtures import load_fixture
from hub.sandbox.server import SandboxOptions

DECLARATION = Path(__file__).resolve().parents[2] / "hub" / "sandbox" / "booking-declaration.toml"
ANNA = "anna.svensson@example.se"
ASA_PHONE = "+46812345678"  # Åsa Öberg's phone at Stripe and MailerLite
SEED = load_fixture("booking.json")


def _id(first: str, last: str, email: str | None = None) -> str:
    return next(c["Id"] for c in SEED["customers"]
                if (c["Firstname"], c["Lastname"]) == (first, last)
                and (email is None or c["Email"] == email))


@pytest.fixture
def server() -> Iterator[BookingServer]:
    fake = SPEC.build(SandboxOptions())
    assert isinstance(fake, BookingServer)
    with fake:
        yield fake
    assert fake.internal_errors == []


def booking_settings(server: BookingServer, **changes: Any) -> BookingSettings:
    """The shipped sandbox declaration with what ``--sandbox`` sets (base_url, credentials)."""
    loaded = load_settings({"booking": BookingConnector}, DECLARATION)
    values = {"base_url": server.base_url, **SPEC.credentials, **changes}
    settings = with_processor_overrides(loaded, "booking", values).processor("booking")
    assert isinstance(settings, BookingSettings)
    return settings


@pytest.fixture
def api(server: BookingServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"x-api-key": API_KEY},
                      trust_env=False) as client:
        yield client


# --------------------------------------------------------------------------- the fake itself
def test_key_is_required_with_a_response_status_body(server: BookingServer) -> None:
    with httpx.Client(base_url=server.base_url, trust_env=False) as anon:
        response = anon.get("/customers")
    assert response.status_code == 401
    assert response.json()["ResponseStatus"]["Message"] == "Invalid or missing x-api-key header"


def test_listing_pages_with_skip_take_and_total(api: httpx.Client) -> None:
    seen: list[str] = []
    skip = 0
    while True:
        body = api.get("/customers", params={"skip": skip, "TAKE": 10}).json()  # any case
        assert set(body) == {"Offset", "Total", "Results"} and body["Offset"] == skip
        seen += [c["Id"] for c in body["Results"]]
        skip += 10
        if skip >= body["Total"]:
            break
    assert len(seen) == len(set(seen)) == len(SEED["customers"]) > 30  # four pages
    assert api.get("/customers", params={"Take": 101}).status_code == 400


def test_search_is_loose_and_comments_need_asking_for(api: httpx.Client) -> None:
    body = api.get("/customers", params={"Search": ANNA}).json()
    emails = {c["Email"] for c in body["Results"]}
    assert {ANNA, "Anna.Svensson@Example.se", "anna.svenssonson@example.se",
            "johanna.svensson@example.se"} <= emails
    anna = next(c for c in body["Results"] if c["Email"] == ANNA)
    assert anna["Comments"] == [] and anna["InvoiceAddress"] is None
    full = api.get(f"/customers/{anna['Id']}",
                   params={"IncludeComments": "true", "IncludeInvoiceAddress": "true"}).json()
    assert full["Comments"][0]["Comments"] == "Föredrar förmiddagar."
    assert full["InvoiceAddress"]["InvoiceCity"] == "Göteborg"


def test_update_and_delete_with_the_customers_bookings(api: httpx.Client) -> None:
    asa = _id("Åsa", "Öberg")
    assert api.get("/bookings", params={"CustomerId": asa}).json()["Total"] == 3
    updated = api.put(f"/customers/{asa}", json={"Firstname": "Anonymiserad", "Phone": ""})
    assert updated.status_code == 200 and updated.json()["Firstname"] == "Anonymiserad"
    assert api.delete(f"/customers/{asa}").status_code == 200
    assert api.get(f"/customers/{asa}").status_code == 404
    assert api.get("/bookings", params={"CustomerId": asa}).json()["Total"] == 0
    other = api.get("/customers", params={"CompanyId": "00000000-0000-0000-0000-000000000000"})
    assert other.status_code == 403


def test_rate_limit_is_enforced_with_retry_after(server: BookingServer,
                                                 api: httpx.Client) -> None:
    statuses = [api.get("/bookings", params={"Take": 1}) for _ in range(12)]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused, "more than 10 requests in a second must be refused"
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].json()["ResponseStatus"]["ErrorCode"] == "TooManyRequests"


# --------------------------------------------------------------------------- the connector
async def test_contract_against_the_sandbox(server: BookingServer) -> None:
    await check_against_server(BookingConnector, booking_settings(server))


async def test_anna_is_found_exactly_with_all_her_bookings(server: BookingServer) -> None:
    async with BookingConnector(booking_settings(server)) as connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    customers = {r.id: r for r in findings.records if r.type == "customer"}
    assert {r.match_strength for r in customers.values()} == {
        MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE}
    exact = customers[_id("Anna", "Svensson", ANNA)]
    assert exact.data["Comments"][0]["Comments"] == "Föredrar förmiddagar."
    assert exact.data["InvoiceAddress"]["InvoiceCity"] == "Göteborg"
    not_her = {_id("Anna", "Svenssonson"), _id("Johanna", "Svensson")}
    assert not not_her & set(customers)
    bookings = [r for r in findings.records if r.type == "booking"]
    assert len(bookings) == 13 and all(r.matched_on == "email" for r in bookings)
    assert any("Skip=10" in target for _, target in server.request_log)  # 12 bookings: 2 pages
    assert {(i.kind, i.value) for i in findings.identifiers} >= {
        ("phone", "+46701234567"), ("personnummer", "19850709-1232")}


async def test_asa_is_known_here_only_by_her_phone(server: BookingServer) -> None:
    subject = Subject.from_email("asa.oberg@example.se")
    async with BookingConnector(booking_settings(server)) as connector:
        first = await connector.find_subject(subject)
        widened, new = subject.widened([Identifier(kind="phone", value=ASA_PHONE,
                                                   source="stripe")])
        second = await connector.find_by_identifiers(widened, new)
    assert first.records == []
    assert {r.type for r in second.records} == {"customer", "booking"}
    assert len(second.records) == 4
    assert all(r.matched_on == "phone" and r.match_strength == MatchStrength.DERIVED
               for r in second.records)
    assert second.records[0].id == _id("Åsa", "Öberg")


async def test_a_personnummer_from_another_processor_finds_the_customer(
        server: BookingServer) -> None:
    subject = Subject.from_email("anna.work@example.com")  # an address the booking system lacks
    widened, new = subject.widened([Identifier(kind="personnummer", value="19850709-1232",
                                               source="fortnox")])
    async with BookingConnector(booking_settings(server)) as connector:
        assert connector.searchable_identifiers == {"email", "phone", "personnummer"}
        assert (await connector.find_subject(subject)).records == []
        findings = await connector.find_by_identifiers(widened, new)
    [customer] = [r for r in findings.records if r.type == "customer"]
    assert customer.id == _id("Anna", "Svensson", ANNA)
    assert (customer.matched_on, customer.match_strength) == ("personnummer",
                                                              MatchStrength.DERIVED)
    assert len(findings.records) == 13  # and her twelve bookings


async def test_declared_erase_call_works_against_the_sandbox(server: BookingServer) -> None:
    async with BookingConnector(booking_settings(server)) as connector:
        findings = await connector.find_subject(Subject.from_email("maria.berg@example.se"))
        [customer] = [r for r in findings.records if r.type == "customer"]
        [call] = connector.erasure_plan(customer)
    async with httpx.AsyncClient(base_url=server.base_url, headers={"x-api-key": API_KEY},
                                 trust_env=False) as client:
        response = await client.request(call.method, call.path, params=call.params,
                                        json=call.json)
        assert (call.action, response.status_code) == ("delete", 200)
        assert (await client.get(f"/customers/{customer.id}")).status_code == 404


async def test_a_faster_client_is_slowed_down_by_retry_after(server: BookingServer) -> None:
    greedy = HttpPolicy(rate_limit_requests=100, rate_limit_seconds=1.0, max_attempts=5,
                        backoff_max_seconds=0.1, timeout_seconds=5)
    subject = Subject.from_email(ANNA)
    async with BookingConnector(booking_settings(server, http=greedy)) as connector:
        results = [await connector.find_subject(subject) for _ in range(3)]
    assert server.rate_limited_count > 0
    assert len({len(r.records) for r in results}) == 1 and len(results[0].records) == 15


async def test_a_wrong_key_is_rejected_with_the_processors_words(server: BookingServer) -> None:
    settings = booking_settings(server, api_key="not-the-key")
    async with BookingConnector(settings) as connector:
        with pytest.raises(CredentialsRejected, match="Invalid or missing x-api-key header"):
            await connector.check_credentials()
