"""One rate budget per processor credential in the database: workers with engines, event loops
and per-process limiters of their own together never start more than the limit in any
window, and two of them sending to one processor draw no 429."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.mailerlite import MailerLiteSettings
from hub.config.registry import discover
from hub.config.settings import load_settings
from hub.http import HttpPolicy, PoliteTransport, shared_rate_budget
from hub.requests.context import database_rate_budget
from hub.store import rate_budget
from hub.store.db import open_database
from hub.store.rate_budget import DatabaseRateBudget, credential_digest
from hub.store.tables import RateBudgetRow

BASE = "https://api.fortnox.example"


def run_workers(count: int, work) -> list[BaseException]:
    """``work(n)`` in ``count`` threads started together; the errors they raised."""
    start = threading.Barrier(count, timeout=30)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_workers_never_exceed_the_budget_in_any_window(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four workers (an engine and an event loop each) take 20 starts of a budget of 4 per
    second; the start times the database recorded never hold 5 in one second."""
    requests, per_seconds = 4, 1.0
    open_database(database_url)
    recorded: list[float] = []
    last_now = threading.local()
    real_now = rate_budget._now

    def remembering_now(session):
        last_now.value = real_now(session)
        return last_now.value

    monkeypatch.setattr(rate_budget, "_now", remembering_now)

    class Recording(DatabaseRateBudget):
        def take(self, row_key: str, requests: int, window: float) -> float:
            wait = super().take(row_key, requests, window)
            if wait == 0:
                recorded.append(last_now.value)
            return wait

    def worker(n: int) -> None:
        budget = Recording(open_database(database_url), {"fortnox": "digest"})

        async def five() -> None:
            await asyncio.gather(*(budget.acquire(f"fortnox {BASE}", requests, per_seconds)
                                   for _ in range(5)))

        asyncio.run(five())

    assert run_workers(4, worker) == []
    starts = sorted(recorded)
    assert len(starts) == 20
    for first, fifth in zip(starts, starts[requests:], strict=False):
        assert fifth - first >= per_seconds, starts
    # the window was kept, not overshot by much: 20 starts of 4 per 1.1 s take about 4.4 s
    assert starts[-1] - starts[0] < 4 * per_seconds * 1.1 + 4.0


class Processor:
    """A processor that counts arrivals like Fortnox: more than ``limit`` in any ``window``
    seconds is answered 429 (thread-safe: two "machines" send at once)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.arrivals: deque[float] = deque()
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            now = time.monotonic()
            while self.arrivals and now - self.arrivals[0] >= self.window:
                self.arrivals.popleft()
            self.arrivals.append(now)
            status = 429 if len(self.arrivals) > self.limit else 200
            self.statuses.append(status)
        return httpx.Response(status, json={"Customers": []})


def send_from_two_machines(database_url: str, *, shared: bool) -> Processor:
    """Two workers, each with its own database connection, event loop and per-process limiter
    (4 requests per second, Fortnox's policy scaled down), send 6 requests each at once. The
    processor counts in windows a little shorter than the policy's, leaving room for the
    scheduling delays of a busy test machine between a recorded start and its arrival."""
    processor = Processor(limit=4, window=0.9)
    policy = HttpPolicy(rate_limit_requests=4, rate_limit_seconds=1.0, max_attempts=1)
    budgets = [DatabaseRateBudget(open_database(database_url), {"fortnox": "digest"})
               for _ in range(2)]  # connected before the workers start together

    def worker(n: int) -> None:
        budget = budgets[n]

        async def six() -> None:
            transport = PoliteTransport(policy, processor="Fortnox", limit_key=f"fortnox {BASE}",
                                        rate_budget=budget if shared else None)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                await asyncio.gather(*(client.get("/3/customers") for _ in range(6)))

        asyncio.run(six())

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/3/customers").mock(side_effect=processor)
        assert run_workers(2, worker) == []
    assert len(processor.statuses) == 12
    return processor


def test_two_machines_sharing_the_database_draw_no_429(database_url: str) -> None:
    open_database(database_url)
    assert send_from_two_machines(database_url, shared=True).statuses == [200] * 12


def test_without_the_shared_budget_the_same_two_machines_draw_429(database_url: str) -> None:
    """The control: each process's own limiter alone lets twice the limit through."""
    assert 429 in send_from_two_machines(database_url, shared=False).statuses


def test_one_budget_per_credential_and_never_the_credential(database_url: str) -> None:
    engine = open_database(database_url)
    token = "ml-token-invented-0001"
    one = MailerLiteSettings(api_token=SecretStr(token))
    other = MailerLiteSettings(api_token=SecretStr("ml-token-invented-0002"))
    assert credential_digest(one) == credential_digest(one.model_copy())
    assert credential_digest(one) != credential_digest(other)
    first = DatabaseRateBudget(engine, {"mailerlite": credential_digest(one)})
    second = DatabaseRateBudget(engine, {"mailerlite": credential_digest(other)})
    key = "mailerlite https://connect.mailerlite.example"
    assert first.row_key(key) != second.row_key(key)
    assert first.take(first.row_key(key), 1, 60.0) == 0
    assert second.take(second.row_key(key), 1, 60.0) == 0  # another account: its own budget
    assert first.take(first.row_key(key), 1, 60.0) > 59  # the same account: spent for a minute
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        rows = session.query(RateBudgetRow).all()
    assert len(rows) == 2
    assert all(token not in row.key + row.starts for row in rows)


def test_transports_made_in_a_run_ask_the_installed_budget(database_url: str) -> None:
    engine = open_database(database_url)
    asked: list[tuple[str, int, float]] = []

    class Asked:
        async def acquire(self, key: str, requests: int, per_seconds: float) -> None:
            asked.append((key, requests, per_seconds))

    async def one_request() -> None:
        transport = PoliteTransport(HttpPolicy(rate_limit_requests=25, rate_limit_seconds=5.0),
                                    processor="Fortnox", limit_key=f"fortnox {BASE}",
                                    inner=httpx.MockTransport(lambda r: httpx.Response(200)))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await client.get("/3/customers")

    with shared_rate_budget(Asked()):
        asyncio.run(one_request())
    asyncio.run(one_request())  # outside the block: nobody is asked
    assert asked == [(f"fortnox {BASE}", 25, 5.0)]
    # the run's budget is the database's on a server, none on SQLite (one machine, one lock)
    settings = load_settings(discover(), None, state_dir=Path(str(engine.url.database)).parent)
    budget = database_rate_budget(engine, settings, discover())
    if engine.dialect.name == "sqlite":
        assert budget is None
    else:
        assert isinstance(budget, DatabaseRateBudget)
