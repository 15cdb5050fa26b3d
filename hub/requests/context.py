"""What a use-case needs from whoever runs it: the CLI, a scheduler or a web UI.

The use-cases never read command-line options or start the sandbox themselves; the caller
builds one :class:`RequestContext` (settings, the installed connectors, the objects connectors
may take, where reports go) and passes it in. That keeps a use-case runnable without typer and
testable with a hand-made context.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from connectors.sdk.base import Connector
from hub.config.settings import HubSettings
from hub.http import RateBudget, shared_rate_budget
from hub.store.keyed import Pseudonymiser, secret_path
from hub.store.ledger import ledger_url
from hub.store.rate_budget import DatabaseRateBudget

#: Installed connector classes by name (``hub.config.registry.discover``).
ConnectorClasses = dict[str, type[Connector]]

#: Keyword arguments for connector constructors (e.g. ``state``, the token store). Each
#: connector declares the names it takes (``init_options``) and their types, so here they can
#: only be typed as whatever the connector wants.
ConnectorOptions = Mapping[str, Any]


@dataclass(frozen=True)
class RequestContext:
    """The settings and services of one run of a use-case."""

    settings: HubSettings
    connectors: ConnectorClasses
    #: keyword arguments connectors may take (e.g. the state store for rotating tokens)
    connector_options: ConnectorOptions = field(default_factory=dict)
    #: a sandbox run: its ledger is the throw-away one, never the real request log
    sandbox: bool = False
    #: the report folder; None: the settings' default (``<state dir>/reports``)
    out_dir: Path | None = None
    #: the subject-facing documents are drafts (stamped UTKAST / DRAFT), not an answer to send
    draft: bool = False

    @property
    def reports_dir(self) -> Path:
        return self.out_dir or self.settings.reports_dir

    @property
    def ledger_url(self) -> str:
        return ledger_url(self.settings, sandbox=self.sandbox)

    @property
    def secret(self) -> Path:
        """The keyed-hash secret (suppression list, pseudonymised ledger and audit log)."""
        return secret_path(self.settings.state_dir)


def database_rate_budget(engine: Engine, settings: HubSettings,
                         connectors: ConnectorClasses) -> RateBudget | None:
    """The rate budget every worker on this database shares (:mod:`hub.store.rate_budget`), or
    None where the process's own limiter is the only one.

    Only on a database server (PostgreSQL): that is where several machines run against one
    database. On SQLite every transaction holds the file's one write lock, and a connector may
    send a request while it holds it (Fortnox's token refresh runs inside its token's lock), so
    a budget in the same file would wait for itself.
    """
    if engine.dialect.name == "sqlite":
        return None
    return DatabaseRateBudget.for_settings(engine, settings, connectors)


@contextmanager
def shared_with_other_machines(ctx: RequestContext, engine: Engine) -> Iterator[None]:
    """Run a use-case as one of several workers on the database ``engine``.

    First, before any processor is contacted, this machine's keyed-hash key must be the one
    the database's pseudonyms were made with (it is recorded at the first use): a run that
    would write hashes under another key refuses with ConfigurationError instead of filling
    the ledger and the suppression list with hashes nobody can match. Then every connector
    built inside the block asks the database's rate budget before each request.
    """
    Pseudonymiser(engine, ctx.secret).secret()
    with shared_rate_budget(database_rate_budget(engine, ctx.settings, ctx.connectors)):
        yield
