"""Fan-out benchmark: does asking every processor at once cost no more than the slowest one?

The sandbox answers every request after an injected latency (default 200 ms, roughly a
transatlantic API call). A lookup of the richest sandbox subject needs several calls per
processor (customer lists and search, six lists per Stripe customer, pages of charges...).
We time each processor alone, then all together (round one only, so both do the same calls),
and print

    fan-out ratio = wall time of the full lookup ÷ the slowest processor's time alone

Target ≤ 1.2: concurrency across processors should hide all but the slowest. Run:

    python bench/fanout.py [--latency 0.2] [--email anna.svensson@example.se] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.subject import Subject
from hub.requests.access import look_up
from hub.sandbox import Sandbox
from hub.store.db import open_database
from hub.store.state import StateStore


def sandbox_settings(sandbox: Sandbox, only: set[str]):  # type: ignore[no-untyped-def]
    connectors = discover()
    settings = load_settings(connectors)
    for name in connectors:
        values = ({"enabled": True, "base_url": sandbox.base_urls[name],
                   **sandbox.credentials.get(name, {})}
                  if name in only and name in sandbox.base_urls else {"enabled": False})
        settings = with_processor_overrides(settings, name, values)
    return settings, connectors


def timed_lookup(sandbox: Sandbox, subject: Subject, only: set[str], widen: bool = False,
                 store: StateStore | None = None) -> tuple[float, int]:
    settings, connectors = sandbox_settings(sandbox, only)
    # Fortnox counts 25 requests per 5 s per access token, and the runs share one token (it is
    # stored): let the previous run's window pass so no run inherits its neighbour's usage.
    fortnox = sandbox.servers.get("fortnox")
    time.sleep(getattr(fortnox, "rate_limit_seconds", 0) + 0.5)
    before = sum(s.request_count for s in sandbox.servers.values())
    started = time.perf_counter()
    report = asyncio.run(look_up(subject, settings, connectors, widen=widen, state=store))
    elapsed = time.perf_counter() - started
    failed = [(p.name, p.error) for p in report.processors if p.status.value == "error"]
    assert not failed, failed
    return elapsed, sum(s.request_count for s in sandbox.servers.values()) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--email", default="anna.svensson@example.se")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    subject = Subject.from_email(args.email)

    with Sandbox(latency=args.latency) as sandbox, tempfile.TemporaryDirectory() as scratch:
        # one token store for all runs: Fortnox rotates its refresh token on every use
        store = StateStore(open_database(f"sqlite:///{Path(scratch) / 'state.sqlite3'}"))
        names = sorted(sandbox.base_urls)
        alone: dict[str, list[float]] = {name: [] for name in names}
        together: list[float] = []
        widened: list[float] = []
        calls: dict[str, int] = {}
        for _ in range(args.repeat):
            for name in names:
                seconds, calls[name] = timed_lookup(sandbox, subject, {name}, store=store)
                alone[name].append(seconds)
            seconds, calls["all"] = timed_lookup(sandbox, subject, set(names), store=store)
            together.append(seconds)
            seconds, calls["widened"] = timed_lookup(sandbox, subject, set(names), widen=True,
                                                     store=store)
            widened.append(seconds)

    for name in names:
        print(f"{name:>12}: {statistics.median(alone[name]):6.2f} s alone, {calls[name]} calls")
    slowest = max(statistics.median(v) for v in alone.values())
    wall = statistics.median(together)
    print(f"{'all':>12}: {wall:6.2f} s together, {calls['all']} calls, "
          f"latency {args.latency * 1000:.0f} ms per call")
    print(f"fan-out ratio (wall ÷ slowest processor alone) = {wall / slowest:.2f}  (target ≤ 1.2)")
    full = statistics.median(widened)
    print(f"with the identity-widening round ({calls['widened']} calls): {full:.2f} s, "
          f"ratio {full / slowest:.2f} (the second round adds round trips by design)")


if __name__ == "__main__":
    main()
