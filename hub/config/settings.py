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
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.config.consent import ConsentSettings
from hub.core.errors import ConfigurationError
from hub.core.inventory import Controller, InventoryEntry
from hub.core.retention import RetentionPolicy

if TYPE_CHECKING:  # the SDK (and the HTTP stack under it) loads with the connectors themselves
    from connectors.sdk.base import Connector, ConnectorSettings

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
    keyed_hash_key_file: Path | None = Field(
        None, description="A file (mode 0600) holding the keyed-hash key, shared by every "
        "machine on one database; unset: the key generated in the state folder.")
    keyed_hash_key: SecretStr | None = Field(
        None, description="The keyed-hash key itself (instead of keyed_hash_key_file).")
    token_key_file: Path | None = Field(
        None, description="A file (mode 0600) holding the key that encrypts stored processor "
        "tokens, shared by every machine on one database; unset: the state folder's key.")
    token_key: SecretStr | None = Field(
        None, description="The token-encryption key itself (instead of token_key_file).")

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

    @field_validator("keyed_hash_key_file", "token_key_file")
    @classmethod
    def _private_key_file(cls, value: Path | None) -> Path | None:
        """A key file must exist and be readable by its owner only: a key others on the
        machine can read undoes the pseudonyms (keyed hashes) or the token encryption. Refused
        rather than repaired, as the file was placed there by hand and may be shared."""
        if value is None:
            return value
        check_key_file(value)
        return value

    @model_validator(mode="after")
    def _one_source_per_key(self) -> Self:
        """Each key from one place only, and remembered for the store (see
        :func:`configured_key`)."""
        for kind in KEY_KINDS:
            names = _KEY_SETTINGS[kind]
            file, value = getattr(self, names[0]), getattr(self, names[1])
            if file is not None and value is not None:
                raise ValueError(f"set {env_var(names[0])} or {env_var(names[1])}, not both")
            if file is None and value is None:
                _configured_keys.pop((self.state_dir, kind), None)
            else:
                setting = names[0] if file is not None else names[1]
                _configured_keys[(self.state_dir, kind)] = KeySource(
                    kind, env_var(setting), file, value)
        return self

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
        from connectors.sdk.base import ConnectorSettings

        value = getattr(self, name)
        assert isinstance(value, ConnectorSettings)
        return value

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'ledger.sqlite3'}"


KeyKind = Literal["keyed-hash", "token"]
KEY_KINDS: tuple[KeyKind, ...] = ("keyed-hash", "token")
_KEY_SETTINGS: dict[KeyKind, tuple[str, str]] = {
    "keyed-hash": ("keyed_hash_key_file", "keyed_hash_key"),
    "token": ("token_key_file", "token_key"),
}


def env_var(field: str) -> str:
    """The environment variable of one of the hub's own settings (for messages)."""
    return f"DSAR_{field.upper()}"


def check_key_file(path: Path) -> None:
    """Refuse a key file that is missing, not a file, or readable by group or others."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ValueError(f"the key file {path} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"the key file {path} is not a file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ValueError(f"the key file {path} can be read by others (mode {mode:04o}); "
                         f"make it private first: chmod 600 {path}")


@dataclass(frozen=True)
class KeySource:
    """Where one of the hub's keys comes from when it is configured rather than generated."""

    kind: KeyKind
    setting: str  # the variable that set it, for messages
    file: Path | None
    value: SecretStr | None

    def describe(self) -> str:
        return f"{self.setting} ({self.file})" if self.file is not None else self.setting


#: The configured keys by state folder and kind. Every caller names the keys by their place in
#: the state folder (``hub.store.keyed.secret_path``); loading settings records here which of
#: those places a configured key stands in for, so every store that opens "the state folder's
#: key" opens the configured one, whichever command or job created it. A copy of the settings
#: with another state folder (the sandbox's throw-away one) is not validated again, so it keeps
#: keys of its own.
_configured_keys: dict[tuple[Path, KeyKind], KeySource] = {}


def configured_key(state_dir: Path, kind: KeyKind) -> KeySource | None:
    """The key configured for ``state_dir`` (settings loaded in this process), if any."""
    return _configured_keys.get((state_dir, kind))


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
