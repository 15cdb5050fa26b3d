"""Erasing a Fortnox customer: delete it, or anonymise it when invoices refer to it.

- Invoices and vouchers are accounting records (räkenskapsinformation): kept under
  Bokföringslagen (SFS 1999:1078) 7 kap. 2 § and exempt from erasure (GDPR Art. 17(3)(b)). Any
  erase of one is ``REFUSED`` naming the law; the hub plans them as retained anyway.
- ``DELETE /3/customers/{CustomerNumber}`` (apidocs, Customers). The product refuses to delete a
  customer that invoices refer to; the answer is an ``ErrorInformation`` 400 whose code and
  wording are not documented publicly (the sandbox's are invented). So the refusal is
  recognised by the status and the envelope, never by a code: a 400 with ``ErrorInformation``
  that is not one of the documented codes meaning something else
  (:data:`~connectors.fortnox.errors.ERROR_CODES`) is that refusal, answered ``REFUSED`` with
  ``fallback = anonymise`` and Fortnox's own words quoted. A 4xx is never retried
  (:mod:`hub.http`), and the call is not repeated either.
- Anonymising is ``PUT /3/customers/{CustomerNumber}`` with ``{"Customer": {...}}`` (only the
  fields sent change): the fields to blank and ``"Active": false``. Which fields are writable:
  the Customer model of the API documentation as the client libraries transcribe it
  (softwerkab/fortnox-csharp-api-sdk ``Entities/Customer.cs`` marks only ``@url``, ``Country``,
  ``DeliveryCountry``, ``VisitingCountry``, ``VisitingCountryCode`` and ``Currency`` read-only;
  accodeing/fortnox-api ``models/customer.rb`` agrees for the countries), so every contact field
  is writable (:data:`ANONYMISABLE_FIELDS`). An empty value is written as ``""``: Fortnox answers
  unset text fields as ``""`` (the customer list example at developer.fortnox.se:
  ``"Address2": ""``, ``"OrganisationNumber": ""``; its 2015 data-type notice: "an empty string
  will be used"), and the client libraries drop ``null`` values from request bodies rather than
  send them (accodeing ``mappers/base/to_json.rb``), so ``null`` is no documented way to clear a
  field. The answer (the full customer) must show every blanked field empty (``""``, or ``null``
  which some answers use) and ``Active`` false, or the outcome is ``FAILED``.
- 404 on either call is ``ALREADY_GONE``. Fortnox documents no ``Idempotency-Key``; PUT and
  DELETE are idempotent by nature (a repeated DELETE answers 404 = already gone), so no key is
  sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import httpx

from connectors.fortnox.errors import deletion_refusal
from connectors.sdk.base import ErasureAction, ErasureOutcome, ErasureState
from connectors.sdk.paths import path_segment
from hub.core.errors import ProtocolError
from hub.core.models import Record
from hub.core.retention import BOKFORINGSLAGEN_BASIS, default_policy
from hub.http import read_json

#: raises the connector's error for an answer that is not a success (see the connector)
Check = Callable[[httpx.Response], None]

#: Accounting records (räkenskapsinformation): never deleted or anonymised through the API.
ACCOUNTING_RECORD_TYPES = frozenset({"invoice", "voucher"})
#: Writable free-text Customer fields that may hold personal data, i.e. what an anonymising PUT
#: may blank (apidocs Customer; read-only per the client libraries: @url, Country,
#: DeliveryCountry, VisitingCountry, VisitingCountryCode, Currency). CustomerNumber (the key),
#: Type, Active, codes and the country fields are not free text and are never blanked.
ANONYMISABLE_FIELDS = frozenset({
    "Name", "OrganisationNumber", "Email", "EmailInvoice", "EmailInvoiceCC", "EmailInvoiceBCC",
    "EmailOrder", "EmailOrderCC", "EmailOrderBCC", "EmailOffer", "EmailOfferCC",
    "EmailOfferBCC", "Phone1", "Phone2", "Fax", "Address1", "Address2", "ZipCode", "City",
    "DeliveryName", "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity",
    "DeliveryPhone1", "DeliveryPhone2", "DeliveryFax", "VisitingAddress", "VisitingZipCode",
    "VisitingCity", "YourReference", "OurReference", "ExternalReference", "WWW", "Comments",
    "InvoiceRemark", "GLN", "GLNDelivery", "VATNumber",
})


@functools.cache
def default_anonymise_fields() -> tuple[str, ...]:
    """The customer fields the shipped retention policy blanks (hub/retention.py,
    ``[retention.processors.fortnox.customer] anonymise_fields``): e-mail, phone, fax, web and
    comment fields; name, address and organisation number stay for the retained invoices."""
    entry = default_policy().for_record("fortnox", "customer")
    return entry.anonymise_fields if entry is not None else ()


def refuse_accounting_record(record: Record, action: ErasureAction) -> ErasureOutcome:
    """Invoices and vouchers are kept by law; nothing is sent."""
    return ErasureOutcome(
        state=ErasureState.REFUSED,
        detail=f"Fortnox {record.type} {record.id} is an accounting record and is not "
               f"{'deleted' if action is ErasureAction.DELETE else 'anonymised'}: "
               f"{BOKFORINGSLAGEN_BASIS}")


async def delete_customer(api: httpx.AsyncClient, number: str, check: Check) -> ErasureOutcome:
    response = await api.delete(f"customers/{path_segment(number, what='customer number')}")
    if response.status_code == 404:
        return ErasureOutcome(state=ErasureState.ALREADY_GONE,
                              detail=f"Fortnox has no customer {number} any more (HTTP 404)")
    if response.is_success:
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"Fortnox deleted customer {number}")
    refusal = deletion_refusal(response)
    if refusal is not None:
        return ErasureOutcome(
            state=ErasureState.REFUSED, fallback=ErasureAction.ANONYMISE,
            detail=f"Fortnox refused to delete customer {number} (HTTP 400: {refusal}): a "
                   "customer that invoices refer to cannot be deleted, the invoices being "
                   "accounting records (Bokföringslagen SFS 1999:1078 7 kap. 2 §); "
                   "anonymise the customer instead")
    check(response)
    raise ProtocolError(f"Fortnox answered the deletion of customer {number} with HTTP "
                        f"{response.status_code}", status_code=response.status_code)


async def anonymise_customer(api: httpx.AsyncClient, number: str, fields: tuple[str, ...],
                             check: Check) -> ErasureOutcome:
    unknown = sorted(set(fields) - ANONYMISABLE_FIELDS)
    if unknown:
        return ErasureOutcome(
            state=ErasureState.FAILED,
            detail=f"cannot blank {', '.join(unknown)} of Fortnox customer {number}: not "
                   "writable free-text fields of a Fortnox customer; correct anonymise_fields "
                   "in [retention.processors.fortnox.customer] and resume the request")
    fields = tuple(dict.fromkeys(fields))
    body = {"Customer": {**dict.fromkeys(fields, ""), "Active": False}}
    response = await api.put(f"customers/{path_segment(number, what='customer number')}",
                             json=body)
    if response.status_code == 404:
        return ErasureOutcome(state=ErasureState.ALREADY_GONE,
                              detail=f"Fortnox has no customer {number} any more (HTTP 404)")
    check(response)
    answer = read_json(response, "Fortnox")
    customer = answer.get("Customer") if isinstance(answer, dict) else None
    if not isinstance(customer, dict):
        raise ProtocolError(f"Fortnox answered the update of customer {number} without a "
                            "Customer object")
    shown = [name for name in fields
             if name not in customer or customer[name] not in ("", None)]
    if customer.get("Active") is not False:
        shown.append("Active (not false)")
    if shown:
        return ErasureOutcome(
            state=ErasureState.FAILED,
            detail=f"Fortnox accepted the update of customer {number}, but its answer does "
                   f"not show these fields blanked: {', '.join(shown)}")
    blanked = ", ".join(fields) or "no fields"
    return ErasureOutcome(
        state=ErasureState.DONE,
        detail=f"Fortnox customer {number} anonymised: {blanked} blanked and set inactive; "
               "the fields the retained invoices need are kept (Bokföringslagen SFS "
               "1999:1078 7 kap. 2 §)")
