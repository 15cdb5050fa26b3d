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

from collections.abc import AsyncIterator, Sequence
from typing import Any

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
    SEARCHES,
    Match,
    customer_identifiers,
    customer_record,
    gather_all,
    invoice_record,
    match_customer,
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
    api_root,
)
from connectors.sdk.paginators import Page, PageRequest, walk
from connectors.sdk.paths import path_segment
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
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE})
    settings_model = FortnoxSettings
    searchable_identifiers = frozenset({"email", "personnummer", "phone"})
    init_options = frozenset({"state"})
    labels = LABELS

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
        spellings = unique(s for value in values for s in search.spellings(value))
        if kind != "email":
            for spelling in spellings:
                register_secret(spelling, kind)  # keep it out of logged URLs
        listed = await gather_all(*(
            self._collect("customers", "Customers", {search.parameter: spelling})
            for spelling in spellings))
        matches: dict[str, Match] = {}
        for item in (item for batch in listed for item in batch):
            number = str(item.get("CustomerNumber") or "")
            if number and number not in self._reported and number not in matches:
                match = match_customer(subject, kind, item)
                if match is not None:
                    matches[number] = match
        return matches

    async def _collect(self, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [item async for item in self._pages(path, key, params)]

    async def _invoices(self, number: str) -> list[dict[str, Any]]:
        """The customer's invoices; the filter is partial (``1`` also lists ``10``'s)."""
        listed = [invoice for invoice in await self._collect(
                      "invoices", "Invoices", {"customernumber": number})
                  if str(invoice.get("CustomerNumber")) == number and "DocumentNumber" in invoice]
        if not self.settings.invoice_details:
            return listed
        full = await gather_all(*(
            self._get_object(
                f"invoices/{path_segment(i['DocumentNumber'], what='invoice number')}", "Invoice")
            for i in listed))
        return [detail or summary for detail, summary in zip(full, listed, strict=True)]

    async def _customer_findings(self, number: str, match: Match) -> Findings:
        customer = await self._get_object(
            f"customers/{path_segment(number, what='customer number')}", "Customer")
        if customer is None:  # deleted since it was listed
            return Findings()
        customer.setdefault("CustomerNumber", number)
        invoices = await self._invoices(number)
        return Findings(
            records=[customer_record(customer, match)]
            + [invoice_record(invoice, match) for invoice in invoices],
            identifiers=customer_identifiers(customer))

    async def _findings(self, matches: dict[str, Match]) -> Findings:
        self._reported.update(matches)
        parts = await gather_all(*(
            self._customer_findings(number, match) for number, match in matches.items()))
        return Findings(records=[r for part in parts for r in part.records],
                        identifiers=list(dict.fromkeys(
                            i for part in parts for i in part.identifiers)))

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

    async def check_credentials(self) -> str:
        await self._get("customers", {"limit": 1})
        return "OAuth client and refresh token accepted (access token valid; listed customers)"

