"""The ``dsar`` command (typer + rich); its contract is docs/interface.md.

Exit codes: 0 done and every enabled processor answered; 2 bad usage or bad input, nothing
contacted; 3 partial (a processor failed, was skipped or needs a manual step; the report says
which); 1 unexpected error. Results go to stdout (``--json``: one JSON document and nothing
else); progress, warnings and logs go to stderr.

Start-up stays fast: heavy modules (pydantic models, connectors, the stripe SDK) are imported
inside the commands, never at module level.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.cli.audit import audit_app
from hub.cli.consent import consent_app, consent_sync_command, webhook_app
from hub.cli.requests import requests_app

if TYPE_CHECKING:
    from rich.console import Console

    from connectors.sdk.base import Connector
    from hub.config.settings import HubSettings
    from hub.core.models import ProcessorResult, Report

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

app = typer.Typer(
    help="Answer GDPR data-subject requests across your processors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)
schema_app = typer.Typer(help="Print JSON Schemas of the files dsar writes.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")
app.add_typer(requests_app, name="requests")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(webhook_app, name="webhook")
app.command("consent-sync")(consent_sync_command)


class Language(StrEnum):
    sv = "sv"
    en = "en"


@dataclass
class Options:
    config: Path | None
    sandbox: bool
    json: bool
    out: Path | None
    verbose: int
    #: keyword arguments connectors may take for this command (e.g. the state store)
    connector_options: dict[str, Any] = field(default_factory=dict)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int) -> typer.Exit:
    _console(stderr=True).print(f"[bold red]error:[/] {_redacted(message)}")
    return typer.Exit(code)


def _redacted(text: str) -> str:
    from hub.core.logs import redact

    return redact(text)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML configuration [default: $DSAR_CONFIG, else config/hub.toml]",
        dir_okay=False)] = None,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help="Use the built-in sandbox processors (no credentials, no network).")
    ] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one machine-readable JSON result on stdout and nothing else.")
    ] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for report files [default: <state dir>/reports].", file_okay=False)
    ] = None,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="More log output on stderr (-v info, -vv debug).")
    ] = 0,
) -> None:
    from hub.core.logs import configure_logging

    configure_logging(["WARNING", "INFO", "DEBUG"][min(verbose, 2)])
    ctx.obj = Options(config=config, sandbox=sandbox, json=json_output, out=out, verbose=verbose)


@contextmanager
def _environment(opts: Options) -> Iterator[tuple[HubSettings, dict[str, type[Connector]]]]:
    """Settings and connectors for one command; with ``--sandbox`` the fake processors run."""
    import tempfile

    from hub.config.registry import discover
    from hub.config.settings import load_settings, with_processor_overrides
    from hub.core.errors import ConfigurationError
    from hub.core.logs import register_secrets
    from hub.store.db import open_database
    from hub.store.ledger import SANDBOX_DB_MARK
    from hub.store.state import StateStore

    connectors = discover()
    try:
        settings = load_settings(connectors, opts.config)
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    if not opts.sandbox:
        for name in connectors:
            register_secrets(settings.processor(name).secret_values())
        opts.connector_options = {"state": StateStore(open_database(settings.ledger_url))}
        yield settings, connectors
        return

    from hub.sandbox import Sandbox

    # A sandbox run keeps its ledger and tokens in a throw-away database: the fake processors
    # start afresh each run, and invented people never enter the real request log.
    with Sandbox() as sandbox, tempfile.TemporaryDirectory(prefix=SANDBOX_DB_MARK) as scratch:
        database = f"sqlite:///{Path(scratch) / 'sandbox.sqlite3'}"
        settings = settings.model_copy(update={"database_url": database})
        for name in connectors:
            if name in sandbox.base_urls:
                values = {"enabled": True, "base_url": sandbox.base_urls[name],
                          **sandbox.credentials.get(name, {})}
            else:  # never let a sandbox run reach a real processor
                values = {"enabled": False}
            settings = with_processor_overrides(settings, name, values)
        opts.connector_options = {"state": StateStore(open_database(database))}
        yield settings, connectors


def _exit_code(results: list[ProcessorResult]) -> int:
    """0 when every enabled processor answered, 3 when one did not, 2 when none is set up
    (nothing was contacted: a configuration problem, not an answer)."""
    from hub.core.models import ProcessorStatus

    answered = {ProcessorStatus.FOUND, ProcessorStatus.NOT_FOUND}
    enabled = [r for r in results if r.enabled]
    if not enabled:
        return EXIT_USAGE
    return EXIT_OK if all(r.status in answered for r in enabled) else EXIT_PARTIAL


class _LiveProgress:
    """One spinner line per processor on stderr while the fan-out runs."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=_console(stderr=True), transient=False, disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, name: str, result: ProcessorResult | None) -> None:
        if result is None:
            self.tasks[name] = self.progress.add_task(f"{name}: searching…", total=1)
            return
        summary = f"{result.status.value}" + (
            f", {len(result.records)} records" if result.records else "")
        self.progress.update(self.tasks[name], description=f"{name}: {summary}", completed=1)


