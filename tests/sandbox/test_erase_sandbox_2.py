"""Erasure through the real Fortnox, booking and Zettle connectors against ``Sandbox()`` over
loopback HTTP: what each erase call changes in the fake, and how many mutating requests it sent.

Fortnox: a customer with invoices cannot be deleted (refused, anonymisation offered, one DELETE
sent); anonymising blanks the contact fields, sets the customer inactive and keeps name, address
and organisation number for the retained invoices; invoices are never touched; a customer
without invoices is deleted, and a second erase is already gone. Booking: the declared DELETE
removes the customer (and, as BokaMera documents, their bookings); a declared anonymising PUT
overwrites the personal fields. Zettle: a refusal with the manual request, and no request at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.fortnox import FortnoxConnector, FortnoxSettings, default_anonymise_fields
from connectors.rest import BookingConnector, BookingSettings
from connectors.sdk.base import ErasureAction, ErasureState
from connectors.zettle import ZettleConnector, ZettleSettings
from hub.core.models import Record
from hub.core.subject import Subject
from hub.http import HttpPolicy
from hub.sandbox import Sandbox
from hub.sandbox.booking_api import BookingServer
from hub.sandbox.fortnox_api import FortnoxServer
from hub.store.db import open_database
from hub.store.state import StateStore

ANNA = "anna.svensson@example.se"
MARIA = "maria.berg@example.se"
LARS = "lars.lindqvist@example.com"  # a Fortnox customer without invoices
MUTATING = frozenset({"PUT", "PATCH", "DELETE", "POST"})
KEY = "req-sandbox-2"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running
        for server in running.servers.values():
            assert server.internal_errors == []


@pytest.fixture
def policy() -> HttpPolicy:
    """Fortnox's documented 25 requests per 5 s, with quick retries."""
    return HttpPolicy(rate_limit_requests=25, rate_limit_seconds=5.0, max_attempts=4,
                      backoff_max_seconds=0.05, timeout_seconds=5)


def fortnox(sandbox: Sandbox, database_url: str, policy: HttpPolicy) -> FortnoxConnector:
    settings = FortnoxSettings.model_validate({
        "base_url": sandbox.base_urls["fortnox"], **sandbox.credentials["fortnox"],
        "http": policy, "invoice_details": False})
    state = StateStore(open_database(database_url))
    return FortnoxConnector(settings, state=state)


def booking(sandbox: Sandbox, **changes: Any) -> BookingConnector:
    """What ``--sandbox`` injects: base_url plus the declaration and key (SPEC.credentials)."""
    return BookingConnector(BookingSettings.model_validate({
        "base_url": sandbox.base_urls["booking"], **sandbox.credentials["booking"],
        **changes}))


def mutations(sandbox: Sandbox, name: str) -> list[tuple[str, str]]:
    """The mutating requests the fake received (the OAuth token POST is not one)."""
    return [(method, target) for method, target in sandbox.servers[name].request_log
            if method in MUTATING and "token" not in target]


def of_type(records: list[Record], kind: str) -> dict[str, Record]:
    return {r.id: r for r in records if r.type == kind}


