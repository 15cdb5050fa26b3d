"""The access lookup (GDPR Art. 15): find everything every processor holds about one subject.

Round one asks every enabled processor for the verified e-mail address. Identifiers seen in
the records (phone numbers, valid personnummer, other spellings of the same mailbox) then widen
the lookup: round two asks the processors that can search by them (never by a name alone,
the processing inventory). Records found in round two say which identifier matched them and are
marked as derived matches. Last, processors whose records name nobody (Zettle's receipts)
are given the payments found everywhere else (dates and amounts of invoices and charges), and
tie receipts to the subject by them, again as derived matches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.base import Connector
from connectors.sdk.history import HistoryCache
from hub import __version__
from hub.config.settings import HubSettings
from hub.core.deadlines import response_due
from hub.core.ids import new_request_id
from hub.core.models import ProcessorResult, ProcessorStatus, Report, RequestInfo, SubjectInfo
from hub.core.request_types import RequestType
from hub.core.subject import Identifier, Subject
from hub.requests.fanout import (
    collect_payment_hints,
    guarded,
    merge_round,
    open_connectors,
    result_from,
)
from hub.store.history_index import BatchIndex, HistoryIndex

#: Called with ``(processor, None)`` when its search starts and ``(processor, result)`` after
#: each round, so a caller can show live progress.
ProgressCallback = Callable[[str, ProcessorResult | None], None]


def _widening_targets(
    opened: dict[str, Connector], results: dict[str, ProcessorResult], new: list[Identifier]
) -> dict[str, list[Identifier]]:
    targets = {}
    for name, connector in opened.items():
        if results[name].status == ProcessorStatus.ERROR:
            continue  # it already failed; its error stands
        usable = [i for i in new if i.kind in connector.searchable_identifiers]
        if usable:
            targets[name] = usable
    return targets


def _with_batch_index(options: dict[str, Any]) -> dict[str, Any]:
    """The options with the hub's history index (``history_index``, a
    :class:`~hub.store.history_index.HistoryIndex`) as the batch's view of it: the connectors
    of every lookup in one call share one refresh per history (a batch of N reads each
    unsearchable history once, not N times). A view given already (by ``look_up_many``) stays."""
    index = options.get("history_index")
    if not isinstance(index, HistoryIndex):
        return options
    cache = options.get("history_cache")
    return {**options, "history_index": BatchIndex(
        index, cache if isinstance(cache, HistoryCache) else HistoryCache())}


async def look_up(
    subject: Subject,
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    *,
    on_progress: ProgressCallback | None = None,
    received_at: datetime | None = None,
    widen: bool = True,
    request_id: str | None = None,
    **connector_options: Any,
) -> Report:
    """``request_id``: the ledger's id of the request this lookup answers, so log lines carry
    the id the operator finds in the ledger and the report folder (a fresh one otherwise)."""
    received = received_at or datetime.now(UTC)
    request_id = request_id or new_request_id(RequestType.ACCESS, received)
    connector_options = _with_batch_index(connector_options)
    results: dict[str, ProcessorResult] = {}

    async with open_connectors(settings, connectors, **connector_options) as (opened, skipped):
        async def first_round(name: str, connector: Connector) -> None:
            if on_progress:
                on_progress(name, None)
            outcome = await guarded(connector, connector.find_subject(subject), request_id)
            results[name] = result_from(name, outcome)
            if on_progress:
                on_progress(name, results[name])

        await asyncio.gather(*(first_round(n, c) for n, c in opened.items()))

        if widen:
            found = [i for r in results.values() for i in r.identifiers]
            widened, new = subject.widened(found)
            targets = _widening_targets(opened, results, new)

            async def second_round(name: str, identifiers: list[Identifier]) -> None:
                connector = opened[name]
                outcome = await guarded(
                    connector, connector.find_by_identifiers(widened, identifiers), request_id)
                kinds = ", ".join(sorted({i.kind for i in identifiers}))
                results[name] = merge_round(results[name], outcome, f"search by {kinds}")
                if on_progress:
                    on_progress(name, results[name])

            await asyncio.gather(*(second_round(n, ids) for n, ids in targets.items()))
            subject = widened

        hints = collect_payment_hints(opened, results)

        async def payment_round(name: str, connector: Connector) -> None:
            outcome = await guarded(connector, connector.find_by_payments(subject, hints),
                                    request_id)
            results[name] = merge_round(results[name], outcome, "match by payments")
            if on_progress:
                on_progress(name, results[name])

        await asyncio.gather(*(payment_round(n, c) for n, c in opened.items()
                               if c.uses_payment_hints and hints
                               and results[n].status != ProcessorStatus.ERROR))

    ordered = [results[name] for name in connectors if name in results]
    ordered += sorted(skipped, key=lambda r: r.name)
    return Report(
        request=RequestInfo(
            id=request_id, type=RequestType.ACCESS.value, received_at=received,
            due_at=response_due(received.date()), tool_version=__version__,
        ),
        subject=SubjectInfo(email=subject.email, identifiers=list(subject.identifiers)),
        processors=ordered,
    )


async def look_up_many(
    subjects: list[Subject],
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    *,
    concurrency: int = 5,
    on_progress: ProgressCallback | None = None,
    request_ids: Sequence[str] | None = None,
    **connector_options: Any,
) -> list[Report]:
    """Several lookups in one event loop (``dsar lookup --batch``), so they share each
    processor's rate limiter and stay under its documented limit together, and one
    :class:`~connectors.sdk.history.HistoryCache`, so a history that cannot be searched by
    person (Zettle's receipts, Stripe's guest charges) is read once for the whole batch (with
    the hub's index: brought up to date once for the whole batch)."""
    gate = asyncio.Semaphore(concurrency)
    connector_options.setdefault("history_cache", HistoryCache())
    connector_options = _with_batch_index(connector_options)

    ids: Sequence[str | None] = request_ids or [None] * len(subjects)

    async def one(subject: Subject, request_id: str | None) -> Report:
        async with gate:
            return await look_up(subject, settings, connectors, on_progress=on_progress,
                                 request_id=request_id, **connector_options)

    return list(await asyncio.gather(*(one(s, i) for s, i in zip(subjects, ids, strict=True))))
