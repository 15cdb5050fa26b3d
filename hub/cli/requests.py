"""``dsar requests``: the request ledger on the command line (see :mod:`hub.store.ledger`).

    dsar requests open EMAIL --type access --received 2026-12-01 --verified-by "..."
    dsar requests list [--overdue] [--due-within 7d] [--all]
    dsar requests show ID
    dsar requests extend ID --reason "..." [--told-on DATE] [--months 2] [--lang sv|en]
    dsar requests close ID
    dsar requests sent ID [--on YYYY-MM-DD] [--how e-post|post]
    dsar requests export --csv [--out FILE]
    dsar requests review ID [--exclude REF] [--include REF[:FIELD]] [--redact REF:FIELD] [--approve]
    dsar requests review ID [--approve REF ...]      (an erasure's weak matches)
    dsar requests purge [--older-than DAYS] [--dry-run]

Wired into the main app by :mod:`hub.cli.app`; the callbacks read the global options
(``--config``, ``--json``) from ``ctx.obj`` (:class:`hub.cli.shared.Options`). The request types
are :data:`hub.core.request_types.REQUEST_TYPES`.
Exit codes follow the README: 0 done, 2 bad input (unknown id, invalid address, an
extension the law does not allow), 1 unexpected. The tables are for the practice owner and show
addresses; log lines never do (they name request ids).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from hub.cli.shared import (
    ExitCode,
    console,
    fail,
    options,
    refuse_placeholders,
    request_context,
    settings_only,
    wide_console,
)
from hub.core.languages import DEFAULT_LANGUAGE, Language
from hub.core.request_types import REQUEST_TYPES

if TYPE_CHECKING:
    from rich.table import Table

    from hub.requests.context import RequestContext
    from hub.store.ledger import Ledger, LedgerRequest


def _log(message: str, *args: object) -> None:
    """One operator log line (request ids, never addresses). ``logging`` is imported here,
    not at module level: ``dsar --help`` loads this module and needs none of it."""
    import logging

    logging.getLogger(__name__).info(message, *args)


requests_app = typer.Typer(
    help="The request ledger: open requests, deadlines (Art. 12(3)), extensions, audit export.",
    no_args_is_help=True,
)


def _wants_json(ctx: typer.Context) -> bool:
    return options(ctx).json


@contextmanager
def _ledger(ctx: typer.Context) -> Iterator[Ledger]:
    """The ledger on the configured database (with ``--sandbox``: the sandbox's own ledger);
    configuration and input errors exit with 2."""
    from hub.config.settings import load_settings
    from hub.core.errors import ConfigurationError, InvalidInput
    from hub.store.ledger import Ledger, ledger_url

    opts = options(ctx)
    try:
        # The hub's own settings are all the ledger needs: discovering the connectors would
        # load every processor's code (and the HTTP stack) to print a table.
        settings = load_settings({}, opts.config)
        ledger = Ledger.open(ledger_url(settings, sandbox=opts.sandbox))
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    try:
        yield ledger
    except InvalidInput as exc:  # LedgerError and friends: the user asked for the impossible
        raise fail(str(exc)) from None
    finally:
        ledger.engine.dispose()


#: The longest period ``--due-within`` takes: deadlines lie months ahead, and a longer period
#: would run past the end of the calendar.
MAX_PERIOD_DAYS = 36500

def parse_days(text: str) -> int:
    """``7d``, ``2w`` or ``10`` (days) as a number of days."""
    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", text.lower())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a period like 7d, 2w or 10")
    number, unit = int(match.group(1)), match.group(2)
    days = number * 7 if unit == "w" else number
    if days > MAX_PERIOD_DAYS:
        raise typer.BadParameter(f"{text.strip()!r} is too long a period: at most "
                                 f"{MAX_PERIOD_DAYS} days (leave --due-within out for all)")
    return days


def _parse_received(text: str | None) -> date | None:
    """``--received`` checked as the web form checks it (:mod:`hub.requests.intake`)."""
    if text is None:
        return None
    from hub.requests.intake import FieldRefused, parse_received

    try:
        return parse_received(text)
    except FieldRefused as exc:
        raise typer.BadParameter(str(exc)) from None


def _parse_told_on(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)",
                                 param_hint="--told-on") from None


def _deadline_cell(request: LedgerRequest, today: date) -> str:
    days = request.days_left(today)
    if request.status != "open":
        return f"{request.deadline}"
    if days < 0:
        return f"[bold red]{request.deadline}, {-days} d overdue[/]"
    style = "yellow" if days <= 7 else "green"
    return f"[{style}]{request.deadline}, {days} d left[/]"


def _table(requests: list[LedgerRequest], title: str, today: date) -> Table:
    from rich import box
    from rich.table import Table

    from hub.cli.shared import shown

    # Fits an 80-column terminal: the extension and a closed status ride in the deadline cell;
    # the receipt date is in `dsar requests show` and the CSV export.
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("type", min_width=9, overflow="fold")
    table.add_column("subject", overflow="fold", min_width=14)
    table.add_column("deadline", min_width=12)
    for r in requests:
        deadline = _deadline_cell(r, today)
        if r.extended_due_at:
            deadline += " ext."
        if r.status != "open":
            deadline += f" [dim]{r.status}[/]"
        table.add_row(r.id, r.type, shown(r.subject_email or "(hashed)"), deadline)
    return table


@requests_app.command("open")
def open_request(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The requester's e-mail address.")],
    request_type: Annotated[str, typer.Option(
        "--type", "-t", help=f"One of: {', '.join(REQUEST_TYPES)}.")] = "access",
    received: Annotated[str | None, typer.Option(
        "--received", help="Day the request reached you (YYYY-MM-DD) [default: today]; the "
        "one-month deadline counts from it.", show_default=False)] = None,
    verified_by: Annotated[str | None, typer.Option(
        "--verified-by", help="How the requester's identity was verified (Art. 12(6)).")
    ] = None,
) -> None:
    """Record a new request and its Art. 12(3) deadline."""
    from hub.requests.intake import FieldRefused, checked_request, open_new_request

    try:  # the checks the web form makes too (hub.requests.intake)
        checked_request(email, request_type)
    except FieldRefused as exc:
        raise fail(str(exc)) from None
    day = _parse_received(received)
    with _ledger(ctx) as ledger:
        request = open_new_request(ledger, email, request_type, received=day,
                                   verified_by=verified_by)
    _log("opened request %s (%s), due %s", request.id, request.type, request.due_at)
    if _wants_json(ctx):
        typer.echo(json.dumps(request.as_dict(), ensure_ascii=False))
        return
    out = console()
    out.print(f"Opened [bold]{request.id}[/] ({request.type}), received "
                  f"{request.received_on}, answer due [bold]{request.due_at}[/].")
    if not verified_by:
        out.print("[yellow]No --verified-by given: record how you verified the requester's "
                      "identity before sending any personal data (Art. 12(6)).[/]")


@requests_app.command("list")
def list_requests(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their "
                                          "deadline.")] = False,
    due_within: Annotated[str | None, typer.Option(
        "--due-within", help="Only open requests due within this period (7d, 2w), overdue "
        "ones included.", show_default=False)] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="Closed requests too.")] = False,
) -> None:
    """Requests and their deadlines, soonest first (open ones unless --all)."""
    from hub.store.ledger import local_today

    days = parse_days(due_within) if due_within is not None else None
    today = local_today()
    with _ledger(ctx) as ledger:
        requests = ledger.list_requests(status=None if include_closed else "open",
                                        overdue=overdue, due_within=days, today=today)
    if _wants_json(ctx):
        typer.echo(json.dumps({"today": today.isoformat(), "requests": [
            {**r.as_dict(), "days_left": r.days_left(today), "overdue": r.overdue(today)}
            for r in requests]}, ensure_ascii=False))
        return
    title = "Overdue requests" if overdue else (
        f"Requests due within {days} days" if days is not None else
        "All requests" if include_closed else "Open requests")
    out = console()
    if not requests:
        out.print(f"{title}: none.")
        return
    out.print(_table(requests, f"{title} (today {today})", today))


@requests_app.command("show")
def show_request(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
) -> None:
    """One request with its identifiers and history."""
    from rich.table import Table

    from hub.cli.shared import shown
    from hub.requests.sent import sent_answer
    from hub.store.ledger import local_today

    with _ledger(ctx) as ledger:
        request = ledger.get(request_id)
    sent = sent_answer(request)
    if _wants_json(ctx):
        typer.echo(json.dumps({**request.as_dict(), "answer_sent": sent.as_dict() if sent
                               else None}, ensure_ascii=False))
        return
    today = local_today()
    out = console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    rows = [
        ("id", request.id), ("type", request.type), ("status", request.status),
        ("subject", shown(request.subject_email or "(hashed)")),
        ("received", request.received_on.isoformat() + (
            " [yellow](assumed: the day it was opened by a lookup or erasure; nobody gave the "
            "day it arrived)[/]" if request.received_at_assumed else "")),
        ("due (one month)", request.due_at.isoformat()),
        ("extended to", f"{request.extended_due_at} ({shown(request.extension_reason or '')})"
         if request.extended_due_at else "-"),
        *([("subject told", f"{request.extension_told_on} (Art. 12(3) extension letter)")]
          if request.extension_told_on else []),
        ("deadline", _deadline_cell(request, today)),
        ("verified by", shown(request.verified_by or "-")),
        ("closed", request.closed_at.isoformat() if request.closed_at else "-"),
        ("answer sent", f"{sent.on} ({shown(sent.how)})" if sent else "-"),
    ]
    for label, value in rows:
        facts.add_row(label, value)
    out.print(facts)
    if request.identifiers:
        out.print("identifiers: " + ", ".join(
            shown(f"{kind} {value} ({source})") for kind, value, source in request.identifiers))
    history = Table(title="history")
    for column in ("at", "event", "details"):
        history.add_column(column)
    for entry in request.events:
        history.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.kind,
                        shown(json.dumps(entry.details, ensure_ascii=False)))
    out.print(history)


@requests_app.command("extend")
def extend_request(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    reason: Annotated[str, typer.Option(
        "--reason", help="Why more time is needed (complexity, number of requests), in words "
        "for the requester: the extension letter quotes it as given.")],
    told_on: Annotated[str | None, typer.Option(
        "--told-on", help="Day the requester was told (YYYY-MM-DD) [default: today, when the "
        "letter is sent]; must lie within the first month.", show_default=False)] = None,
    months: Annotated[int, typer.Option("--months", help="Further months (1 or 2).")] = 2,
    lang: Annotated[Language, typer.Option(
        "--lang", help="Language of the extension letter.")] = DEFAULT_LANGUAGE,
) -> None:
    """Record an Art. 12(3) extension (at most two further months, once, within the first
    month, with a reason) and write the extension letter into the request folder."""
    from hub.cli.shared import shown
    from hub.core.errors import InvalidInput
    from hub.requests.context import RequestContext
    from hub.requests.extension import extend_request as extend

    opts = options(ctx)
    day = _parse_told_on(told_on)
    env = RequestContext(settings_only(opts), {}, sandbox=opts.sandbox, out_dir=opts.out,
                         draft=opts.sandbox)
    try:
        extension = extend(env, request_id, reason, months=months, told_on=day,
                           lang=lang.value)
    except InvalidInput as exc:  # refused by Art. 12(3), or an unknown id
        raise fail(str(exc)) from None
    request = extension.request
    _log("extended request %s to %s", request.id, request.extended_due_at)
    if _wants_json(ctx):
        typer.echo(json.dumps(extension.as_dict(), ensure_ascii=False))
        return
    out = console()
    out.print(f"Extended [bold]{request.id}[/]: answer now due [bold]"
              f"{request.extended_due_at}[/] (told on {extension.told_on}).")
    out.print(f"Extension letter ({extension.lang}): {shown(str(extension.letter))}")
    if extension.draft:
        out.print("[yellow]The letter is a draft (UTKAST / DRAFT): fill in the \\[controller] "
                  "placeholders (`dsar config check`) before sending one.[/]")
    if told_on is None:
        out.print(f"Send it today, before the first month ends ({request.due_at}).")


@requests_app.command("close")
def close_request(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    note: Annotated[str | None, typer.Option("--note", help="Optional note for the log "
                                             "(no personal data).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Close an erasure that still has open actions or tasks (needs --note "
        "saying why).")] = False,
) -> None:
    """Mark a request answered. An erasure closes only when its work is done (or with
    --force), and its subject's address is then replaced by a keyed hash."""
    with _ledger(ctx) as ledger:
        request = ledger.get(request_id)
        if request.type == "erasure":
            _close_erasure(ctx, request_id, note, force)
            request = ledger.get(request_id)
        else:
            request = ledger.close(request_id, note=note)
    if _wants_json(ctx):
        typer.echo(json.dumps(request.as_dict(), ensure_ascii=False))
        return
    console().print(f"Closed [bold]{request.id}[/].")


def _close_erasure(ctx: typer.Context, request_id: str, note: str | None, force: bool) -> None:
    from hub.core.errors import InvalidInput
    from hub.requests.erasure import open_stores
    from hub.requests.erasure.tasks import close_erasure

    opts = options(ctx)
    try:
        stores = open_stores(settings_only(opts), sandbox=opts.sandbox)
        if not close_erasure(stores, request_id, note=note, force=force):
            raise fail(f"request {request_id} is closed already")
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None


@requests_app.command("sent")
def sent_command(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    on: Annotated[str | None, typer.Option(
        "--on", help="Day the answer was sent (YYYY-MM-DD) [default: today].",
        show_default=False)] = None,
    how: Annotated[str, typer.Option(
        "--how", help="How it was sent: e-post or post.")] = "e-post",
) -> None:
    """Record the day the answer was sent to the person (Art. 12(3) evidence) and close the
    request when its work is done; refused while the documents are not written."""
    from hub.cli.shared import shown
    from hub.core.errors import InvalidInput
    from hub.requests.erasure import open_stores
    from hub.requests.sent import mark_sent

    opts = options(ctx)
    settings = settings_only(opts)
    try:
        day = date.fromisoformat(on) if on is not None else None
    except ValueError:
        raise typer.BadParameter(f"{on!r} is not a date (YYYY-MM-DD)", param_hint="--on") from None
    try:
        sent = mark_sent(open_stores(settings, sandbox=opts.sandbox),
                         opts.out or settings.reports_dir, request_id, on=day, how=how,
                         inventory=settings.inventory)
    except InvalidInput as exc:  # unknown id, a date out of range, no documents yet
        raise fail(str(exc), ExitCode.USAGE) from None
    _log("answer of request %s recorded as sent on %s", sent.request_id, sent.answer.on)
    if _wants_json(ctx):
        typer.echo(json.dumps(sent.as_dict(), ensure_ascii=False))
        return
    out = console()
    out.print(f"Answer of [bold]{sent.request_id}[/] sent on {sent.answer.on} "
              f"({shown(sent.answer.how)})" + (": request closed." if sent.closed else "."))
    if sent.kept_open:
        out.print(f"[yellow]Still open:[/] {shown(sent.kept_open)}")
    if sent.open_checks:
        out.print("[yellow]Manual checks not marked done:[/] "
                  + ", ".join(shown(name) for name in sent.open_checks))


@requests_app.command("export")
def export_requests(
    ctx: typer.Context,
    csv_format: Annotated[bool, typer.Option(
        "--csv", help="CSV (the only format; accepted for clarity).")] = True,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write to this file (mode 0600, UTF-8 with BOM for Excel) instead of "
        "stdout.", dir_okay=False)] = None,
) -> None:
    """The request log an auditor asks for (Art. 5(2)): one CSV row per request."""
    from hub.reports.files import write_private

    with _ledger(ctx) as ledger:
        text = ledger.export_csv()
    if out is None:
        typer.echo(text, nl=False)
        return
    write_private(out, "\ufeff" + text)
    count = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
    if _wants_json(ctx):
        typer.echo(json.dumps({"file": str(out), "requests": count}))
    else:
        console(stderr=True).print(f"Wrote {count} requests to {out}")