# --------------------------------------------------------------------------- Fortnox
async def test_fortnox_customer_with_invoices_is_anonymised_after_the_refusal(
        sandbox: Sandbox, database_url: str, policy: HttpPolicy) -> None:
    server = sandbox.servers["fortnox"]
    assert isinstance(server, FortnoxServer)
    async with fortnox(sandbox, database_url, policy) as connector:
        found = await connector.find_subject(Subject.from_email(ANNA))
        customer = of_type(found.records, "customer")["1"]
        invoices = of_type(found.records, "invoice")

        refused = await connector.erase(customer, ErasureAction.DELETE,
                                        idempotency_key=f"{KEY}:c1:delete")
        assert refused.state is ErasureState.REFUSED
        assert refused.fallback is ErasureAction.ANONYMISE
        assert "används i fakturor" in refused.detail
        assert mutations(sandbox, "fortnox") == [("DELETE", "/3/customers/1")]  # sent once

        done = await connector.erase(customer, refused.fallback,
                                     idempotency_key=f"{KEY}:c1:anonymise",
                                     fields=default_anonymise_fields())
        assert done.state is ErasureState.DONE, done.detail

        for invoice in invoices.values():
            for action in ErasureAction:
                outcome = await connector.erase(invoice, action, idempotency_key=KEY)
                assert outcome.state is ErasureState.REFUSED
                assert "Bokföringslagen" in outcome.detail

        again = await connector.erase(customer, ErasureAction.ANONYMISE,
                                      idempotency_key=f"{KEY}:c1:anonymise")
        assert again.state is ErasureState.DONE  # a repeated PUT is harmless

    stored = server.state.customers["1"]
    assert all(stored[name] == "" for name in default_anonymise_fields())
    assert stored["Active"] is False
    assert (stored["Name"], stored["Address1"], stored["OrganisationNumber"]) == (
        customer.data["Name"], customer.data["Address1"], customer.data["OrganisationNumber"])
    assert sum(1 for i in server.state.invoices.values() if i["CustomerNumber"] == "1") == len(
        [i for i in invoices.values() if i.data["CustomerNumber"] == "1"]) > 0
    assert mutations(sandbox, "fortnox") == [
        ("DELETE", "/3/customers/1"), ("PUT", "/3/customers/1"), ("PUT", "/3/customers/1")]


async def test_fortnox_anonymised_customer_no_longer_matches_the_address(
        sandbox: Sandbox, database_url: str, policy: HttpPolicy) -> None:
    async with fortnox(sandbox, database_url, policy) as connector:
        before = await connector.find_subject(Subject.from_email(ANNA))
        customer = of_type(before.records, "customer")["1"]
        outcome = await connector.erase(customer, ErasureAction.ANONYMISE, idempotency_key=KEY)
        assert outcome.state is ErasureState.DONE
    async with fortnox(sandbox, database_url, policy) as connector:
        after = await connector.find_subject(Subject.from_email(ANNA))
    assert "1" not in of_type(after.records, "customer")
    assert "10" in of_type(after.records, "customer")  # her other customer was not touched


async def test_fortnox_customer_without_invoices_is_deleted_then_already_gone(
        sandbox: Sandbox, database_url: str, policy: HttpPolicy) -> None:
    server = sandbox.servers["fortnox"]
    assert isinstance(server, FortnoxServer)
    async with fortnox(sandbox, database_url, policy) as connector:
        found = await connector.find_subject(Subject.from_email(LARS))
        [customer] = found.records
        number = customer.id
        first = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
        second = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
        anonymise = await connector.erase(customer, ErasureAction.ANONYMISE,
                                          idempotency_key=KEY)
        assert (await connector.find_subject(Subject.from_email(LARS))).records == []
    assert first.state is ErasureState.DONE, first.detail
    assert second.state is ErasureState.ALREADY_GONE
    assert anonymise.state is ErasureState.ALREADY_GONE
    assert number not in server.state.customers
    assert mutations(sandbox, "fortnox") == [
        ("DELETE", f"/3/customers/{number}"), ("DELETE", f"/3/customers/{number}"),
        ("PUT", f"/3/customers/{number}")]


async def test_fortnox_down_mid_erasure_is_failed_and_resumable(
        sandbox: Sandbox, database_url: str, policy: HttpPolicy) -> None:
    server = sandbox.servers["fortnox"]
    assert isinstance(server, FortnoxServer)
    async with fortnox(sandbox, database_url, policy) as connector:
        [customer] = (await connector.find_subject(Subject.from_email(LARS))).records
        server.fail_mode = "500"
        failed = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
        server.fail_mode = None
        assert customer.id in server.state.customers
        resumed = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
    assert failed.state is ErasureState.FAILED and "re-run later" in failed.detail
    assert resumed.state is ErasureState.DONE and customer.id not in server.state.customers
    # the failing DELETE was retried within the policy's budget, then once more on resume
    assert len(mutations(sandbox, "fortnox")) == policy.max_attempts + 1


