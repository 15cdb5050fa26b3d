"""Every table the hub owns, in one place.

One module so that the schema can be read (and, later, migrated) as a whole, and so that the
modules that use the tables import them from here instead of from each other: the store's
behaviour lives in ``ledger``, ``erasure_actions``, ``audit``, ``state``, ``suppression`` and
``consent_register``; their rows live here. Importing this module registers every table on
:data:`Base.metadata`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base of every table the hub owns."""


# ---------------------------------------------------------------------------------------------
# The request ledger (GDPR Art. 5(2), 12(3))
# ---------------------------------------------------------------------------------------------


class DataSubjectRequest(Base):
    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    subject_email: Mapped[str | None] = mapped_column(String(320))
    subject_hash: Mapped[str | None] = mapped_column(String(128), index=True)
    subject_key: Mapped[str | None] = mapped_column(
        String(64), doc="Digest of the normalised address while the request is open; what "
                        "makes a second open request of one subject and type impossible. "
                        "Cleared on closing (the address itself then gets a keyed hash).")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_on: Mapped[date] = mapped_column(
        Date, doc="The day of receipt in Swedish local time; the deadline counts from it.")
    received_at_assumed: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        doc="True when nobody said when the request arrived (``dsar lookup`` or ``dsar erase`` "
            "opened it): the moment it was opened was taken, so the real deadline may be "
            "earlier.")
    due_at: Mapped[date] = mapped_column(Date, index=True)
    extended_due_at: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    identifiers: Mapped[list[RequestIdentifier]] = relationship(
        back_populates="request", order_by="RequestIdentifier.id")
    #: in the order they were appended (``at`` may come from an injected clock)
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id")


# One open request per subject and type: two erasures started at once (cron and a person, two
# terminals) must end up in one request, whichever process inserts first; the loser's INSERT
# fails and it attaches to the winner's request. A partial index (SQLite >= 3.8, PostgreSQL),
# so closed requests of the same subject never conflict.
Index("uq_requests_open_subject", DataSubjectRequest.type, DataSubjectRequest.subject_key,
      unique=True, sqlite_where=DataSubjectRequest.status == "open",
      postgresql_where=DataSubjectRequest.status == "open")


