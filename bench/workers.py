"""Worker benchmark: do 1, 2 and 4 workers on one PostgreSQL share a processor's rate limit?

Several machines run ``dsar worker`` against one database. A processor counts requests per
account, not per machine, so the workers together must stay under its limit: no 429, and no
job (hence no erasure call) run twice. Each round queues 200 lookups and 200 erasures (each
erases one MailerLite subscriber seeded for it: 200 erasure actions), starts N worker
processes (``dsar worker --until-empty``) on a fresh database and a fresh sandbox whose
MailerLite enforces its limit (120 requests per window; the window shortened to keep a round
short, the hub told the same limit), and prints per round

    throughput ÷ ceiling  = MailerLite requests per second ÷ the limit per second
    jobs failed           = jobs left in the queue unfinished or failed            (should be 0)
    duplicate calls       = erasure calls (DELETE / forget) sent more than once   (must be 0)
    jobs run twice        = requests answered by two jobs                         (must be 0)
    429 answers           = requests the sandbox refused for the limit            (must be 0)

It measures whatever the hub does: each worker process has its own limiter, and the workers
share a budget in the database where the hub keeps one. Needs a PostgreSQL server whose user
may create databases (one per round, dropped after it):

    python bench/workers.py --database-url postgresql+psycopg://user:pw@127.0.0.1:5432/postgres
        [--workers 1,2,4] [--lookups 200] [--erasures 200] [--concurrency 4] [--window 4]

(default: $DSAR_TEST_DATABASE_URL, else $DSAR_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.core.request_types import RequestType
from hub.jobs.defer import queue_request
from hub.jobs.queue import build_app, is_postgres
from hub.sandbox import Sandbox
from hub.sandbox.server import SlidingWindow
from hub.store.db import open_database
from hub.store.schema import upgrade_job_schema

ROOT = Path(__file__).resolve().parents[1]
MUTATING = ("DELETE", "POST", "PUT", "PATCH")


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server for one round; dropped afterwards."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"dsar_bench_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class CallLog:
    """Every request the fake MailerLite answered: when, what, and with which status."""

    def __init__(self, server: Any) -> None:
        self.calls: list[tuple[float, str, str, int]] = []
        self._lock = threading.Lock()
        answer = server.handle

        def handle(request: Any) -> Any:
            response = answer(request)
            with self._lock:
                self.calls.append((time.monotonic(), request.method, request.target,
                                   response.status))
            return response

        server.handle = handle


def seed_subscribers(server: Any, count: int) -> list[str]:
    """``count`` invented subscribers, one per erasure, made from the sandbox's first one."""
    template = next(iter(server.state.subscribers.values()))
    addresses = []
    for number in range(count):
        subscriber = copy.deepcopy(template)
        address = f"radera.{number:03d}@example.com"
        subscriber.update(id=str(900_000_000_000_000_000 + number), email=address)
        subscriber["fields"].update(name=f"Kund{number:03d}", last_name="Exempel",
                                    phone=None)
        server.state.subscribers[subscriber["id"]] = subscriber
        addresses.append(address)
    server.state._version += 1
    return addresses


