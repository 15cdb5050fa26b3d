"""``dsar lookup``: the access request (Art. 15) on the command line.

    dsar lookup EMAIL [--lang sv|en] [--draft] [--no-review]
    dsar lookup --batch FILE [--concurrency N]

Parses the input, runs :func:`hub.requests.access.answer_access` and prints: a live line per
processor while it runs (one address on a terminal), then a summary table, the report paths and
the cover letter; with ``--json`` one document. Exit code: the worst verdict of the lookups.
A lookup with weak matches or another person's data writes only the operator's copy until
``dsar requests review ID`` approves (Art. 15(4)); the output says so and names the command.
A request the lookup had to open itself (none was opened with ``dsar requests open
--received``) has an assumed receipt date: a warning on stderr, ``received_at_assumed`` in JSON.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.cli.shared import (
    ExitCode,
    console,
    escaped,
    fail,
    options,
    redacted,
    refuse_placeholders,
    request_context,
)
from hub.core.languages import DEFAULT_LANGUAGE, Language

if TYPE_CHECKING:
    from rich.progress import TaskID

    from hub.core.models import ProcessorResult, Report
    from hub.requests.access import AccessAnswer, ReviewState


class _LiveProgress:
    """One spinner line per processor on stderr while the fan-out runs."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console(stderr=True), transient=False, disable=not enabled,
        )
        self.tasks: dict[str, TaskID] = {}

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


def _print_summary(report: Report, folder: Path, review: ReviewState, *,
                   sandbox: bool = False) -> None:
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
        status = f"[{styles[result.status.value]}]{result.status.value}[/]"
        if result.incomplete:  # the search could not cover everything: a person finishes it
            status += " [yellow](incomplete)[/]"
        table.add_row(result.name, status, counts, escaped(notes))
    out = console()
    out.print(table)
    if not any(p.enabled for p in report.processors):
        out.print("[yellow]No processor is set up: configure credentials (see README) or "
                  "try --sandbox.[/]")
    if review.withheld:
        out.print(f"Operator copy: {folder / 'report.json'} (review notes: "
                  f"{folder / 'review.txt'})")
    else:
        out.print(f"Report: {folder / 'report.html'}")
        out.print(f"        {folder / 'report.json'}, {folder / 'export.zip'}")
    if review.needed:
        held = ("The documents for the subject are not written yet."
                if review.withheld else "The documents written are drafts.")
        # a sandbox ledger is gone when the run ends: there is no request left to review
        step = ("A real lookup holds its documents for `dsar requests review ID`." if sandbox
                else f"Next: dsar requests review {escaped(report.request.id)}")
        out.print(f"[yellow]Review needed (GDPR Art. 15(4)):[/] {review.flags} flagged item(s): "
                  f"weak matches or another person's data. {held} {step}")


def _warn_overdue(report: Report) -> None:
    """Past its deadline the documents promise the answer "as soon as possible", never a day
    that is over; the operator is told plainly."""
    from hub.store.ledger import local_today

    due = report.request.due_at
    if due < local_today():
        console(stderr=True).print(
            f"[yellow]warning:[/] request {escaped(report.request.id)} is overdue: its deadline "
            f"was {due.isoformat()} (GDPR Art. 12(3)). Send the answer now; the documents say it "
            "follows as soon as possible.")


def _json_summary(answer: AccessAnswer) -> dict[str, Any]:
    report, folder = answer.report, answer.folder

    def document(name: str) -> str | None:  # None: held back for the operator's review
        return None if answer.review.withheld else str(folder / name)

    return {
        "request_id": report.request.id,
        "type": report.request.type,
        "due_at": report.request.due_at.isoformat(),
        "exit_code": answer.code,
        "report": str(folder / "report.json"),
        "report_html": document("report.html"),
        "export_zip": document("export.zip"),
        "cover_letter": document("cover-letter.txt"),
        "review": answer.review.as_dict(report.request.id),
        "processors": [
            {"name": r.name, "status": r.status.value, "error": redacted(r.error or "") or None,
             "records": len(r.records), "records_by_type": _records_by_type(r),
             "incomplete": r.incomplete, "note_codes": list(r.note_codes),
             "notes": [redacted(n) for n in r.notes]}
            for r in report.processors
        ],
    }


