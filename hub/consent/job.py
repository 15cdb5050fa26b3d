"""One scheduled consent-sync run, as the CLI, its ``--every`` loop and the benchmark start it.

The engine (:mod:`hub.consent.sync`) only reads and records; a scheduled run also has to take
the lock (a timer may start the next run while this one is going), open the source with the
user's settings, and push the opt-outs it recorded. This module puts those in order and turns
everything a processor can do wrong into the run's summary rather than an exception, so cron
sees an exit code, not a traceback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from connectors.sdk.base import Connector
from hub.config.consent import ConsentSettings
from hub.config.settings import HubSettings
from hub.consent.lock import SyncLock
from hub.consent.propagate import Propagator, resolve_destinations
from hub.consent.source import SourceNotReady, open_source
from hub.consent.summary import SyncSummary
from hub.consent.suppression import Suppression
from hub.consent.sync import ConsentSync
from hub.core.errors import InvalidInput
from hub.store.consent_register import ConsentRegister
from hub.store.keyed import secret_path
from hub.store.state import StateStore, connector_state
from hub.store.suppression import SuppressionList


async def sync_once(
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    consent: ConsentSettings,
    engine: Engine,
    *,
    dry_run: bool = False,
    full: bool = False,
    on_page: Callable[[int], None] | None = None,
    lock_name: str = "consent-sync",
) -> SyncSummary:
    """Take the lock, scan, propagate; the summary says what happened (never raises for a
    processor failure, see :attr:`SyncSummary.exit_code`)."""
    register, store = ConsentRegister(engine), StateStore(engine)
    summary = SyncSummary(system=consent.source, dry_run=dry_run)
    lock = SyncLock(engine, settings.state_dir, lock_name)
    if not dry_run and not lock.acquire():
        summary.status, summary.lock_holder = "locked", lock.holder()
        since = (summary.lock_holder or {}).get("since")
        if since:
            age = datetime.now(UTC) - datetime.fromisoformat(since)
            summary.lock_stale = age > timedelta(minutes=consent.lock_warn_after_minutes)
        summary.finished_at = datetime.now(UTC)
        return summary
    try:
        destinations, warnings = resolve_destinations(settings, connectors, consent)
        summary.destinations = [d.title for d in destinations]
        try:
            source = open_source(settings, connectors, consent, engine)
        except SourceNotReady as exc:
            summary.status, summary.error = "failed", str(exc)
            summary.finished_at = datetime.now(UTC)
            return summary
        async with source:
            path = secret_path(settings.state_dir)
            job = ConsentSync(
                source=source, register=register, store=store, destinations=destinations,
                consent=consent, suppression=Suppression(SuppressionList(engine, path), path),
                dry_run=dry_run, on_page=on_page)
            summary = await job.run(full=full)
        summary.warnings += warnings
        if not dry_run:
            pushing = SyncLock(engine, settings.state_dir, f"{lock_name}.propagation")
            if pushing.acquire():  # else the webhook server is pushing the same tasks now
                try:
                    done, failed = await Propagator(
                        register, destinations, settings, connectors,
                        state=connector_state(engine, settings.state_dir)).run()
                finally:
                    pushing.release()
                summary.propagated, summary.propagation_failed = done, failed
            summary.open_tasks = register.task_counts()
    finally:
        lock.release()
    summary.finished_at = datetime.now(UTC)
    return summary


def parse_interval(text_value: str) -> float:
    """``90s``, ``5m``, ``1h`` or plain seconds → seconds (at least 10)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text_value or "")
    if not match:
        raise InvalidInput(f"not an interval: {text_value!r} (use e.g. 30s, 5m, 1h)")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds < 10:
        raise InvalidInput("the interval must be at least 10 seconds")
    return seconds


def sleep_until_next(started: float, interval: float, stop: Any) -> bool:
    """Wait for the next tick (start-to-start); False when asked to stop meanwhile."""
    remaining = max(0.0, interval - (time.monotonic() - started))
    return not stop.wait(remaining)
