"""The declarative booking connector's erasure against respx-mocked answers, and export mode.

What is proved: the declared erase calls of the asked action are sent as rendered from the
stored record (path, API-wide and call params, anonymising body); 404 is already gone; when only
the other action is declared the outcome is a refusal offering it; an undeclared record type and
export mode are manual tasks in the system's admin UI; errors quote the declared error message;
429/5xx are retried, an anonymising POST included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.rest import BookingConnector, BookingSettings
from connectors.sdk.base import Capability, ErasureAction, ErasureState
from hub.core.models import Record
from hub.http import HttpPolicy

BASE = "https://booking.example.com"
KEY = "booking-test-key-123456"
ANNA = "anna.svensson@example.se"
IDEMPOTENCY_KEY = "req-1:booking:customer:c1"
EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "booking_export.csv"


def declaration(customer_erase: list[dict[str, Any]] | None = None,
                **changes: Any) -> dict[str, Any]:
    """BokaMera-shaped: customers (erase calls as given) and their bookings (none declared)."""
    api: dict[str, Any] = {
        "error_message_path": "ResponseStatus.Message",
        "params": {"CompanyId": "comp-1"},
        "auth": [{"type": "api_key", "header": "x-api-key"}],
        "resources": [
            {"name": "customer", "path": "/customers", "records_path": "Results",
             "id_field": "Id",
             "personal_fields": ["Firstname", "Lastname", "Email", "Phone"],
             "search": {"email": "Search"}, "identifiers": {"email": "Email"},
             "erase": customer_erase if customer_erase is not None else [
                 {"method": "DELETE", "path": "/customers/{customer.Id}"}]},
            {"name": "booking", "parent": "customer", "path": "/bookings",
             "params": {"CustomerId": "{customer.Id}"}, "records_path": "Results",
             "id_field": "Id", "personal_fields": ["From", "Customer.Email"],
             "identifiers": {"email": "Customer.Email"}},
        ],
    }
    api.update(changes)
    return api


ANONYMISE_PUT = {"method": "PUT", "path": "/customers/{customer.Id}",
                 "body": {"Firstname": "Anonymiserad", "Lastname": "", "Email": "",
                          "Phone": "", "PersonalIdentityNumber": ""}}
DELETE = {"method": "DELETE", "path": "/customers/{customer.Id}"}


def connector(policy: HttpPolicy, api: dict[str, Any] | None = None) -> BookingConnector:
    return BookingConnector(BookingSettings.model_validate({
        "base_url": BASE, "api_key": SecretStr(KEY), "http": policy,
        "system": "BokaMera", "api": api if api is not None else declaration()}))


def customer(cid: str = "c1") -> Record:
    return Record(type="customer", id=cid, matched_on="email",
                  data={"Firstname": "Anna", "Lastname": "Svensson", "Email": ANNA})


def booking() -> Record:
    return Record(type="booking", id="7", matched_on="email",
                  data={"From": "2026-09-01T10:00:00", "Customer.Email": ANNA})


async def erase(conn: BookingConnector, record: Record, action: ErasureAction):
    async with conn:
        return await conn.erase(record, action, idempotency_key=IDEMPOTENCY_KEY)


def params_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}


def not_found(message: str = "Customer not found") -> httpx.Response:
    return httpx.Response(404, json={"ResponseStatus": {"ErrorCode": "NotFound",
                                                        "Message": message}})


def test_erasure_is_declared_for_the_api_and_not_for_an_export(
        fast_policy: HttpPolicy) -> None:
    assert Capability.ERASURE in BookingConnector.capabilities
    assert Capability.ERASURE in connector(fast_policy).capabilities
    exported = BookingConnector(export_settings())
    assert exported.capabilities == frozenset({Capability.ACCESS})


# --------------------------------------------------------------------------- api mode
@respx.mock
async def test_the_declared_delete_is_sent(fast_policy: HttpPolicy) -> None:
    route = respx.delete(f"{BASE}/customers/c1").respond(200, json={"Id": "c1"})
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and outcome.fallback is None
    assert "customer c1 deleted" in outcome.detail and "DELETE /customers/c1" in outcome.detail
    [call] = route.calls
    assert params_of(call.request) == {"CompanyId": "comp-1"}  # the API-wide params
    assert call.request.headers["x-api-key"] == KEY and call.request.content == b""


@respx.mock
async def test_a_customer_already_gone_is_success(fast_policy: HttpPolicy) -> None:
    respx.delete(f"{BASE}/customers/c1").mock(return_value=not_found())
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.ALREADY_GONE and "HTTP 404" in outcome.detail


@respx.mock
async def test_the_declared_anonymising_put_is_sent_with_its_body(
        fast_policy: HttpPolicy) -> None:
    route = respx.put(f"{BASE}/customers/c1").respond(200, json={"Id": "c1"})
    conn = connector(fast_policy, declaration([ANONYMISE_PUT, DELETE]))
    outcome = await erase(conn, customer(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE and "anonymised" in outcome.detail
    [call] = route.calls
    assert json.loads(call.request.content) == ANONYMISE_PUT["body"]


@respx.mock
async def test_only_the_calls_of_the_asked_action_are_sent(fast_policy: HttpPolicy) -> None:
    put = respx.put(f"{BASE}/customers/c1").respond(200, json={})
    delete = respx.delete(f"{BASE}/customers/c1").respond(200, json={})
    conn = connector(fast_policy, declaration([ANONYMISE_PUT, DELETE]))
    outcome = await erase(conn, customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE
    assert (put.call_count, delete.call_count) == (0, 1)


@pytest.mark.parametrize(("declared", "asked", "offered"), [
    ([DELETE], ErasureAction.ANONYMISE, ErasureAction.DELETE),
    ([ANONYMISE_PUT], ErasureAction.DELETE, ErasureAction.ANONYMISE),
])
@respx.mock
async def test_the_other_declared_action_is_offered_as_fallback(
        fast_policy: HttpPolicy, declared: list[dict[str, Any]], asked: ErasureAction,
        offered: ErasureAction) -> None:
    outcome = await erase(connector(fast_policy, declaration(declared)), customer(), asked)
    assert outcome.state is ErasureState.REFUSED and outcome.fallback is offered
    assert "is not declared" in outcome.detail
    assert len(respx.calls) == 0


@respx.mock
async def test_a_record_type_without_erase_calls_is_a_manual_task(
        fast_policy: HttpPolicy) -> None:
    outcome = await erase(connector(fast_policy), booking(), ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.REFUSED and outcome.fallback is None
    assert "manual task in BokaMera's admin UI" in outcome.detail
    assert "anonymise the booking 7" in outcome.detail
    assert len(respx.calls) == 0


@respx.mock
async def test_an_error_quotes_the_declared_message(fast_policy: HttpPolicy) -> None:
    route = respx.delete(f"{BASE}/customers/c1").respond(400, json={"ResponseStatus": {
        "ErrorCode": "Conflict", "Message": "Customer has unpaid bookings"}})
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED
    assert outcome.detail == ("BokaMera refused the request (HTTP 400: Customer has unpaid "
                              "bookings)")
    assert route.call_count == 1  # a 4xx is never retried


@respx.mock
async def test_rejected_credentials_are_failed_quoting_the_message(
        fast_policy: HttpPolicy) -> None:
    respx.delete(f"{BASE}/customers/c1").respond(401, json={"ResponseStatus": {
        "ErrorCode": "Unauthorized", "Message": "Invalid or missing x-api-key header"}})
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED
    assert "HTTP 401: Invalid or missing x-api-key header" in outcome.detail


@pytest.mark.parametrize("first", [
    httpx.Response(429, headers={"Retry-After": "0"}, json={"ResponseStatus": {
        "ErrorCode": "TooManyRequests", "Message": "Rate limit exceeded"}}),
    httpx.Response(503, json={"ResponseStatus": {"Message": "Service Unavailable"}}),
])
@respx.mock
async def test_rate_limit_and_server_errors_are_retried(
        fast_policy: HttpPolicy, first: httpx.Response) -> None:
    route = respx.delete(f"{BASE}/customers/c1").mock(
        side_effect=[first, httpx.Response(200, json={})])
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and route.call_count == 2


@respx.mock
async def test_a_retry_that_finds_the_record_gone_is_already_gone(
        fast_policy: HttpPolicy) -> None:
    respx.delete(f"{BASE}/customers/c1").mock(
        side_effect=[httpx.Response(502, text="Bad Gateway"), not_found()])
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.ALREADY_GONE


@respx.mock
async def test_a_processor_still_failing_is_failed_with_its_words(
        fast_policy: HttpPolicy) -> None:
    route = respx.delete(f"{BASE}/customers/c1").respond(500, json={"ResponseStatus": {
        "ErrorCode": "InternalServerError", "Message": "An error occurred"}})
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED
    assert "HTTP 500: An error occurred" in outcome.detail and "re-run later" in outcome.detail
    assert route.call_count == fast_policy.max_attempts


@respx.mock
async def test_an_unreachable_system_is_failed_not_raised(fast_policy: HttpPolicy) -> None:
    respx.delete(f"{BASE}/customers/c1").mock(side_effect=httpx.ConnectError("refused"))
    outcome = await erase(connector(fast_policy), customer(), ErasureAction.DELETE)
    assert outcome.state is ErasureState.FAILED and "could not reach BokaMera" in outcome.detail


@respx.mock
async def test_an_anonymising_post_is_retried_like_an_overwrite(
        fast_policy: HttpPolicy) -> None:
    call = {"method": "POST", "path": "/customers/{customer.Id}/anonymize",
            "body": {"Reason": "GDPR"}}
    route = respx.post(f"{BASE}/customers/c1/anonymize").mock(side_effect=[
        httpx.Response(503, json={}), httpx.Response(200, json={})])
    outcome = await erase(connector(fast_policy, declaration([call])), customer(),
                          ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE and route.call_count == 2


@respx.mock
async def test_several_calls_run_in_order_and_a_later_404_means_done(
        fast_policy: HttpPolicy) -> None:
    first = {"method": "PUT", "path": "/customers/{customer.Id}", "body": {"Email": ""}}
    second = {"method": "PATCH", "path": "/customers/{customer.Id}/notes",
              "body": {"Notes": ""}}
    put = respx.put(f"{BASE}/customers/c1").respond(200, json={})
    patch = respx.patch(f"{BASE}/customers/c1/notes").mock(return_value=not_found())
    outcome = await erase(connector(fast_policy, declaration([first, second])), customer(),
                          ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.DONE
    assert (put.call_count, patch.call_count) == (1, 1)


@respx.mock
async def test_a_stored_record_missing_a_placeholder_field_is_failed(
        fast_policy: HttpPolicy) -> None:
    call = {"method": "PUT", "path": "/customers/{customer.Id}",
            "body": {"Email": "", "Previous": "{customer.Phone}"}}
    outcome = await erase(connector(fast_policy, declaration([call])), customer(),
                          ErasureAction.ANONYMISE)
    assert outcome.state is ErasureState.FAILED and "'Phone'" in outcome.detail
    assert len(respx.calls) == 0


@respx.mock
async def test_ids_are_quoted_in_the_path(fast_policy: HttpPolicy) -> None:
    route = respx.delete(f"{BASE}/customers/c%201").respond(200, json={})
    outcome = await erase(connector(fast_policy), customer("c 1"), ErasureAction.DELETE)
    assert outcome.state is ErasureState.DONE and route.call_count == 1


# --------------------------------------------------------------------------- export mode
def export_settings() -> BookingSettings:
    return BookingSettings.model_validate({
        "mode": "export", "system": "Qlickboka", "export_path": EXPORT,
        "export": {"id_column": "Kundnr",
                   "identifiers": {"email": "E-post", "phone": "Mobil",
                                   "personnummer": "Personnummer"}}})


@pytest.mark.parametrize("action", list(ErasureAction))
@respx.mock
async def test_export_mode_is_a_manual_task_in_the_admin_ui(action: ErasureAction) -> None:
    record = Record(type="customer", id="1042", matched_on="email", data={"E-post": ANNA})
    outcome = await erase(BookingConnector(export_settings()), record, action)
    assert outcome.state is ErasureState.REFUSED and outcome.fallback is None
    assert "manual task in Qlickboka's admin UI" in outcome.detail
    assert f"{action.value} the customer 1042" in outcome.detail
    assert len(respx.calls) == 0



def test_erased_with_parent_needs_a_parent_and_no_calls_of_its_own() -> None:
    from pydantic import ValidationError

    from connectors.rest.spec import ResourceSpec

    with pytest.raises(ValidationError, match="erased_with_parent needs a parent"):
        ResourceSpec(name="booking", path="/bookings", personal_fields=["*"],
                     erased_with_parent=True)
    spec = ResourceSpec(name="booking", path="/bookings", parent="customer",
                        personal_fields=["*"], erased_with_parent=True)
    assert spec.erased_with_parent and not spec.erase
