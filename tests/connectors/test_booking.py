"""The declarative booking connector against respx-mocked answers, and its export mode.

The declaration is BokaMera-shaped (``Search``/``Skip``/``Take``, ``{"Offset","Total","Results"}``,
``ResponseStatus`` errors); each test changes the part it is about.
"""

from __future__ import annotations

import base64
import copy
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.rest import BookingConnector, BookingSettings
from connectors.rest.export import ExportFileError, sniff_delimiter
from connectors.sdk.base import Findings
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.errors import ConfigurationError, CredentialsRejected, ProtocolError
from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
BASE = "https://booking.example.com"
KEY = "booking-test-key-123456"
ANNA = "anna.svensson@example.se"
ASA_PHONE = "+46812345678"  # Åsa Öberg's phone at Stripe and MailerLite (sandbox seeds)
CONNECTORS = {"booking": BookingConnector}


# --------------------------------------------------------------------------- declarations
def declaration(**changes: Any) -> dict[str, Any]:
    """A BokaMera-shaped ``[booking.api]`` table: customers and their bookings."""
    api: dict[str, Any] = {
        "error_message_path": "ResponseStatus.Message",
        "auth": [{"type": "api_key", "header": "x-api-key"}],
        "paginator": {"type": "offset", "offset_param": "Skip", "limit_param": "Take",
                      "limit": 10, "total_path": "Total"},
        "resources": [
            {"name": "customer", "path": "/customers", "records_path": "Results",
             "id_field": "Id",
             "personal_fields": ["Firstname", "Lastname", "Email", "Phone",
                                 "PersonalIdentityNumber"],
             "search": {"email": "Search", "phone": "Search"},
             "identifiers": {"email": "Email", "phone": "Phone",
                             "personnummer": "PersonalIdentityNumber"},
             "erase": [{"method": "DELETE", "path": "/customers/{customer.Id}"}]},
            {"name": "booking", "parent": "customer", "path": "/bookings",
             "params": {"CustomerId": "{customer.Id}"}, "records_path": "Results",
             "id_field": "Id", "personal_fields": ["From", "To", "Customer.Email"],
             "identifiers": {"email": "Customer.Email", "phone": "Customer.Phone"}},
        ],
    }
    api.update(changes)
    return api


def settings(policy: HttpPolicy, api: dict[str, Any] | None = None, **values: Any
             ) -> BookingSettings:
    return BookingSettings.model_validate({
        "base_url": BASE, "api_key": SecretStr(KEY), "http": policy,
        "api": api if api is not None else declaration(), **values})


def customer(cid: str, email: str | None, phone: str | None = None, **extra: Any) -> dict:
    return {"Id": cid, "Firstname": "Anna", "Lastname": "Svensson", "Email": email,
            "Phone": phone, "PersonalIdentityNumber": None, "Created": "2023-09-04T09:00:00",
            **extra}


def page(results: list[dict], total: int | None = None, offset: int = 0) -> dict:
    return {"Offset": offset, "Total": len(results) if total is None else total,
            "Results": results}


def params_of(call: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(call.request.url.query.decode()).items()}


