"""Which Fortnox customers and invoices are the subject's, and what a report shows of them.

Fortnox keeps the controller's accounting (the processing inventory, row 3: legal obligation
under Bokföringslagen 1999:1078), so an access request must show every customer object of the
subject and every invoice addressed to them; ``InvoiceDate`` is kept because erasure computes
the 7 kap. 2 § retention end from it.

- https://www.fortnox.se/developer/guides-and-good-to-know/parameters — a search parameter is
  matched with ``ILIKE '%value%'``: **partial and case-insensitive**, so ``email=anna@example.se``
  also returns ``joanna@example.se``; only one resource-specific search parameter per request.
  Every candidate is therefore compared locally (:func:`match_customer`).
- https://api.fortnox.se/apidocs#tag/fortnox_Customers and the list examples at
  https://developer.fortnox.se/documentation/resources/customers/ and …/invoices/ — a customer
  *list item* carries only ``CustomerNumber, Name, Email, OrganisationNumber, Phone, Address1,
  Address2, ZipCode, City``; the full record (``GET /3/customers/{CustomerNumber}``: ``Type``
  PRIVATE/COMPANY, ``Phone1``, ``Phone2``, ``EmailInvoice``, delivery address, ``Comments``…) is
  fetched for each match. An invoice list item has ``DocumentNumber, CustomerNumber,
  CustomerName, InvoiceDate, DueDate, Total, Currency…``; the copies of address, phone and
  ``EmailInformation.EmailAddressTo`` are only in ``GET /3/invoices/{DocumentNumber}``.

Requests are few because the rate limit is per tenant (25 per 5 s): since a filter matches
``ILIKE '%value%'``, a spelling containing one already listed in the request is re-matched from
that answer instead of asked again, and ``customernumber=1`` lists customer 10's invoices too;
phone numbers are searched in the spellings the register was seen to store
(:func:`phone_style`), not in every common spelling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import phonenumbers

from connectors.sdk.base import personal_fields
from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject

T = TypeVar("T")

# The personal-data fields of the full objects (apidocs: Customer, Invoice).
CUSTOMER_FIELDS = (
    "CustomerNumber", "Type", "Name", "OrganisationNumber", "Email", "EmailInvoice",
    "EmailInvoiceCC", "EmailInvoiceBCC", "EmailOrder", "EmailOffer", "Phone1", "Phone2", "Fax",
    "Address1", "Address2", "ZipCode", "City", "Country", "CountryCode", "DeliveryName",
    "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity", "DeliveryCountry",
    "DeliveryPhone1", "DeliveryPhone2", "VisitingAddress", "VisitingZipCode", "VisitingCity",
    "YourReference", "OurReference", "ExternalReference", "WWW", "Comments", "Active",
)
INVOICE_FIELDS = (
    "DocumentNumber", "CustomerNumber", "CustomerName", "InvoiceDate", "DueDate", "Total",
    "Currency", "Balance", "Cancelled", "Booked", "OrganisationNumber", "Address1", "Address2",
    "ZipCode", "City", "Country", "Phone1", "Phone2", "YourReference", "DeliveryName",
    "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity", "DeliveryCountry",
    "EmailInformation", "Remarks", "Comments", "InvoiceRows",
)
EMAIL_INFORMATION_FIELDS = ("EmailAddressTo", "EmailAddressCC", "EmailAddressBCC")
INVOICE_ROW_FIELDS = ("Description", "DeliveredQuantity", "Price", "Total")


def email_spellings(address: str) -> list[str]:
    """The address, its untagged form, and ``local+`` (finds every +tag under the partial
    match Fortnox documents)."""
    local, _, domain = address.rpartition("@")
    untagged = local.split("+", 1)[0]
    return [address, f"{untagged}@{domain}", f"{untagged}+"]


def personnummer_spellings(value: str) -> list[str]:
    """``YYMMDD-NNNC`` and ``YYMMDDNNNC``: as substrings they also find the 12-digit forms."""
    short = value[2:] if len(value) == 13 else value
    return [short, short.replace("-", "")]


#: the spellings Swedish registers commonly hold, by name: E.164, national ("070-123 45 67"),
#: national digits only, international ("+46 70 123 45 67")
PHONE_STYLES = ("e164", "national", "digits", "international")


def _phone_styled(number: phonenumbers.PhoneNumber) -> dict[str, str]:
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return {
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "national": national,
        "digits": "".join(c for c in national if c.isdigit()),
        "international": phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    }


def phone_spellings(value: str, styles: Iterable[str] = PHONE_STYLES) -> list[str]:
    """Fortnox compares phone numbers as text: the number in the given spellings (by default
    all those Swedish registers commonly hold)."""
    try:
        number = phonenumbers.parse(value, "SE")
    except phonenumbers.NumberParseException:
        return [value]
    styled = _phone_styled(number)
    return [styled[style] for style in styles if style in styled]


def phone_style(stored: str) -> str | None:
    """Which of :data:`PHONE_STYLES` a phone number stored in Fortnox is written in (spaces
    and dashes as libphonenumber writes them), or None for a spelling of its own."""
    try:
        number = phonenumbers.parse(stored, "SE")
    except phonenumbers.NumberParseException:
        return None
    return next((style for style, text in _phone_styled(number).items()
                 if text == stored.strip()), None)


@dataclass(frozen=True)
class Search:
    """How one identifier kind is searched: the list filter, and the list-item fields compared
    locally (the filter is partial, so every candidate is checked)."""

    parameter: str
    fields: tuple[str, ...]
    spellings: Callable[[str], list[str]]


SEARCHES: dict[str, Search] = {
    "email": Search("email", ("Email",), email_spellings),
    "personnummer": Search("organisationnumber", ("OrganisationNumber",), personnummer_spellings),
    "phone": Search("phone", ("Phone", "Phone1", "Phone2"), phone_spellings),
}
PHONE_NOTE = ("Fortnox compares phone numbers as text: customers were searched for the spellings "
              "this register's customers are stored in (the common spellings when none was "
              "seen); one stored in an unusual spelling may have been missed.")


@dataclass(frozen=True)
class Match:
    matched_on: str
    strength: MatchStrength


def match_customer(subject: Subject, kind: str, item: dict[str, Any]) -> Match | None:
    """Whether a listed customer really is the subject's: never a merely similar value."""
    fields = [item.get(name) for name in SEARCHES[kind].fields]
    if kind == "email":
        order = list(MatchStrength)
        found = [s for value in fields if (s := subject.match_email(value)) is not None]
        return Match(kind, min(found, key=order.index)) if found else None
    for value in fields:
        identifier = subject.match_identifier(kind, value)
        if identifier is not None:
            strength = MatchStrength.EXACT if identifier.verified else MatchStrength.DERIVED
            return Match(kind, strength)
    return None


