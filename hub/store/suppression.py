"""The suppression list: people who must never be (re-)subscribed, kept without their address.

After an erasure or an objection to direct marketing, "the personal data shall no longer be
processed for such purposes" (GDPR Art. 21(3)), and an erased person must not reappear through
the next consent sync or list import (Art. 17). Remembering *who* that is would itself keep
personal data, so the list holds only keyed hashes (:mod:`hub.store.keyed`): enough to recognise the
address when it comes back, useless to anyone without the local secret (Art. 4(5)).

Interface relied on by the consent sync: ``SuppressionList(engine, secret_path)`` with
``add(email, reason)`` and ``is_suppressed(email)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.store.keyed import Pseudonymiser
from hub.store.tables import SuppressedAddress


@dataclass(frozen=True)
class Suppression:
    """One entry as listed: the pseudonym, why, and since when (UTC)."""

    email_hash: str
    reason: str
    added_at: datetime


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here was UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SuppressionList:
    """Keyed hashes of suppressed addresses in the hub's database.

    The tables are created by :func:`hub.store.db.open_database`; the secret is created in the state
    directory on first use. Matching ignores letter case as far as it is safe (the hash is of
    :func:`hub.store.keyed.normalise_email`: NFC, local part lower-cased, domain case-folded).
    """

    def __init__(self, engine: Engine, secret_path: Path) -> None:
        self.engine = engine
        self._pseudonyms = Pseudonymiser(engine, secret_path)

    def hash(self, email: str) -> str:
        """The keyed hash the list stores for ``email``."""
        return self._pseudonyms.hash(email)

    def add(self, email: str, reason: str) -> None:
        """Suppress ``email``; adding it again keeps the first reason and date (the evidence)."""
        self.add_hash(self.hash(email), reason)

    def add_hash(self, email_hash: str, reason: str) -> None:
        """Suppress an address known only by its keyed hash (after pseudonymisation)."""
        with Session(self.engine) as session:
            if session.get(SuppressedAddress, email_hash) is not None:
                return
            session.add(SuppressedAddress(email_hash=email_hash, reason=reason,
                                          added_at=datetime.now(UTC)))
            try:
                session.commit()
            except IntegrityError:  # added concurrently (PostgreSQL): already suppressed
                session.rollback()

    def follow(self, old: str, new: str, reason: str) -> bool:
        """A suppressed subject's corrected address (rectification, GDPR Art. 16) is suppressed
        too, so correcting an address never lets it back onto a marketing list. True when
        ``old`` was suppressed."""
        if not self.is_suppressed(old):
            return False
        self.add(new, reason)
        return True

    def is_suppressed(self, email: str) -> bool:
        email_hash = self.hash(email)
        with Session(self.engine) as session:
            return session.get(SuppressedAddress, email_hash) is not None

    def list(self) -> list[Suppression]:
        """Every entry, oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(SuppressedAddress).order_by(SuppressedAddress.added_at,
                                                   SuppressedAddress.email_hash))
            return [Suppression(r.email_hash, r.reason, _utc(r.added_at)) for r in rows]