@pytest.fixture
def connector(fast_policy: HttpPolicy) -> BookingConnector:
    return BookingConnector(settings(fast_policy))


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text("", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- validation
def _mutated(change: Any) -> dict[str, Any]:
    api = copy.deepcopy(declaration())
    change(api)
    return api


INVALID = [
    ("unknown key in a resource",
     lambda a: a["resources"][0].update(serach={"email": "Search"}),
     "booking.api.resources.0.serach: Extra inputs are not permitted"),
    ("unknown key in the api table",
     lambda a: a.update(paginater={"type": "offset"}),
     "booking.api.paginater: Extra inputs are not permitted"),
    ("unknown paginator",
     lambda a: a["paginator"].update(type="pages"),
     "booking.api.paginator: Value error, unknown paginator type 'pages'; known: cursor, "
     "link_header, offset, page_number, single"),
    ("unknown paginator option",
     lambda a: a["paginator"].update(limt=5),
     "paginator 'offset': limt: Extra inputs are not permitted"),
    ("unknown auth scheme",
     lambda a: a["auth"][0].update(type="apikey"),
     "booking.api.auth.0: Value error, unknown auth type 'apikey'"),
    ("basic auth without a user name",
     lambda a: a.update(auth=[{"type": "basic"}]),
     "auth 'basic': username: Field required"),
    ("missing placeholder source",
     lambda a: a["resources"][1].update(params={"CustomerId": "{customers.Id}"}),
     "resources[1] (booking): placeholder source(s) ['customers'] are not its parent "
     "'customer'"),
    ("child without placeholder",
     lambda a: a["resources"][1].update(params={}),
     "resources[1] (booking): path or params must use a placeholder of its parent"),
    ("placeholder on a top-level resource",
     lambda a: a["resources"][0].update(path="/companies/{company.Id}/customers"),
     "resources[0] (customer): placeholder source(s) ['company'] but no parent"),
    ("parent not declared before",
     lambda a: a["resources"][1].update(parent="client"),
     "resources[1] (booking): parent 'client' must be a resource declared before it"),
    ("broken placeholder",
     lambda a: a["resources"][1].update(path="/bookings/{customer.Id"),
     "path has a brace that is not a {resource.field} placeholder"),
    ("broken placeholder in an erase call",
     lambda a: a["resources"][0]["erase"][0].update(path="/customers/{customer.Id}}"),
     "erase[0].path has a brace that is not a {resource.field} placeholder"),
    ("search without identifier field",
     lambda a: a["resources"][0]["identifiers"].pop("phone"),
     "search.phone is declared but identifiers.phone is not"),
    ("top-level resource without e-mail search",
     lambda a: a["resources"][0].update(search={}),
     "a top-level resource needs search.email"),
    ("DELETE with a body",
     lambda a: a["resources"][0]["erase"][0].update(body={"Email": ""}),
     "a DELETE erase call takes no body"),
    ("anonymising PUT without a body",
     lambda a: a["resources"][0]["erase"][0].update(method="put"),
     "an anonymising PUT needs a body"),
    ("erase placeholder of another resource",
     lambda a: a["resources"][1].update(
         erase=[{"method": "DELETE", "path": "/bookings/{customer.Id}"}]),
     "erase[0] uses {customer.Id}; an erase call may only use the record's own fields"),
    ("erase placeholder of a field the record does not keep",
     lambda a: a["resources"][0]["erase"][0].update(path="/customers/{customer.UserId}"),
     "'UserId' is neither id_field nor a personal field"),
    ("two schemes for one header",
     lambda a: a["auth"].extend([{"type": "bearer"}, {"type": "basic", "username": "u"}]),
     "auth: 'bearer' and 'basic' both set the 'authorization' header"),
    ("a credential in the headers table",
     lambda a: a.update(headers={"Authorization": "Bearer abc"}),
     "headers: credentials belong in [[booking.api.auth]]"),
    ("a static header that auth also sets",
     lambda a: a.update(headers={"X-API-KEY": "abc"}),
     "auth: 'headers' and 'api_key' both set the 'x-api-key' header"),
    ("duplicate resource",
     lambda a: a["resources"].append(copy.deepcopy(a["resources"][1])),
     "resources[2] (booking): the name 'booking' is declared twice"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in INVALID],
                         ids=[name for name, _, _ in INVALID])
def test_invalid_declaration_is_a_configuration_error_naming_the_key(
        empty_config: Path, change: Any, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(CONNECTORS, empty_config, booking={"api": _mutated(change)})
    assert expected in str(caught.value)


def test_export_mode_needs_its_column_table(empty_config: Path) -> None:
    with pytest.raises(ConfigurationError, match="mode = 'export' needs a"):
        load_settings(CONNECTORS, empty_config, booking={"mode": "export"})
    with pytest.raises(ConfigurationError, match="declare at least one column"):
        load_settings(CONNECTORS, empty_config,
                      booking={"mode": "export", "export": {"identifiers": {}}})
    with pytest.raises(ConfigurationError, match="unknown encoding 'latin-9x'"):
        load_settings(CONNECTORS, empty_config, booking={
            "mode": "export", "export": {"identifiers": {"email": "E-post"},
                                         "encoding": "latin-9x"}})


@pytest.mark.parametrize("path", [REPO / "hub" / "sandbox" / "booking-declaration.toml",
                                  REPO / "config" / "booking-bokamera.toml"],
                         ids=lambda p: p.name)
def test_shipped_declarations_validate(path: Path) -> None:
    loaded = load_settings(CONNECTORS, path).processor("booking")
    assert isinstance(loaded, BookingSettings) and loaded.api is not None
    assert [r.name for r in loaded.api.roots()] == ["customer"]
    assert loaded.api.children_of("customer")[0].name == "booking"
    assert not loaded.model_extra, f"unknown top-level keys: {loaded.model_extra}"


def test_bokamera_needs_its_key_and_the_admin_password() -> None:
    loaded = load_settings(CONNECTORS, REPO / "config" / "booking-bokamera.toml")
    booking = loaded.processor("booking")
    assert booking.missing_credentials() == ["api_key", "password"]
    assert booking.api is not None
    assert [spec.type for spec in booking.api.auth] == ["api_key", "oauth2_password"]
    assert booking.api.error_detail({"ResponseStatus": {"Message": "Nope"}}) == "Nope"


def test_sandbox_declaration_takes_the_sandbox_overrides() -> None:
    from hub.sandbox.booking_api import SPEC

    loaded = load_settings(CONNECTORS, REPO / "config" / "hub.toml")
    overridden = with_processor_overrides(
        loaded, "booking", {"base_url": "http://127.0.0.1:9", **SPEC.credentials})
    booking = overridden.processor("booking")
    assert booking.missing_credentials() == []
    assert booking.http.rate_limit_requests == 10 and booking.http.rate_limit_seconds == 1.0


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_BOOKING__API_KEY", "from-env-key-123456")
    monkeypatch.setenv("DSAR_BOOKING__PASSWORD", "from-env-password")
    booking = load_settings(CONNECTORS, REPO / "config" / "booking-bokamera.toml"
                            ).processor("booking")
    assert booking.missing_credentials() == []
    assert isinstance(booking.api_key, SecretStr) and "from-env" not in repr(booking)
    assert sorted(booking.secret_values()) == ["from-env-key-123456", "from-env-password"]


def test_missing_settings_name_what_the_mode_needs(fast_policy: HttpPolicy) -> None:
    assert BookingSettings().missing_credentials() == ["api", "api_key"]
    assert settings(fast_policy, api_key=None).missing_credentials() == ["api_key"]
    open_api = declaration(auth={"type": "none"})
    assert settings(fast_policy, api=open_api, api_key=None).missing_credentials() == []
    export = BookingSettings(mode="export", export={"identifiers": {"email": "E-post"}})
    assert export.missing_credentials() == ["export_path"]


# --------------------------------------------------------------------------- matching
@respx.mock
async def test_exact_comparison_after_a_partial_search(connector: BookingConnector) -> None:
    search = respx.get(f"{BASE}/customers").respond(200, json=page([
        customer("c1", ANNA, "070-123 45 67", PersonalIdentityNumber="19850709-1232"),
        customer("c2", "Anna.Svensson@Example.se"),
        customer("c3", "anna.svensson+yoga@example.se"),
        customer("c4", "anna.svenssonson@example.se"),  # a partial match: someone else
        customer("c5", "johanna.svensson@example.se"),
        customer("c6", None, "070-123 45 67"),  # same phone, no address: not in round one
    ]))
    respx.get(f"{BASE}/bookings").respond(200, json=page([]))
    async with connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    assert params_of(search.calls[0]) == {"Search": ANNA, "Skip": "0", "Take": "10"}
    assert search.calls[0].request.headers["x-api-key"] == KEY
    found = {r.id: r.match_strength for r in findings.records}
    assert found == {"c1": MatchStrength.EXACT, "c2": MatchStrength.CASE_INSENSITIVE,
                     "c3": MatchStrength.PLUS_ADDRESS}
    assert all(r.type == "customer" and r.matched_on == "email" for r in findings.records)
    assert Identifier(kind="phone", value="+46701234567", source="booking") in \
        findings.identifiers
    assert Identifier(kind="personnummer", value="19850709-1232", source="booking") in \
        findings.identifiers


@respx.mock
async def test_children_by_placeholder_in_path_and_params(fast_policy: HttpPolicy) -> None:
    api = declaration()
    api["resources"][1].update(path="/customers/{customer.Id}/bookings",
                               params={"CustomerId": "{customer.Id}", "Include": "all"})
    api["resources"].append({
        "name": "payment", "parent": "booking", "path": "/bookings/{booking.Id}/payments",
        "paginator": {"type": "single"}, "records_path": "", "id_field": "Id",
        "personal_fields": ["*"]})
    respx.get(f"{BASE}/customers").respond(200, json=page([customer("c/1 a", ANNA)]))
    bookings = respx.get(url__regex=rf"{BASE}/customers/.*/bookings").respond(
        200, json=page([{"Id": 7001, "From": "2024-03-14T10:00", "To": "2024-03-14T11:00",
                         "Customer": {"Email": ANNA, "Phone": "08-123 456 78"}},
                        {"Id": 7002, "From": "2024-03-21T10:00", "To": "2024-03-21T11:00"}]))
    respx.get(f"{BASE}/bookings/7001/payments").respond(
        200, json=[{"Id": "p1", "Amount": 900, "Payer": "Anna Svensson"}])
    respx.get(f"{BASE}/bookings/7002/payments").respond(404, json={})  # none yet
    async with BookingConnector(settings(fast_policy, api=api)) as connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    request = bookings.calls[0].request
    assert request.url.raw_path.split(b"?")[0] == b"/customers/c%2F1%20a/bookings"
    assert params_of(bookings.calls[0])["CustomerId"] == "c/1 a"
    assert params_of(bookings.calls[0])["Include"] == "all"
    by_type = {(r.type, r.id) for r in findings.records}
    assert by_type == {("customer", "c/1 a"), ("booking", "7001"), ("booking", "7002"),
                       ("payment", "p1")}
    booking = next(r for r in findings.records if r.id == "7001")
    assert booking.matched_on == "email" and booking.data["Customer.Email"] == ANNA
    assert Identifier(kind="phone", value=ASA_PHONE, source="booking") in findings.identifiers


@respx.mock
async def test_phone_widening_finds_a_customer_without_e_mail(
        connector: BookingConnector) -> None:
    search = respx.get(f"{BASE}/customers").mock(side_effect=lambda request: httpx.Response(
        200, json=page([customer("asa", None, "08-123 456 78", Firstname="Åsa",
                                 Lastname="Öberg"),
                        customer("other", None, "08-123 456 79")]
                       if request.url.params.get("Search") == "08-123 456 78" else [])))
    respx.get(f"{BASE}/bookings").respond(200, json=page([{"Id": 7017, "From": "x", "To": "y"}]))
    subject, new = Subject.from_email("asa.oberg@example.se").widened(
        [Identifier(kind="phone", value=ASA_PHONE, source="stripe"),
         Identifier(kind="personnummer", value="19850709-1232", source="fortnox")])
    assert connector.searchable_identifiers == {"email", "phone"}
    async with connector:
        findings = await connector.find_by_identifiers(subject, new)
    terms = [params_of(call)["Search"] for call in search.calls]
    assert terms == [ASA_PHONE, "08-123 456 78", "0812345678"]  # personnummer: not searchable
    assert {(r.type, r.id) for r in findings.records} == {("customer", "asa"), ("booking", "7017")}
    assert all(r.matched_on == "phone" and r.match_strength == MatchStrength.DERIVED
               for r in findings.records)


async def test_nothing_searchable_means_no_request(connector: BookingConnector) -> None:
    subject, new = Subject.from_email(ANNA).widened(
        [Identifier(kind="personnummer", value="19850709-1232", source="fortnox")])
    async with connector:
        assert await connector.find_by_identifiers(subject, new) == Findings()
        assert connector.requests_sent == 0


# --------------------------------------------------------------------------- paginators
def _customers(ids: range, email: str = ANNA) -> list[dict]:
    return [customer(f"c{i}", email) for i in ids]


async def _find_ids(policy: HttpPolicy, paginator: dict[str, Any]) -> list[str]:
    api = declaration(paginator=paginator)
    api["resources"] = api["resources"][:1]
    async with BookingConnector(settings(policy, api=api)) as connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    return [r.id for r in findings.records]


@respx.mock
async def test_offset_pages_until_the_total(fast_policy: HttpPolicy) -> None:
    route = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json=page(_customers(range(0, 10)), total=23)),
        httpx.Response(200, json=page(_customers(range(10, 20)), total=23, offset=10)),
        httpx.Response(200, json=page(_customers(range(20, 23)), total=23, offset=20)),
    ])
    ids = await _find_ids(fast_policy, declaration()["paginator"])
    assert ids == [f"c{i}" for i in range(23)]
    assert [params_of(c)["Skip"] for c in route.calls] == ["0", "10", "20"]


