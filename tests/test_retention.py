"""Retention policy: the Bokföringslagen date rule (SFS 1999:1078 7 kap. 2 §) and decisions."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.core.retention import (
    DEFAULT_RETENTION_TOML,
    Decision,
    ErasureAction,
    FiscalYear,
    RecordPolicy,
    RetentionPolicy,
    accounting_date,
    bokforingslagen_retained_until,
    decide,
    default_policy,
    erasable_from,
    load_policy,
    retained_until,
)

BROKEN = (5, 1)  # fiscal year 1 May - 30 April


@pytest.mark.parametrize(("accounting", "fiscal_start", "last_day"), [
    # The inventory's example: invoice 2019-03-14, calendar year -> kept through 2026-12-31.
    (date(2019, 3, 14), (1, 1), date(2026, 12, 31)),
    # Year ends: the last and first day of a calendar year fall in different fiscal years.
    (date(2019, 12, 31), (1, 1), date(2026, 12, 31)),
    (date(2020, 1, 1), (1, 1), date(2027, 12, 31)),
    (date(2019, 1, 1), (1, 1), date(2026, 12, 31)),
    # Leap day.
    (date(2020, 2, 29), (1, 1), date(2027, 12, 31)),
    # Broken fiscal year 1 May - 30 April.
    (date(2019, 3, 14), BROKEN, date(2026, 12, 31)),  # FY 2018-05-01 - 2019-04-30
    (date(2019, 4, 30), BROKEN, date(2026, 12, 31)),  # last day of that FY
    (date(2019, 5, 1), BROKEN, date(2027, 12, 31)),  # first day of FY ending 2020-04-30
    (date(2019, 5, 2), BROKEN, date(2027, 12, 31)),
    (date(2019, 12, 31), BROKEN, date(2027, 12, 31)),
    (date(2020, 1, 1), BROKEN, date(2027, 12, 31)),
    # A fiscal year ending on a leap day (1 March - end of February).
    (date(2020, 2, 29), (3, 1), date(2027, 12, 31)),
    (date(2019, 3, 1), (3, 1), date(2027, 12, 31)),  # FY 2019-03-01 - 2020-02-29
    (date(2019, 2, 28), (3, 1), date(2026, 12, 31)),
])
def test_bokforingslagen_date_rule(accounting: date, fiscal_start: tuple[int, int],
                                   last_day: date) -> None:
    assert retained_until(accounting, fiscal_start) == last_day
    assert erasable_from(last_day) == date(last_day.year + 1, 1, 1)


def test_retained_until_is_the_last_day_kept() -> None:
    last = retained_until(date(2019, 3, 14))
    assert last == date(2026, 12, 31)
    assert erasable_from(last) == date(2027, 1, 1)


@pytest.mark.parametrize(("start", "day", "end"), [
    ((1, 1), date(2019, 6, 1), date(2019, 12, 31)),
    ((5, 1), date(2019, 3, 14), date(2019, 4, 30)),
    ((5, 1), date(2019, 5, 2), date(2020, 4, 30)),
    ((3, 1), date(2019, 3, 1), date(2020, 2, 29)),
    ((3, 1), date(2020, 3, 1), date(2021, 2, 28)),
    ((7, 1), date(2024, 6, 30), date(2024, 6, 30)),
])
def test_fiscal_year_end(start: tuple[int, int], day: date, end: date) -> None:
    fiscal_year = FiscalYear(start_month=start[0], start_day=start[1])
    assert fiscal_year.end_of_year_containing(day) == end


def test_fiscal_year_rejects_impossible_start() -> None:
    with pytest.raises(ValidationError):
        FiscalYear(start_month=2, start_day=29)
    with pytest.raises(ValidationError):
        FiscalYear(start_month=13)


# -- accounting dates from timestamps: Swedish calendar days -----------------------------

NEW_YEARS_EVE_LATE_UTC = int(datetime(2019, 12, 31, 23, 30, tzinfo=UTC).timestamp())


def test_unix_timestamp_late_on_31_december_utc_is_1_january_in_sweden() -> None:
    assert accounting_date(NEW_YEARS_EVE_LATE_UTC) == date(2020, 1, 1)
    assert bokforingslagen_retained_until(accounting_date(NEW_YEARS_EVE_LATE_UTC)) == date(
        2027, 12, 31)
    # Earlier that evening it is still 31 December in Stockholm (UTC+1 in winter).
    assert accounting_date(NEW_YEARS_EVE_LATE_UTC - 3600) == date(2019, 12, 31)


@pytest.mark.parametrize(("value", "expected"), [
    ("2019-12-31T23:30:00+00:00", date(2020, 1, 1)),  # Stripe created, as the connector reports
    ("2019-12-31T23:30:00Z", date(2020, 1, 1)),
    ("2019-12-31T23:30:00.000+0000", date(2020, 1, 1)),  # Zettle timestamp
    ("2020-06-30T22:30:00+00:00", date(2020, 7, 1)),  # summer time, UTC+2
    ("2020-06-30T21:30:00+00:00", date(2020, 6, 30)),
    ("2019-12-31T23:30:00+01:00", date(2019, 12, 31)),  # already Swedish time
    ("2019-12-31", date(2019, 12, 31)),  # Fortnox InvoiceDate: a calendar date, used as is
    (date(2019, 12, 31), date(2019, 12, 31)),
    (datetime(2019, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))), date(2020, 1, 1)),
    ("2019-12-31 23:30:00", date(2020, 1, 1)),  # naive: read as UTC by default
    (None, None), ("", None), ("not a date", None), (True, None), ({"x": 1}, None),
])
def test_accounting_date(value: object, expected: date | None) -> None:
    assert accounting_date(value) == expected


def test_naive_timestamps_in_a_declared_zone() -> None:
    assert accounting_date("2019-12-31 23:30:00", naive_tz="Europe/Stockholm") == date(
        2019, 12, 31)


# -- decisions ------------------------------------------------------------------------

POLICY = default_policy()


def test_retained_record_keeps_its_end_date_through_the_last_day() -> None:
    charge = {"created": "2019-03-14T10:00:00+00:00"}
    on_last_day = decide("stripe", "charge", charge, POLICY, date(2026, 12, 31))
    assert on_last_day.action is ErasureAction.RETAIN
    assert on_last_day.retained_until == date(2026, 12, 31)
    assert on_last_day.erasable_from == date(2027, 1, 1)
    assert "1999:1078" in on_last_day.legal_basis and "17(3)(b)" in on_last_day.legal_basis


def test_record_whose_hold_has_ended_becomes_erasable() -> None:
    charge = {"created": "2019-03-14T10:00:00+00:00"}
    decision = decide("stripe", "charge", charge, POLICY, date(2027, 1, 1))
    assert decision.action is ErasureAction.ANONYMISE  # Stripe redaction job
    assert decision.retained_until is None
    assert "2026-12-31" in (decision.note or "")
    purchase = {"timestamp": "2019-03-14T10:00:00.000+0000"}
    after = decide("zettle", "purchase", purchase, POLICY, date(2027, 1, 1))
    assert after.action is ErasureAction.MANUAL and "Zettle" in (after.instructions or "")


def test_stripe_invoice_uses_the_latest_of_its_dates() -> None:
    """Created on 31 December, finalised on 1 January: kept for the later fiscal year."""
    invoice = {"created": "2019-12-31T12:00:00+00:00",
               "status_transitions": {"finalized_at": NEW_YEARS_EVE_LATE_UTC}}
    decision = decide("stripe", "invoice", invoice, POLICY, date(2024, 5, 1))
    assert decision.retained_until == date(2027, 12, 31)
    draft = decide("stripe", "invoice", {"created": "2019-12-31T12:00:00+00:00",
                                         "status_transitions": {"finalized_at": None}},
                   POLICY, date(2024, 5, 1))
    assert draft.retained_until == date(2026, 12, 31)


def test_broken_fiscal_year_from_configuration() -> None:
    policy = POLICY.model_copy(update={"fiscal_year": FiscalYear(start_month=5)})
    early = decide("fortnox", "invoice", {"InvoiceDate": "2019-03-14"}, policy, date(2024, 1, 1))
    late = decide("fortnox", "invoice", {"InvoiceDate": "2019-05-02"}, policy, date(2024, 1, 1))
    assert early.retained_until == date(2026, 12, 31)
    assert late.retained_until == date(2027, 12, 31)


def test_missing_accounting_date_is_never_erased() -> None:
    decision = decide("fortnox", "invoice", {"InvoiceDate": None}, POLICY, date(2040, 1, 1))
    assert decision.action is ErasureAction.MANUAL
    assert "InvoiceDate" in (decision.note or "")


def test_unknown_record_type_or_processor_is_a_manual_review() -> None:
    for processor, kind in (("stripe", "tax_id"), ("acme", "customer")):
        decision = decide(processor, kind, {}, POLICY, date(2024, 1, 1))
        assert decision.action is ErasureAction.MANUAL
        assert "no retention policy" in decision.legal_basis


@pytest.mark.parametrize(("processor", "kind", "action"), [
    ("stripe", "customer", ErasureAction.DELETE),
    ("stripe", "payment_method", ErasureAction.DELETE),
    ("stripe", "subscription", ErasureAction.DELETE),
    ("stripe", "payment_intent", ErasureAction.RETAIN),
    ("stripe", "checkout_session", ErasureAction.RETAIN),
    ("mailerlite", "subscriber", ErasureAction.DELETE),
    ("fortnox", "customer", ErasureAction.ANONYMISE),
    ("fortnox", "voucher", ErasureAction.RETAIN),
    ("zettle", "purchase", ErasureAction.RETAIN),
    ("booking", "customer", ErasureAction.DELETE),
    ("journals", "journal", ErasureAction.MANUAL),
    ("paloma", "subscriber", ErasureAction.MANUAL),
    ("website", "contact_form_entry", ErasureAction.MANUAL),
    ("testimonials", "testimonial", ErasureAction.MANUAL),
    ("client_register", "entry", ErasureAction.MANUAL),
])
def test_default_policy_of_the_first_customer(processor: str, kind: str,
                                              action: ErasureAction) -> None:
    record = {"created": "2024-03-14T10:00:00+00:00", "TransactionDate": "2024-03-14",
              "timestamp": "2024-03-14T10:00:00.000+0000"}
    decision = decide(processor, kind, record, POLICY, date(2024, 6, 1))
    assert decision.action is action
    assert decision.legal_basis
    assert (decision.retained_until is not None) == (action is ErasureAction.RETAIN)


def test_fortnox_customer_anonymises_contact_fields_only() -> None:
    decision = decide("fortnox", "customer", {}, POLICY, date(2024, 6, 1))
    assert {"Email", "Phone1", "Comments"} <= set(decision.anonymise_fields)
    assert not {"Name", "Address1", "OrganisationNumber"} & set(decision.anonymise_fields)


def test_booking_past_anonymised_future_deleted() -> None:
    today = date(2024, 6, 1)
    past = decide("booking", "booking", {"From": "2024-05-31T17:00:00"}, POLICY, today)
    future = decide("booking", "booking", {"From": "2024-06-02T09:00:00"}, POLICY, today)
    assert past.action is ErasureAction.ANONYMISE
    assert future.action is ErasureAction.DELETE


def test_fixed_period_and_until_erasure() -> None:
    policy = RetentionPolicy(processors={"crm": {
        "note": RecordPolicy(action=ErasureAction.RETAIN, legal_basis="contract", rule="fixed",
                             years=1, date_field="created", after=ErasureAction.DELETE),
        "profile": RecordPolicy(action=ErasureAction.RETAIN, legal_basis="until asked",
                                rule="until_erasure", after=ErasureAction.ANONYMISE),
    }})
    leap = decide("crm", "note", {"created": "2020-02-29"}, policy, date(2021, 2, 28))
    assert leap == Decision(action=ErasureAction.RETAIN, legal_basis="contract",
                            retained_until=date(2021, 2, 28), note=leap.note)
    assert decide("crm", "note", {"created": "2020-02-29"}, policy,
                  date(2021, 3, 1)).action is ErasureAction.DELETE
    assert decide("crm", "profile", {}, policy, date(2021, 3, 1)).action is (
        ErasureAction.ANONYMISE)


@pytest.mark.parametrize("bad", [
    {"action": "retain", "legal_basis": "x"},  # no rule
    {"action": "retain", "legal_basis": "x", "rule": "bokforingslagen", "after": "delete"},
    {"action": "retain", "legal_basis": "x", "rule": "bokforingslagen", "date_field": "d"},
    {"action": "retain", "legal_basis": "x", "rule": "fixed", "date_field": "d",
     "after": "delete"},  # no period
    {"action": "delete", "legal_basis": "x", "rule": "bokforingslagen"},
    {"action": "shred", "legal_basis": "x"},
    {"action": "delete", "legal_basis": "x", "typo": 1},
    {"action": "delete", "legal_basis": "x", "naive_timezone": "Mars/Olympus"},
])
def test_invalid_policies_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RecordPolicy.model_validate(bad)


def test_default_toml_is_a_valid_retention_table() -> None:
    document = tomllib.loads(DEFAULT_RETENTION_TOML)
    assert set(document) == {"retention"}
    policy = load_policy(DEFAULT_RETENTION_TOML)
    assert policy.fiscal_year == FiscalYear()
    assert policy.timezone == "Europe/Stockholm"


def test_shipped_configuration_matches_the_default_policy() -> None:
    """Once config/hub.toml carries the [retention] table it must say what the default says."""
    config = Path(__file__).resolve().parents[1] / "config" / "hub.toml"
    document = tomllib.loads(config.read_text(encoding="utf-8"))
    if "retention" not in document:
        pytest.skip("config/hub.toml has no [retention] table yet")
    assert RetentionPolicy.model_validate(document["retention"]) == default_policy()
