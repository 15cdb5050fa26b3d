"""The ``[booking]`` settings: API or export mode, the declaration, and the secrets.

``ConnectorSettings`` keeps unknown top-level keys (``dsar config check`` reports them), so the
declaration lives in nested typed tables (``[booking.api]``, ``[booking.export]``) whose models
refuse unknown keys: a typo there stops start-up with the key's name.

Secrets come from the environment (``DSAR_BOOKING__API_KEY``, ``DSAR_BOOKING__PASSWORD``) and are
required only when the declared auth reads them; export mode needs ``export_path`` instead.
Until one of the two is configured the hub skips the processor, naming the missing setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from connectors.sdk.base import ConnectorSettings
from connectors.booking.export import ExportMapping
from connectors.booking.spec import ApiDeclaration
from hub.http import HttpPolicy


class BookingSettings(ConnectorSettings):
    base_url: str = Field("https://api.bokamera.se",
                          description="The booking system's API address (api mode).")
    mode: Literal["api", "export"] = Field(
        "api", description="'api': call the declared REST API; 'export': read export_path.")
    system: str = Field("the booking system",
                        description="The system's name in reports, e.g. 'Qlickboka'.")
    api_key: SecretStr | None = Field(None, description="The credential of the declared auth.")
    password: SecretStr | None = Field(None, description="Password for oauth2_password auth.")
    api: ApiDeclaration | None = Field(None, description="The REST API declaration (api mode).")
    export_path: Path | None = Field(None, description="The exported customer list (CSV/XLSX).")
    export: ExportMapping | None = Field(None, description="Columns of the export.")
    export_max_age_days: float = Field(
        7.0, gt=0, description="An older export cannot prove absence: a person must look.")
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=10, rate_limit_seconds=1.0))

    required_credentials = ("api", "api_key")

    @model_validator(mode="after")
    def _mode_has_its_table(self) -> BookingSettings:
        if self.mode == "export" and self.export is None:
            raise ValueError("mode = 'export' needs a [booking.export] table naming the columns")
        return self

    def credential_names(self) -> tuple[str, ...]:
        if self.mode == "export":
            return ("export_path",)
        return ("api_key", *(self.api.secret_names() if self.api is not None else ()))

    def missing_credentials(self) -> list[str]:
        """What must still be set: the declaration and its secrets, or the export file."""
        if self.mode == "export":
            return [] if self.export_path else ["export_path"]
        missing = ["api"] if self.api is None else []
        needed = self.api.secret_names() if self.api is not None else ["api_key"]
        return missing + [name for name in needed if not self.secret(name)]

    def secret(self, name: str) -> str:
        value = getattr(self, name, None)
        return value.get_secret_value() if isinstance(value, SecretStr) else ""
