"""Processor credentials entered in the web inbox, kept encrypted in the hub's database.

Why here and not in a file: the owner of a small business sets the hub up in a browser
(``dsar serve``, page Inställningar) rather than editing ``.env``, and the key must survive a
restart. It goes into the same table and under the same encryption as Fortnox's rotating
refresh token (:class:`hub.store.state.StateStore` with the state-encryption key of
:mod:`hub.store.sealed`), so a copy of the database hands out no working key, and no migration
is needed. A saved key is never shown again: the page gets only its last four characters
(:func:`ending`), and nothing here logs it.

Which key is used. What the environment or the TOML configuration sets wins: that is what the
operator wrote down on purpose, and ``dsar config check`` reports it. A saved key fills a
credential the configuration leaves empty (:func:`with_saved_credentials`); the settings page
says which of the two is in use (:func:`source`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, SecretStr

from hub.core.logs import register_secret
from hub.store.state import StateStore, connector_state

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.config.settings import HubSettings

#: The credentials a saved value may stand in for, by processor. Fortnox's is the refresh token
#: its "Connect" flow received (it seeds the token store like ``DSAR_FORTNOX__REFRESH_TOKEN``).
SAVABLE: Mapping[str, tuple[str, ...]] = {
    "stripe": ("api_key",),
    "mailerlite": ("api_token",),
    "fortnox": ("refresh_token",),
}

Source = Literal["configuration", "saved", "none"]


def _key(processor: str, field: str) -> str:
    return f"credentials:{processor}:{field}"


@dataclass(frozen=True)
class SavedCredential:
    """One saved credential: its value (only for the connector) and when it was saved."""

    value: str
    saved_at: datetime

    @property
    def ending(self) -> str:
        return ending(self.value)


def ending(value: str) -> str:
    """The last four characters, what the page shows of a saved key (nothing of a short
    one: four of eight characters would give half of it away)."""
    return value[-4:] if len(value) >= 16 else ""


class SavedCredentials:
    """Credentials saved through the web inbox, encrypted (see the module docstring)."""

    def __init__(self, store: StateStore) -> None:
        if store.sealer is None:
            raise ValueError("saved credentials need the encrypting store (connector_state)")
        self.store = store

    @classmethod
    def open(cls, engine: Engine, state_dir: Path) -> SavedCredentials:
        return cls(connector_state(engine, state_dir))

    def save(self, processor: str, field: str, value: str) -> None:
        _savable(processor, field)
        register_secret(value, f"{processor}-{field}")
        self.store.put(_key(processor, field),
                       {"value": value, "saved_at": datetime.now(UTC).isoformat()})

    def remove(self, processor: str, field: str) -> None:
        _savable(processor, field)
        self.store.put(_key(processor, field), None)

    def get(self, processor: str, field: str) -> SavedCredential | None:
        _savable(processor, field)
        found = self.store.get(_key(processor, field))
        if not isinstance(found, dict) or not isinstance(found.get("value"), str):
            return None
        try:
            saved_at = datetime.fromisoformat(str(found.get("saved_at")))
        except ValueError:
            saved_at = datetime.fromtimestamp(0, UTC)
        register_secret(found["value"], f"{processor}-{field}")
        return SavedCredential(found["value"], saved_at)

    def all(self, processors: Collection[str] | None = None
            ) -> dict[tuple[str, str], SavedCredential]:
        """Every saved credential of the installed ``processors`` (all known when None)."""
        found = {}
        for processor, fields in SAVABLE.items():
            if processors is not None and processor not in processors:
                continue
            for field in fields:
                saved = self.get(processor, field)
                if saved is not None:
                    found[(processor, field)] = saved
        return found


def _savable(processor: str, field: str) -> None:
    if field not in SAVABLE.get(processor, ()):
        raise ValueError(f"{processor}.{field} cannot be saved here")


def configured_value(settings: HubSettings, processor: str, field: str) -> str:
    """The credential as the settings hold it ('' when unset or no such processor)."""
    section = getattr(settings, processor, None)
    value = getattr(section, field, None) if section is not None else None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) else ""


def source(settings: HubSettings, processor: str, field: str,
           saved: SavedCredential | None) -> Source:
    """Which credential the connector gets: the configuration's, the saved one, or none.

    Given the settings in use (the saved ones filled in): a value equal to the saved one is
    the saved one (were the configuration to hold the same key, it makes no difference)."""
    current = configured_value(settings, processor, field)
    if not current:
        return "none"
    if saved is not None and current == saved.value:
        return "saved"
    return "configuration"


def filled(section: BaseModel, field: str, value: str) -> BaseModel:
    """A copy of one processor's settings with ``field`` set to ``value``."""
    return section.model_copy(update={field: SecretStr(value)})


def with_saved_credentials(settings: HubSettings, saved: SavedCredentials) -> HubSettings:
    """``settings`` with every saved credential filled in where the configuration (environment,
    ``.env``, TOML) leaves it empty; a configured one is kept (see the module docstring)."""
    updates: dict[str, BaseModel] = {}
    for (processor, field), credential in saved.all().items():
        section = getattr(settings, processor, None)
        if not isinstance(section, BaseModel) or configured_value(settings, processor, field):
            continue
        updates[processor] = filled(updates.get(processor, section), field, credential.value)
    return settings.model_copy(update=updates) if updates else settings