@respx.mock
async def test_offset_without_total_stops_at_a_short_page(fast_policy: HttpPolicy) -> None:
    route = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json={"data": _customers(range(0, 2))}),
        httpx.Response(200, json={"data": _customers(range(2, 3))}),
    ])
    api = declaration(paginator={"type": "offset", "limit": 2})
    api["resources"] = api["resources"][:1]
    api["resources"][0]["records_path"] = "data"
    async with BookingConnector(settings(fast_policy, api=api)) as connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    assert len(findings.records) == 3
    assert [params_of(c) for c in route.calls] == [
        {"Search": ANNA, "offset": "0", "limit": "2"}, {"Search": ANNA, "offset": "2",
                                                        "limit": "2"}]


@respx.mock
async def test_page_numbers_until_a_short_page(fast_policy: HttpPolicy) -> None:
    sized = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json=page(_customers(range(0, 3)))),
        httpx.Response(200, json=page(_customers(range(3, 4)))),
    ])
    ids = await _find_ids(fast_policy, {"type": "page_number", "size_param": "per_page",
                                        "size": 3})
    assert ids == ["c0", "c1", "c2", "c3"]
    assert [(params_of(c)["page"], params_of(c)["per_page"]) for c in sized.calls] == [
        ("1", "3"), ("2", "3")]