# --------------------------------------------------------------------------- booking
async def test_booking_customer_is_deleted_with_the_declared_call(sandbox: Sandbox) -> None:
    server = sandbox.servers["booking"]
    assert isinstance(server, BookingServer)
    async with booking(sandbox) as connector:
        found = await connector.find_subject(Subject.from_email(MARIA))
        [customer] = of_type(found.records, "customer").values()
        bookings = of_type(found.records, "booking")
        assert bookings
        first = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
        second = await connector.erase(customer, ErasureAction.DELETE, idempotency_key=KEY)
        booking_outcome = await connector.erase(next(iter(bookings.values())),
                                                ErasureAction.DELETE, idempotency_key=KEY)
        assert (await connector.find_subject(Subject.from_email(MARIA))).records == []
    assert first.state is ErasureState.DONE, first.detail
    assert second.state is ErasureState.ALREADY_GONE
    # the sandbox declaration says bookings go with their customer: nothing of their own sent
    assert booking_outcome.state is ErasureState.DONE
    assert "together with its customer" in booking_outcome.detail
    assert customer.id not in server.state.customers
    assert not any(b["CustomerId"] == customer.id for b in server.state.bookings.values())
    assert [m for m, _ in mutations(sandbox, "booking")] == ["DELETE", "DELETE"]


async def test_booking_customer_is_anonymised_with_a_declared_put(sandbox: Sandbox) -> None:
    server = sandbox.servers["booking"]
    assert isinstance(server, BookingServer)
    api = dict(sandbox.credentials["booking"]["api"])  # type: ignore[arg-type]
    resources = [dict(r) for r in api["resources"]]
    resources[0]["erase"] = [
        {"method": "PUT", "path": "/customers/{customer.Id}",
         "body": {"Firstname": "Anonymiserad", "Lastname": "", "Email": "", "Phone": "",
                  "PersonalIdentityNumber": "", "InvoiceAddress": None,
                  "SubscribedToNewsletter": False}},
        {"method": "DELETE", "path": "/customers/{customer.Id}"}]
    api["resources"] = resources
    count = len(server.state.customers)
    async with booking(sandbox, api=api) as connector:
        found = await connector.find_subject(Subject.from_email(ANNA))
        customers = of_type(found.records, "customer")
        exact = next(r for r in customers.values() if r.data["Email"] == ANNA)
        outcome = await connector.erase(exact, ErasureAction.ANONYMISE, idempotency_key=KEY)
        assert outcome.state is ErasureState.DONE, outcome.detail
        after = await connector.find_subject(Subject.from_email(ANNA))
    stored = server.state.customers[exact.id]
    assert (stored["Firstname"], stored["Email"], stored["Phone"],
            stored["PersonalIdentityNumber"], stored["InvoiceAddress"]) == (
        "Anonymiserad", "", "", "", None)
    assert exact.id not in of_type(after.records, "customer")
    assert len(server.state.customers) == count  # anonymised, not deleted
    assert [m for m, _ in mutations(sandbox, "booking")] == ["PUT"]


# --------------------------------------------------------------------------- Zettle
async def test_zettle_receipt_is_a_manual_request_and_nothing_is_sent(
        sandbox: Sandbox) -> None:
    settings = ZettleSettings.model_validate({
        "base_url": sandbox.base_urls["zettle"], **sandbox.credentials["zettle"]})
    server = sandbox.servers["zettle"]
    async with ZettleConnector(settings) as connector:
        [receipt] = (await connector.find_subject(Subject.from_email(MARIA))).records
        sent = len(server.request_log)
        outcomes = [await connector.erase(receipt, action, idempotency_key=KEY)
                    for action in ErasureAction]
    assert len(server.request_log) == sent  # read-only API: no request at all
    for outcome in outcomes:
        assert outcome.state is ErasureState.REFUSED and outcome.fallback is None
        assert f"receipt #{receipt.data['purchaseNumber']} of " \
               f"{receipt.data['timestamp'][:10]}" in outcome.detail
        assert "Zettle (PayPal) support" in outcome.detail
