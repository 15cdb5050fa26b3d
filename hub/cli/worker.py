"""``dsar worker`` and ``dsar jobs``: several workers on one PostgreSQL database.

    dsar worker [--concurrency N] [--queues lookups,erasures,consent] [--until-empty]
    dsar jobs defer lookup EMAIL [--lang sv|en]
    dsar jobs defer erase EMAIL --yes [--lang sv|en]
    dsar jobs list

The queue is procrastinate's (:mod:`hub.jobs.queue`), in the hub's PostgreSQL database, so any
number of machines can run workers and queue jobs without a broker. ``jobs defer`` opens the
request in the ledger and queues its job (prints the job id, exit 0); a worker answers it with
the same use-case ``dsar lookup`` / ``dsar erase`` runs. Workers also run the consent sync once
per ``[worker] consent_sync_cron`` tick (default every 5 minutes) across all machines. A
worker prints one line per finished job on stderr (``--json``: one JSON object a line on stdout),
with request ids, never addresses.

With SQLite (one machine) there is nothing to share: ``dsar worker`` and ``dsar jobs`` exit 2
and the other commands run in-process as always. ``--sandbox`` keeps a throw-away ledger in
each process, so jobs could not pass between processes: refused the same way.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.shared import (
    ExitCode,
    Options,
    console,
    escaped,
    fail,
    options,
    refuse_placeholders,
    request_context,
    settings_only,
)
from hub.core.languages import DEFAULT_LANGUAGE, Language

if TYPE_CHECKING:
    from procrastinate import App
    from sqlalchemy import Engine

    from hub.jobs.tasks import JobOutcome, WorkerRuntime

jobs_app = typer.Typer(help="The job queue that workers share (PostgreSQL).",
                       no_args_is_help=True)
defer_app = typer.Typer(help="Open a request and queue it for the workers.",
                        no_args_is_help=True)
jobs_app.add_typer(defer_app, name="defer")

SANDBOX_REFUSED = ("workers cannot use --sandbox: it keeps a throw-away ledger in each process, "
                   "so no job could pass from one process to another; run workers on "
                   "PostgreSQL (DSAR_DATABASE_URL) against the configured processors")


def _queue_database(opts: Options) -> str:
    """The PostgreSQL URL the queue lives in; exit 2 (nothing started) when there is none."""
    from hub.jobs.queue import is_postgres

    if opts.sandbox:
        raise fail(SANDBOX_REFUSED, ExitCode.USAGE)
    url = settings_only(opts).ledger_url
    if not is_postgres(url):
        raise fail("workers need PostgreSQL: set DSAR_DATABASE_URL=postgresql+psycopg://…",
                   ExitCode.USAGE)
    return url


def _app(url: str, runtime: WorkerRuntime | None = None, consent_cron: str = "") -> App:
    from hub.jobs.queue import QueueUnavailable, build_app

    try:
        return build_app(url, runtime, consent_cron=consent_cron)
    except QueueUnavailable as exc:
        raise fail(str(exc), ExitCode.USAGE) from None


def _job_database(url: str) -> Engine:
    """The hub's database with its schema and the queue's schema current."""
    from hub.store.db import open_database
    from hub.store.schema import upgrade_job_schema

    engine = open_database(url)
    upgrade_job_schema(engine)
    return engine


def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, max=50, help="Jobs this worker runs at once.")] = 4,
    queues: Annotated[str | None, typer.Option(
        "--queues", metavar="QUEUES", help="Comma-separated queues to take jobs from: "
        "lookups, erasures, consent (default: all of them).", show_default=False)] = None,
    until_empty: Annotated[bool, typer.Option(
        "--until-empty", help="Stop once the queues are empty (a batch run from a timer); "
        "such a run does not schedule the periodic consent sync.")] = False,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the documents although the configuration still has unfilled "
        "placeholders; they are stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Run queued jobs (lookups, erasures) and the periodic consent sync; stop with Ctrl-C or
    SIGTERM (running jobs finish first). Start one on every machine that should work."""
    import asyncio
    import socket

    from hub.config.consent import load_consent_settings
    from hub.config.settings import resolve_config_path
    from hub.core.errors import ConfigurationError
    from hub.jobs.queue import parse_queues, run_worker
    from hub.jobs.settings import load_worker_settings
    from hub.jobs.tasks import WorkerRuntime

    opts = options(ctx)
    url = _queue_database(opts)
    try:
        names = parse_queues(queues)
        config_path = resolve_config_path(opts.config)
        cron = load_worker_settings(config_path).consent_sync_cron
    except (ValueError, ConfigurationError) as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    if until_empty:
        cron = ""
    refuse_placeholders(opts, draft=draft)
    with request_context(opts, draft=draft) as env:
        try:
            consent = load_consent_settings(env.settings, config_path)
        except ConfigurationError as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
        runtime = WorkerRuntime(env, consent, _job_database(url),
                                on_outcome=lambda outcome: _print_outcome(outcome, opts.json))
        app = _app(url, runtime, consent_cron=cron)
        name = f"dsar@{socket.gethostname()}:{os.getpid()}"
        schedule = f"consent sync {cron}" if cron else "no periodic consent sync"
        console(stderr=True).print(
            f"{name}: queues {', '.join(names)}; concurrency {concurrency}; {schedule}")
        asyncio.run(run_worker(app, queues=names, concurrency=concurrency,
                               wait=not until_empty, name=name))
    console(stderr=True).print(f"{name}: stopped")