@respx.mock
async def test_page_numbers_until_the_declared_page_count(fast_policy: HttpPolicy) -> None:
    counted = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json={**page(_customers(range(0, 1))), "Pages": 2}),
        httpx.Response(200, json={**page(_customers(range(1, 2))), "Pages": 2}),
    ])
    ids = await _find_ids(fast_policy, {"type": "page_number", "page_param": "Page", "start": 0,
                                        "total_pages_path": "Pages"})
    assert ids == ["c0", "c1"]
    assert [params_of(c)["Page"] for c in counted.calls] == ["0", "1"]


@respx.mock
async def test_cursor_in_the_body(fast_policy: HttpPolicy) -> None:
    route = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json={**page(_customers(range(0, 2))), "meta": {"next": "abc"}}),
        httpx.Response(200, json={**page(_customers(range(2, 3))), "meta": {"next": None}}),
    ])
    ids = await _find_ids(fast_policy, {"type": "cursor", "cursor_path": "meta.next",
                                        "cursor_param": "after", "limit_param": "limit",
                                        "limit": 2})
    assert ids == ["c0", "c1", "c2"]
    assert [params_of(c).get("after") for c in route.calls] == [None, "abc"]


@respx.mock
async def test_link_header_relative_and_absolute(fast_policy: HttpPolicy) -> None:
    route = respx.get(url__startswith=f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json=page(_customers(range(0, 1))),
                       headers={"Link": '</customers?Search=x&p=2>; rel="next"'}),
        httpx.Response(200, json=page(_customers(range(1, 2))),
                       headers={"Link": f'<{BASE}/customers?Search=x&p=3>; rel="next", '
                                        f'<{BASE}/customers?p=1>; rel="first"'}),
        httpx.Response(200, json=page(_customers(range(2, 3)))),
    ])
    ids = await _find_ids(fast_policy, {"type": "link_header"})
    assert ids == ["c0", "c1", "c2"]
    assert [params_of(c).get("p") for c in route.calls] == [None, "2", "3"]
    assert all(c.request.headers["x-api-key"] == KEY for c in route.calls)


