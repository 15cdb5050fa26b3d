"""The job queue: a procrastinate app on the hub's PostgreSQL database.

Why procrastinate: its jobs, locks, retries and periodic tasks live in PostgreSQL, which every
machine of a multi-machine installation already shares; a worker is one more ``dsar`` process,
and no broker has to be run. It is imported only here, and only when a worker starts or a job
is queued (``pip install 'dsar-hub[postgres]'``), so other commands start fast without it.

The tasks and their guarantees:

* ``dsar.lookup`` / ``dsar.erasure`` take a ledger request id. The request's id is the task's
  ``lock`` (two jobs of one request never run at once) and, when queued, its
  ``queueing_lock`` (one waiting job per request; queueing it again says so instead).
* ``dsar.consent_sync`` is periodic (``[worker] consent_sync_cron``). Every worker schedules
  it; procrastinate records each tick once in the database, so one job per tick runs across
  all machines. Its ``queueing_lock`` keeps at most one waiting and its ``lock`` at most one
  running; the sync's own lock keeps a cron-started ``dsar consent-sync`` out too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from hub.jobs.tasks import CONSENT_LOCK, JobFailed, WorkerRuntime

if TYPE_CHECKING:
    from procrastinate import App

LOOKUP_TASK = "dsar.lookup"
ERASURE_TASK = "dsar.erasure"
CONSENT_TASK = "dsar.consent_sync"

#: queue of each task; ``dsar worker --queues`` picks among them
QUEUES: dict[str, str] = {LOOKUP_TASK: "lookups", ERASURE_TASK: "erasures",
                          CONSENT_TASK: "consent"}
QUEUE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(QUEUES.values()))

#: the periodic consent sync's locks (a constant: it names no person)
CONSENT_QUEUEING_LOCK = "dsar.consent_sync.queued"

INSTALL_HINT = "workers need procrastinate: pip install 'dsar-hub[postgres]'"


class QueueUnavailable(Exception):
    """The job queue cannot be used here (SQLite, or procrastinate not installed)."""


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def conninfo(database_url: str) -> str:
    """The hub's SQLAlchemy URL (``postgresql+psycopg://…``) as the libpq connection string
    procrastinate's psycopg pool takes."""
    if not is_postgres(database_url):
        raise QueueUnavailable(
            "workers need PostgreSQL: set DSAR_DATABASE_URL=postgresql+psycopg://…")
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def request_lock(request_id: str) -> str:
    return f"dsar.request:{request_id}"


def build_app(database_url: str, runtime: WorkerRuntime | None = None, *,
              consent_cron: str = "") -> App:
    """The procrastinate app on ``database_url``. A worker passes its ``runtime`` (the tasks
    run with it) and the consent cron (empty: no periodic sync); a process that only queues
    jobs passes neither."""
    try:
        from procrastinate import App, PsycopgConnector, RetryStrategy
    except ImportError:
        raise QueueUnavailable(INSTALL_HINT) from None
    from sqlalchemy.exc import SQLAlchemyError

    from hub.jobs import tasks

    app = App(connector=PsycopgConnector(conninfo=conninfo(database_url)))
    # database hiccups and timeouts are worth a retry; a wrong request id or a missing
    # configuration is not (it would fail the same way)
    retry = RetryStrategy(max_attempts=3, exponential_wait=5,
                          retry_exceptions=[OSError, SQLAlchemyError])

    def current() -> WorkerRuntime:
        if runtime is None:
            raise JobFailed("this process only queues jobs; `dsar worker` runs them")
        return runtime

    @app.task(name=LOOKUP_TASK, queue=QUEUES[LOOKUP_TASK], retry=retry)
    async def lookup(request_id: str, lang: str) -> None:
        await tasks.run_lookup(current(), request_id, lang)

    @app.task(name=ERASURE_TASK, queue=QUEUES[ERASURE_TASK], retry=retry)
    async def erasure(request_id: str, lang: str) -> None:
        await tasks.run_erasure(current(), request_id, lang)

    async def consent_sync(timestamp: int) -> None:
        await tasks.run_consent_sync(current(), tick=timestamp, lock_name=CONSENT_LOCK)

    task = app.task(name=CONSENT_TASK, queue=QUEUES[CONSENT_TASK], lock=CONSENT_LOCK,
                    queueing_lock=CONSENT_QUEUEING_LOCK)(consent_sync)
    if consent_cron:
        app.periodic(cron=consent_cron, periodic_id="consent")(task)
    return app


def defer(app: App, task: str, request_id: str, **kwargs: Any) -> int | None:
    """Queue ``task`` for ``request_id`` (the app opened); its job id, or None when a job of
    that request is already waiting."""
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        return app.configure_task(task, allow_unknown=False,
                                  lock=request_lock(request_id),
                                  queueing_lock=request_lock(request_id)
                                  ).defer(request_id=request_id, **kwargs)
    except AlreadyEnqueued:
        return None


async def run_worker(app: App, *, queues: Sequence[str], concurrency: int, wait: bool,
                     name: str = "dsar-worker") -> None:
    """Run jobs of ``queues`` until stopped (SIGINT/SIGTERM finish the running jobs first) or,
    with ``wait`` False, until the queues are empty."""
    async with app.open_async():
        await app.run_worker_async(queues=list(queues), concurrency=concurrency, wait=wait,
                                   name=name, delete_jobs="successful")


def parse_queues(text_value: str | None) -> list[str]:
    """``lookups,erasures`` → the queue names, checked; None or empty: all of them."""
    names = [part.strip() for part in (text_value or "").split(",") if part.strip()]
    unknown = [name for name in names if name not in QUEUE_NAMES]
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(QUEUE_NAMES)}")
    return list(dict.fromkeys(names)) or list(QUEUE_NAMES)


def job_counts(app: App) -> dict[str, dict[str, int]]:
    """Jobs per queue and state (the app opened): what ``dsar jobs list`` prints."""
    states = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
    counts = {queue: dict.fromkeys(states, 0) for queue in QUEUE_NAMES}
    for row in app.job_manager.list_queues():
        if row["name"] in counts:
            counts[row["name"]] = {state: int(row.get(state, 0)) for state in states}
    return counts
