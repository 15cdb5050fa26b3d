"""The typed outcome of a request: records, per-processor results and the report.

These pydantic models *are* the ``report.json`` format of the README; its JSON Schema is
generated from them, so the file format and the code cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.core.request_types import ReportedType
from hub.core.subject import Identifier, MatchStrength


class ProcessorStatus(StrEnum):
    """How one processor's part of a request ended (README, "Reports")."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    ERROR = "error"
    SKIPPED = "skipped"
    MANUAL = "manual"


class RecordAction(StrEnum):
    DELETED = "deleted"
    ANONYMISED = "anonymised"
    RETAINED = "retained"
    MANUAL = "manual"
    FAILED = "failed"


class Record(BaseModel):
    """One object at a processor that holds personal data of the subject."""

    type: str = Field(description="Processor object type, e.g. 'customer', 'charge', 'subscriber'.")
    id: str
    matched_on: str = Field(description="Which identifier tied this record to the subject.")
    match_strength: MatchStrength = MatchStrength.EXACT
    data: dict[str, Any] = Field(default_factory=dict, description="The personal-data fields.")
    action: RecordAction | None = None
    legal_basis: str | None = None
    retained_until: date | None = None


class ProcessorResult(BaseModel):
    """Everything one processor contributed to a request, including what went wrong."""

    name: str
    status: ProcessorStatus
    error: str | None = None
    records: list[Record] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list,
        description="Limits of the search (e.g. an API that was unavailable), in plain words.",
    )
    note_codes: list[str] = Field(
        default_factory=list,
        description="The same limits as codes (e.g. 'zettle.card_payments_unlinkable'); the "
        "subject's report shows a translated sentence for each, never the notes themselves.",
    )
    incomplete: bool = Field(
        False, description="The search could not cover everything this processor may hold about "
        "the subject: a part is checked by hand and the answer is supplemented.")
    identifiers: list[Identifier] = Field(
        default_factory=list,
        description="Identifiers seen in this processor's records (used to widen the lookup).",
    )
    enabled: bool = Field(
        True, description="False: the processor is not set up (no credentials configured); it "
        "is listed so nothing is silently left out, but does not make the request partial.")
    duration_seconds: float | None = None


class RequestInfo(BaseModel):
    id: str
    type: ReportedType
    received_at: datetime
    due_at: date
    tool_version: str


class SubjectInfo(BaseModel):
    email: str
    identifiers: list[Identifier]


class ManualItem(BaseModel):
    """A system of the processing inventory that no connector searched (paper journals, systems
    without an API, a connector that is not enabled): a person must check it by hand.

    Listed in the access report (Art. 15 covers paper filing systems too, Art. 2(1)) but never
    in the portability export, which holds only data processed by automated means (Art. 20).
    """

    key: str = Field(description="The inventory entry's key.")
    system: str
    processor: str | None = None
    reason: Literal["no_connector", "connector_not_run", "instructions"] = Field(
        description="no_connector: the system has no API; connector_not_run: its connector is "
        "not installed or not enabled; instructions: searched, plus a manual step.")
    instructions: str | None = Field(None, description="What the practice owner does by hand.")


class Report(BaseModel):
    """The machine-readable answer to one request (``report.json``)."""

    request: RequestInfo
    subject: SubjectInfo
    processors: list[ProcessorResult]
    manual_items: list[ManualItem] = Field(
        default_factory=list,
        description="Inventory systems a person must check by hand (from config/hub.toml).",
    )

    @property
    def complete(self) -> bool:
        """True when every processor answered (exit code 0 in the README)."""
        return all(
            p.status in (ProcessorStatus.FOUND, ProcessorStatus.NOT_FOUND) for p in self.processors
        )