@pytest.mark.parametrize(("paginator", "answers"), [
    ({"type": "cursor", "cursor_path": "next"},
     [{"Results": [], "next": "a"}, {"Results": [], "next": "b"},
      {"Results": [], "next": "a"}]),
    ({"type": "link_header"}, "self"),
])
@respx.mock
async def test_a_page_seen_before_is_refused(fast_policy: HttpPolicy, paginator: dict,
                                              answers: Any) -> None:
    if answers == "self":
        responses = [httpx.Response(200, json=page([]), headers={
            "Link": f'<{BASE}/customers?Search={ANNA}>; rel="next"'})] * 3
    else:
        responses = [httpx.Response(200, json=a) for a in answers]
    route = respx.get(url__startswith=f"{BASE}/customers").mock(side_effect=responses)
    with pytest.raises(ProtocolError, match="pointed back to a page already read"):
        await _find_ids(fast_policy, paginator)
    assert route.call_count <= 3


@respx.mock
async def test_runaway_paging_and_foreign_links_are_refused(fast_policy: HttpPolicy) -> None:
    respx.get(f"{BASE}/customers").mock(side_effect=lambda request: httpx.Response(
        200, json={"Results": [], "next": f"t{time.monotonic_ns()}"}))
    with pytest.raises(ProtocolError, match="more pages than max_pages"):
        await _find_ids(fast_policy, {"type": "cursor", "cursor_path": "next", "max_pages": 3})
    respx.get(f"{BASE}/customers").respond(200, json=page([]), headers={
        "Link": '<https://evil.example.net/customers?p=2>; rel="next"'})
    with pytest.raises(ProtocolError, match="another host"):
        await _find_ids(fast_policy, {"type": "link_header"})


