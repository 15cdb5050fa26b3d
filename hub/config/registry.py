"""Discover connectors: installed ones through the ``dsar.connectors`` entry-point group, and
the REST processors the configuration declares as ``[rest.<name>]`` tables.

The built-in connectors are registered in pyproject.toml the same way a third-party package
registers its own, so there is one discovery path to test. A plugin that fails to import is
reported and skipped: one broken package must not stop an urgent request. A declared REST
processor is a connector class made from its table (:func:`connectors.rest.declare`); a
mistake in the table stops start-up with a :class:`ConfigurationError` naming the key, as a
mistake in any other table does.

The subject's report names a processor's records with the labels its connector declares
(:func:`record_labels`). Report code has only a processor's name, so the registry remembers the
configuration file of the latest :func:`discover` (the one the command runs with, ``--config``
included) and answers for that file.
"""

from __future__ import annotations

import logging
import tomllib
from functools import cache, lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.rest.declared import declare
from connectors.sdk.base import Connector
from connectors.sdk.labels import RecordLabels
from hub.config.settings import HubSettings, resolve_config_path
from hub.core.errors import ConfigurationError

log = logging.getLogger(__name__)
GROUP = "dsar.connectors"
#: the configuration table whose sub-tables each declare a REST processor
REST_TABLE = "rest"
#: the configuration file of the latest discovery (see the module docstring)
_in_use: dict[str, Path | None] = {}


def discover(config_path: Path | None = None) -> dict[str, type[Connector]]:
    """Installed and declared connectors by name, in a stable order.

    ``config_path`` is resolved as :func:`hub.config.settings.load_settings` resolves it
    (``--config``, else ``$DSAR_CONFIG``, else ``config/hub.toml``), so give both the same.
    """
    path = resolve_config_path(config_path)
    _in_use["config"] = path
    found = {**installed(), **declared_in(path)}
    return dict(sorted(found.items()))


def _config_in_use() -> Path | None:
    return _in_use["config"] if "config" in _in_use else resolve_config_path(None)


def connector_title(name: str) -> str | None:
    """The human title of processor ``name`` (its connector's), None when none is known."""
    found = {**installed(), **declared_in(_config_in_use())}.get(name)
    return found.title if found is not None else None


def record_labels(name: str) -> RecordLabels:
    """What processor ``name``'s record types and fields are called in the subject's report:
    its connector's labels, with what its table in the configuration declares (REST
    processors); empty for a processor no installed or declared connector serves."""
    path = _config_in_use()
    stamp = _stamp(path)
    return _labels(_resolved(path) if path and stamp else None, stamp, name)


@lru_cache(maxsize=16)
def _resolved(path: Path) -> Path:
    """``path`` made absolute, once per path: resolving walks the file system every call."""
    return path.resolve()


def _stamp(path: Path | None) -> int:
    try:
        return path.stat().st_mtime_ns if path is not None else 0
    except OSError:
        return 0


@lru_cache(maxsize=64)
def _labels(path: Path | None, stamp: int, name: str) -> RecordLabels:
    connector = {**installed(), **(_declared(path, stamp) if path else {})}.get(name)
    if connector is None:
        return RecordLabels()
    tables = _tables(path, stamp) if path else {}
    table = tables.get(name) if name in installed() else tables.get(REST_TABLE, {}).get(name)
    try:
        return connector.configured_labels(table if isinstance(table, dict) else {})
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: the labels of {name!r} are invalid: {exc}") from None


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
def _tables(path: Path, stamp: int) -> dict[str, Any]:
    """The configuration file's tables, read once per version of the file."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc}") from None


@lru_cache(maxsize=8)
def _declared(path: Path, stamp: int) -> dict[str, type[Connector]]:
    """One class per table and version of the file, so repeated discovery yields the same
    classes."""
    tables = _tables(path, stamp).get(REST_TABLE, {})
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
