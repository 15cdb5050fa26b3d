"""Stripe connector (official SDK, async) against respx-mocked documented responses."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.stripe import StripeConnector, StripeSettings, escape_search_value
from hub.core.errors import CredentialsRejected, ProcessorUnavailable, ProtocolError
from hub.core.subject import MatchStrength, Subject
from hub.http import HttpPolicy

KEY = "sk_test_unit_0123456789"


def customer(cid: str, email: str) -> dict:
    return {"id": cid, "object": "customer", "email": email, "name": "Anna Svensson",
            "phone": "+46701234567", "address": {"city": "Uppsala", "country": "SE"},
            "created": 1_600_000_000, "metadata": {}, "livemode": False}


def charge(cid: str | None, chid: str, email: str | None = None) -> dict:
    return {"id": chid, "object": "charge", "amount": 50000, "currency": "sek",
            "customer": cid, "receipt_email": email, "status": "succeeded",
            "billing_details": {"email": email, "name": "Erik Gäst", "phone": None,
                                "address": None},
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242",
                                                                "exp_month": 1, "exp_year": 2030}},
            "created": 1_650_000_000}


def page(objects: list[dict], url: str, has_more: bool = False) -> dict:
    return {"object": "list", "data": objects, "has_more": has_more, "url": url}


class FakeStripe:
    """Routes GET /v1/... to small handlers; anything unlisted is an empty list."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, path: str, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handlers[path] = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.handlers.get(request.url.path)
        if handler:
            return handler(request)
        return httpx.Response(200, json=page([], request.url.path))


@pytest.fixture
def stripe_api() -> FakeStripe:
    fake = FakeStripe()
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="api.stripe.com").mock(side_effect=fake)
        yield fake


@pytest.fixture
def connector(fast_policy: HttpPolicy) -> StripeConnector:
    return StripeConnector(StripeSettings(api_key=SecretStr(KEY), http=fast_policy))


def by_email(mapping: dict[str, list[dict]]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(
        200, json=page(mapping.get(r.url.params.get("email", ""), []), "/v1/customers"))


async def test_list_and_search_are_combined_and_filtered(stripe_api: FakeStripe,
                                                         connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", by_email({"anna.svensson@example.se": [
        customer("cus_A", "anna.svensson@example.se")]}))
    stripe_api.on("/v1/customers/search", lambda r: httpx.Response(200, json={
        "object": "search_result", "url": "/v1/customers/search", "has_more": False,
        "next_page": None, "data": [customer("cus_A", "anna.svensson@example.se"),
                                    customer("cus_B", "Anna.Svensson@Example.se"),
                                    customer("cus_X", "anna.svensson@example.com")]}))
    stripe_api.on("/v1/charges", lambda r: httpx.Response(200, json=page(
        [charge("cus_B", "ch_1")] if r.url.params.get("customer") == "cus_B" else [],
        "/v1/charges")))
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna.svensson@example.se"))
    customers = {r.id: r for r in findings.records if r.type == "customer"}
    assert set(customers) == {"cus_A", "cus_B"}
    assert customers["cus_B"].match_strength == MatchStrength.CASE_INSENSITIVE
    [linked] = [r for r in findings.records if r.type == "charge"]
    assert linked.id == "ch_1" and linked.data["payment_method_details"]["last4"] == "4242"
    assert stripe_api.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert findings.notes == []


async def test_missing_search_degrades_with_a_note(stripe_api: FakeStripe,
                                                   connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", by_email({"maria@example.se": [
        customer("cus_M", "maria@example.se")]}))
    stripe_api.on("/v1/customers/search", lambda r: httpx.Response(404, json={"error": {
        "type": "invalid_request_error", "message": "Unrecognized request URL"}}))
    async with connector:
        findings = await connector.find_subject(Subject.from_email("maria@example.se"))
    assert [r.id for r in findings.records if r.type == "customer"] == ["cus_M"]
    assert any("Search API is not available" in note for note in findings.notes)
    # the subject is told by code, and the answer is not complete without a check by hand
    assert findings.note_codes == ["stripe.address_spellings_unsearched"]
    assert findings.incomplete