# --------------------------------------------------------------------------- auth
async def _headers_sent(policy: HttpPolicy, auth: Any, **values: Any) -> httpx.Headers:
    with respx.mock:
        route = respx.get(f"{BASE}/customers").respond(200, json=page([]))
        async with BookingConnector(settings(policy, api=declaration(auth=auth), **values)
                                    ) as connector:
            await connector.check_credentials()
        return route.calls[0].request.headers


async def test_auth_styles(fast_policy: HttpPolicy) -> None:
    header = await _headers_sent(fast_policy, {"type": "api_key", "header": "X-Api-Key",
                                               "prefix": "Key "})
    assert header["x-api-key"] == f"Key {KEY}" and "authorization" not in header
    bearer = await _headers_sent(fast_policy, [{"type": "bearer"}])
    assert bearer["authorization"] == f"Bearer {KEY}"
    basic = await _headers_sent(fast_policy, {"type": "basic", "username": "kontor"})
    assert basic["authorization"] == "Basic " + base64.b64encode(
        f"kontor:{KEY}".encode()).decode()
    both = await _headers_sent(fast_policy, [{"type": "api_key"},
                                             {"type": "bearer", "secret": "password"}],
                               password=SecretStr("pw-token"))
    assert both["x-api-key"] == KEY and both["authorization"] == "Bearer pw-token"


@respx.mock
async def test_password_grant_fetches_and_renews_the_token(fast_policy: HttpPolicy) -> None:
    token_url = "https://identity.example.com/token"
    tokens = respx.post(token_url).mock(side_effect=[
        httpx.Response(200, json={"access_token": "t1", "expires_in": 300}),
        httpx.Response(200, json={"access_token": "t2", "expires_in": 300}),
    ])
    api_calls = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(200, json=page([])),
        httpx.Response(401, json={"ResponseStatus": {"Message": "Token expired"}}),
        httpx.Response(200, json=page([])),
    ])
    auth = [{"type": "api_key"}, {"type": "oauth2_password", "token_url": token_url,
                                  "client_id": "bm-admin", "username": "admin@example.se"}]
    connector = BookingConnector(settings(fast_policy, api=declaration(auth=auth),
                                          password=SecretStr("hemligt")))
    async with connector:
        await connector.check_credentials()
        await connector.check_credentials()
    form = parse_qs(tokens.calls[0].request.content.decode())
    assert form == {"grant_type": ["password"], "client_id": ["bm-admin"],
                    "username": ["admin@example.se"], "password": ["hemligt"]}
    assert [c.request.headers["authorization"] for c in api_calls.calls] == [
        "Bearer t1", "Bearer t1", "Bearer t2"]
    assert all(c.request.headers["x-api-key"] == KEY for c in api_calls.calls)


@respx.mock
async def test_refused_login_is_credentials_rejected(fast_policy: HttpPolicy) -> None:
    respx.post("https://identity.example.com/token").respond(
        401, json={"error": "invalid_grant", "error_description": "Invalid user credentials"})
    auth = {"type": "oauth2_password", "token_url": "https://identity.example.com/token",
            "client_id": "bm-admin", "username": "admin@example.se"}
    async with BookingConnector(settings(fast_policy, api=declaration(auth=auth),
                                         password=SecretStr("fel"))) as connector:
        with pytest.raises(CredentialsRejected, match="Invalid user credentials"):
            await connector.check_credentials()


# --------------------------------------------------------------------------- HTTP outcomes
@respx.mock
async def test_429_with_retry_after_then_success(connector: BookingConnector) -> None:
    route = respx.get(f"{BASE}/customers").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"},
                       json={"ResponseStatus": {"ErrorCode": "TooManyRequests"}}),
        httpx.Response(200, json=page([customer("c1", ANNA)])),
    ])
    respx.get(f"{BASE}/bookings").respond(200, json=page([]))
    async with connector:
        findings = await connector.find_subject(Subject.from_email(ANNA))
    assert [r.id for r in findings.records] == ["c1"]
    assert route.call_count == 2


