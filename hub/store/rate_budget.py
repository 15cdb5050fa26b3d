"""One rate budget per processor credential, kept in the database and shared by every worker.

The HTTP layer's own limiter (:class:`hub.http.SlidingWindowLimiter`) counts the requests of one
process. Processors count per credential: Fortnox allows 25 requests in any 5 seconds per
client and tenant, MailerLite 120 a minute per account. Two erasures run at once (two
terminals, cron and a person, two machines on one PostgreSQL database) each kept their own
count and together drew 429s. This budget keeps the start times of the newest requests of each
credential in one row, read and written under that row's lock, so all workers together never
start more than the limit in any window.

Why a window of start times and not a counter or a token bucket: a fixed-window counter and a
token bucket both let a full burst through on each side of a window boundary, up to twice the
limit in one window of the processor's (see :class:`hub.http.SlidingWindowLimiter`). One row
holds at most one limit's worth of starts (25 for Fortnox, 120 for MailerLite), so the row
stays small, and the window is widened by the same margin as the process's limiter.

Atomic, on both databases, as the state store does it (:mod:`hub.store.locks`): on PostgreSQL
an advisory lock on the row's key (the row may not exist yet) and ``SELECT … FOR UPDATE``; on
SQLite every transaction of ours begins ``IMMEDIATE`` and holds the write lock. The time is
the database server's clock on PostgreSQL (machines' clocks may disagree; the server's is the
one all of them share) and this machine's on SQLite (a SQLite file serves one machine).

The row's key is a SHA-256 of the transport's limit key (the connector's name and address) and
a digest of the connector's credentials: never a credential, yet two configurations with
different accounts get budgets of their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from hub.http import SlidingWindowLimiter
from hub.store.locks import lock_key
from hub.store.tables import RateBudgetRow

if TYPE_CHECKING:
    from connectors.sdk.base import Connector, ConnectorSettings
    from hub.config.settings import HubSettings

#: the shortest wait between two looks at a full budget (seconds)
MIN_WAIT = 0.005


def credential_digest(settings: ConnectorSettings) -> str:
    """A digest of the settings that identify the processor account (its credentials), so
    workers configured with the same account share a budget and others do not."""
    parts = []
    for name in sorted(settings.credential_names()):
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        parts.append(f"{name}={value or ''}")
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def budget_key(limit_key: str, credential: str) -> str:
    """The row's key for one limit of one credential."""
    material = f"dsar-hub rate budget v1\0{limit_key}\0{credential}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class DatabaseRateBudget:
    """A :class:`hub.http.RateBudget` kept in the database (see the module docstring).

    ``credentials`` maps connector names to :func:`credential_digest`; the transport's limit
    key starts with the connector's name (``"<name> <base url>"``), which picks the digest.
    """

    def __init__(
        self,
        engine: Engine,
        credentials: Mapping[str, str] | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.credentials = dict(credentials or {})
        self._sleep = sleep

    @classmethod
    def for_settings(cls, engine: Engine, settings: HubSettings,
                     connectors: Mapping[str, type[Connector]]) -> DatabaseRateBudget:
        return cls(engine, {name: credential_digest(settings.processor(name))
                            for name in connectors})

    def row_key(self, limit_key: str) -> str:
        name = limit_key.split(" ", 1)[0]
        return budget_key(limit_key, self.credentials.get(name, ""))

    async def acquire(self, key: str, requests: int, per_seconds: float) -> None:
        """Wait until one more request may start; the database work runs in a thread so the
        other processors' requests go on meanwhile."""
        row_key = self.row_key(key)
        window = per_seconds * (1 + SlidingWindowLimiter.MARGIN)
        while True:
            wait = await asyncio.to_thread(self.take, row_key, requests, window)
            if wait <= 0:
                return
            await self._sleep(wait)

    def take(self, row_key: str, requests: int, window: float) -> float:
        """Record a start now if fewer than ``requests`` began in the last ``window`` seconds
        (returns 0), else record nothing and return the seconds until one leaves the window."""
        with Session(self.engine) as session:
            lock_key(session, f"rate:{row_key}")
            row = session.get(RateBudgetRow, row_key, with_for_update=True)
            now = _now(session)
            # a start "in the future" beyond one window is a clock that was set back: forget it
            starts = sorted(s for s in (json.loads(row.starts) if row else [])
                            if now - window < s <= now + window)
            if len(starts) >= requests:
                session.rollback()
                return max(starts[-requests] + window - now, MIN_WAIT)
            starts = [*starts, now][-requests:]
            stamp = datetime.now(UTC)
            if row is None:
                session.add(RateBudgetRow(key=row_key, starts=json.dumps(starts),
                                          updated_at=stamp))
            else:
                row.starts, row.updated_at = json.dumps(starts), stamp
            session.commit()
            return 0.0


def _now(session: Session) -> float:
    """Seconds since the epoch: the server's clock on PostgreSQL, this machine's on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.execute(text("SELECT extract(epoch FROM clock_timestamp())"))
                     .scalar_one())
    return time.time()
