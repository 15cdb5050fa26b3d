"""Settings, exactly as the README fixes them.

Sources, strongest first: values given in code (the ``--sandbox`` overrides), ``DSAR_*``
environment variables (``__`` separates nesting: ``DSAR_STRIPE__API_KEY``), a ``.env`` file, the
TOML configuration (``--config``, else ``$DSAR_CONFIG``, else ``config/hub.toml``), defaults.

Each installed connector contributes one field named after it whose type is the connector's own
settings model, so a plugin's settings are validated like the built-ins' and are addressable
as ``DSAR_<NAME>__<FIELD>`` without this module knowing the plugin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from connectors.sdk.base import Connector, ConnectorSettings
from hub.config.consent import ConsentSettings
from hub.core.errors import ConfigurationError
from hub.core.inventory import Controller, InventoryEntry
from hub.core.retention import RetentionPolicy

DEFAULT_CONFIG = Path("config/hub.toml")


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dsar"


class HubSettings(BaseSettings):
    """Settings of the hub itself; processor sections are added per installed connector."""

    model_config = SettingsConfigDict(
        env_prefix="DSAR_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        nested_model_default_partial_update=True,
    )

    state_dir: Path = Field(default_factory=default_state_dir)
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the request ledger; default SQLite in state_dir."
    )
    report_retention_days: int = Field(
        30, ge=0, description="Days after an access request is closed before `dsar requests "
        "purge` removes its report folder (a full copy of the subject's data).")
    controller: Controller = Field(default_factory=Controller)
    inventory: list[InventoryEntry] = Field(default_factory=list)
    consent: ConsentSettings = Field(
        default_factory=ConsentSettings,
        description="The scheduled consent sync: source, destinations, webhook.")
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="What erasure does to each record type; empty: every record is manual.")

    @field_validator("state_dir")
    @classmethod
    def _state_dir_can_exist(cls, value: Path) -> Path:
        """A state folder that cannot be created (a path under a file, a parent folder this
        user may not write) is a configuration error, found before anything is contacted.
        Only looks: the folder is created when something is first stored in it."""
        for folder in (value, *value.parents):
            if not folder.exists():
                continue
            if not folder.is_dir():
                raise ValueError(f"{value} cannot be a folder: {folder} is a file (DSAR_STATE_DIR)")
            if folder != value and not os.access(folder, os.W_OK | os.X_OK):
                raise ValueError(f"{value} cannot be created: {folder} is not writable "
                                 "(DSAR_STATE_DIR)")
            break
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        """A URL whose scheme no installed SQLAlchemy dialect serves is refused at once; the
        message names the scheme only, as the URL may carry a password."""
        if not value:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        scheme = value.split(":", 1)[0]
        try:
            make_url(value).get_dialect()
        except ArgumentError:
            raise ValueError(f"DSAR_DATABASE_URL: no database driver for the scheme {scheme!r}; "
                             "use sqlite:///PATH or postgresql+psycopg://...") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    def processor(self, name: str) -> ConnectorSettings:
        value = getattr(self, name)
        assert isinstance(value, ConnectorSettings)
        return value

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'ledger.sqlite3'}"


def resolve_config_path(explicit: Path | None) -> Path | None:
    """``--config``, else ``$DSAR_CONFIG``, else ``./config/hub.toml``, else the default
    configuration that ships with the package."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"configuration file not found: {explicit}")
        return explicit
    from_env = os.environ.get("DSAR_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigurationError(f"DSAR_CONFIG points to a missing file: {path}")
        return path
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    return packaged_default_config()


def packaged_default_config() -> Path | None:
    """The default configuration shipped with the package (wheel) or beside it (checkout)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "default_config" / "hub.toml",
                      package.parent / "config" / "hub.toml"):
        if candidate.is_file():
            return candidate
    return None


def settings_class(
    connectors: dict[str, type[Connector]], config_path: Path | None
) -> type[HubSettings]:
    fields: dict[str, Any] = {
        name: (cls.settings_model, Field(default_factory=cls.settings_model))
        for name, cls in connectors.items()
    }
    model = create_model("DsarSettings", __base__=HubSettings, **fields)
    model.model_config = {**model.model_config, "toml_file": config_path}
    return model


def load_settings(
    connectors: dict[str, type[Connector]],
    config_path: Path | None = None,
    **overrides: Any,
) -> HubSettings:
    """Load and validate settings; a validation problem becomes one readable ConfigurationError."""
    path = resolve_config_path(config_path)
    try:
        return settings_class(connectors, path)(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(
            f"invalid settings ({path or 'no config file'}): {problems}"
        ) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigurationError(f"cannot read configuration {path}: {exc}") from None


def env_name(processor: str, field: str) -> str:
    """The environment variable that sets a processor's field (for messages)."""
    return f"DSAR_{processor.upper()}__{field.upper()}"


def with_processor_overrides(
    settings: HubSettings, name: str, values: dict[str, Any]
) -> HubSettings:
    """A copy of ``settings`` with some of one processor's fields replaced (validated)."""
    current: BaseModel = settings.processor(name)
    updated = type(current).model_validate({**current.model_dump(), **values})
    return settings.model_copy(update={name: updated})
