"""The Fortnox connector: the customer register and the invoices that copy its personal data.

What each part relies on in Fortnox's documentation is in the module that does it:
:mod:`~connectors.fortnox.tokens` (OAuth and the rotating refresh token),
:mod:`~connectors.fortnox.lookup` (partial searches, list and full objects),
:mod:`~connectors.fortnox.paging` (``MetaInformation``), :mod:`~connectors.fortnox.errors` and
:mod:`~connectors.fortnox.erasure` (delete, or anonymise a customer invoices refer to). This
module sends the requests: 25 per 5 seconds per access token
(https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api) through
the shared HTTP policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, cast

import httpx

from connectors.fortnox.erasure import (
    ACCOUNTING_RECORD_TYPES,
    anonymise_customer,
    default_anonymise_fields,
    delete_customer,
    refuse_accounting_record,
)
from connectors.fortnox.errors import error_detail, json_or_none
from connectors.fortnox.labels import LABELS
from connectors.fortnox.lookup import (
    PHONE_NOTE,
    PHONE_STYLES,
    SEARCHES,
    Match,
    customer_identifiers,
    customer_record,
    gather_all,
    invoice_record,
    match_customer,
    phone_spellings,
    phone_style,
    unique,
)
from connectors.fortnox.paging import MetaInformationPaginator
from connectors.fortnox.settings import FortnoxSettings
from connectors.fortnox.tokens import FortnoxAuth
from connectors.sdk.base import (
    Capability,
    Connector,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    PaymentFields,
    api_root,
)
from connectors.sdk.paginators import Page, PageRequest, walk
from connectors.sdk.paths import path_segment
from connectors.sdk.rectify import address_of
from connectors.sdk.storage import KeyValueStore, MemoryStore
from hub.core.errors import ConnectorError, CredentialsRejected, ProtocolError, as_connector_error
from hub.core.logs import register_secret
from hub.core.models import Record
from hub.core.subject import Identifier, Subject
from hub.http import raise_for_response, read_json


class FortnoxConnector(Connector):
    name = "fortnox"
    title = "Fortnox"
    docs_url = "https://api.fortnox.se/apidocs"
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE, Capability.RECTIFY})
    rectifiable_records = frozenset({"customer"})
    booked_records = ACCOUNTING_RECORD_TYPES
    rectify_fields: Mapping[str, str] = MappingProxyType({
        "name": "Name", "email": "Email", "phone": "Phone1", "address.street": "Address1",
        "address.postal_code": "ZipCode", "address.city": "City",
        "address.country": "CountryCode"})
    settings_model = FortnoxSettings
    searchable_identifiers = frozenset({"email", "personnummer", "phone"})
    init_options = frozenset({"state"})
    labels = LABELS
    #: an invoice's date and total (kronor, apidocs: Invoice) tell a till receipt paying it
    payment_records: ClassVar[Mapping[str, PaymentFields]] = {
        "invoice": PaymentFields("InvoiceDate", "Total", "Currency", "invoice")}

    def __init__(
        self,
        settings: FortnoxSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        state: KeyValueStore | None = None,
    ) -> None:
        """``state`` is the hub's durable store for the rotating refresh token (see
        :mod:`connectors.fortnox.tokens`); without one, tokens live in this process only."""
        super().__init__(settings, transport=transport)
        self.settings: FortnoxSettings = settings
        api = api_root(settings.base_url, "/3")
        token_url = httpx.URL(api).join(settings.token_url)
        token_client = self.http_client(str(token_url.copy_with(path="/", query=None)))
        store = state if state is not None else MemoryStore()
        self.auth = FortnoxAuth(settings, token_url, token_client, store)
        self._api = self.http_client(api, auth=self.auth)
        self._reported: set[str] = set()  # customer numbers already reported in this request
        #: what each (filter, spelling in lower case) listed in this request: identifiers found
        #: in Fortnox's own records come back in the widening round, and a filter matches
        #: ``ILIKE '%value%'``, so a spelling containing one already listed can only list a
        #: part of that answer (re-matched locally instead of asked again)
        self._listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: how this register writes phone numbers, learned from the customers read
        #: (:func:`~connectors.fortnox.lookup.phone_style`), and the numbers as stored
        self._phone_styles: dict[str, None] = {}
        #: invoice lists by the ``customernumber`` filter they were asked with, this request
        self._invoices_by_filter: dict[str, list[dict[str, Any]]] = {}
        self._stored_phones: dict[str, None] = {}

    # -- HTTP ------------------------------------------------------------------------------

    def _raise(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise CredentialsRejected(
                f"Fortnox refused a freshly issued access token (HTTP {response.status_code}: "
                f"{error_detail(json_or_none(response)) or 'no detail'}); check that the "
                "integration has the customer and invoice scopes and an API licence, or "
                "re-authorise Fortnox", status_code=response.status_code)
        raise_for_response(response, self.title, error_detail)

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._object(await self._api.get(path, params=params), path)

    def _object(self, response: httpx.Response, path: str) -> dict[str, Any]:
        self._raise(response)
        body = read_json(response, self.title)
        if not isinstance(body, dict):
            raise ProtocolError(f"Fortnox answered {path} with JSON that is not an object")
        return body

    async def _get_object(self, path: str, key: str) -> dict[str, Any] | None:
        """One object (``{"Customer": {...}}``), or None when it no longer exists."""
        response = await self._api.get(path)
        if response.status_code == 404:
            return None
        self._raise(response)
        body = read_json(response, self.title)
        obj = body.get(key) if isinstance(body, dict) else None
        if not isinstance(obj, dict):
            raise ProtocolError(f"Fortnox answered {path} without a {key} object")
        return obj

    async def _pages(self, path: str, key: str, params: dict[str, str]
                     ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list, following ``MetaInformation`` pages; refuses to loop."""

        async def fetch(request: PageRequest) -> Page[Any]:
            query = {**params, "limit": self.settings.page_size, **request.params}
            response = await self._api.get(path, params=query)
            body = self._object(response, path)
            items = body.get(key)
            if not isinstance(items, list):
                raise ProtocolError(f"Fortnox answered {path} without a {key} list")
            return Page(request, response, body, items)

        async for page in walk(MetaInformationPaginator(self.settings.page_size), fetch):
            for item in page.items:
                if isinstance(item, dict):
                    yield item

    # -- customers and their invoices -------------------------------------------------------

    async def _search(self, subject: Subject, kind: str, values: list[str]) -> dict[str, Match]:
        search = SEARCHES[kind]
        spellings, known = [], []
        for spelling in unique(s for value in values for s in self._spellings(kind, value)):
            covering = [items for (parameter, listed), items in self._listed.items()
                        if parameter == search.parameter and listed in spelling.lower()]
            if covering:
                known += [item for items in covering for item in items]
            else:
                spellings.append(spelling)
        if kind != "email":
            for spelling in spellings:
                register_secret(spelling, kind)  # keep it out of logged URLs
        listed = await gather_all(*(
            self._collect("customers", "Customers", {search.parameter: spelling})
            for spelling in spellings))
        for spelling, batch in zip(spellings, listed, strict=True):
            self._listed[(search.parameter, spelling.lower())] = batch
        matches: dict[str, Match] = {}
        for item in [*(item for batch in listed for item in batch), *known]:
            self._learn_phones(item)
            number = str(item.get("CustomerNumber") or "")
            if number and number not in self._reported and number not in matches:
                match = match_customer(subject, kind, item)
                if match is not None:
                    matches[number] = match
        return matches

    def _spellings(self, kind: str, value: str) -> list[str]:
        """The spellings to list customers by. A phone number is searched only in the
        spellings this register was seen to store numbers in (the number as stored, and the
        styles of the customers read so far), not in every common spelling: each spelling is
        one request. Before any phone was seen, the common spellings are all searched."""
        if kind != "phone":
            return SEARCHES[kind].spellings(value)
        stored = [raw for raw in self._stored_phones
                  if phone_spellings(raw, ("e164",)) == phone_spellings(value, ("e164",))]
        # in PHONE_STYLES order, not the order the customers happened to be read in
        learned = [style for style in PHONE_STYLES if style in self._phone_styles]
        return stored + phone_spellings(value, learned or PHONE_STYLES)

    def _learn_phones(self, customer: dict[str, Any]) -> None:
        for name in ("Phone", "Phone1", "Phone2"):
            raw = customer.get(name)
            if isinstance(raw, str) and raw.strip():
                style = phone_style(raw)
                if style is None:  # a spelling of its own: searched as stored
                    self._stored_phones.setdefault(raw.strip(), None)
                else:
                    self._phone_styles.setdefault(style, None)

    async def _collect(self, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [item async for item in self._pages(path, key, params)]

    async def _invoice_details(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each invoice in full (its copies of address, phone and e-mail are only there), or
        the list item when details are switched off or the invoice vanished meanwhile."""
        if not self.settings.invoice_details:
            return listed
        full = await gather_all(*(
            self._get_object(
                f"invoices/{path_segment(i['DocumentNumber'], what='invoice number')}", "Invoice")
            for i in listed))
        return [detail or summary for detail, summary in zip(full, listed, strict=True)]

    async def _invoice_lists(self, numbers: list[str]) -> None:
        """List the invoices of ``numbers`` with as few requests as the partial filter allows:
        ``customernumber=1`` also lists customer 10's invoices, so a number containing one
        already listed (in this request) is not asked for again."""
        wanted: list[str] = []
        for number in sorted(numbers, key=len):
            if not any(listed in number for listed in [*self._invoices_by_filter, *wanted]):
                wanted.append(number)
        lists = await gather_all(*(
            self._collect("invoices", "Invoices", {"customernumber": number})
            for number in wanted))
        self._invoices_by_filter.update(zip(wanted, lists, strict=True))

    def _invoices_of(self, number: str) -> list[dict[str, Any]]:
        """The customer's invoices among those listed; the filter is partial, so each listed
        invoice is checked to be this customer's."""
        found: dict[str, dict[str, Any]] = {}
        for listed, items in self._invoices_by_filter.items():
            if listed in number:
                for invoice in items:
                    if str(invoice.get("CustomerNumber")) == number and "DocumentNumber" in invoice:
                        found.setdefault(str(invoice["DocumentNumber"]), invoice)
        return list(found.values())

    async def _customer(self, number: str) -> dict[str, Any] | None:
        customer = await self._get_object(
            f"customers/{path_segment(number, what='customer number')}", "Customer")
        if customer is not None:
            customer.setdefault("CustomerNumber", number)
            self._learn_phones(customer)
        return customer

    async def _findings(self, matches: dict[str, Match]) -> Findings:
        self._reported.update(matches)
        numbers = list(matches)
        fetched = await gather_all(
            gather_all(*(self._customer(number) for number in numbers)),
            self._invoice_lists(numbers))
        customers = cast(list[dict[str, Any] | None], fetched[0])
        found = Findings()
        listed = {number: self._invoices_of(number)
                  for number, customer in zip(numbers, customers, strict=True)
                  if customer is not None}  # a customer deleted since it was listed is gone
        details = await self._invoice_details([i for items in listed.values() for i in items])
        invoices = iter(details)
        for number, customer in zip(numbers, customers, strict=True):
            if customer is None:
                continue
            match = matches[number]
            found.records.append(customer_record(customer, match))
            found.records += [invoice_record(next(invoices), match) for _ in listed[number]]
            found.identifiers += customer_identifiers(customer)
        found.identifiers = list(dict.fromkeys(found.identifiers))
        return found

    # -- the contract ----------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        matches = await self._search(subject, "email", subject.email_variants())
        return await self._findings(matches)

    async def find_by_identifiers(
        self, subject: Subject, identifiers: list[Identifier]
    ) -> Findings:
        matches: dict[str, Match] = {}
        for kind in SEARCHES:
            values = [i.value for i in identifiers if i.kind == kind]
            if values:
                hits = await self._search(subject, kind, values)
                matches.update({n: m for n, m in hits.items() if n not in matches})
        found = await self._findings(matches)
        if any(i.kind == "phone" for i in identifiers):
            found.note(PHONE_NOTE, "fortnox.phone_spellings")
        return found

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Delete or anonymise a customer; refuse invoices and vouchers (see
        :mod:`connectors.fortnox.erasure`). ``idempotency_key`` is not sent: Fortnox documents
        none, and PUT and DELETE are idempotent. ``fields`` defaults to
        :func:`~connectors.fortnox.erasure.default_anonymise_fields`."""
        if record.type in ACCOUNTING_RECORD_TYPES:
            return refuse_accounting_record(record, action)
        if record.type != "customer":
            raise ValueError(f"the Fortnox connector reports no {record.type!r} records to erase")
        try:
            if action is ErasureAction.DELETE:
                return await delete_customer(self._api, record.id, self._raise)
            return await anonymise_customer(self._api, record.id,
                                            tuple(fields) or default_anonymise_fields(),
                                            self._raise)
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, self.title)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))

    async def update(self, record_type: str, record_id: str, changes: Mapping[str, Any], *,
                     idempotency_key: str = "") -> ErasureOutcome:
        """Correct a customer: ``PUT /3/customers/{CustomerNumber}`` with a ``Customer`` body
        of ``Name``, ``Email``, ``Phone1``, ``Address1``, ``ZipCode``, ``City``,
        ``CountryCode`` (https://api.fortnox.se/apidocs#tag/fortnox_Customers). Invoices and
        vouchers are booked records (Bokföringslagen: a verifikation is never changed) and are
        refused. A PUT is idempotent; Fortnox documents no idempotency key."""
        if record_type in ACCOUNTING_RECORD_TYPES:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"Fortnox {record_type} {record_id} is a booked accounting record and is "
                "not changed (Bokföringslagen); it keeps the old data until its retention ends")
        if record_type != "customer":
            return ErasureOutcome(state=ErasureState.REFUSED,
                                  detail=f"Fortnox {record_type!r} records are not changed")
        names = {"name": "Name", "email": "Email", "phone": "Phone1"}
        body: dict[str, Any] = {names[k]: changes[k] for k in names if k in changes}
        parts = {"street": "Address1", "postal_code": "ZipCode", "city": "City",
                 "country": "CountryCode"}
        body.update({parts[k]: v for k, v in address_of(changes).items()})
        try:
            path = f"customers/{path_segment(record_id, what='customer number')}"
            self._raise(await self._api.put(path, json={"Customer": body}))
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, self.title)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"Fortnox updated customer {record_id} ({', '.join(body)})")

    async def check_credentials(self) -> str:
        await self._get("customers", {"limit": 1})
        return "OAuth client and refresh token accepted (access token valid; listed customers)"

