"""``dsar index``: the hub's local index of histories that cannot be searched by person.

    dsar index refresh [--source NAME]
    dsar index rebuild [--source NAME]

``refresh`` reads only what is newer than the index's mark (run it from cron to keep lookups
fast); ``rebuild`` forgets a history and reads it again from the start of the bookkeeping
window (after a restored database or a changed keyed-hash key). Exit 0 when every history was
read, 3 when one failed.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hub.cli.shared import ExitCode, console, escaped, options, request_context

index_app = typer.Typer(help="The local index of histories that cannot be searched by person.",
                        no_args_is_help=True)

SourceOption = Annotated[str | None, typer.Option(
    "--source", help="Only this processor (e.g. zettle); default: every one with a history.")]


def _run(ctx: typer.Context, source: str | None, *, rebuild: bool) -> None:
    import asyncio

    from hub.requests.history import update_indexes

    opts = options(ctx)
    with request_context(opts) as env:
        known = source is None or source in env.connectors
        runs = asyncio.run(update_indexes(env, processor=source, rebuild=rebuild)) if known \
            else []
    if source is not None and not runs:  # a typo must not look like "nothing to do"
        console().print(f"No enabled processor named {escaped(source)} keeps an indexed "
                        "history (see `dsar config check`).")
        raise typer.Exit(ExitCode.USAGE)
    code = ExitCode.PARTIAL if any(r.error for r in runs) else ExitCode.OK
    if opts.json:
        typer.echo(json.dumps([r.as_dict() for r in runs], ensure_ascii=False))
        raise typer.Exit(code)
    out = console()
    if not runs:
        out.print("No enabled processor keeps an indexed history"
                  + (f" named {escaped(source)}." if source else "."))
    for r in runs:
        if r.error:
            out.print(f"{escaped(r.history)}: failed: {escaped(r.error)}")
        else:
            out.print(f"{escaped(r.history)}: {r.pages} page(s) read, {r.objects} objects "
                      "indexed.")
    raise typer.Exit(code)


@index_app.command("refresh")
def refresh(ctx: typer.Context, source: SourceOption = None) -> None:
    """Read what is new since the last refresh into the index."""
    _run(ctx, source, rebuild=False)


@index_app.command("rebuild")
def rebuild(ctx: typer.Context, source: SourceOption = None) -> None:
    """Forget the indexed history and read it again from the start."""
    _run(ctx, source, rebuild=True)