class _ReviewCommand(TyperCommand):
    """``--approve`` with no REF after it (last, or before another option) approves an access
    request's review; for an erasure it still takes the REF of a weak match."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click
        args = list(args)
        for at in reversed(range(len(args))):
            if args[at] == "--approve" and (at + 1 == len(args) or args[at + 1].startswith("-")):
                args.insert(at + 1, "")
        return super().parse_args(ctx, args)


@requests_app.command("review", cls=_ReviewCommand)
def review_request(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(
        metavar="ID", help="The access or erasure request id.")],
    approve: Annotated[list[str] | None, typer.Option(
        "--approve", metavar="[REF]", help="Access request (no REF): record the decision and "
        "write the documents. Erasure request: approve this weak match as the subject's (REF "
        "as listed, e.g. fortnox:customer:10); repeat for each record. `dsar requests resume "
        "ID` then erases it.", show_default=False)] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", metavar="REF", help="Access: leave this record out of the documents.",
        show_default=False)] = None,
    include: Annotated[list[str] | None, typer.Option(
        "--include", metavar="REF[:FIELD]", help="Access: send this weak match, or keep this "
        "flagged field of another person.", show_default=False)] = None,
    redact: Annotated[list[str] | None, typer.Option(
        "--redact", metavar="REF:FIELD", help="Access: blank this field in the documents (e.g. "
        "zettle:purchase:<id>:userDisplayName).", show_default=False)] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Access: list every record, not only the flagged ones.")] = False,
    lang: Annotated[Language | None, typer.Option(
        "--lang", help="Access: language of the documents (default: the lookup's).",
        show_default=False)] = None,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Access: write the documents although the configuration still has "
        "placeholders (stamped UTKAST / DRAFT).")] = False,
) -> None:
    """Art. 15(4) review before an access request's documents are written: what would be
    sent, weak matches and other people's data flagged, then --approve. For an erasure
    request: its weak matches and approving the subject's one by one (erases nothing)."""
    import asyncio

    from rich.table import Table

    from hub.cli.shared import shown
    from hub.core.errors import InvalidInput
    from hub.requests.access.approval import request_type
    from hub.requests.erasure import parse_ref, review_erasure

    opts = options(ctx)
    with request_context(opts, draft=draft) as env:
        try:
            if request_type(env, request_id) == "access":
                if any(approve or ()):
                    raise InvalidInput("an access request's --approve takes no REF; send a "
                                       "weak match with --include REF")
                if approve:
                    refuse_placeholders(opts, draft=draft)
                _review_access(env, opts.json, request_id, approve=bool(approve),
                               exclude=exclude or [], include=include or [],
                               redact=redact or [], every=every, lang=lang)
                return
            if exclude or include or redact or every or lang or draft:
                raise InvalidInput("--exclude, --include, --redact, --all, --lang and --draft "
                                   "are for access requests")
            refs = tuple(dict.fromkeys(parse_ref(ref) for ref in approve or ()))
            result = asyncio.run(review_erasure(env, request_id, approve=refs))
        except InvalidInput as exc:  # unknown or closed request, a ref that cannot be approved
            raise fail(str(exc), ExitCode.USAGE) from None
    if opts.json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    out = wide_console()
    if not result.items:
        out.print(f"Request {result.request_id} has no weak matches to review.")
    else:
        table = Table(title=f"Weak matches of {result.request_id}")
        table.add_column("ref", overflow="fold", min_width=20, max_width=36)
        table.add_column("matched on", overflow="fold", max_width=18)
        table.add_column("whose (name · e-mail · phone · personnummer)", overflow="fold",
                         min_width=30, ratio=2)
        table.add_column("status", no_wrap=True)
        table.add_column("state", overflow="fold", max_width=11)
        for item in result.items:
            # Escaped, not redacted: the addresses are what tells two people apart.
            table.add_row(shown(item.ref), shown(item.reason), shown(item.identity),
                          item.status, shown(item.state or ""))
        out.print(table)
    for action in result.approved:
        out.print(f"Approved {shown(action.task)}: {shown(action.action)} "
                  f"({shown(action.state)}).")
    if any(action.state == "planned" for action in result.approved):
        out.print(f"Nothing was erased yet: `dsar requests resume {result.request_id}` "
                  "carries out what is planned.")


