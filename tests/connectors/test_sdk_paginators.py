"""The SDK's paginators as hand-written connectors use them: :func:`walk`, resuming at a stored
cursor, ending at an empty page, and refusing a loop in the processor's own words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from connectors.sdk.paginators import (
    CursorOptions,
    CursorPaginator,
    Page,
    PageNumberOptions,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    walk,
)
from hub.core.errors import ProtocolError

Fetch = Callable[[PageRequest], Awaitable[Page[Any]]]


def answering(bodies: dict[Any, dict[str, Any]], key: str = "cursor"
              ) -> tuple[Fetch, list[dict[str, str | int]]]:
    """A ``fetch`` that answers from ``bodies`` by the request's ``key`` parameter."""
    asked: list[dict[str, str | int]] = []

    async def fetch(request: PageRequest) -> Page[Any]:
        asked.append(request.params)
        body = bodies[request.params.get(key)]
        response = httpx.Response(200, json=body, request=httpx.Request("GET", "https://x"))
        return Page(request, response, body, body["data"])

    return fetch, asked


async def items(paginator: Paginator, fetch: Fetch, start: PageRequest | None = None
                ) -> list[Any]:
    return [item async for page in walk(paginator, fetch, start=start) for item in page.items]


def cursor(**options: Any) -> CursorPaginator:
    return CursorPaginator(CursorOptions(cursor_path="meta.next", **options), "Acme")


async def test_walk_follows_the_cursor_to_the_end() -> None:
    fetch, asked = answering({None: {"data": [1, 2], "meta": {"next": "b"}},
                              "b": {"data": [3], "meta": {"next": None}}})
    assert await items(cursor(), fetch) == [1, 2, 3]
    assert asked == [{}, {"cursor": "b"}]


async def test_a_stored_cursor_resumes_and_pointing_back_to_it_is_a_loop() -> None:
    fetch, asked = answering({"b": {"data": [3], "meta": {"next": "b"}}})
    paginator = CursorPaginator(CursorOptions(cursor_path="meta.next"), "Acme",
                                loop_message="Acme handed out the same cursor twice")
    with pytest.raises(ProtocolError, match="Acme handed out the same cursor twice"):
        await items(paginator, fetch, start=paginator.start_at("b"))
    assert asked == [{"cursor": "b"}]


async def test_stop_on_empty_ends_at_an_empty_page_despite_a_cursor() -> None:
    bodies = {None: {"data": [1], "meta": {"next": "b"}}, "b": {"data": [], "meta": {"next": "c"}}}
    fetch, asked = answering(bodies)
    assert await items(cursor(stop_on_empty=True), fetch) == [1]
    assert len(asked) == 2
    fetch, _ = answering({**bodies, "c": {"data": [], "meta": {}}})
    assert await items(cursor(), fetch) == [1]  # without it, the cursor is followed


async def test_max_pages_none_has_no_cap_but_the_default_has_one() -> None:
    bodies: dict[Any, dict[str, Any]] = {n: {"data": [n]} for n in range(1200)}
    bodies[1200] = {"data": []}
    fetch, _ = answering(bodies, key="page")
    unbounded = PageNumberPaginator(PageNumberOptions(start=0, max_pages=None), "Acme")
    assert len(await items(unbounded, fetch)) == 1200
    with pytest.raises(ProtocolError, match="more pages than max_pages"):
        await items(PageNumberPaginator(PageNumberOptions(start=0), "Acme"), fetch)
