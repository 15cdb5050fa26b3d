"""The restriction register: whose processing is restricted (GDPR Art. 18), without their
address.

While a restriction is in force the subject's data may only be stored (Art. 18(2)): every job
that would change or remove it asks this register first (the erasure, ``retention due``, the
consent sync). Looking the subject up stays allowed. Like the suppression list
(:mod:`hub.store.suppression`) the register keeps only keyed hashes (:mod:`hub.store.keyed`), so
it recognises the person again without holding a readable address.

A restriction is lifted only once the person was told beforehand (Art. 18(3)): the lift
records the day they were told. Lifted rows are kept as that evidence; one restriction per
person is in force at a time (a partial unique index holds this under concurrent runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.store.keyed import Pseudonymiser
from hub.store.tables import RestrictionRow


@dataclass(frozen=True)
class Restriction:
    """One restriction as listed: the pseudonym, why, since when (UTC), the request that
    opened it and, once lifted, when and the day the person was told."""

    id: int
    email_hash: str
    reason: str
    since: datetime
    request_id: str | None
    lifted_at: datetime | None = None
    notified_on: date | None = None
    lift_request_id: str | None = None

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None

    @classmethod
    def of(cls, row: RestrictionRow) -> Restriction:
        return cls(row.id, row.email_hash, row.reason, _utc(row.since), row.request_id,
                   _utc(row.lifted_at) if row.lifted_at else None, row.notified_on,
                   row.lift_request_id)

    def as_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "since": self.since.isoformat(),
                "request_id": self.request_id,
                "lifted_at": self.lifted_at.isoformat() if self.lifted_at else None,
                "notified_on": self.notified_on.isoformat() if self.notified_on else None,
                "lift_request_id": self.lift_request_id}


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here was UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class NotRestricted(LookupError):
    """Lifting a restriction that is not in force."""


class RestrictionRegister:
    """Keyed hashes of restricted subjects in the hub's database (tables created by
    :func:`hub.store.db.open_database`)."""

    def __init__(self, engine: Engine, secret_path: Path) -> None:
        self.engine = engine
        self.secret_path = secret_path
        self._pseudonyms = Pseudonymiser(engine, secret_path)

    def hash(self, email: str) -> str:
        """The keyed hash the register stores for ``email``."""
        return self._pseudonyms.hash(email)

    def restrict(self, email: str, reason: str, *, request_id: str | None,
                 now: datetime | None = None) -> tuple[Restriction, bool]:
        """Put ``email`` under restriction; a restriction already in force is kept as it is
        (its reason and date are the evidence). True when this call started it."""
        email_hash = self.hash(email)
        with Session(self.engine) as session:
            current = self._in_force(session, email_hash)
            if current is not None:
                return Restriction.of(current), False
            row = RestrictionRow(email_hash=email_hash, reason=reason,
                                 since=now or datetime.now(UTC), request_id=request_id)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # restricted concurrently: that one is in force
                session.rollback()
                again = self._in_force(session, email_hash)
                assert again is not None
                return Restriction.of(again), False
            return Restriction.of(row), True

    def lift(self, email: str, *, notified_on: date, request_id: str | None,
             now: datetime | None = None) -> Restriction:
        """End the restriction in force, recording the day the person was told
        (Art. 18(3)); NotRestricted when none is in force."""
        with Session(self.engine) as session:
            row = self._in_force(session, self.hash(email), for_update=True)
            if row is None:
                raise NotRestricted("no restriction is in force for this subject")
            row.lifted_at = now or datetime.now(UTC)
            row.notified_on = notified_on
            row.lift_request_id = request_id
            session.commit()
            return Restriction.of(row)

    def current(self, email: str) -> Restriction | None:
        """The restriction in force for ``email``, or None."""
        with Session(self.engine) as session:
            row = self._in_force(session, self.hash(email))
            return Restriction.of(row) if row is not None else None

    def is_restricted(self, email: str) -> bool:
        return self.current(email) is not None

    def last(self, email: str) -> Restriction | None:
        """The newest restriction of ``email``, in force or lifted."""
        with Session(self.engine) as session:
            row = session.scalars(select(RestrictionRow).where(
                RestrictionRow.email_hash == self.hash(email)).order_by(
                RestrictionRow.id.desc()).limit(1)).first()
            return Restriction.of(row) if row is not None else None

    def restricted_among(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` are under a restriction in force (one query per 500)."""
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):
                found.update(session.scalars(select(RestrictionRow.email_hash).where(
                    RestrictionRow.email_hash.in_(wanted[start:start + 500]),
                    RestrictionRow.lifted_at.is_(None))))
        return found

    def restricted_requests(self, request_ids: Iterable[str]) -> dict[str, Restriction]:
        """The restrictions in force by request id, for the requests among ``request_ids``
        whose subject is restricted. ``retention due`` asks this of the requests whose records
        are due: an erasure request, closed and pseudonymised long ago, is known by its
        subject's keyed hash, a newer one still by the address."""
        from hub.store.tables import DataSubjectRequest

        wanted = list(dict.fromkeys(request_ids))
        with Session(self.engine) as session:
            in_force = {row.email_hash: Restriction.of(row) for row in session.scalars(
                select(RestrictionRow).where(RestrictionRow.lifted_at.is_(None)))}
            if not in_force or not wanted:
                return {}
            subjects = [(r.id, r.subject_hash, r.subject_email) for r in session.scalars(
                select(DataSubjectRequest).where(DataSubjectRequest.id.in_(wanted)))]
        # hashed outside the session: the hasher may open its own (SQLite has one writer)
        out: dict[str, Restriction] = {}
        for request_id, subject_hash, email in subjects:
            email_hash = subject_hash or (self.hash(email) if email else None)
            if email_hash in in_force:
                out[request_id] = in_force[email_hash]
        return out

    def list(self, *, in_force_only: bool = False) -> list[Restriction]:
        """Every restriction, oldest first."""
        with Session(self.engine) as session:
            query = select(RestrictionRow).order_by(RestrictionRow.id)
            if in_force_only:
                query = query.where(RestrictionRow.lifted_at.is_(None))
            return [Restriction.of(row) for row in session.scalars(query)]

    @staticmethod
    def _in_force(session: Session, email_hash: str, *, for_update: bool = False
                  ) -> RestrictionRow | None:
        query = select(RestrictionRow).where(RestrictionRow.email_hash == email_hash,
                                             RestrictionRow.lifted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).first()
