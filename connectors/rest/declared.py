"""Processors declared as ``[rest.<name>]`` tables: one connector class per table.

Why: a small business often has more than one system with a simple REST API (a booking site
and a course platform, say). Each ``[rest.<name>]`` table is a complete declaration with the
keys of ``[booking]`` (``base_url``, ``system``, ``http``, ``api`` or ``export``; ``docs_url``
for ``dsar connectors``) and becomes a processor of its own named ``<name>``: its own line in
reports, its own settings ``DSAR_<NAME>__*`` (secrets only there), its own rate limit.

The hub's registry calls :func:`declare` for each table of its configuration. The settings
model made here starts from the table and lets the environment (or the ``--sandbox``
overrides) replace any key, just as the TOML file and the environment combine for ``[booking]``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from pydantic import ValidationError, model_validator

from connectors.rest.connector import RestConnector
from connectors.rest.naming import Naming
from connectors.rest.settings import RestSettings
from connectors.rest.spec import describe
from hub.core.errors import ConfigurationError

NAME = re.compile(r"[a-z][a-z0-9_]*")


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, tables merged key by key (lists are replaced)."""
    result = dict(base)
    for key, value in override.items():
        inner = result.get(key)
        if isinstance(value, Mapping) and isinstance(inner, Mapping):
            result[key] = merged(inner, value)
        else:
            result[key] = value
    return result


class DeclaredSettings(RestSettings):
    """The settings of one ``[rest.<name>]`` processor: its table, then what overrides it."""

    #: the ``[rest.<name>]`` table as written in the configuration
    declared: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _start_from_the_table(cls, data: Any) -> Any:
        return merged(cls.declared, data) if isinstance(data, Mapping) else data


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def declare(name: str, table: Any) -> type[RestConnector]:
    """The connector class of the processor ``[rest.<name>]`` declares.

    The table is validated here, so a typo stops start-up with the key's name
    (:class:`ConfigurationError`) before any processor is contacted.
    """
    where = f"[rest.{name}]"
    if not NAME.fullmatch(name):
        raise ConfigurationError(f"{where}: a processor name is lower-case letters, digits and "
                                 "'_', starting with a letter")
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"{where} must be a table")
    namespace: dict[str, Any] = {
        "declared": {"system": name, **table},
        "naming": Naming.declared(name),
        "__module__": __name__,
        "__doc__": f"Settings of the REST processor declared as {where}.",
    }
    settings_model = cast(type[DeclaredSettings], types.new_class(
        f"{_camel(name)}Settings", (DeclaredSettings,), exec_body=lambda ns: ns.update(namespace)))
    try:
        defaults = settings_model.model_validate({})
    except ValidationError as exc:
        raise ConfigurationError(f"invalid {where}: {describe(exc)}") from None
    # what a user still has to set: the secrets its auth reads (or the export file)
    settings_model.required_credentials = tuple(defaults.missing_credentials())
    attributes: dict[str, Any] = {
        "name": name,
        "title": defaults.system,
        "docs_url": defaults.docs_url or defaults.base_url,
        "settings_model": settings_model,
        "__module__": __name__,
        "__doc__": f"The REST processor declared as {where}.",
    }
    return cast(type[RestConnector], types.new_class(
        f"{_camel(name)}Connector", (RestConnector,), exec_body=lambda ns: ns.update(attributes)))
