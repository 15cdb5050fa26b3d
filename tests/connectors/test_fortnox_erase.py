"""Fortnox erasure against respx-mocked documented answers.

What is proved: a customer is deleted with ``DELETE /3/customers/{n}`` or anonymised with a PUT
that blanks exactly the policy's fields (as ``""``) and sets ``Active`` false, and the answer is
checked; 404 is already gone; Fortnox's refusal to delete a customer with invoices (an
``ErrorInformation`` 400 with an undocumented code) is a lawful refusal offering anonymisation,
sent once and never retried; 429/5xx are retried; invoices and vouchers are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.fortnox import (
    ANONYMISABLE_FIELDS,
    FortnoxConnector,
    FortnoxSettings,
    default_anonymise_fields,
)
from connectors.sdk.base import Capability, ErasureAction, ErasureState
from hub.core.models import Record
from hub.core.retention import default_policy
from hub.http import HttpPolicy

API = "https://api.fortnox.se/3"
TOKEN_URL = "https://apps.fortnox.se/oauth-v1/token"
CUSTOMER_URL = f"{API}/customers/1"
ANNA = "anna.svensson@example.se"
KEY = "req-1:fortnox:customer:1"

ANNA_CUSTOMER: dict[str, Any] = {
    "CustomerNumber": "1", "Name": "Anna Svensson", "Type": "PRIVATE", "Active": True,
    "OrganisationNumber": "850709-1232", "Address1": "Vasagatan 12", "ZipCode": "411 24",
    "City": "Göteborg", "Email": ANNA, "EmailInvoice": ANNA, "EmailInvoiceCC": "",
    "EmailInvoiceBCC": "", "EmailOrder": "", "EmailOffer": "", "Phone1": "070-123 45 67",
    "Phone2": "", "Fax": "", "DeliveryPhone1": "", "DeliveryPhone2": "",
    "WWW": "https://anna.example.se", "Comments": "Föredrar e-post, ring efter 17.",
}
REFUSAL = {"ErrorInformation": {"error": 1, "message": "Kunden kan inte tas bort eftersom den "
                                "används i fakturor.", "code": 2000999}}


def customer_record(number: str = "1") -> Record:
    return Record(type="customer", id=number, matched_on="email",
                  data={k: v for k, v in ANNA_CUSTOMER.items() if v not in ("", None)})


def invoice_record(kind: str = "invoice") -> Record:
    return Record(type=kind, id="4", matched_on="email",
                  data={"DocumentNumber": "4", "CustomerNumber": "1",
                        "InvoiceDate": "2020-06-15"})


class Tokens:
    """The token endpoint: a fresh access token (and a rotated refresh token) per grant."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.issued += 1
        return httpx.Response(200, json={
            "access_token": f"access-{self.issued}", "refresh_token": f"rotated-{self.issued}",
            "scope": "customer invoice", "expires_in": 3600, "token_type": "bearer"})


def updated(request: httpx.Request, base: dict[str, Any] | None = None) -> httpx.Response:
    """Fortnox's PUT: the sent fields change, the full customer comes back."""
    changes = json.loads(request.content)["Customer"]
    return httpx.Response(200, json={"Customer": {**(base or ANNA_CUSTOMER), **changes}})


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mocked:
        mocked.post(TOKEN_URL).mock(side_effect=Tokens())
        yield mocked


def connector(policy: HttpPolicy) -> FortnoxConnector:
    return FortnoxConnector(FortnoxSettings(
        client_id=SecretStr("client-abc"), client_secret=SecretStr("secret-xyz"),
        refresh_token=SecretStr("seed-refresh-token"), http=policy))


async def erase(policy: HttpPolicy, record: Record, action: ErasureAction,
                fields: tuple[str, ...] = ()):
    async with connector(policy) as fortnox:
        return await fortnox.erase(record, action, idempotency_key=KEY, fields=fields)


def test_erasure_is_declared() -> None:
    assert Capability.ERASURE in FortnoxConnector.capabilities


def test_default_fields_are_the_retention_policys_contact_fields() -> None:
    entry = default_policy().for_record("fortnox", "customer")
    assert entry is not None and default_anonymise_fields() == entry.anonymise_fields
    fields = set(default_anonymise_fields())
    assert {"Email", "EmailInvoice", "Phone1", "Phone2", "Fax", "WWW", "Comments"} <= fields
    assert fields <= ANONYMISABLE_FIELDS
    # what the retained invoices refer to stays
    assert not fields & {"Name", "Address1", "ZipCode", "City", "OrganisationNumber"}


