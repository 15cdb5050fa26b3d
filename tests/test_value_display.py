"""Values in the subject's report read as a person writes them: money, dates and coded values
in words, not the processor's minor units, Unix seconds or status codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sdk.labels import RecordLabels
from hub.config.registry import discover
from hub.reports.labels import field_value

NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def shipped_configuration() -> Iterator[None]:
    discover()
    yield
    discover()


def plain(text: str) -> str:
    """Babel separates thousands and currency with (narrow) no-break spaces."""
    return text.replace(NBSP, " ").replace("\u202f", " ")


def test_stripe_amounts_times_and_statuses() -> None:
    charge = {"amount": 95000, "currency": "sek", "created": 1714980751, "status": "succeeded"}
    assert plain(field_value("stripe", "amount", 95000, charge, "sv")) == "950,00 kr"
    assert plain(field_value("stripe", "amount", 95000, charge, "en")) == "950.00 Swedish kronor"
    # 1714980751 is 2024-05-06 07:32:31 UTC, 09:32 in Stockholm (summer time)
    assert field_value("stripe", "created", 1714980751, charge, "sv") == "6 maj 2024 kl. 09:32"
    assert field_value("stripe", "created", 1714980751, charge, "en") == "6 May 2024, 09:32"
    assert field_value("stripe", "status", "succeeded", charge, "sv") == "genomförd"
    assert field_value("stripe", "payment_status", "paid", charge, "en") == "paid"


def test_the_currency_decides_the_minor_unit() -> None:
    yen = {"amount": 5000, "currency": "JPY"}
    assert "5,000" in plain(field_value("stripe", "amount", 5000, yen, "en"))
    assert "50.00" not in field_value("stripe", "amount", 5000, yen, "en")
    nameless = {"amount": 123456}
    assert plain(field_value("stripe", "amount", 123456, nameless, "sv")) == "1 234,56"


def test_zettle_receipt_values() -> None:
    receipt = {"amount": 95000, "currency": "SEK", "source": "POS"}
    assert plain(field_value("zettle", "amount", 95000, receipt, "sv")) == "950,00 kr"
    assert plain(field_value("zettle", "products.0.unitPrice", 47500, receipt, "sv")) \
        == "475,00 kr"
    assert field_value("zettle", "source", "POS", receipt, "sv") == "kassan"
    assert field_value("zettle", "payments.0.type", "IZETTLE_CARD", receipt, "sv") == "kort"
    # Zettle writes UTC with a +0000 offset: shown in Swedish local time
    assert field_value("zettle", "timestamp", "2025-05-06T08:12:31.402+0000", receipt,
                       "sv") == "6 maj 2025 kl. 10:12"


def test_dates_and_local_times_as_written_by_booking_systems() -> None:
    booking = {"From": "2023-09-18T09:00:00", "StatusName": "Booked"}
    # no offset: the booking system's own local time, shown as it is
    assert field_value("booking", "From", "2023-09-18T09:00:00", booking, "sv") \
        == "18 september 2023 kl. 09:00"
    assert field_value("booking", "StatusName", "Booked", booking, "sv") == "bokad"
    assert field_value("fortnox", "InvoiceDate", "2024-03-01", {}, "en") == "1 March 2024"


def test_the_persons_own_text_and_unknown_codes_stay_as_written() -> None:
    assert field_value("stripe", "status", "a status nobody declared", {}, "sv") \
        == "a status nobody declared"
    assert field_value("booking", "Comment", "Föredrar förmiddagar.", {}, "sv") \
        == "Föredrar förmiddagar."
    assert field_value("fortnox", "InvoiceDate", "2024-02-30", {}, "sv") == "2024-02-30"
    assert field_value("stripe", "amount", True, {}, "sv") == "ja"
    # a number in an undeclared field is not money
    assert field_value("stripe", "exp_year", 2031, {}, "sv") == "2031"


def test_declared_values_merge_and_match_like_fields() -> None:
    base = RecordLabels(values={"status": {"ok": {"sv": "klar", "en": "done"}}},
                        formats={"amount": "minor_units"})
    merged = base.merged({"values": {"state": {"Open": {"sv": "öppen", "en": "open"}}}})
    assert merged.value_text("items.0.status", "OK", "sv") == "klar"
    assert merged.value_text("state", "open", "en") == "open"
    assert merged.value_format("lines.0.amount") == "minor_units"
    assert merged.value_format("amount_due") is None
    with pytest.raises(ValueError):
        RecordLabels.model_validate({"formats": {"amount": "kronor"}})


def test_mailerlite_times_are_utc_without_saying_so() -> None:
    # "YYYY-MM-DD HH:MM:SS" in UTC: 10:00 UTC in January is 11:00 in Stockholm
    assert field_value("mailerlite", "subscribed_at", "2024-01-15 10:00:00", {}, "sv") \
        == "15 januari 2024 kl. 11:00"
    assert field_value("mailerlite", "status", "unsubscribed", {}, "sv") == "avanmäld"


@pytest.mark.parametrize(("processor", "path", "value"), [
    ("stripe", "created", 10**12),  # milliseconds where seconds are declared
    ("stripe", "created", 253402300800),  # year 10000
    ("stripe", "created", -10**12),
    ("stripe", "created", float("nan")),
    ("stripe", "created", float("inf")),
    ("stripe", "created", 1e20),
    ("stripe", "amount", 10**29),
    ("stripe", "amount", float("nan")),
    ("zettle", "amount", float("-inf")),
    ("mailerlite", "created_at", "9999-12-31 23:59:59"),
    ("mailerlite", "created_at", "0001-01-01T00:30:00+01:00"),
])
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_a_value_that_cannot_be_formatted_is_shown_as_written(
        processor: str, path: str, value: object, lang: str) -> None:
    record = {"currency": "SEK"}
    assert field_value(processor, path, value, record, lang) == str(value)
