"""History-scale benchmark: what a lookup costs when Zettle and Stripe hold large histories.

Zettle's receipts and Stripe's guest charges cannot be searched by person, so the hub keeps a
local index of them (``hub.store.history_index``): a lookup brings it up to date (only what is
new since the last one), matches locally and fetches just the matching objects. This seeds the
sandbox with N generated Zettle receipts and N Stripe charges and payment intents (nobody's,
like most real ones) and prints, per N, for the lookup as the hub runs it (``dsar lookup``,
with the index)

* a first lookup, which builds the index (reads each history once);
* a second lookup (one request per history learns there is nothing new);
* a batch of 20 (``dsar lookup --batch``: one refresh per history for the whole batch),

the history requests made (Zettle purchase pages; Stripe charge and payment-intent list pages
without a customer filter, and the charges and payment intents retrieved by id) ÷ the minimum
(the pages of objects not yet indexed, at least 1 per history to learn there is nothing new,
plus one request per Zettle day span and per Stripe object fetched), the wall time, and the
wall time per lookup. After the first, per-lookup cost stays flat whatever N is.

    python bench/history_scale.py [--sizes 10000,50000,150000] [--batch 20]

Generating receipts is the slow part of a large run (about 9 s per 50,000).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.subject import Subject
from hub.requests.access import look_up, look_up_many
from hub.sandbox import Sandbox
from hub.sandbox.fixtures import load_fixture
from hub.sandbox.stripe_api import StripeServer
from hub.sandbox.zettle_api import ZettleServer
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path

ZETTLE_PAGE = 1000
STRIPE_PAGE = 100
SUBJECTS = ["anna.svensson@example.se", "maria.berg@example.se"] + [
    f"person{n}@example.com" for n in range(40)]


def stripe_seed(count: int) -> dict[str, list[dict[str, Any]]]:
    seed = load_fixture("stripe.json")
    start = 1_600_000_000
    for kind, prefix, key in (("charge", "ch_bench", "charges"),
                              ("payment_intent", "pi_bench", "payment_intents")):
        seed[key] = seed[key] + [
            {"id": f"{prefix}{n:08d}", "object": kind, "amount": 10_000 + n % 5_000,
             "currency": "sek", "created": start + n * 600, "customer": None,
             "receipt_email": None, "billing_details": {"email": None, "name": None}}
            for n in range(count)]
    return seed


def history_requests(sandbox: Sandbox) -> tuple[int, int]:
    """(every history request so far, the fetches among them: Zettle requests for a span of
    days without a purchase hash, Stripe charges and payment intents retrieved by id)."""
    zettle = [parse_qs(urlsplit(t).query) for _, t in sandbox.servers["zettle"].request_log
              if t.startswith("/purchases/v2")]
    zettle_fetches = sum(1 for q in zettle if "lastPurchaseHash" not in q
                         and "startDate" in q and "endDate" in q
                         and (date.fromisoformat(q["endDate"][0])
                              - date.fromisoformat(q["startDate"][0])).days <= 31)
    stripe = [t.split("?")[0] for method, t in sandbox.servers["stripe"].request_log
              if method == "GET" and "customer=" not in t
              and t.split("?")[0].startswith(("/v1/charges", "/v1/payment_intents"))]
    retrieved = sum(1 for path in stripe if path.count("/") == 3)
    return len(zettle) + len(stripe), zettle_fetches + retrieved


def settings_for(sandbox: Sandbox, count: int):  # type: ignore[no-untyped-def]
    connectors = discover()
    settings = load_settings(connectors)
    for name in connectors:
        values = ({"enabled": True, "base_url": sandbox.base_urls[name],
                   **sandbox.credentials.get(name, {})}
                  if name in ("zettle", "stripe") else {"enabled": False})
        settings = with_processor_overrides(settings, name, values)
    settings = with_processor_overrides(settings, "stripe", {"guest_scan_max_objects": count})
    return settings, {n: c for n, c in connectors.items() if n in ("zettle", "stripe")}


async def measured(sandbox: Sandbox, work: Callable[[], Awaitable[object]]
                   ) -> tuple[int, int, float]:
    """(history requests, of which fetches, seconds) of ``work``."""
    (before, fetched), started = history_requests(sandbox), time.perf_counter()
    await work()
    after, fetched_after = history_requests(sandbox)
    return after - before, fetched_after - fetched, time.perf_counter() - started


def row(label: str, requests: int, minimum: int, seconds: float, lookups: int) -> None:
    print(f"  {label:<36} {requests:>8} {minimum:>8} {requests / max(minimum, 1):>6.2f} "
          f"{seconds:>8.2f} {seconds / lookups:>10.3f}")


async def one_size(count: int, batch: int, state: Path) -> None:
    sandbox = Sandbox()
    zettle_seed = load_fixture("zettle.json")
    zettle_seed["generated"]["count"] = count
    seeding = time.perf_counter()
    sandbox.servers["zettle"] = ZettleServer(seed=zettle_seed)
    sandbox.servers["stripe"] = StripeServer(seed=stripe_seed(count))
    seeded = time.perf_counter() - seeding
    receipts = len(sandbox.servers["zettle"].state)  # type: ignore[attr-defined]
    engine = open_database(f"sqlite:///{state / f'index-{count}.sqlite3'}")
    index = HistoryIndex(engine, Pseudonymiser(engine, secret_path(state)))
    with sandbox:
        settings, connectors = settings_for(sandbox, count)
        hub = {"history_index": index}
        # Zettle's pages (+1 empty page that ends the listing) and Stripe's two lists, each
        # read up to guest_scan_max_objects (= count) on the first read
        whole = (math.ceil(receipts / ZETTLE_PAGE) + 1 + 2 * math.ceil(count / STRIPE_PAGE))
        print(f"\n{receipts} Zettle receipts, {count} Stripe charges and payment intents "
              f"(seeded in {seeded:.1f} s)")
        print(f"  {'':<36} {'history':>8} {'minimum':>8} {'ratio':>6} {'seconds':>8} "
              f"{'s/lookup':>10}")
        subject = Subject.from_email(SUBJECTS[0])
        for label, refresh in (("lookup: first (builds the index)", whole),
                               ("lookup: second", 3)):
            used, fetched, took = await measured(
                sandbox, lambda: look_up(subject, settings, connectors, **hub))
            row(label, used, refresh + fetched, took, 1)
        subjects = [Subject.from_email(s) for s in SUBJECTS[:batch]]
        used, fetched, took = await measured(
            sandbox, lambda: look_up_many(subjects, settings, connectors, **hub))
        row(f"lookup --batch of {batch}", used, 3 + fetched, took, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,150000")
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsar-bench-history-") as folder:
        for count in (int(s) for s in args.sizes.split(",")):
            asyncio.run(one_size(count, args.batch, Path(folder)))


if __name__ == "__main__":
    main()
