"""The processing inventory: which systems hold personal data, why, and for how long.

It is data, kept in ``config/hub.toml`` (the first customer's is restated from its privacy
policy), because every business has its own and the reports
must answer GDPR Art. 15(1)(a)-(h) from it: purposes, categories, recipients, retention, source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

#: The Swedish supervisory authority (Art. 77: the subject's right to lodge a complaint) with
#: all its contact details, by language: a subject without internet access must be able to
#: write or call. The English text is the default; Swedish documents get the Swedish one.
IMY = {
    "en": "Integritetsskyddsmyndigheten (IMY, the Swedish Authority for Privacy Protection), "
          "Box 8114, SE-104 20 Stockholm, Sweden, telephone +46 8 657 61 00, imy@imy.se, "
          "www.imy.se",
    "sv": "Integritetsskyddsmyndigheten (IMY), Box 8114, 104 20 Stockholm, telefon "
          "08-657 61 00, imy@imy.se, www.imy.se",
}


class Controller(BaseModel):
    """The business answering the request."""

    name: str = "The controller"
    contact_email: str | None = None
    country: str = "SE"
    supervisory_authority: str = IMY["en"]
    recipients: list[str] = Field(
        default_factory=list,
        description="Recipients of data from every system, by name (CJEU C-154/21).")
    automated_decision_making: str | None = Field(
        None, description="Art. 15(1)(h) statement; None: the report says there is none.")
    translations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per language, replacement texts: translations.sv.name")

    @model_validator(mode="after")
    def _authority_in_every_language(self) -> Controller:
        """The default authority (IMY) in each language it is written in, unless the
        configuration translates it itself: a Swedish letter must not say "telephone"."""
        if self.supervisory_authority == IMY["en"]:
            for lang, text in IMY.items():
                self.translations.setdefault(lang, {}).setdefault("supervisory_authority", text)
        return self


class InventoryEntry(BaseModel):
    """One system of the inventory (a processor with a connector, or a manual one)."""

    key: str
    system: str
    processor: str | None = Field(None, description="The legal entity processing the data.")
    connector: str | None = Field(None, description="Connector name when the system has an API.")
    personal_data: list[str] = Field(default_factory=list)
    purposes: list[str] = Field(default_factory=list)
    legal_basis: list[str] = Field(default_factory=list)
    retention: str = "not stated"
    source: str = "the data subject"
    recipients: list[str] = Field(default_factory=list)
    transfers_outside_eea: str | None = None
    handling: str = ""
    manual_instructions: str | None = None
    portable: bool | None = Field(
        None, description="Art. 20 scope override; default: consent or contract in legal_basis.")
    translations: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per language, replacements of the text fields (system, purposes, "
        "personal_data, legal_basis, recipients, retention, source, transfers_outside_eea).")
