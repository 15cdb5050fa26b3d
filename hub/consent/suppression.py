"""The suppression check as the consent sync and the webhook need it: batched.

An address on the suppression list (:mod:`hub.store.suppression`) must never be recorded as
consenting again, and neither may a subscriber whose processing is restricted (Art. 18) be
changed elsewhere by the sync. Checking address by address would cost a transaction per
subscriber on a 100,000-subscriber reconciliation, so a page's keyed hashes are computed before
its transaction and looked up inside it, in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.consent_register import CONSENTING_STATUSES, Observation
from hub.store.restrictions import RestrictionRegister
from hub.store.suppression import SuppressionList
from hub.store.tables import SuppressedAddress


class Suppression:
    """The suppression check, batched: hashes are computed before a batch's transaction and
    looked up inside it (one query per page instead of one transaction per address)."""

    def __init__(self, suppression: SuppressionList | None, secret_file: Path | None) -> None:
        self.list, self.secret_file = suppression, secret_file

    def hashes(self, observations: Sequence[Observation]) -> dict[str, str] | None:
        """Keyed hashes of the addresses that would be recorded as consenting; None when no
        secret exists yet, i.e. nobody has ever been suppressed."""
        if self.list is None or self.secret_file is None or not self.secret_file.exists():
            return None
        return {o.email: self.list.hash(o.email) for o in observations
                if o.email and o.status in CONSENTING_STATUSES}

    @staticmethod
    def lookup(session: Session, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` are suppressed, inside the register's transaction."""
        return set(session.scalars(select(SuppressedAddress.email_hash).where(
            SuppressedAddress.email_hash.in_(list(hashes)))))

    def restricted(self, observations: Sequence[Observation]) -> set[str]:
        """The addresses (as observed) whose processing is restricted (GDPR Art. 18,
        :mod:`hub.store.restrictions`); one query per batch, and none while nobody is."""
        if self.list is None or self.secret_file is None or not self.secret_file.exists():
            return set()
        register = RestrictionRegister(self.list.engine, self.secret_file)
        if not register.list(in_force_only=True):
            return set()
        hashes = {o.email: self.list.hash(o.email) for o in observations if o.email}
        hit = register.restricted_among(hashes.values())
        return {email for email, email_hash in hashes.items() if email_hash in hit}

    @staticmethod
    def everyone(session: Session, hashes: Sequence[str]) -> set[str]:
        """A lookup that treats every hash asked about as held back: restricted subscribers
        returning to a consenting status get the same review as suppressed ones."""
        return set(hashes)