@respx.mock
async def test_401_is_credentials_rejected_quoting_the_processor(
        connector: BookingConnector) -> None:
    route = respx.get(f"{BASE}/customers").respond(401, json={"ResponseStatus": {
        "ErrorCode": "Unauthorized", "Message": "Invalid or missing x-api-key header"}})
    async with connector:
        with pytest.raises(CredentialsRejected,
                           match="HTTP 401: Invalid or missing x-api-key header"):
            await connector.find_subject(Subject.from_email(ANNA))
    assert route.call_count == 1


@pytest.mark.parametrize(("answer", "expected"), [
    ({"text": "<html>maintenance</html>"}, "answered HTTP 200 with a body that is not JSON"),
    ({"json": {"Offset": 0, "Total": 0}}, "has no 'Results' \\(records_path\\)"),
    ({"json": {"Results": [1, 2]}}, "holds something other than records at 'Results'"),
    ({"json": {"Results": [{"Email": ANNA}]}}, "has no 'Id' \\(id_field\\)"),
])
@respx.mock
async def test_answers_we_cannot_read_are_protocol_errors(
        connector: BookingConnector, answer: dict, expected: str) -> None:
    respx.get(f"{BASE}/customers").respond(200, **answer)
    async with connector:
        with pytest.raises(ProtocolError, match=expected):
            await connector.find_subject(Subject.from_email(ANNA))


@respx.mock
async def test_a_root_404_is_an_error_quoting_the_message(connector: BookingConnector) -> None:
    respx.get(f"{BASE}/customers").respond(404, json={"ResponseStatus": {
        "Message": "Handler for Request not found"}})
    async with connector:
        with pytest.raises(ProtocolError, match="HTTP 404: Handler for Request not found"):
            await connector.find_subject(Subject.from_email(ANNA))


# --------------------------------------------------------------------------- erase plans
def test_erase_calls_render_from_the_stored_record(fast_policy: HttpPolicy) -> None:
    api = declaration()
    api["resources"][0]["erase"] = [
        {"method": "PUT", "path": "/customers/{customer.Id}",
         "params": {"Reason": "GDPR {customer.Id}"},
         "body": {"Firstname": "Anonymiserad", "Email": "", "Previous": "{customer.Email}"}},
        {"method": "delete", "path": "/customers/{customer.Id}"}]
    api["params"] = {"CompanyId": "comp-1"}
    connector = BookingConnector(settings(fast_policy, api=api))
    record = Record(type="customer", id="c 1", matched_on="email",
                    data={"Email": ANNA, "Firstname": "Anna"})
    anonymise, delete = connector.erasure_plan(record)
    assert (anonymise.action, anonymise.method, anonymise.path) == (
        "anonymise", "PUT", "/customers/c%201")
    assert anonymise.params == {"CompanyId": "comp-1", "Reason": "GDPR c 1"}
    assert anonymise.json == {"Firstname": "Anonymiserad", "Email": "", "Previous": ANNA}
    assert (delete.action, delete.params, delete.json) == ("delete", {"CompanyId": "comp-1"}, None)
    assert connector.erasure_plan(record.model_copy(update={"type": "booking"})) == []
    assert connector.erasure_plan(record.model_copy(update={"type": "invoice"})) == []


# --------------------------------------------------------------------------- export mode
def export_settings(path: Path, **mapping: Any) -> BookingSettings:
    return BookingSettings.model_validate({
        "mode": "export", "system": "Qlickboka", "export_path": path,
        "export": {"id_column": "Kundnr",
                   "identifiers": {"email": "E-post", "phone": "Mobil",
                                   "personnummer": "Personnummer"}, **mapping}})


def _rewrite(tmp_path: Path, name: str, *, delimiter: str, encoding: str) -> Path:
    text = (FIXTURES / "booking_export.csv").read_bytes().decode("cp1252")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path = tmp_path / name
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def _export_variants(tmp_path: Path) -> list[Path]:
    return [
        FIXTURES / "booking_export.csv",  # Swedish Excel: ';', cp1252, CRLF
        _rewrite(tmp_path, "bom.csv", delimiter=",", encoding="utf-8-sig"),
        _rewrite(tmp_path, "plain.csv", delimiter=",", encoding="utf-8"),
        _rewrite(tmp_path, "semicolon-bom.csv", delimiter=";", encoding="utf-8-sig"),
    ]


