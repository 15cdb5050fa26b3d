"""Fortnox connector against respx-mocked documented responses.

A small documented Fortnox (:class:`MockFortnox`) answers through respx: the token endpoint
rotates the single-use refresh token, the list endpoints match search parameters partially and
page with ``MetaInformation``. Each test states what it proves about the token handling or the
matching.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.fortnox import (
    CONFIGURED_GRANT_REFUSED,
    STORED_GRANT_REFUSED,
    FortnoxConnector,
    FortnoxSettings,
    fingerprint,
)
from hub.core.errors import CredentialsRejected, ProcessorUnavailable, ProtocolError
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy
from hub.store.db import open_database
from hub.store.state import LockedValue, StateStore

API = "https://api.fortnox.se/3"
TOKEN_URL = "https://apps.fortnox.se/oauth-v1/token"
CLIENT_ID, CLIENT_SECRET, SEED = "client-abc", "secret-xyz", "seed-refresh-token"
ANNA = "anna.svensson@example.se"


def customer(number: str, email: str, **extra: Any) -> dict[str, Any]:
    return {"CustomerNumber": number, "Name": extra.pop("Name", "Anna Svensson"), "Email": email,
            "OrganisationNumber": "", "Phone1": "", "Type": "PRIVATE", "Address1": "Vasagatan 12",
            "ZipCode": "411 24", "City": "Göteborg", **extra}


def invoice(number: str, customer_number: str, day: str) -> dict[str, Any]:
    return {"DocumentNumber": number, "CustomerNumber": customer_number,
            "CustomerName": "Anna Svensson", "InvoiceDate": day, "DueDate": day, "Total": 1100,
            "Currency": "SEK", "Address1": "Vasagatan 12", "City": "Göteborg",
            "EmailInformation": {"EmailAddressTo": ANNA, "EmailSubject": "Faktura"},
            "InvoiceRows": [{"Description": "Coachingsamtal", "AccountNumber": 3041,
                             "DeliveredQuantity": 1, "Price": 1100, "Total": 1100}]}


ANNA_CUSTOMER = customer("1", ANNA, OrganisationNumber="850709-1232", Phone1="070-123 45 67")
SIMILAR = [customer("2", "anna.svenssonson@example.se", Name="Anna Svenssonson"),
           customer("3", "johanna.svensson@example.se", Name="Johanna Svensson")]
INVOICES = [invoice("1", "1", "2019-03-14"), invoice("2", "10", "2019-05-10"),
            invoice("4", "1", "2020-06-15"), invoice("7", "1", "2026-01-20")]


class MockFortnox:
    """Documented Fortnox behaviour, as respx side effects (thread-safe for the process test)."""

    def __init__(self, router: respx.MockRouter, customers: list[dict[str, Any]],
                 invoices: list[dict[str, Any]], refresh_token: str = SEED) -> None:
        self.customers, self.invoices = customers, invoices
        self.refresh_token = refresh_token
        self.access: set[str] = set()
        self.issued = 0
        self.token_delay = 0.0
        self._lock = threading.Lock()
        self.token = router.post(TOKEN_URL).mock(side_effect=self._token)
        self.customer_list = router.get(url__regex=rf"{API}/customers(\?.*)?$").mock(
            side_effect=self._authorised(self._list_customers))
        self.customer_get = router.get(url__regex=rf"{API}/customers/[^/?]+$").mock(
            side_effect=self._authorised(self._get_customer))
        self.invoice_list = router.get(url__regex=rf"{API}/invoices(\?.*)?$").mock(
            side_effect=self._authorised(self._list_invoices))
        self.invoice_get = router.get(url__regex=rf"{API}/invoices/[^/?]+$").mock(
            side_effect=self._authorised(self._get_invoice))

    def _token(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.token_delay)  # widens the race window in the two-process test
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        with self._lock:
            if form.get("refresh_token") != self.refresh_token:
                return httpx.Response(400, json={"error": "invalid_grant",
                                                  "error_description": "Invalid refresh token"})
            self.issued += 1
            self.refresh_token = f"rotated-{self.issued}"
            access = f"access-{self.issued}"
            self.access.add(access)
        return httpx.Response(200, json={"access_token": access,
                                         "refresh_token": self.refresh_token,
                                         "scope": "customer invoice", "expires_in": 3600,
                                         "token_type": "bearer"})

    def _authorised(self, handler: Callable[[httpx.Request], httpx.Response]
                    ) -> Callable[[httpx.Request], httpx.Response]:
        def respond(request: httpx.Request) -> httpx.Response:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.access:
                return httpx.Response(401, json={"ErrorInformation": {
                    "Error": 1, "Message": "Ogiltig inloggning", "Code": 2000310}})
            return handler(request)
        return respond

    @staticmethod
    def _page(request: httpx.Request, key: str, items: list[dict[str, Any]]) -> httpx.Response:
        limit = int(request.url.params.get("limit", 100))
        page = int(request.url.params.get("page", 1))
        pages = -(-len(items) // limit)
        return httpx.Response(200, json={key: items[(page - 1) * limit: page * limit],
                                         "MetaInformation": {"@TotalResources": len(items),
                                                             "@TotalPages": pages,
                                                             "@CurrentPage": page}})

    @staticmethod
    def _partial(items: list[dict[str, Any]], request: httpx.Request,
                 fields: dict[str, str]) -> list[dict[str, Any]]:
        """``ILIKE '%value%'``, as the parameters guide documents."""
        for parameter, field in fields.items():
            needle = request.url.params.get(parameter)
            if needle is not None:
                items = [i for i in items if needle.casefold() in str(i.get(field)).casefold()]
        return items

    def _list_customers(self, request: httpx.Request) -> httpx.Response:
        found = self._partial(self.customers, request, {
            "email": "Email", "organisationnumber": "OrganisationNumber", "phone": "Phone1"})
        listed = [{"CustomerNumber": c["CustomerNumber"], "Name": c["Name"], "Email": c["Email"],
                   "OrganisationNumber": c["OrganisationNumber"], "Phone": c["Phone1"]}
                  for c in found]
        return self._page(request, "Customers", listed)

    def _get_customer(self, request: httpx.Request) -> httpx.Response:
        number = request.url.path.rsplit("/", 1)[-1]
        match = [c for c in self.customers if c["CustomerNumber"] == number]
        if not match:
            return httpx.Response(404, json={"ErrorInformation": {
                "error": 1, "message": "Kan inte hitta kunden.", "code": 2000433}})
        return httpx.Response(200, json={"Customer": match[0]})

    def _list_invoices(self, request: httpx.Request) -> httpx.Response:
        found = self._partial(self.invoices, request, {"customernumber": "CustomerNumber"})
        listed = [{k: i[k] for k in ("DocumentNumber", "CustomerNumber", "CustomerName",
                                     "InvoiceDate", "Total")} for i in found]
        return self._page(request, "Invoices", listed)

    def _get_invoice(self, request: httpx.Request) -> httpx.Response:
        number = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"Invoice": next(
            i for i in self.invoices if i["DocumentNumber"] == number)})


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


@pytest.fixture
def fortnox(router: respx.MockRouter) -> MockFortnox:
    return MockFortnox(router, [ANNA_CUSTOMER, *SIMILAR], [dict(i) for i in INVOICES])


@pytest.fixture
def db_url(database_url: str) -> str:
    url = database_url
    open_database(url)
    return url


@pytest.fixture
def store(db_url: str) -> StateStore:
    return StateStore(open_database(db_url))


def settings(policy: HttpPolicy, seed: str = SEED, **extra: Any) -> FortnoxSettings:
    return FortnoxSettings(client_id=SecretStr(CLIENT_ID), client_secret=SecretStr(CLIENT_SECRET),
                           refresh_token=SecretStr(seed), http=policy, **extra)


def connector(policy: HttpPolicy, store: StateStore | None, seed: str = SEED, **extra: Any
              ) -> FortnoxConnector:
    return FortnoxConnector(settings(policy, seed, **extra), state=store)


async def lookup(policy: HttpPolicy, store: StateStore | None, seed: str = SEED, **extra: Any):
    async with connector(policy, store, seed, **extra) as fortnox_connector:
        return await fortnox_connector.find_subject(Subject.from_email(ANNA))


def expire_access_token(store: StateStore, key: str) -> None:
    store.put(key, {**store.get(key), "expires_at": 0})


KEY = f"fortnox:tokens:{CLIENT_ID}@apps.fortnox.se"


# --------------------------------------------------------------------------- settings
def test_documented_defaults() -> None:
    defaults = FortnoxSettings()
    assert defaults.base_url == API and defaults.token_url == TOKEN_URL
    assert (defaults.http.rate_limit_requests, defaults.http.rate_limit_seconds) == (25, 5.0)
    assert defaults.missing_credentials() == ["client_id", "client_secret", "refresh_token"]
    assert FortnoxConnector.init_options == {"state"}


# --------------------------------------------------------------------------- tokens
async def test_refresh_request_is_documented_and_rotation_is_persisted(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    await lookup(fast_policy, store)
    request = fortnox.token.calls.last.request
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"], "refresh_token": [SEED]}
    stored = store.get(KEY)
    assert stored["refresh_token"] == "rotated-1" and stored["access_token"] == "access-1"
    assert stored["seeds"] == [fingerprint(SEED)]
    assert SEED not in str(stored)  # the spent seed is remembered only by its fingerprint
    api_call = fortnox.customer_list.calls.last.request
    assert api_call.headers["Authorization"] == "Bearer access-1"


async def test_access_token_is_reused_by_calls_and_by_other_connectors(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    async with connector(fast_policy, store) as first:
        await first.find_subject(Subject.from_email(ANNA))
        await first.check_credentials()
    await lookup(fast_policy, store)  # a new request: the stored access token is still valid
    assert fortnox.token.call_count == 1


async def test_expired_access_token_is_refreshed_with_the_rotated_token(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    await lookup(fast_policy, store)
    expire_access_token(store, KEY)
    await lookup(fast_policy, store)
    sent = parse_qs(fortnox.token.calls.last.request.content.decode())["refresh_token"]
    assert sent == ["rotated-1"]  # never the configured seed again
    assert store.get(KEY)["refresh_token"] == "rotated-2"


async def test_a_new_configured_token_takes_over_but_a_used_one_never_returns(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    await lookup(fast_policy, store)
    fortnox.refresh_token = "reauthorised"  # the user re-authorised in Fortnox
    await lookup(fast_policy, store, seed="reauthorised")
    assert parse_qs(fortnox.token.calls.last.request.content.decode())["refresh_token"] == [
        "reauthorised"]
    assert store.get(KEY)["seeds"] == [fingerprint(SEED), fingerprint("reauthorised")]
    expire_access_token(store, KEY)
    await lookup(fast_policy, store, seed=SEED)  # a process still configured with the old seed
    assert parse_qs(fortnox.token.calls.last.request.content.decode())["refresh_token"] == [
        "rotated-2"]


async def test_crash_after_the_commit_loses_nothing(
        fortnox: MockFortnox, router: respx.MockRouter, store: StateStore,
        fast_policy: HttpPolicy) -> None:
    fortnox.customer_list.side_effect = RuntimeError("power cut right after the token answer")
    with pytest.raises(RuntimeError, match="power cut"):
        await lookup(fast_policy, store)
    assert store.get(KEY)["refresh_token"] == "rotated-1"  # committed before it was used
    fortnox.customer_list.side_effect = fortnox._authorised(fortnox._list_customers)
    findings = await lookup(fast_policy, store)  # the next run: stored access token
    assert fortnox.token.call_count == 1 and findings.records
    expire_access_token(store, KEY)
    await lookup(fast_policy, store)
    assert parse_qs(fortnox.token.calls.last.request.content.decode())["refresh_token"] == [
        "rotated-1"]


async def test_crash_before_the_commit_gives_a_clear_message_next_time(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await lookup(fast_policy, store)
    expire_access_token(store, KEY)

    def crash(self: LockedValue) -> None:
        raise RuntimeError("killed between the token answer and the commit")

    with monkeypatch.context() as patch:
        patch.setattr(LockedValue, "commit", crash)
        with pytest.raises(RuntimeError, match="killed"):
            await lookup(fast_policy, store)
    assert store.get(KEY)["refresh_token"] == "rotated-1"  # Fortnox already spent it
    with pytest.raises(CredentialsRejected) as refused:
        await lookup(fast_policy, store)
    assert str(refused.value) == STORED_GRANT_REFUSED


async def test_a_spent_configured_token_says_so(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    fortnox.refresh_token = "someone-else-used-the-seed"
    with pytest.raises(CredentialsRejected) as refused:
        await lookup(fast_policy, store)
    assert str(refused.value) == CONFIGURED_GRANT_REFUSED
    assert store.get(KEY) is None


def test_a_second_process_reuses_the_first_ones_token(
        fortnox: MockFortnox, db_url: str, fast_policy: HttpPolicy) -> None:
    fortnox.token_delay = 0.3  # both processes want a token while the first refresh runs
    start = threading.Barrier(2)
    results: list[Any] = []

    def process() -> None:
        own_store = StateStore(open_database(db_url))  # its own engine, as another process
        start.wait()
        results.append(asyncio.run(lookup(fast_policy, own_store)))

    threads = [threading.Thread(target=process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert fortnox.token.call_count == 1
    assert len(results) == 2 and all(findings.records for findings in results)


async def test_401_refreshes_once_and_retries(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    await lookup(fast_policy, store)
    fortnox.access.clear()  # Fortnox revoked the access token before its expiry
    findings = await lookup(fast_policy, store)
    assert fortnox.token.call_count == 2 and findings.records
    assert fortnox.customer_list.calls.last.request.headers["Authorization"] == "Bearer access-2"


async def test_401_after_a_refused_refresh_asks_to_reauthorise(
        fortnox: MockFortnox, store: StateStore, fast_policy: HttpPolicy) -> None:
    await lookup(fast_policy, store)
    fortnox.access.clear()
    fortnox.refresh_token = "revoked-by-the-customer"
    with pytest.raises(CredentialsRejected, match="re-authorise Fortnox"):
        await lookup(fast_policy, store)


async def test_a_fresh_token_that_is_refused_again_is_not_refreshed_in_a_loop(
        fortnox: MockFortnox, router: respx.MockRouter, store: StateStore,
        fast_policy: HttpPolicy) -> None:
    fortnox.customer_list.side_effect = lambda request: httpx.Response(
        403, json={"ErrorInformation": {"error": 1, "message": "Ogiltig inloggning",
                                        "code": 2000310}})
    with pytest.raises(CredentialsRejected, match=r"freshly issued access token.*2000310"):
        await lookup(fast_policy, store)
    assert fortnox.token.call_count == 2  # the first token, and one refresh after the 403


async def test_bad_client_credentials_name_the_settings(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.post(TOKEN_URL).respond(401, json={"error": "invalid_client",
                                               "error_description": "Invalid client"})
    with pytest.raises(CredentialsRejected, match="DSAR_FORTNOX__CLIENT_SECRET"):
        await lookup(fast_policy, None)


async def test_without_a_store_tokens_live_in_memory(
        fortnox: MockFortnox, fast_policy: HttpPolicy) -> None:
    async with connector(fast_policy, None) as alone:
        await alone.find_subject(Subject.from_email(ANNA))
        await alone.check_credentials()
    assert fortnox.token.call_count == 1


# --------------------------------------------------------------------------- matching
async def test_only_the_exact_address_is_reported_with_its_invoices(
        fortnox: MockFortnox, fast_policy: HttpPolicy) -> None:
    findings = await lookup(fast_policy, None)
    customers = [r for r in findings.records if r.type == "customer"]
    assert [c.id for c in customers] == ["1"]  # not svenssonson@, not johanna.svensson@
    [anna] = customers
    assert anna.matched_on == "email" and anna.match_strength == MatchStrength.EXACT
    assert anna.data["OrganisationNumber"] == "850709-1232"
    invoices = {r.id: r for r in findings.records if r.type == "invoice"}
    assert set(invoices) == {"1", "4", "7"}  # customernumber=1 also lists customer 10's
    first = invoices["1"].data
    assert first["InvoiceDate"] == "2019-03-14"
    assert first["EmailInformation"] == {"EmailAddressTo": ANNA}
    assert first["InvoiceRows"] == [{"Description": "Coachingsamtal", "DeliveredQuantity": 1,
                                     "Price": 1100, "Total": 1100}]
    asked = {c.request.url.params.get("email") for c in fortnox.customer_list.calls}
    assert asked == {ANNA, "anna.svensson+"}


async def test_identifiers_found_are_reported(fortnox: MockFortnox,
                                              fast_policy: HttpPolicy) -> None:
    findings = await lookup(fast_policy, None)
    assert set(findings.identifiers) == {
        Identifier(kind="email", value=ANNA, source="fortnox"),
        Identifier(kind="phone", value="+46701234567", source="fortnox"),
        Identifier(kind="personnummer", value="19850709-1232", source="fortnox"),
    }


async def test_plus_address_and_case_variants(router: respx.MockRouter,
                                              fast_policy: HttpPolicy) -> None:
    MockFortnox(router, [customer("10", "Anna.Svensson+kurs@Example.se")], [])
    findings = await lookup(fast_policy, None)
    [record] = findings.records
    assert record.match_strength == MatchStrength.PLUS_ADDRESS


async def test_pages_are_followed_for_customers_and_invoices(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    many = [invoice(str(n), "1", f"20{19 + n % 8}-01-0{1 + n % 9}") for n in range(1, 6)]
    others = [customer(str(n), f"anna.svensson@example.se.{n}.invalid") for n in range(2, 5)]
    mock = MockFortnox(router, [*others, ANNA_CUSTOMER], [*many, invoice("9", "11", "2020-01-01")])
    findings = await lookup(fast_policy, None, page_size=2)
    assert {r.id for r in findings.records if r.type == "invoice"} == {"1", "2", "3", "4", "5"}
    assert {c.request.url.params["page"] for c in mock.invoice_list.calls} == {"1", "2", "3"}
    assert {r.id for r in findings.records if r.type == "customer"} == {"1"}


async def test_a_page_that_does_not_advance_is_refused(router: respx.MockRouter,
                                                        fortnox: MockFortnox,
                                                        fast_policy: HttpPolicy) -> None:
    fortnox.customer_list.side_effect = lambda request: httpx.Response(200, json={
        "Customers": [], "MetaInformation": {"@TotalPages": 3, "@CurrentPage": 1}})
    with pytest.raises(ProtocolError, match="page 1 when asked for page 2"):
        await lookup(fast_policy, None)


async def test_personnummer_search_matches_exactly(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    mock = MockFortnox(router, [
        customer("5", "", OrganisationNumber="19850709-1232", Name="A. Svensson"),
        customer("6", "", OrganisationNumber="850709-1240", Name="Someone Else")], [])
    subject = Subject.from_email(ANNA)
    widened, new = subject.widened([Identifier(kind="personnummer", value="19850709-1232",
                                               source="stripe")])
    async with connector(fast_policy, None) as fortnox_connector:
        findings = await fortnox_connector.find_by_identifiers(widened, new)
    [record] = findings.records
    assert (record.id, record.matched_on, record.match_strength) == (
        "5", "personnummer", MatchStrength.DERIVED)
    asked = {c.request.url.params.get("organisationnumber") for c in mock.customer_list.calls}
    assert asked == {"850709-1232", "8507091232"}


async def test_phone_search_tries_spellings_and_says_its_limit(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    MockFortnox(router, [customer("4", "", Phone1="08-123 456 78", Name="Åsa Öberg")], [])
    subject = Subject.from_email("asa.oberg@example.se")
    widened, new = subject.widened([Identifier(kind="phone", value="+46812345678",
                                               source="stripe")])
    async with connector(fast_policy, None) as fortnox_connector:
        findings = await fortnox_connector.find_by_identifiers(widened, new)
    assert [(r.type, r.id, r.matched_on) for r in findings.records] == [
        ("customer", "4", "phone")]
    assert "spelling" in findings.notes[0]
    # a limit the subject is told about, not a part left undone
    assert findings.note_codes == ["fortnox.phone_spellings"] and not findings.incomplete


# --------------------------------------------------------------------------- errors
async def test_429_with_retry_after_then_success(fortnox: MockFortnox,
                                                 fast_policy: HttpPolicy) -> None:
    answer = fortnox._authorised(fortnox._list_customers)
    calls = {"n": 0}

    def limited_once(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, text="")
        return answer(request)

    fortnox.customer_list.side_effect = limited_once
    findings = await lookup(fast_policy, None)
    assert findings.records and calls["n"] == 3  # the retried request, and the "local+" search


async def test_malformed_json_is_a_protocol_error(fortnox: MockFortnox,
                                                  fast_policy: HttpPolicy) -> None:
    fortnox.customer_list.side_effect = lambda request: httpx.Response(200, text="<html>")
    with pytest.raises(ProtocolError, match="not JSON"):
        await lookup(fast_policy, None)


@pytest.mark.parametrize(("status", "body", "error", "expected"), [
    (400, {"ErrorInformation": {"error": 1, "message": "Ogiltig parameter i anropet.",
                                "code": 2000588}},
     ProtocolError, r"Ogiltig parameter i anropet\. \(code 2000588: a parameter is invalid\)"),
    (500, {"ErrorInformation": {"Error": 1, "Message": "System exception", "Code": 1000003}},
     ProcessorUnavailable, r"System exception \(code 1000003: system exception at Fortnox\)"),
    (403, {"ErrorInformation": {"error": 1, "message": "Det finns ingen aktiv licens för "
                                "önskat scope", "code": 2001101}},
     CredentialsRejected, r"code 2001101: no active licence for the requested scope"),
])
async def test_error_information_becomes_a_clear_message(
        fortnox: MockFortnox, fast_policy: HttpPolicy, status: int, body: dict[str, Any],
        error: type[Exception], expected: str) -> None:
    fortnox.customer_list.side_effect = lambda request: httpx.Response(status, json=body)
    with pytest.raises(error, match=expected):
        await lookup(fast_policy, None)
    assert fortnox.token.call_count == 1  # no refresh for errors that are not about the token


async def test_token_endpoint_outage_warns_about_a_possibly_spent_token(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.post(TOKEN_URL).mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(ProcessorUnavailable, match="re-authorise"):
        await lookup(fast_policy, None)
