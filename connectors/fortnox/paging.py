"""Fortnox's list paging, as an SDK paginator.

The list examples at https://developer.fortnox.se/documentation/resources/customers/ and
…/invoices/ answer ``{"Customers": [...], "MetaInformation": {"@TotalResources",
"@TotalPages", "@CurrentPage"}}`` for ``page`` (from 1) and ``limit`` (1–500, default 100;
https://www.fortnox.se/developer/guides-and-good-to-know/parameters). The next page is asked for
while ``@CurrentPage`` < ``@TotalPages``; an answer for another page than the one asked for, or
a full page without ``MetaInformation``, is a protocol error rather than a guess.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import httpx

from connectors.fortnox.errors import as_int
from connectors.sdk.paginators import PageNumberOptions, PageNumberPaginator
from hub.core.errors import ProtocolError


class MetaInformationPaginator(PageNumberPaginator):
    """``?page=1,2,…`` until ``MetaInformation`` says the last page was read. The page size
    (``limit``) is the connector's own parameter; it is given here to recognise a short page."""

    def __init__(self, page_size: int) -> None:
        # A listing is as long as the account's register: no page cap, only the loop guard.
        super().__init__(PageNumberOptions(page_param="page", start=1, max_pages=None), "Fortnox")
        self.page_size = page_size

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        meta = body.get("MetaInformation") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        total, current = as_int(meta.get("@TotalPages")), as_int(meta.get("@CurrentPage"))
        if total is None or current is None:
            if count < self.page_size:
                return None
            raise ProtocolError("Fortnox answered a full page without MetaInformation; "
                                "cannot tell whether more pages follow")
        if current != self.page:
            raise ProtocolError(f"Fortnox answered page {current} when asked for page "
                                f"{self.page}; stopping rather than looping")
        return current + 1 if current < total else None
