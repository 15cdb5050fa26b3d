"""The processing inventory: which systems hold personal data, why, and for how long.

It is data, kept in ``config/hub.toml`` (the first customer's is restated from its privacy
policy), because every business has its own and the reports
must answer GDPR Art. 15(1)(a)-(h) from it: purposes, categories, recipients, retention, source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Controller(BaseModel):
    """The business answering the request."""

    name: str = "The controller"
    contact_email: str | None = None
    country: str = "SE"
    supervisory_authority: str = "Integritetsskyddsmyndigheten (IMY), www.imy.se"
    recipients: list[str] = Field(
        default_factory=list,
        description="Recipients of data from every system, by name (CJEU C-154/21).")
    automated_decision_making: str | None = Field(
        None, description="Art. 15(1)(h) statement; None: the report says there is none.")
    translations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per language, replacement texts: translations.sv.name")


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
