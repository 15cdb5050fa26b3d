"""History-scale benchmark: what a lookup costs when Zettle and Stripe hold large histories.

Zettle's receipts and Stripe's guest charges cannot be searched by person, so a lookup reads the
whole history. This seeds the sandbox with N generated Zettle receipts and N Stripe charges and
payment intents (nobody's, like most real ones) and prints, per N, for

* the lookup as it runs today (``dsar lookup``): a first lookup, a second one, and a batch of 20
  (``dsar lookup --batch``, which shares one history read between its lookups);
* the Zettle index (``hub.store.history_index``, ``dsar index refresh``): the first refresh,
  a refresh with nothing new, and a batch of 20 (one refresh, then 20 local matches and the
  fetches of their receipts' days),

the history requests made (Zettle purchase pages; Stripe charge and payment-intent list pages
without a customer filter) ÷ the minimum (pages of objects not yet read + requests for the
matching objects, at least 1 to learn there is nothing new), and the wall time.

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
from pathlib import Path
from typing import Any

from connectors.sdk.history import subject_terms
from connectors.zettle import ZettleConnector, ZettleSettings
from connectors.zettle_history import ZettleHistory
from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.subject import Subject
from hub.requests.access import look_up, look_up_many
from hub.sandbox import Sandbox
from hub.sandbox.fixtures import load_fixture
from hub.sandbox.stripe_api import StripeServer
from hub.sandbox.zettle_api import SPEC as ZETTLE_SPEC
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


def history_requests(sandbox: Sandbox) -> int:
    zettle = sum(1 for _, t in sandbox.servers["zettle"].request_log
                 if t.startswith("/purchases/v2"))
    stripe = sum(1 for method, t in sandbox.servers["stripe"].request_log
                 if method == "GET" and t.split("?")[0] in ("/v1/charges", "/v1/payment_intents")
                 and "customer=" not in t)
    return zettle + stripe


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
                   ) -> tuple[int, float]:
    before, started = history_requests(sandbox), time.perf_counter()
    await work()
    return history_requests(sandbox) - before, time.perf_counter() - started


def row(label: str, requests: int, minimum: int, seconds: float) -> None:
    print(f"  {label:<42} {requests:>7} {minimum:>7} {requests / max(minimum, 1):>7.2f} "
          f"{seconds:>8.2f}")


async def one_size(count: int, batch: int, state: Path) -> None:
    sandbox = Sandbox()
    zettle_seed = load_fixture("zettle.json")
    zettle_seed["generated"]["count"] = count
    sandbox.servers["zettle"] = ZettleServer(seed=zettle_seed)
    sandbox.servers["stripe"] = StripeServer(seed=stripe_seed(count))
    receipts = len(sandbox.servers["zettle"].state)  # type: ignore[attr-defined]
    with sandbox:
        settings, connectors = settings_for(sandbox, count)
        # Zettle's pages (+1 empty page that ends the listing) and Stripe's two lists
        whole = (math.ceil(receipts / ZETTLE_PAGE) + 1
                 + 2 * math.ceil((count + 30) / STRIPE_PAGE))
        print(f"\n{receipts} Zettle receipts, {count} Stripe charges and payment intents")
        print(f"  {'':<42} {'history':>7} {'minimum':>7} {'ratio':>7} {'seconds':>8}")
        subject = Subject.from_email(SUBJECTS[0])
        # after the first lookup nothing is new: the minimum is one request per history
        for label, minimum in (("lookup: first", whole), ("lookup: second", 3)):
            used, took = await measured(sandbox, lambda: look_up(subject, settings, connectors))
            row(label, used, minimum, took)
        subjects = [Subject.from_email(s) for s in SUBJECTS[:batch]]
        used, took = await measured(sandbox, lambda: look_up_many(subjects, settings, connectors))
        row(f"lookup --batch of {batch} (one shared read)", used, 3, took)

        engine = open_database(f"sqlite:///{state / f'index-{count}.sqlite3'}")
        index = HistoryIndex(engine, Pseudonymiser(engine, secret_path(state)))
        zettle = ZettleConnector(ZettleSettings.model_validate(
            {"base_url": sandbox.base_urls["zettle"], **ZETTLE_SPEC.credentials}))
        async with zettle:
            history = ZettleHistory(zettle)

            async def indexed(emails: list[str]) -> int:
                await index.refresh(history)
                fetched = 0
                for email in emails:
                    ids = index.matching(history.history_name, subject_terms([], email))
                    days = [e.day for e in index.objects(history.history_name, ids) if e.day]
                    if ids:
                        await history.fetch(ids, days)
                        fetched += len(set(days))
                return fetched

            pages = math.ceil(receipts / ZETTLE_PAGE) + 1
            matches = [0]

            async def first() -> None:
                matches[0] = await indexed(SUBJECTS[1:2])
            used, took = await measured(sandbox, first)
            row("index: first refresh + match + fetch", used, pages + matches[0], took)

            async def again() -> None:
                matches[0] = await indexed(SUBJECTS[1:2])
            used, took = await measured(sandbox, again)
            row("index: second lookup", used, 1 + matches[0], took)

            async def many() -> None:
                matches[0] = await indexed(SUBJECTS[:batch])
            used, took = await measured(sandbox, many)
            row(f"index: batch of {batch}", used, 1 + matches[0], took)


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
