"""The processing inventory: which systems hold personal data, why, and for how long.

It is data, kept in ``config/hub.toml`` (the first customer's is restated from its privacy
policy in docs/processing-inventory.md), because every business has its own and the reports
must answer GDPR Art. 15(1)(a)-(h) from it: purposes, categories, recipients, retention, source.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Controller(BaseModel):
    """The business answering the request."""

    name: str = "The controller"
    contact_email: str | None = None
    country: str = "SE"
    supervisory_authority: str = "Integritetsskyddsmyndigheten (IMY), www.imy.se"


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