def _review_access(env: RequestContext, as_json: bool, request_id: str, *, approve: bool,
                   exclude: list[str], include: list[str], redact: list[str], every: bool,
                   lang: Language | None) -> None:
    """Show an access request's Art. 15(4) review (with ``approve``: record it and write the
    documents). The flagged records are listed with their fields as they would be sent."""
    from rich.table import Table

    from hub.cli.shared import shown
    from hub.requests.access import review_access

    review = review_access(env, request_id, exclude=exclude, include=include, redact=redact,
                           approve=approve, lang=lang.value if lang else None)
    if as_json:
        typer.echo(json.dumps(review.as_dict(every=every), ensure_ascii=False, default=str))
        return
    out = wide_console()
    listed = [r for r in review.records if every or r.flags or r.outcome != "send"]
    if listed:
        table = Table(title=f"What the documents of {review.request_id} would hold")
        table.add_column("ref", overflow="fold", min_width=20, max_width=40)
        table.add_column("matched", overflow="fold", max_width=32)
        table.add_column("flagged", overflow="fold", max_width=40)
        table.add_column("outcome", no_wrap=True)
        table.add_column("fields (as sent)", overflow="fold", min_width=30, ratio=2)
        for record in listed:
            # Escaped, not redacted: the values are what the operator judges.
            fields = "\n".join(f"{shown(path)}: {shown(str(value))}"
                               for path, value in record.fields if value not in (None, ""))
            table.add_row(shown(record.ref), shown(f"{record.match_strength}: {record.how}"),
                          "\n".join(shown(f"{f.kind}: {f.why}") for f in record.flags),
                          record.outcome, fields)
        out.print(table)
    else:
        out.print(f"Request {shown(review.request_id)}: nothing flagged (no weak match, no "
                  "other person's data).")
    out.print("Records per system: " + "; ".join(
        f"{shown(name)} {c['send']} to send"
        + "".join(f", {c[k]} {k}" for k in ("withheld", "excluded") if c[k])
        for name, c in review.counts().items()))
    if review.approved:
        out.print(f"Decision recorded in the ledger and the audit log. Documents "
                  f"({review.lang}): {review.folder / 'report.html'}, cover-letter.txt, "
                  "export.zip")
    else:
        out.print("Nothing written. Weak matches are withheld and other people's fields "
                  "removed unless included; add --exclude REF, --include REF[:FIELD] or "
                  "--redact REF:FIELD as needed, then --approve to record the decision and "
                  "write the documents.")