def _read_batch(path: Path) -> list[str]:
    """One address a line; blank lines and ``#`` comments are ignored. All are validated
    before anything is contacted (exit 2 names the bad lines, not their content)."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject, address_key

    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise fail(f"cannot read the batch file: {exc.strerror}", ExitCode.USAGE) from None
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
        raise fail(f"invalid e-mail address on line(s) {', '.join(bad)} of {path}",
                   ExitCode.USAGE)
    if not addresses:
        raise fail(f"no e-mail addresses in {path}", ExitCode.USAGE)
    unique: dict[str, str] = {}
    for address in addresses:  # one mailbox in two spellings is one person, one request
        unique.setdefault(address_key(address), address)
    return list(unique.values())


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
        "--lang", help="Language of report.html and the cover letter.")] = DEFAULT_LANGUAGE,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the documents although the configuration still has unfilled "
        "placeholders; they are stamped UTKAST / DRAFT and must not be sent.")] = False,
    no_review: Annotated[bool, typer.Option(
        "--no-review", help="Write the documents at once, even with weak matches or another "
        "person's data in them (default: hold them for `dsar requests review ID`, Art. "
        "15(4)).")] = False,
) -> None:
    """Access request: find what every enabled processor holds and write the access report."""
    import asyncio

    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.core.subject import Subject
    from hub.reports.files import cover_letter
    from hub.requests.access import answer_access, batch_verdict
    from hub.requests.receipt import assumed_receipt_warning, assumed_receipts

    opts = options(ctx)
    if (email is None) == (batch is None):
        raise fail("give either an e-mail address or --batch FILE", ExitCode.USAGE)
    try:
        addresses = _read_batch(batch) if batch else [Subject.from_email(email or "").email]
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    subjects = [Subject.from_email(address) for address in addresses]
    for subject in subjects:
        register_secret(subject.email, "subject")
    if email:
        register_secret(email.strip(), "subject")

    refuse_placeholders(opts, draft=draft)
    single = len(subjects) == 1
    with request_context(opts, draft=draft) as env:
        progress = _LiveProgress(enabled=single and not opts.json and sys.stderr.isatty())
        with progress.progress:
            answers = asyncio.run(answer_access(
                env, subjects, lang=lang.value, concurrency=concurrency,
                on_progress=progress if single else None, review=not no_review))
        settings, draft = env.settings, env.draft
        assumed = assumed_receipts(env, [answer.request_id for answer in answers])
    code = batch_verdict(answer.code for answer in answers)
    summaries = [{**_json_summary(answer), "received_at_assumed": answer.request_id in assumed}
                 for answer in answers]
    for request_id, received_on in assumed.items():
        warning = assumed_receipt_warning(request_id, received_on)
        console(stderr=True).print(f"[yellow]warning:[/] {escaped(warning)}")
    for answer in answers:
        _warn_overdue(answer.report)
    if opts.json:
        typer.echo(json.dumps(summaries[0] if single else {"exit_code": code,
                                                           "requests": summaries},
                              ensure_ascii=False))
    elif single:
        _print_summary(answers[0].report, answers[0].folder, answers[0].review,
                       sandbox=opts.sandbox)
        if not answers[0].review.withheld:
            out = console()
            out.rule("cover letter (cover-letter.txt)")
            out.print(cover_letter(answers[0].report, lang=lang.value, settings=settings,
                                   draft=draft),
                      markup=False)
    else:
        _print_batch_summary(summaries)
    raise typer.Exit(code)


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
    console().print(table)
    held = [s["request_id"] for s in summaries if s["review"]["needed"]]
    if held:
        console().print(f"[yellow]Review needed (GDPR Art. 15(4))[/] for {len(held)} "
                        "request(s): weak matches or another person's data. Next: "
                        + "; ".join(f"dsar requests review {escaped(i)}" for i in held))