async def test_charges_are_followed_across_pages(stripe_api: FakeStripe,
                                                 connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", by_email({"anna@example.se": [
        customer("cus_A", "anna@example.se")]}))
    first = [charge("cus_A", f"ch_{i:03}") for i in range(100)]
    second = [charge("cus_A", f"ch_{i:03}") for i in range(100, 120)]

    def charges(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("customer") != "cus_A":
            return httpx.Response(200, json=page([], "/v1/charges"))
        if request.url.params.get("starting_after") == "ch_099":
            return httpx.Response(200, json=page(second, "/v1/charges"))
        return httpx.Response(200, json=page(first, "/v1/charges", has_more=True))

    stripe_api.on("/v1/charges", charges)
    async with connector:
        findings = await connector.find_subject(Subject.from_email("anna@example.se"))
    assert len([r for r in findings.records if r.type == "charge"]) == 120


async def test_guest_payments_without_customer_are_found(stripe_api: FakeStripe,
                                                         connector: StripeConnector) -> None:
    stripe_api.on("/v1/charges", lambda r: httpx.Response(200, json=page(
        [] if r.url.params.get("customer") else
        [charge(None, "ch_guest", "Erik.Guest@example.com"),
         charge(None, "ch_other", "x@example.com")],
        "/v1/charges")))
    stripe_api.on("/v1/checkout/sessions", lambda r: httpx.Response(200, json=page(
        [{"id": "cs_1", "object": "checkout.session", "customer": None, "created": 1_650_000_000,
          "customer_details": {"email": "erik.guest@example.com", "name": "Erik Gäst"}}]
        if r.url.params.get("customer_details[email]") == "erik.guest@example.com" else [],
        "/v1/checkout/sessions")))
    async with connector:
        findings = await connector.find_subject(Subject.from_email("erik.guest@example.com"))
    found = {(r.type, r.id): r for r in findings.records}
    assert set(found) == {("charge", "ch_guest"), ("checkout_session", "cs_1")}
    assert found[("charge", "ch_guest")].match_strength == MatchStrength.CASE_INSENSITIVE


async def test_search_value_with_quote_is_escaped(stripe_api: FakeStripe,
                                                  connector: StripeConnector) -> None:
    async with connector:
        await connector.find_subject(Subject.from_email("o'brien@example.com"))
    [search] = [r for r in stripe_api.requests if r.url.path == "/v1/customers/search"]
    assert search.url.params["query"] == "email:'o\\'brien@example.com'"
    assert escape_search_value("a\\'b") == "'a\\\\\\'b'"


async def test_429_with_retry_after_then_success(stripe_api: FakeStripe,
                                                 connector: StripeConnector) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {
        "type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}})]
    stripe_api.on("/v1/customers", lambda r: answers.pop() if answers else httpx.Response(
        200, json=page([customer("cus_A", "anna@example.se")], "/v1/customers")))
    async with connector:
        await connector.check_credentials()
    assert [r.url.path for r in stripe_api.requests].count("/v1/customers") == 2


async def test_500_three_times_is_unavailable(stripe_api: FakeStripe,
                                              connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", lambda r: httpx.Response(500, json={"error": {
        "type": "api_error", "message": "boom"}}))
    async with connector:
        with pytest.raises(ProcessorUnavailable, match="HTTP 500"):
            await connector.check_credentials()
    assert len(stripe_api.requests) == 3


async def test_401_is_rejected_without_retry(stripe_api: FakeStripe,
                                             connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", lambda r: httpx.Response(401, json={"error": {
        "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****6789"}}))
    async with connector:
        with pytest.raises(CredentialsRejected, match="DSAR_STRIPE__API_KEY"):
            await connector.check_credentials()
    assert len(stripe_api.requests) == 1


async def test_malformed_json_is_a_protocol_error(stripe_api: FakeStripe,
                                                  connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", lambda r: httpx.Response(200, text="{not json"))
    async with connector:
        with pytest.raises(ProtocolError, match="not valid JSON"):
            await connector.check_credentials()


async def test_timeout_is_unavailable(stripe_api: FakeStripe, connector: StripeConnector) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    stripe_api.on("/v1/customers", slow)
    async with connector:
        with pytest.raises(ProcessorUnavailable, match="could not reach Stripe"):
            await connector.check_credentials()
    assert len(stripe_api.requests) == 3


async def test_a_list_the_server_lacks_becomes_a_note_not_an_error(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("/v1/customers", by_email({"maria@example.se": [
        customer("cus_M", "maria@example.se")]}))
    stripe_api.on("/v1/checkout/sessions", lambda r: httpx.Response(404, json={"error": {
        "type": "invalid_request_error", "message": "Unrecognized request URL"}}))
    async with connector:
        findings = await connector.find_subject(Subject.from_email("maria@example.se"))
    assert [r.id for r in findings.records if r.type == "customer"] == ["cus_M"]
    assert sum("Checkout Sessions" in n or "checkout sessions" in n for n in findings.notes) == 2
