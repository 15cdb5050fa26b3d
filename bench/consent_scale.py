"""Consent-sync scale benchmark: 100,000 MailerLite subscribers, a full sync, then 50 changes.

The sandbox MailerLite runs in this process (a thread) with generated subscribers and its
documented rate limit enforced (120 requests per minute, answered 429 beyond); each sync is the
real ``dsar consent-sync`` in a child process, so its peak RSS is the sync's alone. Printed:

* peak RSS of each sync process (target < 150 MB: the list is streamed page by page);
* requests used ÷ the minimum the page size allows: for the full sync ⌈N ÷ page size⌉ (every
  subscriber must be read once); for the incremental sync ⌈changed subscribers ÷ page size⌉,
  i.e. what an API with an "updated since" filter would need (MailerLite has none; the
  breakdown shows where the requests went);
* wall time ÷ the time the rate limit makes necessary for that many requests: the account's
  window admits 120 requests at once and 120 more per minute, so R requests need at least
  ⌊(R − 1) ÷ 120⌋ minutes.

Run (takes ~11 minutes at the real rate limit; ``--time-scale 0.1`` shrinks the rate window
to 6 s, and every figure stays comparable because the ratios use the same window):

    python bench/consent_scale.py [--subscribers 100000] [--changes 50] [--time-scale 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.http import SlidingWindowLimiter
from hub.sandbox.mailerlite_api import API_TOKEN, RATE_LIMIT_PER_MINUTE, MailerLiteServer

# The real CLI with the consent commands wired in; at exit it writes its own peak RSS (VmHWM of
# its address space). Not ru_maxrss from wait4: Linux carries the parent's high-water mark
# across fork+exec, so it would count the 100,000 sandbox subscribers living in this process.
BOOT = """
import atexit, os, re
def _peak():
    with open("/proc/self/status") as status:
        kib = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    with open(os.environ["BENCH_RSS_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
from hub import cli
from hub.cli.consent import wire
wire(cli.app)
cli.main()
"""


class CountingServer(MailerLiteServer):
    """The sandbox MailerLite, counting the 429s its rate limiter answers."""

    refused = 0

    def admit(self, request: Any) -> Any:
        refused = super().admit(request)
        if refused is not None:
            self.refused += 1
        return refused


def run_sync(env: dict[str, str], log: Path) -> tuple[dict[str, Any], float, float]:
    """One ``dsar --json consent-sync`` child: (its summary, wall seconds, peak RSS in MB)."""
    rss_file = log.with_suffix(".rss")
    with open(log, "w") as stdout, open(log.with_suffix(".stderr"), "w") as stderr:
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-c", BOOT, "--json", "consent-sync"],
            env=env | {"BENCH_RSS_FILE": str(rss_file)}, stdout=stdout, stderr=stderr,
            check=False)
        wall = time.perf_counter() - started
    text = log.read_text().strip()
    if not text:
        raise SystemExit(f"the sync printed nothing; see {log.with_suffix('.stderr')}")
    summary = json.loads(text.splitlines()[-1])
    return summary, wall, int(rss_file.read_text()) / 1024


def necessary_seconds(requests: int, window: float) -> float:
    return (max(requests, 1) - 1) // RATE_LIMIT_PER_MINUTE * window


def make_changes(server: MailerLiteServer, count: int, seed: int = 7) -> dict[str, int]:
    """People acting between two runs: mostly unsubscribes, some new sign-ups, re-subscribes,
    bounces and spam complaints (a fixed mix, deterministic)."""
    rng = random.Random(seed)
    plan = {"unsubscribe": round(count * 0.7), "new": round(count * 0.1),
            "resubscribe": round(count * 0.1), "bounce": round(count * 0.06)}
    plan["junk"] = count - sum(plan.values())
    with server.state_lock:
        state = server.state
        active = [s["id"] for s in state.subscribers.values() if s["status"] == "active"]
        unsubscribed = [s["id"] for s in state.subscribers.values()
                        if s["status"] == "unsubscribed"]
        picked = rng.sample(active, plan["unsubscribe"] + plan["bounce"] + plan["junk"])
        for sid in picked[:plan["unsubscribe"]]:
            state.unsubscribe(sid)
        for sid in picked[plan["unsubscribe"]:plan["unsubscribe"] + plan["bounce"]]:
            state.set_status(sid, "bounced")
        for sid in picked[plan["unsubscribe"] + plan["bounce"]:]:
            state.set_status(sid, "junk")
        for sid in rng.sample(unsubscribed, plan["resubscribe"]):
            state.resubscribe(sid)
        for n in range(plan["new"]):
            state.add(f"new-{n}@example.test")
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="Rate window = 60 s × this (1 = MailerLite's real limit).")
    args = parser.parse_args()
    window = 60.0 * args.time_scale

    server = CountingServer(seed={"subscribers": []}, enforce_rate_limit=True,
                            rate_limit_seconds=window)
    server.generate(args.subscribers)
    work = Path(tempfile.mkdtemp(prefix="dsar-consent-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update({
        "DSAR_STATE_DIR": str(work / "state"),
        "DSAR_MAILERLITE__BASE_URL": "", "DSAR_MAILERLITE__API_TOKEN": API_TOKEN,
        "DSAR_MAILERLITE__PAGE_SIZE": str(args.page_size),
        "DSAR_MAILERLITE__HTTP__RATE_LIMIT_SECONDS": str(window),
        "DSAR_MAILERLITE__HTTP__MAX_RETRY_SECONDS": str(max(120.0, 3 * window)),
    })
    with server:
        env["DSAR_MAILERLITE__BASE_URL"] = server.base_url
        statuses = {s: server.state.count(s) for s in
                    ("active", "unsubscribed", "unconfirmed", "bounced", "junk")}
        print(f"sandbox MailerLite: {args.subscribers:,} subscribers {statuses}, page size "
              f"{args.page_size}, rate limit {RATE_LIMIT_PER_MINUTE} per {window:g} s")

        before = server.request_count
        full, full_wall, full_rss = run_sync(env, work / "full.json")
        full_requests = server.request_count - before
        assert full["status"] == "ok", full
        minimum_full = math.ceil(args.subscribers / args.page_size)
        report("full sync", full, full_wall, full_rss, full_requests, minimum_full, window,
               server.refused)

        plan = make_changes(server, args.changes)
        print(f"\n{args.changes} changes in MailerLite: {plan}; waiting {window:g} s for the "
              "account's rate window to drain")
        time.sleep(window)
        refused_before, before = server.refused, server.request_count
        incremental, inc_wall, inc_rss = run_sync(env, work / "incremental.json")
        inc_requests = server.request_count - before
        assert incremental["status"] == "ok", incremental
        report("incremental sync", incremental, inc_wall, inc_rss, inc_requests,
               math.ceil(args.changes / args.page_size), window,
               server.refused - refused_before)
        found = incremental["changes_total"]
        print(f"  changes recorded: {found} of {args.changes} "
              f"({incremental['changes']})")


def report(label: str, summary: dict[str, Any], wall: float, rss: float, requests: int,
           minimum: int, window: float, refused: int) -> None:
    needed = necessary_seconds(requests, window)
    ratio = f"{wall / needed:.2f}" if needed else "n/a (fits in one rate window)"
    counts = requests - summary["pages"] - summary["lookups"]
    print(f"\n{label}: {summary['mode']}, {summary['subscribers_read']:,} subscribers read, "
          f"{sum(summary['changes'].values()):,} events; scans: {', '.join(summary['scans'])}")
    print(f"  peak RSS of the sync process: {rss:.1f} MB (target < 150 MB)")
    print(f"  requests used ÷ minimum the page size allows: {requests} ÷ {minimum} = "
          f"{requests / minimum:.2f}  ({summary['pages']} list pages, {counts} counts, "
          f"{summary['lookups']} single lookups; 429 answers: {refused})")
    print(f"  wall time ÷ time the rate limit makes necessary: {wall:.1f} s ÷ {needed:.1f} s = "
          f"{ratio}")
    margin = getattr(SlidingWindowLimiter, "MARGIN", 0.0)
    if needed and margin:
        print(f"    (hub/http.py widens every rate window by {margin:.0%} against 429s: "
              f"÷ {needed * (1 + margin):.1f} s = {wall / (needed * (1 + margin)):.2f})")


if __name__ == "__main__":
    main()
