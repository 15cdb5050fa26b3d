"""Zettle receipts tied to the subject by payments found at other processors (same day and
amount, currency aware) and by the card (``panHash``) of a receipt already tied to them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import respx

from connectors.sdk.base import PaymentFields, PaymentHint, payment_hints
from connectors.zettle import ZettleConnector
from hub.core.models import Record
from hub.core.subject import MatchStrength, Subject
from tests.connectors.test_zettle import (  # the documented purchase shape and the fake pages
    ANNA,
    ANNA_PHONE,
    PURCHASES,
    anna_with,
    connector,  # noqa: F401  (fixture)
    purchase,
    serve,
    token_route,  # noqa: F401  (fixture)
)

INVOICE_16 = PaymentHint(datetime(2023, 10, 5).date(), Decimal("950"), "SEK",
                         "Fortnox invoice 16")


def card_receipt(n: int, *, day: str, amount: int = 95000, pan_hash: str | None = None,
                 comment: str | None = None, currency: str = "SEK") -> dict[str, Any]:
    receipt = purchase(n, day=day, comment=comment)
    receipt["amount"] = amount
    receipt["currency"] = currency
    if pan_hash is not None:
        receipt["payments"][0]["attributes"]["panHash"] = pan_hash
    return receipt


async def matched(zettle: ZettleConnector, subject: Subject, hints: list[PaymentHint]
                  ) -> tuple[dict[str, Record], list[str]]:
    async with zettle:
        await zettle.find_subject(Subject.from_email(ANNA))
        await zettle.find_by_identifiers(subject, [ANNA_PHONE])
        found = await zettle.find_by_payments(subject, hints)
    return {r.data["purchaseNumber"]: r for r in found.records}, found.notes


@pytest.mark.usefixtures("token_route")
async def test_same_day_and_amount_is_a_derived_match_with_its_reason(
        connector: ZettleConnector, respx_mock: respx.MockRouter) -> None:  # noqa: F811
    respx_mock.get(PURCHASES).mock(side_effect=serve([
        card_receipt(1, day="2023-10-05"), card_receipt(2, day="2023-10-06")]))
    subject, _ = anna_with(ANNA_PHONE)
    records, notes = await matched(connector, subject, [INVOICE_16])
    assert list(records) == [1]
    assert records[1].match_strength is MatchStrength.DERIVED
    assert records[1].matched_on == "payment"
    assert any("same day and amount as Fortnox invoice 16" in n and "#1 of 2023-10-05" in n
               for n in notes)


@pytest.mark.usefixtures("token_route")
@pytest.mark.parametrize("receipt", [
    card_receipt(1, day="2023-10-05", amount=95100),  # another amount
    card_receipt(1, day="2023-10-05", currency="EUR"),  # the same number in another currency
    card_receipt(1, day="2023-10-05", amount=-95000),  # a refund is no payment
    card_receipt(1, day="2023-10-04"),  # the day before
], ids=["other-amount", "other-currency", "refund", "other-day"])
async def test_no_match_unless_day_amount_and_currency_agree(
        connector: ZettleConnector, respx_mock: respx.MockRouter,  # noqa: F811
        receipt: dict[str, Any]) -> None:
    respx_mock.get(PURCHASES).mock(side_effect=serve([receipt]))
    subject, _ = anna_with(ANNA_PHONE)
    records, _ = await matched(connector, subject, [INVOICE_16])
    assert records == {}


@pytest.mark.usefixtures("token_route")
async def test_a_charge_instant_is_compared_on_the_tills_local_day(
        connector: ZettleConnector, respx_mock: respx.MockRouter) -> None:  # noqa: F811
    # 22:30 UTC on 4 October is 00:30 on 5 October in Stockholm (summer time)
    late = card_receipt(1, day="2023-10-04")
    late["timestamp"] = "2023-10-04T22:30:00.000+0000"
    respx_mock.get(PURCHASES).mock(side_effect=serve([late]))
    charge = PaymentHint(datetime(2023, 10, 4, 22, 10, tzinfo=UTC), Decimal("950.00"), "SEK",
                         "Stripe charge ch_1")
    subject, _ = anna_with(ANNA_PHONE)
    records, _ = await matched(connector, subject, [charge])
    assert list(records) == [1]


@pytest.mark.usefixtures("token_route")
async def test_receipts_paid_with_the_card_of_a_tied_receipt_are_derived_matches(
        connector: ZettleConnector, respx_mock: respx.MockRouter) -> None:  # noqa: F811
    respx_mock.get(PURCHASES).mock(side_effect=serve([
        card_receipt(1, day="2025-05-06", pan_hash="card-a", comment="sms:a 070-123 45 67"),
        card_receipt(2, day="2024-01-10", amount=40000, pan_hash="card-a"),  # same card
        card_receipt(3, day="2024-01-11", amount=40000, pan_hash="card-b"),  # another card
        card_receipt(4, day="2023-10-05", pan_hash="card-c"),  # by payment...
        card_receipt(5, day="2022-03-01", amount=12000, pan_hash="card-c"),  # ...then its card
        card_receipt(6, day="2022-03-02", amount=12000),  # no panHash: never linked
    ]))
    subject, _ = anna_with(ANNA_PHONE)
    records, notes = await matched(connector, subject, [INVOICE_16])
    assert sorted(records) == [2, 4, 5]  # receipt 1 was found by her phone in round two
    assert {n: r.matched_on for n, r in records.items()} == {2: "card", 4: "payment",
                                                             5: "card"}
    assert all(r.match_strength is MatchStrength.DERIVED for r in records.values())
    assert any("#2 of 2024-01-10" in n and "same card as receipt 1" in n for n in notes)
    assert any("#5 of 2022-03-01" in n and "same card as receipt 4" in n for n in notes)


@pytest.mark.usefixtures("token_route")
async def test_a_shared_masked_card_number_alone_links_nothing(
        connector: ZettleConnector, respx_mock: respx.MockRouter) -> None:  # noqa: F811
    respx_mock.get(PURCHASES).mock(side_effect=serve([
        card_receipt(1, day="2025-05-06", comment="sms:a 070-123 45 67"),
        card_receipt(2, day="2024-01-10", amount=40000),  # same maskedPan, no panHash
    ]))
    subject, _ = anna_with(ANNA_PHONE)
    records, _ = await matched(connector, subject, [INVOICE_16])
    assert records == {}


def test_payment_hints_are_read_through_each_connectors_declaration() -> None:
    invoice = Record(type="invoice", id="16", matched_on="email",
                     data={"InvoiceDate": "2023-10-05", "Total": 2400, "Currency": "SEK"})
    charge = Record(type="charge", id="ch_1", matched_on="email",
                    data={"created": "2023-10-05T12:00:00+00:00", "amount": 24900,
                          "currency": "sek"})
    broken = Record(type="invoice", id="17", matched_on="email",
                    data={"InvoiceDate": "not a date", "Total": 10, "Currency": "SEK"})
    customer = Record(type="customer", id="1", matched_on="email", data={"Name": "Anna"})
    fortnox = payment_hints("Fortnox", {"invoice": PaymentFields(
        "InvoiceDate", "Total", "Currency", "invoice")}, [invoice, broken, customer])
    stripe = payment_hints("Stripe", {"charge": PaymentFields(
        "created", "amount", "currency", "charge", minor_units=True)}, [charge])
    assert fortnox == [PaymentHint(datetime(2023, 10, 5).date(), Decimal(2400), "SEK",
                                   "Fortnox invoice 16")]
    assert stripe == [PaymentHint(datetime(2023, 10, 5, 12, tzinfo=UTC), Decimal("249.00"),
                                  "SEK", "Stripe charge ch_1")]
