"""The ``dsar`` command (typer + rich): the global options and the wiring of every command.

This is the only module that knows all command modules; each of them imports only
:mod:`hub.cli.shared` and the use-cases, so the CLI's parts never depend on each other. Its
contract is the README. Exit codes (:class:`hub.core.exit_codes.ExitCode`): 0 done and
every enabled processor answered; 2 bad usage or bad input, nothing contacted; 3 partial (a
processor failed, was skipped or needs a manual step; the report says which); 1 unexpected
error. Results go to stdout (``--json``: one JSON document and nothing else); progress,
warnings and logs go to stderr.

Start-up stays fast: heavy modules (asyncio, pydantic models, settings, the database,
connectors, the stripe SDK, Rich tables) are imported inside the commands, never at module
level, so ``dsar --help`` loads typer and the command modules only (``tests/test_startup.py``
keeps it so; ``bench/startup.py`` measures it). Help is click's plain text for the same reason:
see :class:`DsarGroup`.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from typer.core import TyperGroup

from hub.cli.audit import audit_app
from hub.cli.config import config_app, list_connectors
from hub.cli.consent import consent_app, consent_sync_command, webhook_app
from hub.cli.db import db_app
from hub.cli.erase import erase_command, resume_command
from hub.cli.index import index_app
from hub.cli.lookup import lookup
from hub.cli.objection import object_command
from hub.cli.rectify import rectify_command
from hub.cli.requests import requests_app
from hub.cli.restrict import restrict_command
from hub.cli.retention import retention_app
from hub.cli.schema import schema_app
from hub.cli.serve import serve_command
from hub.cli.shared import ExitCode, Options, console, escaped
from hub.cli.tasks import task_app
from hub.cli.worker import jobs_app, worker_command


class DsarGroup(TyperGroup):
    """The ``dsar`` command group: every command's summary in a command list is the whole
    first paragraph of its help.

    Help and usage errors are click's plain text (``rich_markup_mode=None``): typer's Rich
    renderer imports rich.markdown, markdown-it and pygments on every ``--help``, which was
    most of the start-up time, and it read help texts as markup, so an option's
    ``[default: …]`` vanished from its help. Click, on its own, cuts a summary at the first
    full stop ("Erasure request (Art."); setting each summary from the first paragraph, as
    the Rich renderer showed it, keeps the lists readable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _whole_summaries(self.commands)


def _whole_summaries(commands: Mapping[str, Any]) -> None:
    """Give every command (sub-groups' commands included) without a short help its help's
    first paragraph as one line; the help formatter wraps it."""
    for command in commands.values():
        if command.short_help is None and command.help:
            first = inspect.cleandoc(command.help).partition("\f")[0].split("\n\n")[0]
            command.short_help = " ".join(first.split())
        _whole_summaries(getattr(command, "commands", {}))


app = typer.Typer(
    cls=DsarGroup,
    help="Answer GDPR data-subject requests across your processors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


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


# The order of registration is the order of ``dsar --help``.
app.command("consent-sync")(consent_sync_command)
app.command("lookup")(lookup)
app.command("connectors")(list_connectors)
app.command("erase")(erase_command)
app.command("rectify")(rectify_command)
app.command("restrict")(restrict_command)
app.command("object")(object_command)
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")
app.add_typer(requests_app, name="requests")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(webhook_app, name="webhook")
app.add_typer(retention_app, name="retention")
app.add_typer(db_app, name="db")
app.add_typer(index_app, name="index")
app.command("serve")(serve_command)
app.command("worker")(worker_command)
app.add_typer(jobs_app, name="jobs")
requests_app.command("resume")(resume_command)
requests_app.add_typer(task_app, name="task")


def _resolve_annotations(typer_app: typer.Typer) -> None:
    """Evaluate every command function's annotations once, in place.

    The command modules postpone annotations (``from __future__ import annotations``), so each
    is a string, and typer evaluates every one of them twice, compiling it each time, whenever
    it builds the command tree: that was a fifth of ``dsar --help``. Evaluated here once, typer
    finds the objects it would have made."""
    callbacks = [command.callback for command in typer_app.registered_commands]
    if typer_app.registered_callback is not None:
        callbacks.append(typer_app.registered_callback.callback)
    for callback in callbacks:
        if callback is not None:
            callback.__annotations__ = get_type_hints(callback, include_extras=True)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _resolve_annotations(group.typer_instance)


_resolve_annotations(app)


def main() -> None:
    """Console-script entry point: map unexpected errors to exit 1 without a traceback wall."""
    try:
        app()
    except KeyboardInterrupt:
        console(stderr=True).print("interrupted; nothing that completed was lost")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        from hub.core.errors import ConfigurationError

        if isinstance(exc, ConfigurationError):
            console(stderr=True).print(f"[bold red]error:[/] {escaped(str(exc))}")
            sys.exit(ExitCode.USAGE)
        console(stderr=True).print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {escaped(str(exc))}")
        sys.exit(ExitCode.ERROR)