class RequestIdentifier(Base):
    __tablename__ = "request_identifiers"
    __table_args__ = (UniqueConstraint("request_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(64), default="request")

    request: Mapped[DataSubjectRequest] = relationship(back_populates="identifiers")
class RequestEvent(Base):
    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    request: Mapped[DataSubjectRequest] = relationship(back_populates="events")


# ---------------------------------------------------------------------------------------------
# Erasure actions: one row per record and action, claimed before it is sent
# ---------------------------------------------------------------------------------------------


class ErasureActionRow(Base):
    __tablename__ = "erasure_actions"
    __table_args__ = (UniqueConstraint("request_id", "processor", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    processor: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(200))
    matched_on: Mapped[str] = mapped_column(String(64), default="email")
    action: Mapped[str] = mapped_column(String(16))  # delete | anonymise | retain | manual
    legal_basis: Mapped[str] = mapped_column(Text)
    retained_until: Mapped[date | None] = mapped_column(Date, index=True)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    instructions: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    completes_by: Mapped[date | None] = mapped_column(Date)
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(
        String(200), doc="host:pid:token of the run carrying the action out (state "
                         "in-progress); see hub.store.erasure_actions.ErasureLedger.claim.")
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------
# The hash-chained audit log
# ---------------------------------------------------------------------------------------------


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32), doc="UTC, ISO 8601 with microseconds and Z.")
    request_id: Mapped[str | None] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    subject_email: Mapped[str | None] = mapped_column(
        String(320), doc="Readable label, not covered by the chain; cleared by pseudonymise.")
    details: Mapped[str] = mapped_column(Text, doc="Canonical JSON, no personal data.")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

    @property
    def details_data(self) -> dict[str, Any]:
        return json.loads(self.details)

    def chained_fields(self) -> dict[str, Any]:
        """Everything the hash covers (all but ``subject_email`` and ``entry_hash``)."""
        return {"seq": self.seq, "at": self.at, "request_id": self.request_id,
                "actor": self.actor, "action": self.action, "subject_hash": self.subject_hash,
                "details": json.loads(self.details), "prev_hash": self.prev_hash}


# ---------------------------------------------------------------------------------------------
# Key-value state (tokens, cursors, fingerprints)
# ---------------------------------------------------------------------------------------------


class StateEntry(Base):
    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------
# The suppression list of erased addresses (keyed hashes only)
# ---------------------------------------------------------------------------------------------


class SuppressedAddress(Base):
    __tablename__ = "suppression"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------
# The restriction register (GDPR Art. 18; keyed hashes only)
# ---------------------------------------------------------------------------------------------


class RestrictionRow(Base):
    """One restriction of a subject's processing, from its start until it is lifted.

    Lifted rows stay as the evidence that the person was told before (Art. 18(3)); at most one
    row per subject is in force (``lifted_at`` empty), which a partial unique index holds even
    when two runs restrict the same person at once."""

    __tablename__ = "restrictions"
    __table_args__ = (
        Index("ux_restrictions_in_force", "email_hash", unique=True,
              sqlite_where=text("lifted_at IS NULL"),
              postgresql_where=text("lifted_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    notified_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    lift_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


# ---------------------------------------------------------------------------------------------
# The consent register
# ---------------------------------------------------------------------------------------------


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_subscriber", "system", "subscriber_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(80))
    subscriber_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    previous_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    learned_via: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
class ConsentSubscriber(Base):
    __tablename__ = "consent_subscribers"
    __table_args__ = (
        Index("ix_consent_subscribers_status", "system", "status"),
        Index("ix_consent_subscribers_seen", "system", "seen_scan"),
    )

    system: Mapped[str] = mapped_column(String(80), primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                               nullable=True)
    last_opt_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    seen_scan: Mapped[str | None] = mapped_column(String(40), nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(
        Integer, doc="Bumped by every write through the ORM, which writes only over the "
                     "version it read: a writer that read the row before another changed it "
                     "fails (StaleDataError) instead of recording the same change again.")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read once by the mapper
#: states of a propagation task that still asks for work (see hub.store.consent_register)
OPEN_PROPAGATION_STATES = ("pending", "failed", "manual-open")


class PropagationTask(Base):
    __tablename__ = "consent_propagation"
    __table_args__ = (
        Index("ix_consent_propagation_open", "destination", "state"),
        Index("ix_consent_propagation_subscriber", "system", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    system: Mapped[str] = mapped_column(String(80))
    subscriber_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    destination: Mapped[str] = mapped_column(String(80))
    destination_title: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # opt_out | review
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)
    instructions: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# One open task per subscriber, destination and kind: a webhook and a poll recording the same
# opt-out at once must not queue it twice (the register's row lock makes the second see the
# first; this makes it impossible even where that lock is not taken).
Index("uq_consent_propagation_open_task", PropagationTask.system,
      PropagationTask.subscriber_id, PropagationTask.destination, PropagationTask.action,
      unique=True, sqlite_where=PropagationTask.state.in_(OPEN_PROPAGATION_STATES),
      postgresql_where=PropagationTask.state.in_(OPEN_PROPAGATION_STATES))


class WebhookDelivery(Base):
    __tablename__ = "consent_webhook_deliveries"

    body_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    observations: Mapped[int] = mapped_column(Integer)


# ---------------------------------------------------------------------------------------------
# Rate budgets shared by every process and machine on this database
# ---------------------------------------------------------------------------------------------


class RateBudgetRow(Base):
    """The recent request starts of one processor credential (see hub.store.rate_budget)."""

    __tablename__ = "rate_budget"

    key: Mapped[str] = mapped_column(
        String(64), primary_key=True,
        doc="SHA-256 of the processor's limit key and a digest of its credentials; never a "
            "credential itself.")
    starts: Mapped[str] = mapped_column(
        Text, doc="JSON list of the newest request starts (seconds since the epoch, the "
                  "database's clock on PostgreSQL), at most one limit's worth.")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------
# The local index of histories that cannot be searched by person (hub.store.history_index)
# ---------------------------------------------------------------------------------------------


class HistoryMark(Base):
    """How far one history has been read into the index."""

    __tablename__ = "history_marks"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    mark: Mapped[str] = mapped_column(
        Text, doc="JSON: the connector's resume point (a purchase hash, an object id).")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HistoryObject(Base):
    """One indexed object: what matching and the report's dates need, no personal data."""

    __tablename__ = "history_objects"
    #: a payment hint asks for one amount on a few days (``HistoryIndex.paid``)
    __table_args__ = (Index("ix_history_objects_payment", "source", "amount_minor", "day"),)

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date | None] = mapped_column(Date, nullable=True)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)


class HistoryTerm(Base):
    """A keyed hash of one identifier found in an indexed object (never the identifier)."""

    __tablename__ = "history_terms"
    __table_args__ = (Index("ix_history_terms_hash", "term_hash"),)

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    term_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
