"""Keeping the hub's index of unsearchable histories (:mod:`hub.store.history_index`) up to date
with the processors: ``dsar index refresh`` and ``dsar index rebuild``.

Generic on purpose: a connector declares its :class:`connectors.sdk.history.HistorySource`
(paging, identifier extraction, fetching by id) and this module only drives it against the
store. A processor that fails is reported and the others still run.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.sdk.history import HistorySource, history_sources_of
from hub.core.errors import as_connector_error
from hub.requests.context import RequestContext
from hub.requests.fanout import open_connectors
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser


@dataclass(frozen=True)
class IndexRun:
    """One history brought up to date: how many pages it took and what the index holds."""

    processor: str
    history: str
    pages: int
    objects: int
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"processor": self.processor, "history": self.history, "pages": self.pages,
                "objects": self.objects, "error": self.error}


def history_index(ctx: RequestContext) -> HistoryIndex:
    """The index in the request log's database, hashing with its keyed-hash secret."""
    engine = open_database(ctx.ledger_url)
    return HistoryIndex(engine, Pseudonymiser(engine, ctx.secret))


async def update_indexes(ctx: RequestContext, *, processor: str | None = None,
                         rebuild: bool = False) -> list[IndexRun]:
    """Refresh (or, with ``rebuild``, re-read from scratch) every enabled processor's indexed
    history, or only ``processor``'s."""
    index = history_index(ctx)
    runs: list[IndexRun] = []
    async with open_connectors(ctx.settings, ctx.connectors, **ctx.connector_options) as (
            opened, _):
        for name, connector in opened.items():
            if processor is not None and name != processor:
                continue
            for source in history_sources_of(connector):
                runs.append(await _update(index, name, connector.title, source, rebuild))
    return runs


async def _update(index: HistoryIndex, name: str, title: str, source: HistorySource,
                  rebuild: bool) -> IndexRun:
    try:
        pages = await (index.rebuild(source) if rebuild else index.refresh(source))
    except Exception as exc:  # one processor's failure must not stop the others
        error = as_connector_error(exc, title)
        if error is None:
            raise
        return IndexRun(name, source.history_name, 0, index.count(source.history_name),
                        str(error))
    return IndexRun(name, source.history_name, pages, index.count(source.history_name))
