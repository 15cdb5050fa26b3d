"""Purging the access-report folders of answered requests.

An access report (report.html/json, export.zip, the cover letter) is a full copy of what the
processors hold about a person. It is needed until the answer is sent and for a short while
after (a question from the subject, a resend); kept longer it is a second copy of the data
with no purpose (GDPR Art. 5(1)(c) and (e)). ``dsar requests purge`` removes the folders of
closed access requests once the configured period (``report_retention_days``, default 30) has
passed since the request was closed, and replaces the subject's address in the ledger and the
audit log by its keyed hash, so what is left proves the request was answered, and when.

An erasure cannot wait for that period: once the processors have erased a person, an earlier
access report of theirs would be the last copy of the erased values. :func:`purge_erased_subject`
removes those folders as soon as the erasure has run, closed requests or not (an open access
request is answered again from a new lookup, which shows what is left).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.core.request_types import RequestType
from hub.store.audit import AuditLog
from hub.store.keyed import Pseudonymiser, normalise_email
from hub.store.ledger import Ledger, LedgerRequest

#: The ledger event that records a purge (and makes a second run skip the request).
PURGED = "report.purged"


@dataclass(frozen=True)
class Purged:
    """One request whose report folders were removed."""

    request_id: str
    closed_at: datetime
    folders: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "closed_at": self.closed_at.isoformat(),
                "folders": list(self.folders)}


def _closed_at(request: LedgerRequest) -> datetime | None:
    at = request.closed_at
    if at is not None and at.tzinfo is None:  # SQLite returns naive UTC
        at = at.replace(tzinfo=UTC)
    return at


def due_for_purge(ledger: Ledger, *, older_than_days: int,
                  now: datetime | None = None) -> list[LedgerRequest]:
    """Closed access requests closed at least ``older_than_days`` ago and not purged yet."""
    limit = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    due = []
    for request in ledger.list_requests(status="closed"):
        closed = _closed_at(request)
        if request.type != RequestType.ACCESS.value or closed is None or closed > limit:
            continue
        full = ledger.get(request.id)
        if not any(event.kind == PURGED for event in full.events):
            due.append(full)
    return due


def _folders(request: LedgerRequest) -> tuple[str, ...]:
    found = [str(e.details["folder"]) for e in request.events
             if e.kind == RequestType.ACCESS.value and e.details.get("folder")]
    return tuple(dict.fromkeys(found))


def purge_reports(ledger: Ledger, secret: Path, *, older_than_days: int,
                  now: datetime | None = None, dry_run: bool = False) -> Sequence[Purged]:
    """Remove the report folders of the requests :func:`due_for_purge` finds, record the purge
    in the ledger and pseudonymise the subject's address there and in the audit log.
    ``dry_run`` only lists them."""
    purged = []
    for request in due_for_purge(ledger, older_than_days=older_than_days, now=now):
        folders = _folders(request)
        purged.append(Purged(request.id, _closed_at(request) or datetime.now(UTC), folders))
        if dry_run:
            continue
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        ledger.attach(request.id, PURGED, {"folders": len(folders)})
        ledger.pseudonymise(request.id, Pseudonymiser(ledger.engine, secret).hash)
        if request.subject_email:
            AuditLog(ledger.engine, secret).pseudonymise(request.subject_email)
    return purged


def purge_erased_subject(ledger: Ledger, secret: Path, email: str, *,
                         erasure_request_id: str) -> list[Purged]:
    """Remove the report folders of every access request of ``email`` (their copies of the
    values an erasure has just removed at the processors), record it in each request's
    history, and pseudonymise the closed ones as :func:`purge_reports` does."""
    wanted = normalise_email(email)
    purged: list[Purged] = []
    for listed in ledger.list_requests(status=None):
        if listed.type != RequestType.ACCESS.value or not listed.subject_email \
                or normalise_email(listed.subject_email) != wanted:
            continue
        request = ledger.get(listed.id)
        folders = tuple(f for f in _folders(request) if Path(f).exists())
        if not folders:
            continue
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        ledger.attach(request.id, PURGED, {"folders": len(folders),
                                           "after_erasure": erasure_request_id})
        closed = _closed_at(request)
        if closed is not None:
            ledger.pseudonymise(request.id, Pseudonymiser(ledger.engine, secret).hash)
        purged.append(Purged(request.id, closed or datetime.now(UTC), folders))
    return purged
