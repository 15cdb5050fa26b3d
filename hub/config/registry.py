"""Discover connectors through the ``dsar.connectors`` entry-point group.

The built-in connectors are registered in pyproject.toml the same way a third-party package
registers its own, so there is one discovery path to test. A plugin that fails to import is
reported and skipped: one broken package must not stop an urgent request.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from connectors.sdk.base import Connector

log = logging.getLogger(__name__)
GROUP = "dsar.connectors"


@cache
def discover() -> dict[str, type[Connector]]:
    """Installed connectors by name, in a stable order."""
    found: dict[str, type[Connector]] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            cls = entry.load()
        except Exception as exc:  # a broken plugin must not break the CLI
            log.warning("connector plugin %r could not be loaded: %s", entry.name, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            log.warning("entry point %r is not a Connector subclass; ignored", entry.name)
            continue
        found[entry.name] = cls
    return found
