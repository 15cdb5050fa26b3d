"""The settings of a declared REST processor: API or export mode, the declaration, the secrets.

``ConnectorSettings`` keeps unknown top-level keys (``dsar config check`` reports them), so the
declaration lives in nested typed tables (``[<table>.api]``, ``[<table>.export]``) whose models
refuse unknown keys: a typo there stops start-up with the key's name.

Secrets come from the environment (``DSAR_<NAME>__API_KEY``, ``DSAR_<NAME>__PASSWORD``) and are
required only when the declared auth reads them; export mode needs ``export_path`` instead.
Until one of the two is configured the hub skips the processor, naming the missing setting.

:class:`RestSettings` is the engine's model; :class:`~connectors.rest.booking.BookingSettings`
(``[booking]``) and the model made for each ``[rest.<name>]`` table
(:mod:`connectors.rest.declared`) subclass it and say, in ``naming``, where they are declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidatorFunctionWrapHandler, model_validator

from connectors.rest.export import ExportMapping
from connectors.rest.naming import Naming, current, naming
from connectors.rest.spec import ApiDeclaration
from connectors.sdk.base import ConnectorSettings
from connectors.sdk.labels import RecordLabels
from hub.http import HttpPolicy


class RestSettings(ConnectorSettings):
    #: the processor's name and TOML table, for messages (None: the one being validated)
    naming: ClassVar[Naming | None] = None

    mode: Literal["api", "export"] = Field(
        "api", description="'api': call the declared REST API; 'export': read export_path.")
    system: str = Field("the REST API", description="The system's name in reports, e.g. "
                        "'Qlickboka'.")
    docs_url: str | None = Field(
        None, description="The API documentation the declaration follows ([rest.<name>] only; "
        "shown by `dsar connectors`).")
    api_key: SecretStr | None = Field(None, description="The credential of the declared auth.")
    password: SecretStr | None = Field(None, description="Password for oauth2_password auth.")
    api: ApiDeclaration | None = Field(None, description="The REST API declaration (api mode).")
    export_path: Path | None = Field(None, description="The exported customer list (CSV/XLSX).")
    export: ExportMapping | None = Field(None, description="Columns of the export.")
    export_max_age_days: float = Field(
        7.0, gt=0, description="An older export cannot prove absence: a person must look.")
    labels: RecordLabels = Field(
        default_factory=RecordLabels,
        description="What the record types and fields are called in the subject's report, "
        "over the engine's defaults (connectors/rest/labels.py).")
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=10, rate_limit_seconds=1.0))

    required_credentials: ClassVar[tuple[str, ...]] = ("api", "api_key")

    @model_validator(mode="wrap")
    @classmethod
    def _in_own_names(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Nested tables report problems with this processor's table and variable names."""
        if cls.naming is None:
            return handler(data)
        with naming(cls.naming):
            return handler(data)

    @model_validator(mode="after")
    def _mode_has_its_table(self) -> RestSettings:
        if self.mode == "export" and self.export is None:
            raise ValueError(f"mode = 'export' needs a [{self.names().table}.export] table "
                             "naming the columns")
        return self

    def names(self) -> Naming:
        """Where this processor is declared (``[booking]`` / ``DSAR_BOOKING__*``...)."""
        return type(self).naming or current()

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
