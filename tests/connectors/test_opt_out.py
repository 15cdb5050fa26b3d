"""Telling a processor about withdrawn marketing consent (``record_opt_out``), against
respx-mocked documented answers: MailerLite's subscriber update and the REST engine's declared
``opt_out`` call (BokaMera's ``PUT /customers/{Id}`` with ``SubscribedToNewsletter = false``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import respx
from pydantic import SecretStr, ValidationError

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.rest import BookingConnector, BookingSettings
from connectors.sdk.consent import OptOutEvidence
from hub.config.consent import ConsentSettings
from hub.config.settings import load_settings
from hub.consent.propagate import resolve_destinations, supports_opt_out
from hub.core.errors import ConnectorError
from hub.core.subject import Subject
from hub.http import HttpPolicy
from tests.connectors.test_booking import BASE, customer, declaration, page
from tests.connectors.test_mailerlite import BASE as ML
from tests.connectors.test_mailerlite import TOKEN, subscriber

REPO = Path(__file__).resolve().parents[2]
ANNA = "anna.svensson@example.se"
EVIDENCE = OptOutEvidence(source="dsar-hub", status="unsubscribed", opted_out_at=None,
                          learned_at=datetime(2025, 3, 4, 10, 0, tzinfo=UTC), event_id=7)
OPT_OUT = {"method": "PUT", "path": "/customers/{customer.Id}",
           "body": {"SubscribedToNewsletter": False}}


def mailerlite(policy: HttpPolicy) -> MailerLiteConnector:
    return MailerLiteConnector(MailerLiteSettings(api_token=SecretStr(TOKEN), http=policy))


def booking(policy: HttpPolicy, opt_out: dict[str, Any] | None = OPT_OUT) -> BookingConnector:
    api = declaration()
    api["resources"][0]["personal_fields"].append("SubscribedToNewsletter")
    if opt_out is not None:
        api["resources"][0]["opt_out"] = opt_out
    return BookingConnector(BookingSettings.model_validate(
        {"base_url": BASE, "api_key": SecretStr("booking-test-key-123456"), "http": policy,
         "api": api}))


# --------------------------------------------------------------------------- MailerLite
@respx.mock
async def test_mailerlite_unsubscribes_an_active_subscriber(fast_policy: HttpPolicy) -> None:
    respx.get(f"{ML}/subscribers/{ANNA}").respond(200, json={"data": subscriber(ANNA)})
    put = respx.put(f"{ML}/subscribers/31897397363737859").respond(
        200, json={"data": subscriber(ANNA) | {"status": "unsubscribed"}})
    async with mailerlite(fast_policy) as connector:
        receipt = await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)
    assert put.call_count == 1
    assert json.loads(put.calls.last.request.content) == {"status": "unsubscribed"}
    assert put.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "unsubscribed subscriber 31897397363737859" in receipt


@pytest.mark.parametrize("status", ["unsubscribed", "junk", "bounced"])
@respx.mock
async def test_mailerlite_leaves_a_subscriber_not_sent_to(fast_policy: HttpPolicy,
                                                          status: str) -> None:
    respx.get(f"{ML}/subscribers/{ANNA}").respond(
        200, json={"data": subscriber(ANNA) | {"status": status}})
    put = respx.put(url__regex=rf"{ML}/subscribers/.*").respond(200, json={})
    async with mailerlite(fast_policy) as connector:
        receipt = await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)
    assert put.call_count == 0 and "already" in receipt


@respx.mock
async def test_mailerlite_unknown_address_is_a_success_and_creates_nobody(
        fast_policy: HttpPolicy) -> None:
    respx.get(f"{ML}/subscribers/{ANNA}").respond(404, json={"message": "Resource not found."})
    created = respx.post(f"{ML}/subscribers").respond(200, json={})
    async with mailerlite(fast_policy) as connector:
        receipt = await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)
    assert receipt == "not a subscriber in MailerLite" and created.call_count == 0


@respx.mock
async def test_mailerlite_refusal_raises_for_a_retry(fast_policy: HttpPolicy) -> None:
    respx.get(f"{ML}/subscribers/{ANNA}").respond(200, json={"data": subscriber(ANNA)})
    respx.put(f"{ML}/subscribers/31897397363737859").respond(
        422, json={"message": "The given data was invalid.", "errors": {"status": ["x"]}})
    async with mailerlite(fast_policy) as connector:
        with pytest.raises(ConnectorError):
            await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)


# --------------------------------------------------------------------------- REST engine
@respx.mock
async def test_declared_opt_out_clears_the_newsletter_flag(fast_policy: HttpPolicy) -> None:
    respx.get(f"{BASE}/customers").respond(200, json=page([
        customer("c1", ANNA, SubscribedToNewsletter=True)]))
    respx.get(f"{BASE}/bookings").respond(200, json=page([]))
    put = respx.put(f"{BASE}/customers/c1").respond(200, json={})
    async with booking(fast_policy) as connector:
        receipt = await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)
    assert put.call_count == 1
    assert json.loads(put.calls.last.request.content) == {"SubscribedToNewsletter": False}
    assert put.calls.last.request.headers["x-api-key"] == "booking-test-key-123456"
    assert "customer c1" in receipt


@respx.mock
async def test_declared_opt_out_sends_nothing_when_already_cleared(
        fast_policy: HttpPolicy) -> None:
    respx.get(f"{BASE}/customers").respond(200, json=page([
        customer("c1", ANNA, SubscribedToNewsletter=False)]))
    respx.get(f"{BASE}/bookings").respond(200, json=page([]))
    put = respx.put(url__regex=rf"{BASE}/customers/.*").respond(200, json={})
    async with booking(fast_policy) as connector:
        receipt = await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)
    assert put.call_count == 0 and "already" in receipt


@respx.mock
async def test_declared_opt_out_error_raises_with_the_processors_message(
        fast_policy: HttpPolicy) -> None:
    respx.get(f"{BASE}/customers").respond(200, json=page([customer("c1", ANNA)]))
    respx.get(f"{BASE}/bookings").respond(200, json=page([]))
    respx.put(f"{BASE}/customers/c1").respond(
        400, json={"ResponseStatus": {"ErrorCode": "x", "Message": "Kunden är låst"}})
    async with booking(fast_policy) as connector:
        with pytest.raises(ConnectorError, match="Kunden är låst"):
            await connector.record_opt_out(Subject.from_email(ANNA), EVIDENCE)


def test_opt_out_may_only_use_the_records_id() -> None:
    api = declaration()
    api["resources"][0]["opt_out"] = OPT_OUT | {"path": "/customers/{customer.Email}"}
    with pytest.raises(ValidationError, match="opt_out uses"):
        BookingSettings.model_validate({"base_url": BASE, "api": api})


def test_only_a_declaration_with_opt_out_is_a_destination(fast_policy: HttpPolicy) -> None:
    declared = booking(fast_policy).settings
    plain = booking(fast_policy, opt_out=None).settings
    assert supports_opt_out(BookingConnector, declared)
    assert not supports_opt_out(BookingConnector, plain)
    assert supports_opt_out(MailerLiteConnector)


@pytest.mark.parametrize("path, expected", [
    (REPO / "config" / "booking-bokamera.toml", True),
    (REPO / "hub" / "sandbox" / "booking-declaration.toml", True),
    (REPO / "config" / "hub.toml", False),  # Qlickboka: an export, nothing to tell
], ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_shipped_configurations(path: Path, expected: bool) -> None:
    loaded = load_settings({"booking": BookingConnector}, path)
    assert supports_opt_out(BookingConnector, loaded.processor("booking")) is expected
    if expected:
        resource = loaded.processor("booking").api.resource("customer")  # type: ignore[attr-defined]
        assert resource.opt_out.body == {"SubscribedToNewsletter": False}
        assert resource.opt_out.method == "PUT"


def test_booking_with_opt_out_is_resolved_as_destination() -> None:
    from hub.config.settings import with_processor_overrides
    from hub.sandbox.booking_api import SPEC

    connectors = {"booking": BookingConnector}
    loaded = load_settings(connectors, REPO / "config" / "hub.toml")
    exported, _ = resolve_destinations(loaded, connectors, ConsentSettings())
    assert "booking" not in {d.key for d in exported}
    sandboxed = with_processor_overrides(
        loaded, "booking", {"base_url": "http://127.0.0.1:9", **SPEC.credentials})
    destinations, _ = resolve_destinations(sandboxed, connectors, ConsentSettings())
    [booked] = [d for d in destinations if d.key == "booking"]
    assert booked.connector == "booking" and not booked.manual