# --------------------------------------------------------------------------- delete
async def test_delete_a_customer(router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.delete(CUSTOMER_URL).respond(204)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and outcome.fallback is None
    assert "deleted customer 1" in outcome.detail
    [call] = route.calls
    assert call.request.headers["Authorization"] == "Bearer access-1"
    assert call.request.content == b""


async def test_deleting_a_customer_already_gone_is_success(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.delete(CUSTOMER_URL).respond(404, json={"ErrorInformation": {
        "error": 1, "message": "Kan inte hitta kunden.", "code": 2000433}})
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.ALREADY_GONE


@pytest.mark.parametrize("capitalised", [False, True])
async def test_a_customer_with_invoices_is_refused_and_anonymisation_offered(
        router: respx.MockRouter, fast_policy: HttpPolicy, capitalised: bool) -> None:
    body = REFUSAL
    if capitalised:  # some Fortnox answers capitalise the keys
        body = {"ErrorInformation": {k.capitalize(): v
                                     for k, v in REFUSAL["ErrorInformation"].items()}}
    route = router.delete(CUSTOMER_URL).respond(400, json=body)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.REFUSED
    assert outcome.fallback is ErasureAction.ANONYMISE
    assert "används i fakturor" in outcome.detail  # Fortnox's own words, quoted
    assert "Bokföringslagen" in outcome.detail
    assert route.call_count == 1  # a refusal is never retried


async def test_a_documented_400_is_a_failure_not_the_invoice_refusal(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.delete(CUSTOMER_URL).respond(400, json={"ErrorInformation": {
        "error": 1, "message": "Ogiltig parameter i anropet.", "code": 2000588}})
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED and outcome.fallback is None
    assert "code 2000588: a parameter is invalid" in outcome.detail
    assert route.call_count == 1


@pytest.mark.parametrize("first", [
    httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "Too Many Requests"}),
    httpx.Response(503, text=""),
])
async def test_rate_limit_and_server_errors_are_retried(
        router: respx.MockRouter, fast_policy: HttpPolicy, first: httpx.Response) -> None:
    route = router.delete(CUSTOMER_URL).mock(side_effect=[first, httpx.Response(204)])
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and route.call_count == 2


async def test_a_deletion_applied_before_a_lost_answer_ends_already_gone(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    """DELETE is idempotent: the retry after a 502 finds the customer gone."""
    router.delete(CUSTOMER_URL).mock(side_effect=[
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(404, json={"ErrorInformation": {"error": 1, "message":
                                                       "Kan inte hitta kunden.", "code": 2000433}}),
    ])
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.ALREADY_GONE


async def test_a_processor_still_failing_after_retries_is_failed(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.delete(CUSTOMER_URL).respond(500, json={"ErrorInformation": {
        "error": 1, "message": "System exception", "code": 1000003}})
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED
    assert "re-run later" in outcome.detail and "system exception at Fortnox" in outcome.detail
    assert route.call_count == fast_policy.max_attempts


async def test_an_unreachable_fortnox_is_failed_not_raised(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.delete(CUSTOMER_URL).mock(side_effect=httpx.ConnectError("refused"))
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED and "could not reach Fortnox" in outcome.detail


async def test_a_refused_token_is_failed_with_a_clear_message(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.post(TOKEN_URL).respond(400, json={"error": "invalid_grant"})
    outcome = await erase(fast_policy, customer_record(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED and "re-authorise" in outcome.detail


# --------------------------------------------------------------------------- anonymise
async def test_anonymise_blanks_the_policy_fields_and_sets_inactive(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.put(CUSTOMER_URL).mock(side_effect=updated)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE, outcome.detail
    [call] = route.calls
    sent = json.loads(call.request.content)
    assert sent == {"Customer": {**dict.fromkeys(default_anonymise_fields(), ""),
                                 "Active": False}}
    assert call.request.headers["Content-Type"] == "application/json"
    assert "set inactive" in outcome.detail and ANNA not in outcome.detail


async def test_anonymise_blanks_exactly_the_fields_given(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.put(CUSTOMER_URL).mock(side_effect=updated)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE,
                          fields=("Email", "Comments", "Email"))
    assert outcome.state is ErasureState.DONE
    assert json.loads(route.calls[0].request.content) == {
        "Customer": {"Email": "", "Comments": "", "Active": False}}


async def test_null_in_the_answer_counts_as_blank(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        changes = json.loads(request.content)["Customer"]
        nulls = {k: (None if v == "" else v) for k, v in changes.items()}
        return httpx.Response(200, json={"Customer": {**ANNA_CUSTOMER, **nulls}})

    router.put(CUSTOMER_URL).mock(side_effect=answer)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE


async def test_an_answer_that_still_shows_the_data_is_failed(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    def ignores_email(request: httpx.Request) -> httpx.Response:
        changes = {k: v for k, v in json.loads(request.content)["Customer"].items()
                   if k != "Email"}
        return httpx.Response(200, json={"Customer": {**ANNA_CUSTOMER, **changes}})

    router.put(CUSTOMER_URL).mock(side_effect=ignores_email)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.FAILED
    assert "not show these fields blanked: Email" in outcome.detail
    assert ANNA not in outcome.detail  # names the field, never the personal data


async def test_an_answer_still_active_or_without_the_customer_is_failed(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.put(CUSTOMER_URL).mock(side_effect=lambda request: httpx.Response(
        200, json={"Customer": {**ANNA_CUSTOMER, **dict.fromkeys(default_anonymise_fields(),
                                                                   "")}}))
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.FAILED and "Active" in outcome.detail
    route.mock(side_effect=lambda request: httpx.Response(200, json={"ok": True}))
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.FAILED and "without a Customer object" in outcome.detail


async def test_anonymising_a_customer_already_gone_is_success(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    router.put(CUSTOMER_URL).respond(404, json={"ErrorInformation": {
        "error": 1, "message": "Kan inte hitta kunden.", "code": 2000433}})
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.ALREADY_GONE


async def test_anonymise_is_retried_after_429(router: respx.MockRouter,
                                              fast_policy: HttpPolicy) -> None:
    calls = {"n": 0}

    def limited_once(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, json={"message": "Too Many Requests"})
        return updated(request)

    router.put(CUSTOMER_URL).mock(side_effect=limited_once)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE and calls["n"] == 2


@pytest.mark.parametrize("field", ["CustomerNumber", "Country", "@url", "Active", "Nmae"])
async def test_fields_fortnox_cannot_blank_fail_before_any_call(
        router: respx.MockRouter, fast_policy: HttpPolicy, field: str) -> None:
    route = router.put(CUSTOMER_URL).mock(side_effect=updated)
    outcome = await erase(fast_policy, customer_record(), ErasureAction.ANONYMISE,
                          fields=("Email", field))
    assert outcome.state is ErasureState.FAILED and field in outcome.detail
    assert "anonymise_fields" in outcome.detail and route.call_count == 0


async def test_customer_numbers_are_quoted_in_the_path(
        router: respx.MockRouter, fast_policy: HttpPolicy) -> None:
    route = router.delete(f"{API}/customers/K%2F7").respond(204)
    outcome = await erase(fast_policy, customer_record("K/7"), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and route.call_count == 1


# --------------------------------------------------------------------------- accounting records
@pytest.mark.parametrize("kind", ["invoice", "voucher"])
@pytest.mark.parametrize("action", list(ErasureAction))
async def test_invoices_and_vouchers_are_refused_under_bokforingslagen(
        router: respx.MockRouter, fast_policy: HttpPolicy, kind: str,
        action: ErasureAction) -> None:
    outcome = await erase(fast_policy, invoice_record(kind), action)
    assert outcome.state is ErasureState.REFUSED and outcome.fallback is None
    assert "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §" in outcome.detail
    assert f"{kind} 4" in outcome.detail
    assert len(router.calls) == 0  # not even a token was fetched


async def test_an_unknown_record_type_is_a_programming_error(fast_policy: HttpPolicy) -> None:
    with pytest.raises(ValueError, match="no 'order' records"):
        await erase(fast_policy, Record(type="order", id="1", matched_on="email"),
                    ErasureAction.DELETE)
