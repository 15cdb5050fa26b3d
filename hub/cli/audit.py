"""``dsar audit``: check and read the hash-chained audit log (see :mod:`hub.store.audit`).

    dsar audit verify [--expect-head SEQ:HASH]   exit 0 intact, 3 tampering found
    dsar audit show [--request ID] [--limit N]

Wired into the main app by :mod:`hub.cli.app`; the callbacks read the global options
(``--config``, ``--json``) from ``ctx.obj`` (:class:`hub.cli.shared.Options`). Exit codes
follow the README: 0 done, 2 bad configuration or input, 3 the log was tampered with
(the first bad entry and the reason are printed), 1 unexpected. ``verify`` prints the
head (sequence number and hash): keep it somewhere outside the database and pass it back with
``--expect-head`` to detect a truncated log even if the database's own anchor was rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.shared import ExitCode, console, fail, options, settings_only

if TYPE_CHECKING:
    from hub.store.audit import AuditLog

audit_app = typer.Typer(
    help="The audit log: verify its hash chain, show entries.", no_args_is_help=True)


@contextmanager
def _audit_log(ctx: typer.Context) -> Iterator[AuditLog]:
    """The audit log on the configured database (``--sandbox``: an empty throw-away one);
    configuration errors exit with 2."""
    from hub.core.errors import ConfigurationError
    from hub.store.audit import AuditLog
    from hub.store.db import open_database
    from hub.store.keyed import secret_path

    settings = settings_only(options(ctx))
    try:
        engine = open_database(settings.ledger_url)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    try:
        yield AuditLog(engine, secret_path(settings.state_dir))
    except ConfigurationError as exc:  # e.g. a replaced keyed-hash secret
        raise fail(str(exc)) from None
    finally:
        engine.dispose()


def _parse_head(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(f"{text!r} is not SEQ:HASH (as printed by 'dsar audit verify')")
    return int(seq), digest.lower()


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    expect_head: Annotated[str | None, typer.Option(
        "--expect-head", metavar="SEQ:HASH",
        help="A head recorded earlier outside the database; the log must still contain it.")
    ] = None,
) -> None:
    """Recompute the hash chain: exit 0 if intact, 3 naming the first bad entry if not."""
    expected = _parse_head(expect_head)
    with _audit_log(ctx) as audit:
        result = audit.verify(expected_head=expected)
    code = ExitCode.OK if result.ok else ExitCode.TAMPERED
    if options(ctx).json:
        typer.echo(json.dumps({
            "ok": result.ok, "exit_code": code, "first_bad_seq": result.first_bad_seq,
            "reason": result.reason, "checked": result.checked,
            "head": {"seq": result.head_seq, "hash": result.head_hash} if result.ok else None,
        }))
        raise typer.Exit(code)
    out = console()
    if result.ok:
        out.print(f"[green]audit log intact[/]: {result.checked} entries")
        # One unbroken line, to copy into a record kept elsewhere (--expect-head).
        out.print(f"head {result.head_seq}:{result.head_hash}", soft_wrap=True)
    else:
        out.print(f"[bold red]audit log tampered with[/] at entry {result.first_bad_seq}: "
                      f"{result.reason} ({result.checked} entries before it are intact)")
    raise typer.Exit(code)


@audit_app.command("show")
def show(
    ctx: typer.Context,
    request: Annotated[str | None, typer.Option(
        "--request", help="Only the entries of this request id.")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="Only the newest N entries.")] = None,
) -> None:
    """List audit entries, oldest first (subjects of closed requests appear as hashes)."""
    with _audit_log(ctx) as audit:
        entries = audit.entries(request_id=request, limit=limit)
    if options(ctx).json:
        typer.echo(json.dumps([
            {"seq": e.seq, "at": e.at, "request_id": e.request_id, "actor": e.actor,
             "action": e.action, "subject_email": e.subject_email,
             "subject_hash": e.subject_hash, "details": e.details_data,
             "entry_hash": e.entry_hash}
            for e in entries]))
        return
    from rich.table import Table

    from hub.cli.shared import shown

    table = Table(title="Audit log" + (f" of request {request}" if request else ""))
    for column in ("seq", "at (UTC)", "request", "actor", "action"):
        table.add_column(column, no_wrap=True)
    for column in ("subject", "details"):
        table.add_column(column, overflow="fold")
    for e in entries:
        subject = e.subject_email or (f"#{e.subject_hash[:12]}" if e.subject_hash else "")
        table.add_row(str(e.seq), e.at[:19].replace("T", " "), e.request_id or "",
                      shown(e.actor), shown(e.action), shown(subject), shown(e.details))
    out = console()
    out.print(table)
    if not entries:
        out.print("no entries")
