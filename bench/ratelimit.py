"""Rate-limit benchmark: a batch of 100 lookups against Fortnox's 25 requests per 5 seconds.

An annual audit (or an agency serving several practices) runs ``dsar lookup --batch FILE``.
Fortnox allows 25 requests per 5 s per access token and answers 429 beyond; the sandbox
Fortnox enforces exactly that. All lookups of a batch share one client-side sliding window,
so the batch should run close to the limit without a single 429. Prints

    achieved request rate ÷ documented limit   (target ≥ 0.9)
    429 answers received                       (target 0)

Run: python bench/ratelimit.py [--lookups 100] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.subject import Subject
from hub.requests.access import look_up_many
from hub.sandbox import Sandbox
from hub.store.db import open_database
from hub.store.state import StateStore

SEEDED = ["anna.svensson@example.se", "maria.berg@example.se", "lars.lindqvist@example.com",
          "asa.oberg@example.se", "per.andersson@example.com", "karin.oneill@example.com"]


def subjects(count: int) -> list[Subject]:
    addresses = [*SEEDED, *(f"kund{i:03d}@example.com" for i in range(count - len(SEEDED)))]
    return [Subject.from_email(a) for a in addresses[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()

    connectors = discover()
    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(connectors)
        for name in connectors:
            values = ({"enabled": True, "base_url": sandbox.base_urls[name],
                       **sandbox.credentials[name]} if name == "fortnox" else {"enabled": False})
            settings = with_processor_overrides(settings, name, values)
        fortnox = sandbox.servers["fortnox"]
        limit = fortnox.rate_limit_requests / fortnox.rate_limit_seconds
        store = StateStore(open_database(f"sqlite:///{Path(scratch) / 'state.sqlite3'}"))

        started = time.perf_counter()
        reports = asyncio.run(look_up_many(subjects(args.lookups), settings, connectors,
                                           concurrency=args.concurrency, state=store))
        elapsed = time.perf_counter() - started
        api_requests = sum(1 for _, target in fortnox.request_log if target.startswith("/3/"))

    errors = [p.error for r in reports for p in r.processors if p.status.value == "error"]
    found = sum(1 for r in reports for p in r.processors if p.status.value == "found")
    rate = api_requests / elapsed
    print(f"{len(reports)} lookups ({found} found, {len(errors)} errors) in {elapsed:.1f} s: "
          f"{api_requests} Fortnox API requests")
    print(f"achieved rate {rate:.2f} req/s ÷ limit {limit:.2f} req/s = {rate / limit:.2f}  "
          f"(target ≥ 0.9)")
    print(f"429 answers received: {fortnox.rate_limited_count}  (target 0)")


if __name__ == "__main__":
    main()