def _print_outcome(outcome: JobOutcome, as_json: bool) -> None:
    """One line per finished job: stderr for people, a JSON line on stdout with ``--json``."""
    if as_json:
        typer.echo(json.dumps({"job": outcome.job, "exit_code": outcome.code,
                               "request_id": outcome.request_id, "tick": outcome.tick,
                               "line": outcome.line}, ensure_ascii=False))
        return
    style = "green" if outcome.code == ExitCode.OK else "yellow"
    console(stderr=True).print(f"[{style}]{escaped(outcome.line)}[/]")


def _queue(ctx: typer.Context, email: str, kind: str, lang: Language) -> None:
    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.core.request_types import RequestType
    from hub.core.subject import Subject
    from hub.jobs.defer import queue_request

    opts = options(ctx)
    register_secret(email.strip(), "subject")
    try:
        subject = Subject.from_email(email)
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    register_secret(subject.email, "subject")
    url = _queue_database(opts)
    app = _app(url)
    engine = _job_database(url)
    with app.open():
        queued = queue_request(app, engine, subject.email, RequestType(kind), lang=lang.value)
    if opts.json:
        typer.echo(json.dumps(queued.as_dict(), ensure_ascii=False))
    elif queued.job_id is None:
        console().print(f"request {queued.request_id}: a job is already waiting for it; "
                        "not queued again")
    else:
        console().print(f"request {queued.request_id}: queued as job {queued.job_id}")
    raise typer.Exit(ExitCode.OK)


@defer_app.command("lookup")
def defer_lookup(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's e-mail address.",
                                         show_default=False)],
    lang: Annotated[Language, typer.Option(
        "--lang", help="Language of report.html and the cover letter.")] = DEFAULT_LANGUAGE,
) -> None:
    """Access request: open it and let a worker look up and write the report."""
    _queue(ctx, email, "access", lang)


@defer_app.command("erase")
def defer_erase(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Required: the worker erases without asking again.")] = False,
    lang: Annotated[Language, typer.Option(
        "--lang", help="Language of report.html and the cover letter.")] = DEFAULT_LANGUAGE,
) -> None:
    """Erasure request: open it and let a worker plan, erase, verify and report.

    Weak matches are erased only once approved (`dsar requests review ID --approve REF`)."""
    if not yes:
        raise fail("a queued erasure runs without asking: check the plan with "
                   "`dsar erase EMAIL --dry-run`, then queue it with --yes", ExitCode.USAGE)
    _queue(ctx, email, "erasure", lang)


@jobs_app.command("list")
def list_jobs(ctx: typer.Context) -> None:
    """Jobs per queue and state (finished jobs that succeeded are removed; the ledger keeps
    the requests' history)."""
    from rich.table import Table

    from hub.jobs.queue import job_counts

    opts = options(ctx)
    url = _queue_database(opts)
    app = _app(url)
    _job_database(url)
    with app.open():
        counts = job_counts(app)
    if opts.json:
        typer.echo(json.dumps(counts))
        return
    table = Table(title="job queue")
    states = ("todo", "doing", "failed", "cancelled", "aborted")
    table.add_column("queue")
    for state in states:
        table.add_column(state, justify="right")
    for queue, by_state in counts.items():
        table.add_row(queue, *(str(by_state.get(state, 0)) for state in states))
    console().print(table)
