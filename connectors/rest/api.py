"""Reading a declared REST API: one listing with its pages, and a record's child listings.

This is the REST engine's only HTTP loop. Everything processor-specific comes from the
declaration (:mod:`connectors.rest.spec`); rate limits, retries and Retry-After come from the
shared transport (:mod:`hub.http`), and answers become typed errors through
``raise_for_response``/``read_json`` with the declared error-message path quoted.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.rest.spec import ApiDeclaration, ResourceSpec
from connectors.sdk.fields import MISSING, MissingField, dig, render_path, render_value
from connectors.sdk.paginators import PageRequest
from connectors.sdk.paths import UnsafePathSegment
from hub.core.errors import ProtocolError
from hub.http import raise_for_response, read_json

Raw = dict[str, Any]


class RestReader:
    """Lists the declared resources of one API through one HTTP client."""

    def __init__(self, client: httpx.AsyncClient, api: ApiDeclaration, processor: str) -> None:
        self.client = client
        self.api = api
        self.processor = processor

    async def search(self, resource: ResourceSpec, param: str, term: str) -> list[Raw]:
        """Candidates from the resource's search (possibly partial: the caller compares)."""
        return await self.fetch(resource, {}, {param: term})

    async def first_page(self, resource: ResourceSpec) -> list[Raw]:
        """One page of a top-level resource: a cheap authenticated read."""
        return await self.fetch(resource, {}, {}, max_pages=1)

    async def children(self, parent: ResourceSpec, record: Raw) -> list[tuple[ResourceSpec, Raw]]:
        """Every record of the resources declared under ``parent`` for this parent record,
        recursively (a customer's bookings, a booking's payments…)."""
        found: list[tuple[ResourceSpec, Raw]] = []
        for child in self.api.children_of(parent.name):
            for raw in await self.fetch(child, {parent.name: record}, {}):
                found.append((child, raw))
                found += await self.children(child, raw)
        return found

    async def fetch(self, resource: ResourceSpec, context: dict[str, Raw],
                    extra: dict[str, Any], max_pages: int | None = None) -> list[Raw]:
        """Every record of one listing: placeholders filled from ``context`` (the parent
        records by resource name), ``extra`` query parameters added, all pages followed."""
        try:
            path = render_path(resource.path, context)
            params = {**self.api.params, **render_value(dict(resource.params), context), **extra}
        except MissingField as missing:
            raise ProtocolError(f"{self.processor}: a {missing.source} record has no "
                                f"{missing.field!r} for the placeholder {missing} of resource "
                                f"{resource.name!r}") from None
        except UnsafePathSegment as unsafe:
            raise UnsafePathSegment(f"{self.processor}, resource {resource.name!r}: {unsafe}"
                                    ) from None
        paginator = (resource.paginator or self.api.paginator).build(self.processor)
        request: PageRequest | None = paginator.first_page()
        records: dict[str, Raw] = {}
        pages = 0
        while request is not None:
            if request.url is not None:
                self._same_origin(request.url)
                response = await self.client.get(request.url)
            else:
                response = await self.client.get(path, params={**params, **request.params})
            if response.status_code == 404 and not resource.is_root():
                break  # a parent without children of this kind (e.g. no GDPR log yet)
            raise_for_response(response, self.processor, self.api.error_detail)
            body = read_json(response, self.processor)
            page = self._records(body, resource)
            for raw in page:
                records.setdefault(self.record_id(raw, resource), raw)
            pages += 1
            if max_pages is not None and pages >= max_pages:
                break
            request = paginator.next_page(response, body, len(page))
        return list(records.values())

    def _records(self, body: Any, resource: ResourceSpec) -> list[Raw]:
        found = dig(body, resource.records_path, MISSING)
        if found is MISSING:
            raise ProtocolError(f"{self.processor}'s answer for {resource.name!r} has no "
                                f"{resource.records_path!r} (records_path)")
        if found is None:
            return []
        items = found if isinstance(found, list) else [found]
        if not all(isinstance(item, dict) for item in items):
            raise ProtocolError(f"{self.processor}'s answer for {resource.name!r} holds something "
                                f"other than records at {resource.records_path or 'the top'!r}")
        return items

    def record_id(self, raw: Raw, resource: ResourceSpec) -> str:
        value = dig(raw, resource.id_field)
        if value in (None, ""):
            raise ProtocolError(f"a {resource.name} record from {self.processor} has no "
                                f"{resource.id_field!r} (id_field)")
        return str(value)

    def _same_origin(self, url: str) -> None:
        """Never send our credentials to another host named in a Link header."""
        target, base = httpx.URL(url), self.client.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ProtocolError(f"{self.processor}'s next-page link leads to another host "
                                f"({target.host}); refusing to send credentials there")
