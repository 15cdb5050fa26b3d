"""Discover connectors: installed ones through the ``dsar.connectors`` entry-point group, and
the REST processors the configuration declares as ``[rest.<name>]`` tables.

The built-in connectors are registered in pyproject.toml the same way a third-party package
registers its own, so there is one discovery path to test. A plugin that fails to import is
reported and skipped: one broken package must not stop an urgent request. A declared REST
processor is a connector class made from its table (:func:`connectors.rest.declare`); a
mistake in the table stops start-up with a :class:`ConfigurationError` naming the key, as a
mistake in any other table does.
"""

from __future__ import annotations

import logging
import tomllib
from functools import cache, lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from connectors.rest.declared import declare
from connectors.sdk.base import Connector
from hub.config.settings import HubSettings, resolve_config_path
from hub.core.errors import ConfigurationError

log = logging.getLogger(__name__)
GROUP = "dsar.connectors"
#: the configuration table whose sub-tables each declare a REST processor
REST_TABLE = "rest"


def discover(config_path: Path | None = None) -> dict[str, type[Connector]]:
    """Installed and declared connectors by name, in a stable order.

    ``config_path`` is resolved as :func:`hub.config.settings.load_settings` resolves it
    (``--config``, else ``$DSAR_CONFIG``, else ``config/hub.toml``), so give both the same.
    """
    found = {**installed(), **declared_in(resolve_config_path(config_path))}
    return dict(sorted(found.items()))


@cache
def installed() -> dict[str, type[Connector]]:
    """Connectors registered in the entry-point group, by name."""
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


def declared_in(path: Path | None) -> dict[str, type[Connector]]:
    """The REST processors ``path`` declares (none without a readable configuration file:
    loading the settings reports a missing one)."""
    if path is None:
        return {}
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _declared(path.resolve(), stamp)


@lru_cache(maxsize=8)
def _declared(path: Path, stamp: int) -> dict[str, type[Connector]]:
    """One class per table and version of the file, so repeated discovery yields the same
    classes."""
    try:
        with path.open("rb") as file:
            tables = tomllib.load(file).get(REST_TABLE, {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc}") from None
    if not isinstance(tables, dict):
        raise ConfigurationError(f"{path}: [{REST_TABLE}] must hold one [{REST_TABLE}.<name>] "
                                 "table per processor")
    taken = set(installed()) | set(HubSettings.model_fields)
    found: dict[str, type[Connector]] = {}
    for name, table in tables.items():
        if name in taken:
            raise ConfigurationError(f"{path}: [{REST_TABLE}.{name}] takes the name of an "
                                     "installed connector or a hub setting; choose another name")
        try:
            found[name] = declare(name, table)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}: {exc}") from None
    return found
