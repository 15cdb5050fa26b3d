"""What a use-case needs from whoever runs it: the CLI, a scheduler or a web UI.

The use-cases never read command-line options or start the sandbox themselves; the caller
builds one :class:`RequestContext` (settings, the installed connectors, the objects connectors
may take, where reports go) and passes it in. That keeps a use-case runnable without typer and
testable with a hand-made context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sdk.base import Connector
from hub.config.settings import HubSettings
from hub.store.keyed import secret_path
from hub.store.ledger import ledger_url

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
