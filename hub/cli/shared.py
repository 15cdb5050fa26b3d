"""What every ``dsar`` command shares: global options, exit codes, output and setup.

Command modules import this module and the use-cases, never each other, so a command can be
moved, removed or tested alone; only :mod:`hub.cli.app` knows them all.

Output rules (the README): results on stdout, messages and logs on stderr. Everything
printed that came from outside (a processor's error, a note, the user's own input) is redacted
and its Rich markup escaped: a processor name like ``[bold]`` or an error quoting ``[/]`` is
text, never formatting, and never a crash of the renderer.

Heavy modules (settings, connectors, the sandbox) are imported inside the functions, so
``dsar --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hub.core.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from hub.config.settings import HubSettings
    from hub.requests.context import ConnectorClasses, RequestContext

__all__ = ["ExitCode", "Options", "console", "environment", "escaped", "fail", "options",
           "redacted", "request_context", "settings_only", "wide_console"]


@dataclass
class Options:
    """The global options (``dsar [OPTIONS] COMMAND``), handed to commands as ``ctx.obj``."""

    config: Path | None
    sandbox: bool
    json: bool
    out: Path | None
    verbose: int


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def wide_console() -> Console:
    """stdout; at least 150 columns when not a terminal (files, pipes, CI logs), so wide
    tables stay readable in a log."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=False, width=150)
    return out


def redacted(text: str) -> str:
    """``text`` without addresses or secrets registered for this run."""
    from hub.core.logs import redact

    return redact(text)


def escaped(text: str) -> str:
    """``text`` redacted and safe to embed in Rich markup and to print: markup is escaped, and
    control and direction characters (terminal sequences, bidi overrides) are shown as
    escapes (:func:`hub.core.text.visible_controls`)."""
    from rich.markup import escape

    from hub.core.text import visible_controls

    return escape(visible_controls(redacted(text)))


def shown(text: str) -> str:
    """``text`` from outside (a processor, the ledger, the operator) safe to print through Rich:
    markup escaped, control and direction characters shown as escapes. Not redacted: use it
    for what the operator must read as it is (a subject's address in ``requests list``)."""
    from rich.markup import escape

    from hub.core.text import visible_controls

    return escape(visible_controls(text))


def fail(message: str, code: int = ExitCode.USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr; ``raise fail(...)`` ends the command with ``code``."""
    console(stderr=True).print(f"[bold red]error:[/] {escaped(message)}")
    return typer.Exit(code)


def options(ctx: typer.Context) -> Options:
    """The global options of this invocation (a sub-app run alone in a test has none)."""
    found = ctx.obj
    if isinstance(found, Options):
        return found
    return Options(config=None, sandbox=False, json=False, out=None, verbose=0)


def refuse_placeholders(opts: Options, *, draft: bool) -> None:
    """Exit 2 before anything is contacted when a subject-facing setting still holds a
    placeholder and the operator did not ask for a draft (sandbox runs are always drafts)."""
    if draft or opts.sandbox:
        return
    from hub.config.placeholders import find_placeholders, placeholder_message

    keys = find_placeholders(settings_only(opts))
    if keys:
        raise fail(placeholder_message(keys), ExitCode.USAGE)


def settings_only(opts: Options) -> HubSettings:
    """The settings, without starting the sandbox or registering secrets: for commands that
    only read the hub's own records. A configuration error exits with 2.

    With ``--sandbox`` the database is an empty in-memory one and the state folder a
    throw-away one (removed when the process ends): a sandbox command never reads or writes
    the real ledger, keys or reports."""
    from hub.config.registry import discover
    from hub.config.settings import load_settings
    from hub.core.errors import ConfigurationError

    try:
        settings = load_settings(discover(opts.config), opts.config)
    except ConfigurationError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    if not opts.sandbox:
        return settings
    import atexit
    import shutil
    import tempfile

    from hub.store.ledger import SANDBOX_DB_MARK

    scratch = tempfile.mkdtemp(prefix=SANDBOX_DB_MARK)
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return settings.model_copy(update={"database_url": "sqlite://", "state_dir": Path(scratch)})


@contextmanager
def request_context(opts: Options, *, draft: bool = False) -> Iterator[RequestContext]:
    """Settings and connectors for one command, as a use-case context; with ``--sandbox`` the
    fake processors run (and the ledger is a throw-away one) until the block ends.

    ``draft``: the subject-facing documents are stamped UTKAST / DRAFT. A sandbox run always
    writes drafts: its answers are about invented people and use the configuration's texts as
    they stand (placeholders included), so nothing it writes may pass for an answer to send."""
    import tempfile

    from hub.config.registry import discover
    from hub.config.settings import load_settings, with_processor_overrides
    from hub.core.errors import ConfigurationError
    from hub.core.logs import register_secrets
    from hub.requests.context import RequestContext, shared_with_other_machines
    from hub.store.credentials import SavedCredentials, with_saved_credentials
    from hub.store.db import open_database
    from hub.store.history_index import HistoryIndex
    from hub.store.keyed import Pseudonymiser, secret_path
    from hub.store.ledger import SANDBOX_DB_MARK
    from hub.store.state import connector_state

    try:
        connectors = discover(opts.config)
        settings = load_settings(connectors, opts.config)
    except ConfigurationError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    if not opts.sandbox:
        for name in connectors:
            register_secrets(settings.processor(name).secret_values())
        engine = open_database(settings.ledger_url)
        state = connector_state(engine, settings.state_dir)
        # keys saved in the web inbox fill what the configuration leaves empty
        settings = with_saved_credentials(settings, SavedCredentials(state))
        # lookups read unsearchable histories through the hub's index (hub.store.history_index)
        index = HistoryIndex(engine, Pseudonymiser(engine, secret_path(settings.state_dir)))
        context = RequestContext(settings, connectors, {"state": state, "history_index": index},
                                 out_dir=opts.out, draft=draft)
        with shared_with_other_machines(context, engine):
            yield context
        return

    from hub.sandbox import Sandbox

    # A sandbox run keeps its ledger, tokens and keys in a throw-away folder: the fake
    # processors start afresh each run, invented people never enter the real request log, and
    # nothing is written to the real state folder. Its reports (when --out is not given) go to
    # a fresh private temporary folder that outlives the run, so they can be opened afterwards.
    out_dir = opts.out or Path(tempfile.mkdtemp(prefix="dsar-sandbox-reports-"))
    with Sandbox() as sandbox, tempfile.TemporaryDirectory(prefix=SANDBOX_DB_MARK) as scratch:
        database = f"sqlite:///{Path(scratch) / 'sandbox.sqlite3'}"
        settings = settings.model_copy(update={"database_url": database,
                                               "state_dir": Path(scratch)})
        for name in connectors:
            if name in sandbox.base_urls:
                values = {"enabled": True, "base_url": sandbox.base_urls[name],
                          **sandbox.credentials.get(name, {})}
            else:  # never let a sandbox run reach a real processor
                values = {"enabled": False}
            settings = with_processor_overrides(settings, name, values)
        engine = open_database(database)
        state = connector_state(engine, Path(scratch))
        index = HistoryIndex(engine, Pseudonymiser(engine, secret_path(Path(scratch))))
        yield RequestContext(settings, connectors, {"state": state, "history_index": index},
                             sandbox=True, out_dir=out_dir, draft=True)


@contextmanager
def environment(opts: Options) -> Iterator[tuple[HubSettings, ConnectorClasses]]:
    """:func:`request_context` as settings and connectors, for commands that need no more."""
    with request_context(opts) as ctx:
        yield ctx.settings, ctx.connectors