def customer_identifiers(customer: dict[str, Any]) -> list[Identifier]:
    """Identifiers in a customer record, for widening the lookup at other processors."""
    found = [Identifier.found("email", customer.get(name), "fortnox")
             for name in ("Email", "EmailInvoice")]
    found += [Identifier.found("phone", customer.get(name), "fortnox")
              for name in ("Phone1", "Phone2")]
    if customer.get("Type") != "COMPANY":  # a company's organisation number is no person's
        found.append(Identifier.found("personnummer", customer.get("OrganisationNumber"),
                                      "fortnox"))
    return list(dict.fromkeys(identifier for identifier in found if identifier is not None))


async def gather_all(*steps: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` that cancels (and waits for) the other steps when one fails, so no
    request outlives the failed lookup holding a token lock; the first error is raised as is."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def unique(values: Iterable[str]) -> list[str]:
    """Drop spellings that differ only in case: Fortnox's search ignores case. Lower-cased,
    not case-folded: ``straße`` and ``strasse`` are two searches."""
    kept: dict[str, str] = {}
    for value in values:
        kept.setdefault(value.lower(), value)
    return list(kept.values())


def customer_record(customer: dict[str, Any], match: Match) -> Record:
    return Record(type="customer", id=str(customer["CustomerNumber"]),
                  matched_on=match.matched_on, match_strength=match.strength,
                  data=personal_fields(customer, CUSTOMER_FIELDS))


def invoice_record(invoice: dict[str, Any], match: Match) -> Record:
    data = personal_fields(invoice, INVOICE_FIELDS)
    if isinstance(data.get("EmailInformation"), dict):
        data["EmailInformation"] = personal_fields(data["EmailInformation"],
                                                   EMAIL_INFORMATION_FIELDS)
    if isinstance(data.get("InvoiceRows"), list):
        data["InvoiceRows"] = [personal_fields(row, INVOICE_ROW_FIELDS)
                               for row in data["InvoiceRows"] if isinstance(row, dict)]
    data = {key: value for key, value in data.items() if value not in ({}, [])}
    return Record(type="invoice", id=str(invoice["DocumentNumber"]),
                  matched_on=match.matched_on, match_strength=match.strength, data=data)


