"""``dsar config check`` and ``dsar connectors``: what is installed and whether it is set up.

    dsar config check     validate settings and test each processor's credentials (exit 0 / 3;
                          2 while a subject-facing setting still holds a placeholder, or while
                          this machine's keys are not the ones the database was started with)
    dsar connectors       installed connectors and their capabilities
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

import typer

from hub.cli.shared import ExitCode, console, escaped, fail, options, request_context
from hub.core.errors import ConfigurationError

config_app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)


class _ConnectorRow(TypedDict):
    name: str
    title: str
    capabilities: list[str]
    docs: str
    module: str


def list_connectors(ctx: typer.Context) -> None:
    """List installed connectors and their capabilities."""
    from hub.config.registry import discover

    try:
        found = discover(options(ctx).config)
    except ConfigurationError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    rows = [
        _ConnectorRow(name=name, title=cls.title,
                      capabilities=sorted(c.value for c in cls.capabilities),
                      docs=cls.docs_url, module=cls.__module__)
        for name, cls in found.items()
    ]
    if options(ctx).json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title="Installed connectors (entry-point group dsar.connectors)")
    for column in ("name", "title", "capabilities", "module", "docs"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["title"], ", ".join(row["capabilities"]), row["module"],
                      row["docs"])
    console().print(table)


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate settings and test each enabled processor's credentials with one cheap read;
    list every unfilled placeholder of the controller and inventory texts by its TOML key
    (exit 2: they would reach the data subject); warn about a state folder (or a file in it)
    that other users could read; compare this machine's keyed-hash and token-encryption keys
    with the ones the database was started with (exit 2 when one differs: every machine on
    one database must use the same keys)."""
    import asyncio

    from hub.config.check import check_all, state_warnings
    from hub.config.placeholders import find_placeholders

    opts = options(ctx)
    try:
        with request_context(opts) as env:
            checks = asyncio.run(check_all(env.settings, env.connectors,
                                           **env.connector_options))
            warnings = [] if env.sandbox else state_warnings(env.settings)
            # a sandbox run writes drafts only, so the example's placeholders are not its problem
            placeholders = [] if env.sandbox else find_placeholders(env.settings)
            keys = [] if env.sandbox else _key_checks(env.ledger_url, env.settings.state_dir)
    except ConfigurationError as exc:  # e.g. a keyed-hash key the database does not know
        if opts.json:
            typer.echo(json.dumps({"exit_code": ExitCode.USAGE, "error": str(exc)}))
        raise fail(str(exc), ExitCode.USAGE) from None
    code = ExitCode.OK if all(c["ok"] for c in checks) else ExitCode.PARTIAL
    if placeholders or not all(k["ok"] for k in keys):
        code = ExitCode.USAGE
    if opts.json:
        typer.echo(json.dumps({"exit_code": code, "processors": checks, "warnings": warnings,
                               "placeholders": placeholders, "keys": keys}))
        raise typer.Exit(code)
    from rich.table import Table

    table = Table(title="Configuration check")
    for column in ("processor", "result", "details"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/]" if check["ok"] else "[red]failed[/]"
        table.add_row(check["name"], mark, escaped(check["details"]))
    console().print(table)
    for line in keys:
        text = f"{escaped(line['key'])}: {escaped(line['details'])}"
        if line["ok"]:
            console().print(text)
        else:
            console(stderr=True).print(f"[red]{text}[/]")
    for warning in warnings:
        console(stderr=True).print(f"[yellow]warning: {escaped(warning)}[/]")
    if placeholders:
        console(stderr=True).print(
            f"[red]{len(placeholders)} unfilled placeholder(s) would reach the data subject; "
            "fill in these keys of the configuration:[/]")
        for key in placeholders:
            console(stderr=True).print(f"  {key}", markup=False)
    raise typer.Exit(code)


def _key_checks(ledger_url: str, state_dir: Path) -> list[dict[str, Any]]:
    """This machine's two keys against the fingerprints the database keeps (recorded here when
    the database has none yet); a configured key that cannot be used is reported, not raised."""
    from hub.config.check import describe_key_check
    from hub.store.db import open_database
    from hub.store.keyed import check_keyed_hash_key, secret_path, where_key_lives
    from hub.store.sealed import check_token_key, key_path

    engine = open_database(ledger_url)
    results = []
    for kind, path, check in (("keyed-hash", secret_path(state_dir), check_keyed_hash_key),
                              ("token", key_path(state_dir), check_token_key)):
        try:
            outcome = check(engine, state_dir)
        except ConfigurationError as exc:
            from hub.config.check import KEY_TITLES

            results.append({"key": KEY_TITLES[kind], "ok": False, "details": str(exc)})
            continue
        results.append(describe_key_check(kind, outcome, where_key_lives(path)))
    return results