@requests_app.command("purge")
def purge_command(
    ctx: typer.Context,
    older_than: Annotated[int | None, typer.Option(
        "--older-than", min=0, metavar="DAYS", help="Days since the request was closed; "
        "default: report_retention_days of the configuration (30).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only list what would be removed.")] = False,
) -> None:
    """Remove the report folders of access requests closed longer ago than the retention
    period, and pseudonymise their subjects' addresses in the ledger and the audit log."""
    from hub.requests.purge import purge_reports
    from hub.store.keyed import secret_path

    settings = settings_only(options(ctx))
    days = settings.report_retention_days if older_than is None else older_than
    with _ledger(ctx) as ledger:
        purged = purge_reports(ledger, secret_path(settings.state_dir), older_than_days=days,
                               dry_run=dry_run)
    if _wants_json(ctx):
        typer.echo(json.dumps({"older_than_days": days, "dry_run": dry_run,
                               "purged": [p.as_dict() for p in purged]}))
        return
    verb = "Would remove" if dry_run else "Removed"
    for item in purged:
        console().print(f"{verb} the reports of {item.request_id} (closed "
                        f"{item.closed_at.date().isoformat()}): {len(item.folders)} folder(s)",
                        markup=False)
    if not purged:
        console().print(f"No access request closed more than {days} days ago has reports left.")
