"""The ``[consent]`` settings (``DSAR_CONSENT__*`` in the environment).

A leaf of the settings layer: :class:`hub.config.settings.HubSettings` holds these as its
``consent`` field, and the consent use cases (:mod:`hub.consent`) read them. Keeping the model
here, rather than beside the sync that uses it, lets the settings layer describe the whole
configuration without importing the layers above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, SecretStr

from hub.config.table import load_table

if TYPE_CHECKING:
    from hub.config.settings import HubSettings

#: the connector the sync reads unless ``[consent] source`` names another
DEFAULT_SOURCE = "mailerlite"
#: where webhook deliveries are posted unless ``[consent] webhook_path`` says otherwise
DEFAULT_WEBHOOK_PATH = "/webhooks/mailerlite"


class ConsentSettings(BaseModel):
    """``[consent]`` in the TOML configuration, ``DSAR_CONSENT__*`` in the environment."""

    source: str = Field(DEFAULT_SOURCE, description="Connector the consent sync reads.")
    destinations: list[str] | None = Field(
        None, description="Inventory keys or connector names that receive opt-outs. Default: "
        "inventory entries whose handling says 'consent-sync target', plus enabled connectors "
        "that implement record_opt_out.")
    reconcile_every_hours: float = Field(
        24.0, ge=0, description="Full reconciliation interval; 0 turns periodic ones off.")
    opt_out_rescan_minutes: float = Field(
        60.0, ge=0, description="Read the unsubscribed and junk lists whole at least this "
        "often even when their counts did not move (an unsubscribe and a re-subscribe in the "
        "same interval cancel out in the counts); 0 turns it off.")
    incremental_full_scan_max: int = Field(
        20_000, ge=0, description="A changed status list up to this size is read whole by an "
        "incremental run; larger ones are read down to the high-water mark only.")
    lock_warn_after_minutes: float = Field(
        120.0, gt=0, description="A run blocked by a lock older than this exits 3, not 0.")
    webhook_secret: SecretStr | None = Field(
        None, description="The MailerLite webhook's secret (signs the Signature header).")
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8787, ge=0, le=65535)
    webhook_path: str = DEFAULT_WEBHOOK_PATH
    webhook_max_body_bytes: int = Field(1_000_000, gt=0)


def load_consent_settings(settings: HubSettings, config_path: Path | None) -> ConsentSettings:
    """The ``[consent]`` settings: ``HubSettings.consent`` when the settings carry it,
    otherwise read from the same sources (environment, .env, the TOML file) here, so a
    settings object built without that field still gets the user's configuration."""
    existing = getattr(settings, "consent", None)
    if isinstance(existing, BaseModel):
        return ConsentSettings.model_validate(existing.model_dump())

    return load_table(config_path, "consent", ConsentSettings)
