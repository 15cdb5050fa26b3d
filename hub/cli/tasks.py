"""``dsar requests task``: the manual tasks of erasure requests on the command line.

    dsar requests task list ID
    dsar requests task done ID TASK --note "..."

A person does what no API can (a system without one, a refusal to review, a weak match to
check) and records it here; :mod:`hub.requests.erasure.tasks` closes the request when the last
task is done. Exit codes: ``done`` 0 when the request closed, 3 while work is left, 2 for an
unknown request or task.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hub.cli.shared import ExitCode, console, escaped, fail, options, settings_only

task_app = typer.Typer(help="Manual tasks of erasure requests.", no_args_is_help=True)


@task_app.command("list")
def task_list(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
) -> None:
    """The manual tasks (and failed actions) of an erasure request."""
    from rich.table import Table

    from hub.cli.shared import shown
    from hub.core.errors import InvalidInput
    from hub.requests.erasure import open_stores
    from hub.requests.erasure.tasks import erasure_tasks

    opts = options(ctx)
    try:
        rows = erasure_tasks(open_stores(settings_only(opts), sandbox=opts.sandbox), request_id)
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    if opts.json:
        typer.echo(json.dumps([a.as_dict() for a in rows], ensure_ascii=False))
        return
    table = Table(title=f"Tasks of {request_id}")
    for column in ("#", "task", "state", "what to do"):
        table.add_column(column, overflow="fold")
    for a in rows:
        table.add_row(str(a.id), shown(a.task), a.state,
                      shown(a.instructions or a.detail or ""))
    console().print(table)


@task_app.command("done")
def task_done(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    task: Annotated[str, typer.Argument(help="The task number or name (`task list`).")],
    note: Annotated[str, typer.Option("--note", help="What was done (no personal data).")],
) -> None:
    """Close a manual task; when nothing is left open the request closes (exit 0), else 3."""
    from hub.core.errors import InvalidInput
    from hub.requests.erasure import open_stores
    from hub.requests.erasure.tasks import complete_task

    opts = options(ctx)
    if not note.strip():
        raise fail("--note must say what was done", ExitCode.USAGE)
    try:
        stores = open_stores(settings_only(opts), sandbox=opts.sandbox)
        done = complete_task(stores, request_id, task, note.strip())
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    if opts.json:
        typer.echo(json.dumps(done.as_dict()))
    else:
        out = console()
        out.print(f"Task {escaped(done.task)} of {escaped(request_id)} done.")
        out.print("The request is closed." if done.closed else
                  "Still open: " + ", ".join(f"{n} {s}" for s, n in done.open.items()))
    raise typer.Exit(done.code)
