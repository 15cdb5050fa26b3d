"""Retention policy as data: what erasure does to each kind of record, and until when a
record must be kept.

Erasure (GDPR Art. 17) does not apply "to the extent that processing is necessary for
compliance with a legal obligation" (Art. 17(3)(b)). For a Swedish business the obligation that
matters is Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting records (räkenskapsinformation)
are kept "until and including the seventh year after the end of the calendar year in which the
fiscal year ended". Deleting them is illegal; keeping everything else is a breach of Art. 17 and
of storage limitation (Art. 5(1)(e)). So the decision is made per record, from a policy that the
business declares in ``config/hub.toml`` (``[retention]``), never from code:

* ``delete`` / ``anonymise``: erase now (anonymise = blank the fields the law does not need);
* ``retain``: keep under a rule (``bokforingslagen``, a fixed period, or ``until_erasure``) and
  the record's own accounting date; when the hold has ended the record gets its ``after`` action;
* ``manual``: a person acts (systems without an API, or a processor that offers no erasure).

A record with no policy is never erased: :func:`decide` makes it a manual review.

Dates. ``retained_until`` is the **last day the record is kept** (inclusive);
:func:`erasable_from` is the day after. Timestamps are turned into accounting dates in Swedish
time (Europe/Stockholm): a payment at 23:30 UTC on 31 December is booked on 1 January in Sweden,
and so belongs to the next fiscal year.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Bokföringslagen 7 kap. 2 §: kept "until and including the seventh year" after the end of the
#: calendar year in which the fiscal year ended.
BOKFORINGSLAGEN_YEARS = 7
BOKFORINGSLAGEN_BASIS = (
    "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting records are kept until and including "
    "the seventh year after the end of the calendar year in which the fiscal year ended; exempt "
    "from erasure under GDPR Art. 17(3)(b)"
)
ACCOUNTING_TIMEZONE = "Europe/Stockholm"
#: Used for a record type or processor the policy does not mention: never erase by default.
WILDCARD = "*"


class ErasureAction(StrEnum):
    """What an erasure request does to one record (the plan's vocabulary, issue 5)."""

    DELETE = "delete"
    ANONYMISE = "anonymise"
    RETAIN = "retain"
    MANUAL = "manual"


class RetentionRule(StrEnum):
    """How long a retained record is kept."""

    BOKFORINGSLAGEN = "bokforingslagen"  # SFS 1999:1078 7 kap. 2 §, from the accounting date
    FIXED = "fixed"  # ``years`` and/or ``days`` counted from the record date
    UNTIL_ERASURE = "until_erasure"  # kept only until the subject asks for erasure


class FiscalYear(BaseModel):
    """The business's fiscal year (räkenskapsår), by its first day; default the calendar year.

    Bokföringslagen 3 kap. 1 § makes a fiscal year twelve calendar months, so ``start_day`` is
    normally 1 (a broken fiscal year such as 1 May – 30 April has ``start_month = 5``).
    The longer or shorter transition year when a business changes its fiscal year
    (3 kap. 3 §) is not modelled: it can only end later, so configure the new year's start
    only once the transition year is over.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_month: int = Field(1, ge=1, le=12)
    start_day: int = Field(1, ge=1, le=31)

    @model_validator(mode="after")
    def _real_day(self) -> FiscalYear:
        try:
            date(2001, self.start_month, self.start_day)  # 2001: no 29 February
        except ValueError:
            raise ValueError(
                f"fiscal year cannot start on month {self.start_month}, day {self.start_day}"
            ) from None
        return self

    def end_of_year_containing(self, day: date) -> date:
        """The last day of the fiscal year that ``day`` belongs to."""
        start_this_year = date(day.year, self.start_month, self.start_day)
        start = start_this_year if day >= start_this_year else start_this_year.replace(
            year=day.year - 1)
        next_start = start.replace(year=start.year + 1)
        return next_start - timedelta(days=1)


def bokforingslagen_retained_until(
    accounting_date: date, fiscal_year: FiscalYear | tuple[int, int] = (1, 1)
) -> date:
    """The last day a record dated ``accounting_date`` must be kept (inclusive).

    SFS 1999:1078 7 kap. 2 §: through 31 December of the seventh year after the calendar year
    in which the record's fiscal year ended. Invoice 2019-03-14, calendar fiscal year: the year
    ends 2019-12-31, so it is kept through 2026-12-31 (erasable from 2027-01-01). With a fiscal
    year starting 1 May, 2019-03-14 belongs to the year ending 2019-04-30 (also through
    2026-12-31) but 2019-05-02 to the year ending 2020-04-30 (through 2027-12-31).
    """
    if isinstance(fiscal_year, tuple):
        fiscal_year = FiscalYear(start_month=fiscal_year[0], start_day=fiscal_year[1])
    fiscal_year_end = fiscal_year.end_of_year_containing(accounting_date)
    return date(fiscal_year_end.year + BOKFORINGSLAGEN_YEARS, 12, 31)


def retained_until(
    accounting_date: date, fiscal_year_start: tuple[int, int] = (1, 1)
) -> date:
    """Bokföringslagen hold: the last day kept; see :func:`bokforingslagen_retained_until`."""
    return bokforingslagen_retained_until(accounting_date, fiscal_year_start)


def erasable_from(last_day_kept: date) -> date:
    """The first day a record held through ``last_day_kept`` may be erased."""
    return last_day_kept + timedelta(days=1)


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def accounting_date(
    value: Any, *, tz: str = ACCOUNTING_TIMEZONE, naive_tz: str = "UTC"
) -> date | None:
    """The accounting date of a record's date field, or None when it holds no date.

    Accepts what processors return: a ``date`` or ``YYYY-MM-DD`` string (Fortnox
    ``InvoiceDate``: already a Swedish calendar date, used as is), Unix seconds (Stripe
    ``created``), an aware ISO 8601 timestamp (Zettle ``timestamp``, Stripe dates as the
    connector reports them) or a naive one, read in ``naive_tz`` (MailerLite writes UTC).
    Timestamps are converted to ``tz`` first: the books follow Swedish calendar days.
    """
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(naive_tz))
    return moment.astimezone(ZoneInfo(tz)).date()


def _zone_name(value: str) -> str:
    """``value`` if it names an IANA time zone (a validation error otherwise)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def field_value(data: Mapping[str, Any], path: str) -> Any:
    """``data[path]``, where a dotted path reaches into nested objects
    (``status_transitions.finalized_at``)."""
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


class RecordPolicy(BaseModel):
    """The policy for one record type at one processor (``[retention.processors.P.TYPE]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ErasureAction
    legal_basis: str = Field(description="Why this action is lawful, in words for the report.")
    rule: RetentionRule | None = Field(None, description="For retain: how long.")
    years: int = Field(0, ge=0, description="For rule = fixed.")
    days: int = Field(0, ge=0, description="For rule = fixed.")
    date_field: str | tuple[str, ...] | None = Field(
        None, description="The record field holding its accounting date (dotted for nested); "
                          "with several, the latest date present counts.")
    naive_timezone: str = Field(
        "UTC", description="Zone of timestamps in date_field that carry no offset.")
    after: ErasureAction | None = Field(
        None, description="For retain: the action once the hold has ended.")
    after_legal_basis: str | None = None
    anonymise_fields: tuple[str, ...] = Field(
        (), description="For anonymise: the fields to blank (those the law does not require).")
    instructions: str | None = Field(None, description="For manual: what a person does.")
    future: RecordPolicy | None = Field(
        None, description="Policy for records whose date_field lies after today (e.g. upcoming "
                          "bookings), when they must be treated differently from past ones.")

    @field_validator("naive_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone_name(value)

    @property
    def date_fields(self) -> tuple[str, ...]:
        if self.date_field is None:
            return ()
        return (self.date_field,) if isinstance(self.date_field, str) else self.date_field

    def record_date(self, record_data: Mapping[str, Any], tz: str) -> date | None:
        """The record's accounting date: the latest of its date fields that holds a date.

        The latest, because a later date can only lengthen the hold: a Stripe invoice created
        on 31 December and finalised on 1 January is kept for the later fiscal year.
        """
        found = [accounting_date(field_value(record_data, name), tz=tz,
                                 naive_tz=self.naive_timezone) for name in self.date_fields]
        dates = [d for d in found if d is not None]
        return max(dates) if dates else None

    @model_validator(mode="after")
    def _consistent(self) -> RecordPolicy:
        if self.action is ErasureAction.RETAIN:
            if self.rule is None:
                raise ValueError("action 'retain' needs a rule")
            if self.rule is not RetentionRule.UNTIL_ERASURE and not self.date_field:
                raise ValueError(f"rule {self.rule.value!r} needs date_field")
            if self.rule is RetentionRule.FIXED and not (self.years or self.days):
                raise ValueError("rule 'fixed' needs years or days")
            if self.after in (None, ErasureAction.RETAIN):
                raise ValueError("action 'retain' needs after = delete, anonymise or manual")
        elif self.rule is not None or self.after is not None:
            raise ValueError("rule and after apply only to action 'retain'")
        if self.future is not None and not self.date_field:
            raise ValueError("a future policy needs date_field to tell past from future")
        return self


class RetentionPolicy(BaseModel):
    """The ``[retention]`` table: the fiscal year and a policy per processor and record type.

    ``processors[name][type]``; the record type ``"*"`` covers every type of that processor
    that has no entry of its own (systems handled by hand).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fiscal_year: FiscalYear = Field(default_factory=FiscalYear)
    timezone: str = Field(ACCOUNTING_TIMEZONE, description="Zone of the books' calendar days.")
    processors: dict[str, dict[str, RecordPolicy]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone_name(value)

    def for_record(self, processor: str, record_type: str) -> RecordPolicy | None:
        types = self.processors.get(processor) or {}
        return types.get(record_type) or types.get(WILDCARD)


class Decision(BaseModel):
    """What the plan does with one record, and why (the report's ``action`` / ``legal_basis``
    / ``retained_until``)."""

    model_config = ConfigDict(frozen=True)

    action: ErasureAction
    legal_basis: str
    retained_until: date | None = Field(
        None, description="For retain: the last day kept; erasable the day after.")
    note: str | None = Field(None, description="How the decision was reached, for the report.")
    anonymise_fields: tuple[str, ...] = ()
    instructions: str | None = None

    @property
    def erasable_from(self) -> date | None:
        return erasable_from(self.retained_until) if self.retained_until else None


def _hold_end(policy: RecordPolicy, record_date: date, fiscal_year: FiscalYear) -> date:
    if policy.rule is RetentionRule.BOKFORINGSLAGEN:
        return bokforingslagen_retained_until(record_date, fiscal_year)
    # A fixed period ends on the day it reaches (Regulation 1182/71 style counting).
    return add_years(record_date, policy.years) + timedelta(days=policy.days)


def decide(
    processor: str,
    record_type: str,
    record_data: Mapping[str, Any],
    policy: RetentionPolicy,
    today: date,
) -> Decision:
    """The erasure decision for one record found at ``processor``.

    Fails closed: without a policy, or when a retained record's accounting date cannot be
    read, the record is never erased; it becomes a manual review that names the problem.
    """
    entry = policy.for_record(processor, record_type)
    if entry is None:
        return Decision(
            action=ErasureAction.MANUAL,
            legal_basis="no retention policy for this record type: not erased automatically",
            note=f"add [retention.processors.{processor}.{record_type}] to the configuration",
        )
    record_date = entry.record_date(record_data, policy.timezone)
    if entry.future is not None and record_date is not None and record_date > today:
        return decide_with(entry.future, record_data, policy, today)
    return decide_with(entry, record_data, policy, today, record_date=record_date)


def decide_with(
    entry: RecordPolicy,
    record_data: Mapping[str, Any],
    policy: RetentionPolicy,
    today: date,
    *,
    record_date: date | None = None,
) -> Decision:
    """The decision under one known :class:`RecordPolicy` (see :func:`decide`)."""
    if entry.action is not ErasureAction.RETAIN:
        return Decision(action=entry.action, legal_basis=entry.legal_basis,
                        anonymise_fields=entry.anonymise_fields, instructions=entry.instructions)
    assert entry.after is not None  # guaranteed by RecordPolicy validation
    after_basis = entry.after_legal_basis or (
        "GDPR Art. 17(1)(a): the retention period has ended; the data is no longer necessary")
    if entry.rule is RetentionRule.UNTIL_ERASURE:
        return Decision(action=entry.after, legal_basis=after_basis,
                        note=f"kept until erasure ({entry.legal_basis})",
                        anonymise_fields=entry.anonymise_fields, instructions=entry.instructions)
    if record_date is None:
        record_date = entry.record_date(record_data, policy.timezone)
    if record_date is None:
        return Decision(
            action=ErasureAction.MANUAL,
            legal_basis=entry.legal_basis,
            note=f"retained, but its accounting date ({', '.join(entry.date_fields)}) is "
                 "missing or unreadable: set the end date by hand; never erase before it",
        )
    last_day = _hold_end(entry, record_date, policy.fiscal_year)
    if today <= last_day:
        return Decision(action=ErasureAction.RETAIN, legal_basis=entry.legal_basis,
                        retained_until=last_day,
                        note=f"accounting date {record_date.isoformat()}; erasable from "
                             f"{erasable_from(last_day).isoformat()}")
    return Decision(action=entry.after, legal_basis=after_basis,
                    note=f"retention under {entry.rule} ended {last_day.isoformat()} "
                         f"(accounting date {record_date.isoformat()})",
                    anonymise_fields=entry.anonymise_fields, instructions=entry.instructions)


def load_policy(toml_text: str) -> RetentionPolicy:
    """The policy in the ``[retention]`` table of a TOML document."""
    import tomllib

    return RetentionPolicy.model_validate(tomllib.loads(toml_text).get("retention", {}))


def default_policy() -> RetentionPolicy:
    """The first customer's policy (Självkraft, a coaching practice), the same text
    as the ``[retention]`` table of the shipped ``config/hub.toml``."""
    return load_policy(DEFAULT_RETENTION_TOML)


# The first customer's policy. Record types are those the connectors report; systems without a
# connector are keyed by their [[inventory]] key and handled by hand ("*").
DEFAULT_RETENTION_TOML = """\
# ----------------------------------------------------------------------------------------
# Retention policy: what an erasure request does to each kind of record (GDPR Art. 17), and
# how long accounting records are kept (Bokföringslagen SFS 1999:1078 7 kap. 2 §; exempt from
# erasure under GDPR Art. 17(3)(b)). One table per processor and record type:
#   action = "delete" | "anonymise" | "retain" | "manual"
#   retain: rule = "bokforingslagen" | "fixed" (years/days) | "until_erasure", date_field
#           (the record's accounting date; several: the latest counts), after = the action
#           once the hold has ended.
# A record type without an entry (and no "*" entry) is never erased: it becomes a manual review.
# ----------------------------------------------------------------------------------------
[retention]
timezone = "Europe/Stockholm"   # accounting dates are Swedish calendar days

[retention.fiscal_year]         # räkenskapsår; a broken year 1 May - 30 April: start_month = 5
start_month = 1
start_day = 1

# --- Stripe: the customer goes; payment records are accounting records -------------------
[retention.processors.stripe.customer]
action = "delete"
legal_basis = "GDPR Art. 17(1)(a): no law requires the customer object (the accounting records are the charges and invoices); deleting it also cancels subscriptions and removes payment methods"

[retention.processors.stripe.payment_method]
action = "delete"
legal_basis = "GDPR Art. 17(1)(a): removed together with the customer (Stripe deletes card details when the customer is deleted)"

[retention.processors.stripe.subscription]
action = "delete"
legal_basis = "GDPR Art. 17(1)(a): cancelled together with the customer (Stripe cancels subscriptions when the customer is deleted)"

[retention.processors.stripe.charge]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "created"
after = "anonymise"
after_legal_basis = "GDPR Art. 17(1)(a): the bookkeeping hold has ended; the personal data is redacted (Stripe privacy redaction job)"

[retention.processors.stripe.payment_intent]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "created"
after = "anonymise"
after_legal_basis = "GDPR Art. 17(1)(a): the bookkeeping hold has ended; the personal data is redacted (Stripe privacy redaction job)"

[retention.processors.stripe.invoice]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = ["created", "status_transitions.finalized_at", "status_transitions.paid_at"]
after = "anonymise"
after_legal_basis = "GDPR Art. 17(1)(a): the bookkeeping hold has ended; the personal data is redacted (Stripe privacy redaction job)"

[retention.processors.stripe.checkout_session]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: documents the web-shop sale; kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "created"
after = "anonymise"
after_legal_basis = "GDPR Art. 17(1)(a): the bookkeeping hold has ended; the personal data is redacted (Stripe privacy redaction job)"

# --- MailerLite: consent-based, nothing to keep ------------------------------------------
[retention.processors.mailerlite.subscriber]
action = "delete"
legal_basis = "GDPR Art. 17(1)(b) and Art. 7(3): consent withdrawn; erased with MailerLite's forget (completed within 30 days; a plain delete keeps the data and is not erasure); the address goes on the suppression list (Art. 21(3))"

# --- Fortnox: the books stay; contact data the law does not need goes ---------------------
[retention.processors.fortnox.customer]
action = "anonymise"
legal_basis = "GDPR Art. 17(1)(a) for the contact data the law does not require (e-mail, phone, notes); name, address and identity number stay because the retained invoices and vouchers refer to the customer (Bokföringslagen SFS 1999:1078 7 kap. 2 §, GDPR Art. 17(3)(b)); the customer is set inactive"
anonymise_fields = ["Email", "EmailInvoice", "EmailInvoiceCC", "EmailInvoiceBCC", "EmailOrder", "EmailOffer", "Phone1", "Phone2", "Fax", "DeliveryPhone1", "DeliveryPhone2", "WWW", "Comments"]

[retention.processors.fortnox.invoice]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "InvoiceDate"
after = "manual"
instructions = "Fortnox's API cannot delete a booked invoice: ask Fortnox support to remove the customer's personal data from invoices whose retention has ended, and record their answer."

[retention.processors.fortnox.voucher]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "TransactionDate"
after = "manual"
instructions = "Fortnox's API cannot delete a voucher: ask Fortnox support to remove the personal data from vouchers whose retention has ended, and record their answer."

# --- Zettle: receipts are accounting records; the API is read-only ------------------------
[retention.processors.zettle.purchase]
action = "retain"
legal_basis = "Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: the receipt is an accounting record kept through the seventh year after the end of the calendar year in which its fiscal year ended; GDPR Art. 17(3)(b)"
rule = "bokforingslagen"
date_field = "timestamp"
after = "manual"
instructions = "Zettle's Purchase API is read-only: ask Zettle (PayPal) support to erase the purchase's personal data, giving the purchase number, and record their answer."

# --- Booking system: the customer and upcoming bookings go; past bookings are anonymised ---
# Past bookings are not the accounting records (the receipts and invoices in Zettle and Fortnox
# are, and are retained there); anonymising keeps the booking history without personal data.
[retention.processors.booking.customer]
action = "delete"
legal_basis = "GDPR Art. 17(1)(a): the customer profile is not needed once the subject asks for erasure; the accounting records are kept in Zettle and Fortnox"

[retention.processors.booking.booking]
action = "anonymise"
legal_basis = "GDPR Art. 17(1)(a): a past booking is not an accounting record (the receipt or invoice is, and is retained at Zettle or Fortnox); it is anonymised so the booking history holds no personal data (Recital 26)"
date_field = "From"                  # the booking's start (BokaMera), Swedish local time
naive_timezone = "Europe/Stockholm"

[retention.processors.booking.booking.future]
action = "delete"
legal_basis = "GDPR Art. 17(1)(a): an upcoming booking is cancelled and deleted with the customer"

# --- Systems without an API: a person acts (keyed by the [[inventory]] key) ---------------
[retention.processors.paloma."*"]
action = "manual"
legal_basis = "GDPR Art. 17(1)(b) and Art. 7(3): consent withdrawn; no API configured, so the subscriber is removed by hand"

[retention.processors.website."*"]
action = "manual"
legal_basis = "GDPR Art. 17(1)(a): contact-form entries and web-shop orders are not needed any more (orders that are accounting records are kept in Stripe/Fortnox); no API, removed by hand"

[retention.processors.testimonials."*"]
action = "manual"
legal_basis = "GDPR Art. 17(1)(b) and Art. 7(3): consent to publish withdrawn; removed from the website by hand"

[retention.processors.journals."*"]
action = "manual"
legal_basis = "GDPR Art. 17(1)(a): paper journals are destroyed by hand after talking to the client: erasing them means future sessions cannot build on the history"

[retention.processors.client_register."*"]
action = "manual"
legal_basis = "GDPR Art. 17(1)(a): removed from the practice's own client register by hand"
"""  # noqa: E501 (TOML lines, pasted as is into config/hub.toml)