def worker_env(sandbox: Sandbox, database_url: str, state: Path, window: float) -> dict[str, str]:
    """The workers' environment: only the sandbox MailerLite enabled, told its limit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update({"DSAR_DATABASE_URL": database_url, "DSAR_STATE_DIR": str(state),
                "DSAR_CONFIG": str(ROOT / "config" / "hub.toml"),
                "DSAR_WORKER__CONSENT_SYNC_CRON": ""})
    for name in sandbox.base_urls:
        env[f"DSAR_{name.upper()}__ENABLED"] = "true" if name == "mailerlite" else "false"
    env["DSAR_MAILERLITE__BASE_URL"] = sandbox.base_urls["mailerlite"]
    for field, value in sandbox.credentials["mailerlite"].items():
        env[f"DSAR_MAILERLITE__{field.upper()}"] = value
    env["DSAR_MAILERLITE__HTTP__RATE_LIMIT_REQUESTS"] = "120"
    env["DSAR_MAILERLITE__HTTP__RATE_LIMIT_SECONDS"] = str(window)
    return env


def run_round(server_url: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with Sandbox(latency=args.latency) as sandbox, fresh_database(server_url) as database, \
            tempfile.TemporaryDirectory(prefix="dsar-bench-workers-") as scratch:
        mailerlite = sandbox.servers["mailerlite"]
        mailerlite.enforce_rate_limit = True
        mailerlite.window = SlidingWindow(120, args.window)
        erase = seed_subscribers(mailerlite, args.erasures)
        look = [f"kund.{n:03d}@example.com" for n in range(args.lookups)]
        env = worker_env(sandbox, database, Path(scratch), args.window)

        engine = open_database(database)
        upgrade_job_schema(engine)
        app = build_app(database)
        with app.open():
            for address in look:
                queue_request(app, engine, address, RequestType.ACCESS, lang="sv")
            for address in erase:
                queue_request(app, engine, address, RequestType.ERASURE, lang="sv")
        engine.dispose()

        log = CallLog(mailerlite)
        procs = [subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "hub", "-v", "--json", "worker", "--until-empty", "--draft",
             "--concurrency", str(args.concurrency)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(workers)]
        outputs = [proc.communicate(timeout=args.timeout) for proc in procs]
        for proc, (_, stderr) in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise SystemExit(f"a worker failed ({proc.returncode}):\n{stderr[-3000:]}")
        engine = open_database(database)
        with engine.connect() as connection:  # succeeded jobs are removed; the rest is left
            failed = connection.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar()
            left = connection.execute(text(
                "SELECT task_name, status::text, attempts, count(*) FROM procrastinate_jobs "
                "GROUP BY 1, 2, 3 ORDER BY 4 DESC")).all()
        engine.dispose()
        if failed:
            for number, (_, stderr) in enumerate(outputs, 1):
                log_file = Path(tempfile.gettempdir()) / f"dsar-bench-worker-{number}.log"
                log_file.write_text(stderr, encoding="utf-8")
            print("  left in the queue (task, status, attempts, count):",
                  *(tuple(row) for row in left), sep="\n    ")
            errors = [line for _, stderr in outputs for line in stderr.splitlines()
                      if "Error" in line or "error" in line]
            print(f"  {failed} job(s) did not succeed; first errors:", *errors[:5], sep="\n    ")

    outcomes = [json.loads(line) for stdout, _ in outputs for line in stdout.splitlines()
                if line.startswith("{")]
    calls = log.calls
    span = (calls[-1][0] - calls[0][0]) if len(calls) > 1 else float("nan")
    erasing = Counter((method, target) for _, method, target, status in calls
                      if method in MUTATING and status < 400)
    answered = Counter(o["request_id"] for o in outcomes if o.get("request_id"))
    return {
        "workers": workers,
        "jobs": len(outcomes),
        "failed": failed,
        "calls": len(calls),
        "seconds": span,
        "rate": len(calls) / span,
        "erasure_calls": sum(erasing.values()),
        "duplicate_calls": sum(n - 1 for n in erasing.values() if n > 1),
        "jobs_twice": sum(n - 1 for n in answered.values() if n > 1),
        "429": sum(1 for *_, status in calls if status == 429),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DSAR_TEST_DATABASE_URL")
                        or os.environ.get("DSAR_DATABASE_URL"))
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--erasures", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--window", type=float, default=4.0,
                        help="seconds of MailerLite's 120-request window (real: 60)")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if not args.database_url or not is_postgres(args.database_url):
        raise SystemExit("workers need PostgreSQL: pass --database-url "
                         "postgresql+psycopg://… (a user that may create databases)")

    ceiling = 120 / args.window
    print(f"{args.lookups} lookups + {args.erasures} erasures; MailerLite allows 120 requests "
          f"per {args.window:g} s = {ceiling:.0f}/s; concurrency {args.concurrency} per worker")
    for workers in (int(n) for n in args.workers.split(",")):
        result = run_round(args.database_url, workers, args)
        print(f"{workers} worker(s): {result['jobs']} jobs done, {result['failed']} failed, "
              f"{result['calls']} calls in "
              f"{result['seconds']:.1f} s; throughput ÷ ceiling = "
              f"{result['rate'] / ceiling:.2f}; erasure calls {result['erasure_calls']}, "
              f"duplicate calls {result['duplicate_calls']} (must be 0), jobs run twice "
              f"{result['jobs_twice']} (must be 0), 429 answers {result['429']} (must be 0)")


if __name__ == "__main__":
    main()
