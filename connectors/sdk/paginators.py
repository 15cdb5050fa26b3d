"""Paginators: tiny classes that only know how to find the next page, registered by name.

After singer-sdk's ``singer_sdk/pagination.py`` and dlt's ``rest_client/paginators.py``: a
declaration names its paging style (``type = "offset"``) and the options of that style; each
class turns one answer into the token of the next page, or None at the end. The base class
refuses a loop (a token seen before means the server points back to a page already read) and
a runaway (``max_pages``), so a misbehaving API can never keep a request busy forever.

Styles: ``single`` (no paging), ``page_number`` (``page=1,2,…``, e.g. Fortnox), ``offset``
(skip/take, e.g. BokaMera's ``Skip``/``Take`` with ``Total``), ``cursor`` (an opaque token in
the body, e.g. MailerLite's ``meta.next_cursor`` or Zettle's ``lastPurchaseHash``) and
``link_header`` (RFC 8288 ``Link: <…>; rel="next"``).

Hand-written connectors use the same classes (subclassing one where the API has a rule of its
own) and :func:`walk` for the loop, so every listing in the project ends the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.sdk.fields import dig
from hub.core.errors import ProtocolError

Params = dict[str, str | int]
T = TypeVar("T")


class PaginatorOptions(BaseModel):
    """Options every paging style has; each style adds its own (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_pages: int | None = Field(
        1000, ge=1, description="Give up (ProtocolError) after this many; None: no limit (for a "
        "connector whose listing is as long as the account's data, e.g. every subscriber).")


@dataclass(frozen=True)
class PageRequest:
    """How to ask for a page: extra query parameters, or a whole URL given by the server."""

    params: Params = field(default_factory=dict)
    url: str | None = None


class Paginator(ABC):
    """Finds the next page of one listing; a new instance per listing."""

    name: ClassVar[str]
    Options: ClassVar[type[PaginatorOptions]] = PaginatorOptions

    def __init__(
        self, options: PaginatorOptions, processor: str, *, loop_message: str | None = None
    ) -> None:
        self.options = options
        self.processor = processor
        #: the words of the refusal to loop, when the processor's own are clearer
        self.loop_message = loop_message
        self._seen: set[Hashable] = set()
        self._pages = 1

    def first_page(self) -> PageRequest:
        return PageRequest(params=self.first_params())

    def start_at(self, token: Hashable) -> PageRequest:
        """Resume a listing at the page ``token`` names (e.g. a cursor a previous run stored);
        the server pointing back to it later is a loop like any other."""
        self._seen.add(token)
        return self.request_for(token)

    def first_params(self) -> Params:
        return {}

    def next_page(self, response: httpx.Response, body: Any, count: int) -> PageRequest | None:
        """The request for the page after ``response`` (which held ``count`` records)."""
        token = self.next_token(response, body, count)
        if token is None:
            return None
        if token in self._seen:
            raise ProtocolError(self.loop_message or f"{self.processor}'s paging ({self.name}) "
                                "pointed back to a page already read; refusing to loop")
        self._seen.add(token)
        self._pages += 1
        if self.options.max_pages is not None and self._pages > self.options.max_pages:
            raise ProtocolError(f"{self.processor} kept returning more pages than max_pages "
                                f"({self.options.max_pages}); refusing to continue")
        return self.request_for(token)

    @abstractmethod
    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        """The token of the next page, or None when ``response`` was the last one."""

    @abstractmethod
    def request_for(self, token: Any) -> PageRequest:
        """The request that fetches the page identified by ``token``."""

    def _number(self, body: Any, path: str) -> int:
        value = dig(body, path)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ProtocolError(f"{self.processor}'s answer has no number at {path!r} "
                                f"(declared for {self.name} paging)")
        try:
            return int(value)
        except ValueError:
            raise ProtocolError(f"{self.processor}'s answer has no number at {path!r}") from None


PAGINATORS: dict[str, type[Paginator]] = {}


def register_paginator(cls: type[Paginator]) -> type[Paginator]:
    """Make a paging style available to declarations under ``cls.name``."""
    PAGINATORS[cls.name] = cls
    return cls


def _with_size(params: Params, name: str | None, size: int | None) -> Params:
    return {**params, name: size} if name and size else params


def _both_or_neither(param: str | None, size: int | None, what: str) -> None:
    if (param is None) != (size is None):
        raise ValueError(f"give both {what}_param and {what}, or neither")


@register_paginator
class SinglePage(Paginator):
    """Everything arrives in one answer."""

    name = "single"

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        return None

    def request_for(self, token: Any) -> PageRequest:  # pragma: no cover - never a next page
        raise AssertionError("a single page has no next page")


class PageNumberOptions(PaginatorOptions):
    page_param: str = "page"
    start: int = Field(1, ge=0, description="Number of the first page (0 or 1).")
    size_param: str | None = None
    size: int | None = Field(None, ge=1)
    total_pages_path: str | None = Field(None, description="Where the answer says how many.")

    @model_validator(mode="after")
    def _size_pair(self) -> PageNumberOptions:
        _both_or_neither(self.size_param, self.size, "size")
        return self


@register_paginator
class PageNumberPaginator(Paginator):
    """``?page=1``, ``?page=2``… until an empty or short page, or the declared page count."""

    name = "page_number"
    Options = PageNumberOptions
    options: PageNumberOptions

    def __init__(
        self, options: PaginatorOptions, processor: str, *, loop_message: str | None = None
    ) -> None:
        super().__init__(options, processor, loop_message=loop_message)
        #: the number of the page last asked for
        self.page = self.options.start

    def first_params(self) -> Params:
        o = self.options
        return _with_size({o.page_param: o.start}, o.size_param, o.size)

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        o = self.options
        if count == 0:
            return None
        if o.total_pages_path is not None:
            if self.page - o.start + 1 >= self._number(body, o.total_pages_path):
                return None
        elif o.size is not None and count < o.size:
            return None
        return self.page + 1

    def request_for(self, token: Any) -> PageRequest:
        self.page = int(token)
        o = self.options
        return PageRequest(params=_with_size({o.page_param: self.page}, o.size_param, o.size))


class OffsetOptions(PaginatorOptions):
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(ge=1, description="Records asked for per page.")
    total_path: str | None = Field(None, description="Where the answer gives the total count.")


@register_paginator
class OffsetPaginator(Paginator):
    """Skip/take paging (``?Skip=0&Take=10``).

    The next offset counts the records actually received (a server may cap ``limit``); the end
    is the declared total when the answer gives one, else the first short page.
    """

    name = "offset"
    Options = OffsetOptions
    options: OffsetOptions

    def __init__(
        self, options: PaginatorOptions, processor: str, *, loop_message: str | None = None
    ) -> None:
        super().__init__(options, processor, loop_message=loop_message)
        self._offset = 0

    def first_params(self) -> Params:
        return {self.options.offset_param: 0, self.options.limit_param: self.options.limit}

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        if count == 0:
            return None
        following = self._offset + count
        if self.options.total_path is not None:
            if following >= self._number(body, self.options.total_path):
                return None
        elif count < self.options.limit:
            return None
        return following

    def request_for(self, token: Any) -> PageRequest:
        self._offset = int(token)
        return PageRequest(params={self.options.offset_param: self._offset,
                                   self.options.limit_param: self.options.limit})


class CursorOptions(PaginatorOptions):
    cursor_path: str = Field(description="Where the answer holds the next cursor.")
    cursor_param: str = "cursor"
    limit_param: str | None = None
    limit: int | None = Field(None, ge=1)
    stop_on_empty: bool = Field(
        False, description="An empty page ends the listing even if it carries a cursor "
        "(MailerLite, Zettle: 'until the response is empty').")

    @model_validator(mode="after")
    def _limit_pair(self) -> CursorOptions:
        _both_or_neither(self.limit_param, self.limit, "limit")
        return self


@register_paginator
class CursorPaginator(Paginator):
    """An opaque token in the answer; the end is a missing, null or empty token (or, with
    ``stop_on_empty``, an empty page)."""

    name = "cursor"
    Options = CursorOptions
    options: CursorOptions

    def first_params(self) -> Params:
        return _with_size({}, self.options.limit_param, self.options.limit)

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        if count == 0 and self.options.stop_on_empty:
            return None
        cursor = dig(body, self.options.cursor_path)
        return str(cursor) if cursor not in (None, "") else None

    def request_for(self, token: Any) -> PageRequest:
        o = self.options
        return PageRequest(params=_with_size({o.cursor_param: token}, o.limit_param, o.limit))


class LinkHeaderOptions(PaginatorOptions):
    rel: str = "next"
    limit_param: str | None = None
    limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _limit_pair(self) -> LinkHeaderOptions:
        _both_or_neither(self.limit_param, self.limit, "limit")
        return self


@register_paginator
class LinkHeaderPaginator(Paginator):
    """The next page's full URL in the ``Link`` header (RFC 8288), as GitHub-style APIs do."""

    name = "link_header"
    Options = LinkHeaderOptions
    options: LinkHeaderOptions

    def first_params(self) -> Params:
        return _with_size({}, self.options.limit_param, self.options.limit)

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        self._seen.add(str(response.url))  # the page just read: pointing back to it is a loop
        target = response.links.get(self.options.rel, {}).get("url")
        return str(response.url.join(target)) if target else None

    def request_for(self, token: Any) -> PageRequest:
        return PageRequest(url=str(token))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One answer of a listing: what was asked, what came back, and the items it held."""

    request: PageRequest
    response: httpx.Response
    body: Any
    items: list[T]


async def walk(
    paginator: Paginator,
    fetch: Callable[[PageRequest], Awaitable[Page[T]]],
    *,
    start: PageRequest | None = None,
) -> AsyncIterator[Page[T]]:
    """Every page of one listing, asked for by ``fetch`` and followed by ``paginator``.

    ``fetch`` sends the request (the connector's own parameters plus ``request.params``) and
    turns the answer into a :class:`Page`; ``start`` resumes at a stored page (see
    :meth:`Paginator.start_at`). The next page is asked for only when the caller wants it.
    """
    request: PageRequest | None = paginator.first_page() if start is None else start
    while request is not None:
        page = await fetch(request)
        yield page
        request = paginator.next_page(page.response, page.body, len(page.items))