async def test_export_variants_give_the_same_findings(tmp_path: Path) -> None:
    for path in _export_variants(tmp_path):
        async with BookingConnector(export_settings(path)) as connector:
            anna = await connector.find_subject(Subject.from_email(ANNA))
            subject, new = Subject.from_email("asa.oberg@example.se").widened(
                [Identifier(kind="phone", value=ASA_PHONE, source="stripe")])
            asa = await connector.find_by_identifiers(subject, new)
            assert connector.requests_sent == 0
        assert [(r.type, r.id, r.matched_on, r.match_strength) for r in anna.records] == [
            ("customer", "10017", "email", MatchStrength.EXACT)], path.name
        assert anna.records[0].data["Förnamn"] == "Anna"
        assert Identifier(kind="personnummer", value="19850709-1232", source="booking") in \
            anna.identifiers
        [record] = asa.records
        assert (record.id, record.matched_on, record.match_strength) == (
            "10442", "phone", MatchStrength.DERIVED), path.name
        assert record.data["Förnamn"] == "Åsa" and record.data["Efternamn"] == "Öberg"
        assert record.data["Adress"] == "Hornsgatan 54; 2 tr"  # a quoted delimiter survives
        assert any("manual task" in n and "Qlickboka's admin UI" in n for n in asa.notes)


async def test_export_xlsx_with_numbers_excel_made(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    path = FIXTURES / "booking_export.xlsx"
    async with BookingConnector(export_settings(path, sheet="Kunder")) as connector:
        anna = await connector.find_subject(Subject.from_email(ANNA))
        subject, new = Subject.from_email("asa.oberg@example.se").widened(
            [Identifier(kind="phone", value=ASA_PHONE, source="stripe")])
        asa = await connector.find_by_identifiers(subject, new)
    assert [r.id for r in anna.records] == ["10017"]  # 10017.0 in the sheet
    assert [r.data["Mobil"] for r in asa.records] == ["812345678"]  # leading zero lost


async def test_export_notes_manual_erasure_and_stale_files(tmp_path: Path) -> None:
    path = _rewrite(tmp_path, "old.csv", delimiter=";", encoding="cp1252")
    async with BookingConnector(export_settings(path)) as connector:
        fresh = await connector.find_subject(Subject.from_email("maria.berg@example.se"))
    assert [r.match_strength for r in fresh.records] == [MatchStrength.CASE_INSENSITIVE]
    assert fresh.manual is False
    assert fresh.notes[0].startswith("Qlickboka has no API here: its exported customer list "
                                     "(old.csv, saved ")
    assert "Erasure will be a manual task" in fresh.notes[1]
    assert fresh.note_codes == ["rest.export_searched"] and not fresh.incomplete
    month_ago = time.time() - 40 * 86_400
    os.utime(path, (month_ago, month_ago))
    async with BookingConnector(export_settings(path)) as connector:
        stale = await connector.find_subject(Subject.from_email("nobody@example.se"))
    assert stale.records == [] and stale.manual is True
    assert any("40 days old" in n and "search Qlickboka's admin UI by hand" in n
               for n in stale.notes)
    assert stale.note_codes == ["rest.export_searched", "rest.export_outdated"]
    assert stale.incomplete


async def test_export_problems_are_configuration_failures(tmp_path: Path) -> None:
    async with BookingConnector(export_settings(tmp_path / "missing.csv")) as connector:
        with pytest.raises(ExportFileError, match="does not exist"):
            await connector.check_credentials()
    wrong = export_settings(FIXTURES / "booking_export.csv",
                            identifiers={"email": "Epost", "phone": "Mobil"})
    async with BookingConnector(wrong) as connector:
        with pytest.raises(ExportFileError) as caught:
            await connector.find_subject(Subject.from_email(ANNA))
    assert "no column 'Epost' (declared as identifiers.email)" in str(caught.value)
    assert "E-post, Mobil" in str(caught.value)
    assert caught.value.failure_type == "config"
    async with BookingConnector(export_settings(FIXTURES / "booking_export.csv")) as connector:
        assert await connector.check_credentials() == (
            "export file readable: 6 customer rows in booking_export.csv")


def test_delimiter_sniffing_and_encodings() -> None:
    assert sniff_delimiter("a;b;c\n1;2,5;3\n") == ";"
    assert sniff_delimiter("a,b,c\n1,\"x;y\",3\n") == ","
    assert sniff_delimiter("Förnamn\tE-post\nÅsa\t\n") == "\t"
