"""One table of the configuration read on its own (``[consent]``, ``[worker]``).

Some settings are read only by the commands that need them, so a mistake in them does not stop
every other command: they are read here from the same sources and in the same order as the
hub's settings (environment ``DSAR_<TABLE>__*``, ``.env``, then the TOML file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, create_model
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.core.errors import ConfigurationError

Model = TypeVar("Model", bound=BaseModel)


def load_table(config_path: Path | None, name: str, model: type[Model]) -> Model:
    """The ``[name]`` table as ``model`` (its defaults where the configuration is silent);
    ConfigurationError names the table when it does not validate."""

    class _File(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="DSAR_", env_nested_delimiter="__", env_file=".env", extra="ignore",
            toml_file=config_path, nested_model_default_partial_update=True)

        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, dotenv_settings,
                    TomlConfigSettingsSource(settings_cls), file_secret_settings)

    fields: dict[str, Any] = {name: (model, Field(default_factory=model))}
    table_file = create_model(f"_{name.title()}File", __base__=_File, **fields)
    try:
        value = getattr(table_file(), name)
    except Exception as exc:  # pydantic ValidationError, unreadable TOML
        raise ConfigurationError(f"invalid [{name}] settings: {exc}") from None
    assert isinstance(value, model)
    return value