def _records_by_type(result: ProcessorResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in result.records:
        counts[record.type] = counts.get(record.type, 0) + 1
    return counts


def _print_summary(report: Report, folder: Path) -> None:
    from rich.table import Table

    table = Table(title=f"Request {report.request.id} (due {report.request.due_at})")
    table.add_column("processor")
    table.add_column("status")
    table.add_column("records")
    table.add_column("notes")
    styles = {"found": "green", "not_found": "dim", "error": "red", "skipped": "yellow",
              "manual": "yellow"}
    for result in report.processors:
        counts = ", ".join(f"{n} {t}" for t, n in _records_by_type(result).items()) or "-"
        # the table gives the gist; the report carries every note in full
        notes = "; ".join(([result.error] if result.error else [])
                          + [textwrap.shorten(n, 90, placeholder=" …") for n in result.notes])
        table.add_row(result.name, f"[{styles[result.status.value]}]{result.status.value}[/]",
                      counts, _redacted(notes))
    console = _console()
    console.print(table)
    if not any(p.enabled for p in report.processors):
        console.print("[yellow]No processor is set up: configure credentials (see README) or "
                      "try --sandbox.[/]")
    console.print(f"Report: {folder / 'report.html'}")
    console.print(f"        {folder / 'report.json'}, {folder / 'export.zip'}")


def _json_summary(report: Report, folder: Path, code: int) -> dict[str, Any]:
    return {
        "request_id": report.request.id,
        "type": report.request.type,
        "due_at": report.request.due_at.isoformat(),
        "exit_code": code,
        "report": str(folder / "report.json"),
        "report_html": str(folder / "report.html"),
        "export_zip": str(folder / "export.zip"),
        "cover_letter": str(folder / "cover-letter.txt"),
        "processors": [
            {"name": r.name, "status": r.status.value, "error": _redacted(r.error or "") or None,
             "records": len(r.records), "records_by_type": _records_by_type(r),
             "notes": [_redacted(n) for n in r.notes]}
            for r in report.processors
        ],
    }


def _read_batch(path: Path) -> list[str]:
    """One address a line; blank lines and ``#`` comments are ignored. All are validated
    before anything is contacted (exit 2 names the bad lines, not their content)."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject

    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise _fail(f"cannot read the batch file: {exc.strerror}", EXIT_USAGE) from None
    addresses, bad = [], []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            addresses.append(Subject.from_email(text).email)
        except InvalidInput:
            bad.append(str(number))
    if bad:
        raise _fail(f"invalid e-mail address on line(s) {', '.join(bad)} of {path}", EXIT_USAGE)
    if not addresses:
        raise _fail(f"no e-mail addresses in {path}", EXIT_USAGE)
    unique: dict[str, str] = {}
    for address in addresses:  # one mailbox in two spellings is one person, one request
        unique.setdefault(address.casefold(), address)
    return list(unique.values())


@app.command()
def lookup(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Argument(
        help="The data subject's e-mail address.", show_default=False)] = None,
    batch: Annotated[Path | None, typer.Option(
        "--batch", help="A file with one e-mail address a line: one lookup and report each.",
        dir_okay=False)] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, max=50, help="Lookups in flight at once with --batch.")] = 5,
    lang: Annotated[Language, typer.Option(
        "--lang", help="Language of report.html and the cover letter.")] = Language.sv,
) -> None:
    """Access request: find what every enabled processor holds and write the access report."""
    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.core.subject import Subject
    from hub.reports.files import cover_letter
    from hub.requests.access import look_up_many

    opts: Options = ctx.obj
    if (email is None) == (batch is None):
        raise _fail("give either an e-mail address or --batch FILE", EXIT_USAGE)
    try:
        addresses = _read_batch(batch) if batch else [Subject.from_email(email or "").email]
    except InvalidInput as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    subjects = [Subject.from_email(address) for address in addresses]
    for subject in subjects:
        register_secret(subject.email, "subject")
    if email:
        register_secret(email.strip(), "subject")

    with _environment(opts) as (settings, connectors):
        single = len(subjects) == 1
        progress = _LiveProgress(enabled=single and not opts.json and sys.stderr.isatty())
        with progress.progress:
            reports = asyncio.run(look_up_many(
                subjects, settings, connectors, concurrency=concurrency,
                on_progress=progress if single else None, **opts.connector_options))
        reports, folders = _record_and_write(reports, subjects, settings, opts, lang.value)
    codes = [_exit_code(report.processors) for report in reports]
    code = next((c for c in (EXIT_PARTIAL, EXIT_USAGE) if c in codes), EXIT_OK)
    summaries = [_json_summary(r, f, c) for r, f, c in zip(reports, folders, codes, strict=True)]
    if opts.json:
        typer.echo(json.dumps(summaries[0] if single else {"exit_code": code,
                                                           "requests": summaries},
                              ensure_ascii=False))
    elif single:
        _print_summary(reports[0], folders[0])
        console = _console()
        console.rule("cover letter (cover-letter.txt)")
        console.print(cover_letter(reports[0], lang=lang.value, settings=settings), markup=False)
    else:
        _print_batch_summary(summaries)
    raise typer.Exit(code)


def _record_and_write(reports: list[Report], subjects: list[Any], settings: HubSettings,
                      opts: Options, lang: str) -> tuple[list[Report], list[Path]]:
    """Attach each lookup to its open access request in the ledger (opening one if needed),
    add the manual items from the inventory, and write the report folders."""
    from hub.reports.content import with_manual_items
    from hub.reports.files import write_report
    from hub.store.db import open_database
    from hub.store.ledger import Ledger, bind_report, ledger_url

    ledger = Ledger(open_database(ledger_url(settings, sandbox=opts.sandbox)))
    requests = [ledger.find_or_open(subject.email, "access")[0] for subject in subjects]
    reports = [with_manual_items(bind_report(report, request), settings.inventory)
               for report, request in zip(reports, requests, strict=True)]
    folders = [write_report(report, opts.out or settings.reports_dir, lang=lang,
                            settings=settings) for report in reports]
    for request, report, folder in zip(requests, reports, folders, strict=True):
        ledger.attach_report(request.id, report, folder)
    return reports, folders


def _print_batch_summary(summaries: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"{len(summaries)} access requests")
    for column in ("#", "request", "processors", "records", "report"):
        table.add_column(column)
    for number, summary in enumerate(summaries, start=1):
        statuses = ", ".join(f"{p['name']}: {p['status']}" for p in summary["processors"])
        records = sum(p["records"] for p in summary["processors"])
        table.add_row(str(number), summary["request_id"], statuses, str(records),
                      summary["report"])
    _console().print(table)


@app.command("connectors")
def list_connectors(ctx: typer.Context) -> None:
    """List installed connectors and their capabilities."""
    from hub.config.registry import discover

    opts: Options = ctx.obj
    found = discover()
    rows = [
        {"name": name, "title": cls.title,
         "capabilities": sorted(c.value for c in cls.capabilities),
         "docs": cls.docs_url, "module": cls.__module__}
        for name, cls in found.items()
    ]
    if opts.json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title="Installed connectors (entry-point group dsar.connectors)")
    for column in ("name", "title", "capabilities", "module", "docs"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["title"], ", ".join(row["capabilities"]), row["module"],
                      row["docs"])
    _console().print(table)


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate settings and test each enabled processor's credentials with one cheap read."""
    from hub.config.check import check_all

    opts: Options = ctx.obj
    with _environment(opts) as (settings, connectors):
        checks = asyncio.run(check_all(settings, connectors, **opts.connector_options))
    code = EXIT_OK if all(c["ok"] for c in checks) else EXIT_PARTIAL
    if opts.json:
        typer.echo(json.dumps({"exit_code": code, "processors": checks}))
        raise typer.Exit(code)
    from rich.table import Table

    table = Table(title="Configuration check")
    for column in ("processor", "result", "details"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/]" if check["ok"] else "[red]failed[/]"
        table.add_row(check["name"], mark, _redacted(check["details"]))
    _console().print(table)
    raise typer.Exit(code)


@schema_app.command("report")
def schema_report() -> None:
    """Print the JSON Schema of report.json."""
    from hub.core.models import Report

    typer.echo(json.dumps(Report.model_json_schema(), indent=2))


# --- erasure (issue 5): dsar erase, dsar retention due, dsar requests resume / task --------
from hub.cli.erase import erase_command, resume_command, retention_app, task_app  # noqa: E402

app.command("erase")(erase_command)
app.add_typer(retention_app, name="retention")
requests_app.command("resume")(resume_command)
requests_app.add_typer(task_app, name="task")
# --- end erasure ----------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point: map unexpected errors to exit 1 without a traceback wall."""
    try:
        app()
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted; nothing that completed was lost")
        sys.exit(130)
    except Exception as exc:
        from hub.core.errors import ConfigurationError

        if isinstance(exc, ConfigurationError):
            _console(stderr=True).print(f"[bold red]error:[/] {_redacted(str(exc))}")
            sys.exit(EXIT_USAGE)
        _console(stderr=True).print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {_redacted(str(exc))}")
        sys.exit(EXIT_ERROR)
