"""``dsar retention due``: records kept under a legal hold whose hold has ended.

    dsar retention due [--execute]

Run from cron with ``--execute``: :func:`hub.requests.erasure.retention.retention_due` erases
them with the policy's action for after the hold (or opens a manual task). Exit 0 when nothing
due is left unfinished, 3 when an erasure failed or needs a person.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hub.cli.shared import console, escaped, options, request_context

retention_app = typer.Typer(help="Records kept under a legal hold (deferred erasure).",
                            no_args_is_help=True)


@retention_app.command("due")
def retention_due(
    ctx: typer.Context,
    execute: Annotated[bool, typer.Option(
        "--execute", help="Erase them now (the policy's action after the hold).")] = False,
) -> None:
    """Retained records whose legal hold has ended (run from cron with --execute)."""
    import asyncio

    from hub.requests.erasure.retention import retention_due as due_records

    opts = options(ctx)
    with request_context(opts) as env:
        run = asyncio.run(due_records(env, execute=execute))
    if opts.json:
        typer.echo(json.dumps(run.as_dict(), ensure_ascii=False))
        raise typer.Exit(run.code)
    from rich.table import Table

    out = console()
    for action, why in run.skipped:
        out.print(f"[yellow]Skipped {escaped(action.processor)} "
                  f"{escaped(f'{action.record_type} {action.record_id}')} "
                  f"(request {escaped(action.request_id or '')}): {escaped(why)}[/]")
    if not run.actions:
        out.print(f"No retained record is due for erasure (today {run.today}).")
        raise typer.Exit(run.code)
    table = Table(title=f"Retention ended (today {run.today})")
    for column in ("request", "processor", "record", "kept until", "state", "detail"):
        table.add_column(column, overflow="fold")
    for a in run.actions:
        table.add_row(a.request_id or "", escaped(a.processor),
                      escaped(f"{a.record_type} {a.record_id}"),
                      a.retained_until.isoformat() if a.retained_until else "", escaped(a.state),
                      escaped(a.detail or ""))
    out.print(table)
    raise typer.Exit(run.code)
