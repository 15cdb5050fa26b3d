"""The request ledger: every data-subject request, its deadline and what was done for it.

GDPR Art. 5(2) and 12(3) make the controller able to show, per request, when it arrived, when
the answer was due, whether the deadline was extended and why, and what was done. The ledger
keeps exactly that, in the hub's database (``store.db``: SQLite by default, PostgreSQL by URL).

Tables
    ``requests``            one row per request: type, received (and whether that date was
                            only assumed: nobody gave it), due date (Art. 12(3), see
                            :mod:`hub.core.deadlines`), an optional extension with its reason
                            (the day the subject was told is in its ``extended`` event), who
                            verified the requester's identity, open/closed. At most one
                            open request per subject and type (a unique index on
                            ``subject_key``), so two runs at once share one request.
    ``request_identifiers`` the subject's identifiers of that request (the verified address,
                            and later ones found at processors).
    ``request_events``      append-only history: ``opened``, ``lookup``, ``extended``,
                            ``closed``; lookups and erasures attach their outcome here. Rows
                            are never updated or deleted (enforced below). Event ``details``
                            must not contain e-mail addresses or other identifiers: they stay
                            when the subject's address is replaced by a hash.

Every write commits at once (one transaction per call), so a crash never loses a recorded
request, and SQLite's ``BEGIN IMMEDIATE`` (see :mod:`hub.store.db`) serialises writers.

Extension points (other issues build on the same ``hub.store.db.Base``, in their own modules, and
add their module to the import list in :func:`hub.store.db.open_database`):

* **Erasure** adds a table of planned actions (``erasure_actions``: ``request_id`` ->
  ``requests.id``, processor, record, action, state ``planned -> done | failed | manual-open |
  manual-done``) and attaches each state change as a ``request_events`` row (``kind`` such as
  ``erasure.done``), so resuming a request reads its plan and the log stays complete.
* **Consent sync** adds its consent register (and its cursor in :mod:`hub.store.state`); a consent
  withdrawal that reaches the hub is a ``consent-withdrawal`` request here.
* **Closing** a request will replace ``subject_email`` (and the identifier values) by a keyed
  hash in ``subject_hash``; the column exists and is nullable so that needs no migration.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from hub.core.deadlines import LOCAL_TIMEZONE, MAX_EXTENSION_MONTHS, extended_due, response_due
from hub.core.errors import InvalidInput
from hub.core.ids import new_request_id
from hub.core.request_types import RequestType
from hub.core.spreadsheet import safe_cell
from hub.store.db import open_database
from hub.store.keyed import normalise_email
from hub.store.tables import DataSubjectRequest, RequestEvent, RequestIdentifier

if TYPE_CHECKING:
    from hub.config.settings import HubSettings
    from hub.core.models import Report
    from hub.store.audit import AuditLog


class RequestStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class LedgerError(InvalidInput):
    """The ledger cannot do what was asked (the CLI exits with 2 and this message)."""


class UnknownRequest(LedgerError):
    pass


class RequestAlreadyOpen(LedgerError):
    """The subject already has an open request of this type (one at a time: two erasures
    started at once must share one request, not each send every deletion)."""

    def __init__(self, existing: LedgerRequest) -> None:
        super().__init__(f"request {existing.id} ({existing.type}) is already open for this "
                         f"address; `dsar requests show {existing.id}`")
        self.existing = existing


class RequestClosed(LedgerError):
    """The request was closed already (perhaps a moment ago, by another process)."""


class ExtensionRefused(LedgerError):
    """An Art. 12(3) extension that the regulation does not allow."""


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


@event.listens_for(RequestEvent, "before_update")
@event.listens_for(RequestEvent, "before_delete")
def _append_only(_mapper: object, _connection: object, target: RequestEvent) -> None:
    raise LedgerError(f"request events are append-only (event {target.id} of {target.request_id})")


# ---------------------------------------------------------------------------------------------
# Plain values handed to callers (no session needed to read them)
# ---------------------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every datetime we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LedgerEvent:
    id: int
    at: datetime
    kind: str
    details: dict[str, Any]


@dataclass(frozen=True)
class LedgerRequest:
    id: str
    type: str
    status: str
    subject_email: str | None
    received_at: datetime
    received_on: date
    due_at: date
    extended_due_at: date | None
    extension_reason: str | None
    verified_by: str | None
    created_at: datetime
    closed_at: datetime | None
    identifiers: tuple[tuple[str, str, str], ...] = ()
    events: tuple[LedgerEvent, ...] = field(default=())
    #: nobody said when the request arrived: ``received_at`` is when it was opened
    received_at_assumed: bool = False

    @property
    def extension_told_on(self) -> date | None:
        """The day the subject was told of the extension (read from the history: a request
        read without it says None)."""
        for entry in reversed(self.events):
            if entry.kind == "extended" and entry.details.get("told_on"):
                return date.fromisoformat(str(entry.details["told_on"]))
        return None

    @property
    def deadline(self) -> date:
        """The date the answer is due: the extended one if there is one."""
        return self.extended_due_at or self.due_at

    def days_left(self, today: date) -> int:
        """Days until the deadline; negative when overdue."""
        return (self.deadline - today).days

    def overdue(self, today: date) -> bool:
        return self.status == RequestStatus.OPEN and self.deadline < today

    @classmethod
    def of(cls, row: DataSubjectRequest, *, with_history: bool = False) -> LedgerRequest:
        return cls(
            id=row.id, type=row.type, status=row.status, subject_email=row.subject_email,
            received_at=_aware(row.received_at) or row.received_at, received_on=row.received_on,
            due_at=row.due_at, extended_due_at=row.extended_due_at,
            extension_reason=row.extension_reason, verified_by=row.verified_by,
            created_at=_aware(row.created_at) or row.created_at,
            closed_at=_aware(row.closed_at),
            received_at_assumed=bool(row.received_at_assumed),
            identifiers=tuple((i.kind, i.value, i.source) for i in row.identifiers)
            if with_history else (),
            events=tuple(LedgerEvent(e.id, _aware(e.at) or e.at, e.kind, dict(e.details or {}))
                         for e in row.events) if with_history else (),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``--json`` output)."""
        return {
            "id": self.id, "type": self.type, "status": self.status,
            "subject_email": self.subject_email,
            "received_at": self.received_at.isoformat(),
            "received_on": self.received_on.isoformat(),
            "received_at_assumed": self.received_at_assumed,
            "due_at": self.due_at.isoformat(),
            "extended_due_at": self.extended_due_at.isoformat() if self.extended_due_at else None,
            "deadline": self.deadline.isoformat(), "extension_reason": self.extension_reason,
            "extension_told_on": (self.extension_told_on.isoformat()
                                  if self.extension_told_on else None),
            "verified_by": self.verified_by, "created_at": self.created_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "identifiers": [{"kind": k, "value": v, "source": s} for k, v, s in self.identifiers],
            "events": [{"at": e.at.isoformat(), "kind": e.kind, "details": e.details}
                       for e in self.events],
        }


def ledger_url(settings: HubSettings, *, sandbox: bool = False) -> str:
    """The ledger's database URL. ``--sandbox`` runs get a throw-away database (set by the
    CLI as ``database_url``), so invented people never enter the real request log and a
    re-run against the freshly seeded fake processors starts from a clean slate. Sandbox
    commands that start no sandbox (``dsar --sandbox requests list``) get an empty in-memory
    ledger, never the real one."""
    if sandbox and SANDBOX_DB_MARK not in (settings.database_url or ""):
        return "sqlite://"
    return settings.ledger_url


#: part of the throw-away database path the CLI gives ``--sandbox`` runs
SANDBOX_DB_MARK = "dsar-sandbox-"


def bind_report(report: Report, request: LedgerRequest) -> Report:
    """``report`` under the ledger request's id, receipt and deadline (the extended one if any),
    so the report, its folder and the cover letter carry the reference and date the subject
    was given, not the moment the lookup happened to run."""
    info = report.request.model_copy(update={
        "id": request.id, "received_at": request.received_at, "due_at": request.deadline})
    return report.model_copy(update={"request": info})


def subject_key(email: str) -> str:
    """What makes two addresses one subject for "one open request per subject and type": a
    SHA-256 of the normalised address (:func:`hub.store.keyed.normalise_email`). Kept only while
    the request is open, beside the address itself, so it reveals nothing the row does not."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def local_today() -> date:
    """Today in Swedish local time (deadlines are Swedish calendar days)."""
    return datetime.now(LOCAL_TIMEZONE).date()


def _json_safe(details: dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(details or {}, default=str))


# ---------------------------------------------------------------------------------------------
# The ledger
# ---------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id", "type", "status", "subject_email", "received_on", "received_at",
    "received_at_assumed", "due_at", "extended_due_at", "deadline", "extension_reason",
    "extension_told_on", "verified_by", "created_at", "closed_at", "events",
)


class Ledger:
    """Requests and their history. Every method runs in its own transaction and commits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Ledger:
        """A ledger on the database at ``url`` (tables created if missing)."""
        return cls(open_database(url))

    # -- writes ----------------------------------------------------------------------------

    def open_request(
        self,
        email: str,
        type: RequestType | str,
        *,
        received: date | datetime | None = None,
        verified_by: str | None = None,
        identifiers: Iterable[tuple[str, str, str]] = (),
        now: datetime | None = None,
        received_assumed: bool = False,
    ) -> LedgerRequest:
        """Record a new request; its deadline is one month from receipt (Art. 12(3)).

        ``email`` must already be validated and normalised (:class:`hub.core.subject.Subject`).
        ``received`` is the day (or moment) the request reached the controller; default now.
        ``received_assumed``: without ``received``, nobody said when it arrived (a lookup or
        erasure opened it), so "now" is recorded as assumed, not as a known receipt.
        A subject has at most one open request per type (a unique index decides, so it holds
        for processes racing each other too): :class:`RequestAlreadyOpen` names the open one.
        """
        kind = _request_type(type)
        today = now.astimezone(LOCAL_TIMEZONE).date() if now else local_today()
        now = now or datetime.now(UTC)
        received_at, received_on = _receipt(received, now)
        if received_on > today:
            raise LedgerError(f"the received date {received_on} is in the future")
        row = DataSubjectRequest(
            id=new_request_id(kind.value, now), type=kind.value,
            status=RequestStatus.OPEN.value, subject_email=email,
            subject_key=subject_key(email), received_at=received_at, received_on=received_on,
            due_at=response_due(received_on), verified_by=verified_by or None, created_at=now,
            received_at_assumed=received_assumed and received is None)
        seen = {("email", email)}
        row.identifiers.append(RequestIdentifier(kind="email", value=email, source="request"))
        for id_kind, value, source in identifiers:
            if (id_kind, value) not in seen:
                seen.add((id_kind, value))
                row.identifiers.append(RequestIdentifier(kind=id_kind, value=value, source=source))
        row.events.append(RequestEvent(at=now, kind="opened", details={
            "type": kind.value, "received_on": received_on.isoformat(),
            "due_at": row.due_at.isoformat(), "verified": bool(verified_by),
            **({"received_assumed": True} if row.received_at_assumed else {})}))
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                session.flush()
                return LedgerRequest.of(row, with_history=True)
        except IntegrityError:
            existing = self.find_open_request(email, kind)
            if existing is None:  # not the one-open-request rule: something else is wrong
                raise
            raise RequestAlreadyOpen(existing) from None

    def find_or_open(self, email: str, type: RequestType | str, **kwargs: Any,
                     ) -> tuple[LedgerRequest, bool]:
        """The open request of this subject and type, or a new one; ``True`` when created.

        What ``dsar lookup`` / ``dsar erase`` use to attach to the request the owner opened
        (or to open one when they did not: then, without ``received``, its receipt is
        recorded as assumed). Two processes calling it at once for one subject get the same
        request: the one whose insert loses attaches to the winner's."""
        found = self.find_open_request(email, type)
        if found is not None:
            return found, False
        kwargs.setdefault("received_assumed", kwargs.get("received") is None)
        try:
            return self.open_request(email, type, **kwargs), True
        except RequestAlreadyOpen as race:
            return race.existing, False

    def attach(self, request_id: str, kind: str, details: dict[str, Any] | None = None, *,
               now: datetime | None = None) -> LedgerEvent:
        """Append an event (a lookup, an erasure step, a note) to a request's history.

        ``details`` must be JSON-serialisable and free of e-mail addresses (see module doc).
        """
        if not kind.strip():
            raise LedgerError("an event needs a kind")
        with Session(self.engine) as session, session.begin():
            self._row(session, request_id)
            entry = RequestEvent(request_id=request_id, at=now or datetime.now(UTC),
                                 kind=kind, details=_json_safe(details))
            session.add(entry)
            session.flush()
            return LedgerEvent(entry.id, _aware(entry.at) or entry.at, entry.kind,
                               dict(entry.details))

    def attach_report(self, request_id: str, report: Report, folder: Path | None = None, *,
                      kind: str | None = None, now: datetime | None = None) -> LedgerEvent:
        """Attach a lookup's (or erasure's) outcome: statuses and counts, no personal data.

        Pass the report with its ``manual_items`` filled
        (:func:`hub.reports.content.with_manual_items`) so the history shows what is left to
        do by hand."""
        details = {
            "report_id": report.request.id,
            "folder": str(folder) if folder else None,
            "processors_complete": report.complete,
            "processors": {p.name: {"status": p.status.value, "records": len(p.records)}
                           for p in report.processors},
            "manual_items": [item.key for item in report.manual_items],
        }
        return self.attach(request_id, kind or report.request.type, details, now=now)

    def extend(self, request_id: str, reason: str, *, months: int = MAX_EXTENSION_MONTHS,
               told_on: date | None = None, today: date | None = None,
               now: datetime | None = None, audit: AuditLog | None = None) -> LedgerRequest:
        """Record an Art. 12(3) extension "by two further months where necessary", and the
        day the subject was told of it and its reasons (``told_on``, default today).

        Refused (:class:`ExtensionRefused`) without a reason, for more than two months, a
        second time (the two months are the maximum in total), for a closed request, or after
        the first month: the subject must be told "within one month of receipt". ``audit``
        adds the audit-log entry in the same transaction (the reason stays in the ledger: the
        audit log is never rewritten, and a reason may name the person).
        """
        reason = (reason or "").strip()
        today = today or local_today()
        told_on = told_on or today
        now = now or datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = self._row(session, request_id, for_update=True)
            new_due = _check_extension(LedgerRequest.of(row), reason, months, told_on, today)
            row.extended_due_at = new_due
            row.extension_reason, row.extended_at = reason, now
            details = {"months": months, "extended_due_at": new_due.isoformat(),
                       "told_on": told_on.isoformat()}
            session.add(RequestEvent(request_id=row.id, at=now, kind="extended",
                                     details={**details, "reason": reason}))
            if audit is not None:
                audit.append("request.extended", request_id=row.id,
                             subject_email=row.subject_email, details=details, session=session)
            session.flush()
            session.refresh(row)
            return LedgerRequest.of(row, with_history=True)

    def check_extension(self, request_id: str, reason: str, *,
                        months: int = MAX_EXTENSION_MONTHS, told_on: date | None = None,
                        today: date | None = None) -> date:
        """The deadline :meth:`extend` would set, or :class:`ExtensionRefused`; writes
        nothing (so a letter can be prepared before the extension is recorded)."""
        today = today or local_today()
        return _check_extension(self.get(request_id), (reason or "").strip(), months,
                                told_on or today, today)

    def close(self, request_id: str, *, now: datetime | None = None,
              note: str | None = None) -> LedgerRequest:
        """Mark a request answered; :class:`RequestClosed` if it already is (the row is
        locked, so of two processes closing at once exactly one succeeds). The subject key
        goes: the subject may open a new request of this type."""
        now = now or datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = self._row(session, request_id, for_update=True)
            if row.status == RequestStatus.CLOSED:
                raise RequestClosed(f"request {request_id} is already closed")
            row.status, row.closed_at = RequestStatus.CLOSED.value, now
            row.subject_key = None
            session.add(RequestEvent(request_id=row.id, at=now, kind="closed",
                                     details={"note": note} if note else {}))
            session.flush()
            session.refresh(row)
            return LedgerRequest.of(row, with_history=True)

    def pseudonymise(self, request_id: str, hasher: Callable[[str], str], *,
                     now: datetime | None = None) -> int:
        """Replace the subject's address and identifier values of one (closed) request by
        their keyed hashes (``hasher``: :meth:`hub.store.keyed.Pseudonymiser.hash`), enough to prove
        what was done and to recognise the person again. Returns how many values changed.
        (Added for erasure, issue 5.)"""
        now = now or datetime.now(UTC)
        # Hash before the write transaction: the hasher may open its own (SQLite: one writer).
        current = self.get(request_id)
        values = {v for _, v, _ in current.identifiers if not v.startswith("keyed:")}
        if current.subject_email:
            values.add(current.subject_email)
        hashes = {value: hasher(value) for value in values}
        changed = 0
        with Session(self.engine) as session, session.begin():
            row = self._row(session, request_id)
            if row.subject_email and row.subject_email in hashes:
                row.subject_hash = hashes[row.subject_email]
                row.subject_email = row.subject_key = None
                changed += 1
            for identifier in row.identifiers:
                if identifier.value in hashes:
                    identifier.value = f"keyed:{hashes[identifier.value]}"
                    changed += 1
            if changed:
                session.add(RequestEvent(request_id=row.id, at=now, kind="pseudonymised",
                                         details={"values": changed}))
            session.flush()
        return changed

    # -- reads -----------------------------------------------------------------------------

    def get(self, request_id: str) -> LedgerRequest:
        """One request with its identifiers and history; :class:`UnknownRequest` if absent."""
        with Session(self.engine) as session, session.begin():
            return LedgerRequest.of(self._row(session, request_id), with_history=True)

    def find_open_request(self, email: str, type: RequestType | str,
                          ) -> LedgerRequest | None:
        """The open request of ``type`` for this address (as :func:`subject_key` compares
        addresses: letter case ignored), found by the key the uniqueness rule is on."""
        kind = _request_type(type)
        with Session(self.engine) as session, session.begin():
            row = session.scalars(
                select(DataSubjectRequest)
                .where(DataSubjectRequest.status == RequestStatus.OPEN.value,
                       DataSubjectRequest.type == kind.value,
                       DataSubjectRequest.subject_key == subject_key(email))
                .order_by(DataSubjectRequest.created_at.desc())
                .options(selectinload(DataSubjectRequest.identifiers),
                         selectinload(DataSubjectRequest.events))
            ).first()
            return LedgerRequest.of(row, with_history=True) if row is not None else None

    def list_requests(
        self,
        *,
        status: RequestStatus | str | None = RequestStatus.OPEN,
        overdue: bool = False,
        due_within: int | timedelta | None = None,
        today: date | None = None,
    ) -> list[LedgerRequest]:
        """Requests ordered by deadline (soonest first).

        ``overdue``: open requests whose deadline (the extended one if any) has passed.
        ``due_within``: open requests due within that many days from today, overdue ones
        included (they are due too). ``status=None`` lists every request.
        """
        today = today or local_today()
        if isinstance(due_within, timedelta):
            due_within = due_within.days
        if overdue or due_within is not None:
            status = RequestStatus.OPEN
        with Session(self.engine) as session, session.begin():
            query = select(DataSubjectRequest)
            if status is not None:
                query = query.where(DataSubjectRequest.status == RequestStatus(status).value)
            rows = [LedgerRequest.of(row) for row in session.scalars(query).all()]
        if overdue:
            rows = [r for r in rows if r.overdue(today)]
        if due_within is not None:
            limit = today + timedelta(days=due_within)
            rows = [r for r in rows if r.deadline <= limit]
        return sorted(rows, key=lambda r: (r.deadline, r.received_at, r.id))

    def export_csv(self, *, today: date | None = None) -> str:
        """The request log an auditor asks for: one row per request, RFC 4180 CSV (no BOM;
        the CLI adds one when writing a file for Excel). A cell a spreadsheet would run as a
        formula (an address or a reason starting with ``=``, ``+``, ``-``, ``@``) is written
        with a leading apostrophe (:func:`hub.core.spreadsheet.safe_cell`)."""
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                select(DataSubjectRequest).order_by(DataSubjectRequest.received_at,
                                                    DataSubjectRequest.id)
                .options(selectinload(DataSubjectRequest.events))
            ).all()
            requests = [LedgerRequest.of(row, with_history=True) for row in rows]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for r in requests:
            writer.writerow(safe_cell(cell) for cell in [
                r.id, r.type, r.status, r.subject_email or "", r.received_on.isoformat(),
                r.received_at.isoformat(), "yes" if r.received_at_assumed else "no",
                r.due_at.isoformat(),
                r.extended_due_at.isoformat() if r.extended_due_at else "",
                r.deadline.isoformat(), r.extension_reason or "",
                r.extension_told_on.isoformat() if r.extension_told_on else "",
                r.verified_by or "",
                r.created_at.isoformat(), r.closed_at.isoformat() if r.closed_at else "",
                "; ".join(f"{e.at:%Y-%m-%d} {e.kind}" for e in r.events),
            ])
        return buffer.getvalue()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, request_id: str, *, for_update: bool = False
             ) -> DataSubjectRequest:
        row = session.get(DataSubjectRequest, request_id, with_for_update=for_update)
        if row is None:
            raise UnknownRequest(f"no request with id {request_id!r}; `dsar requests list --all` "
                                 "shows every id")
        return row


def _check_extension(request: LedgerRequest, reason: str, months: int, told_on: date,
                     today: date) -> date:
    """The extended deadline of ``request``, or :class:`ExtensionRefused` saying why the
    regulation does not allow it (see :meth:`Ledger.extend`)."""
    if not reason:
        raise ExtensionRefused("an extension needs a reason (Art. 12(3): the subject must "
                               "be told the reasons for the delay)")
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ExtensionRefused(f"Art. 12(3) allows at most {MAX_EXTENSION_MONTHS} further "
                               f"months, not {months}")
    if request.status != RequestStatus.OPEN:
        raise ExtensionRefused(f"request {request.id} is closed")
    if request.extended_due_at is not None:
        raise ExtensionRefused(
            f"request {request.id} was already extended to {request.extended_due_at}; "
            "Art. 12(3) allows one extension of at most two months in total")
    if today > request.due_at:
        raise ExtensionRefused(
            f"the first month ended on {request.due_at}: Art. 12(3) requires the extension "
            "to be notified within one month of receipt")
    if told_on > today:
        raise ExtensionRefused(f"the subject cannot have been told on {told_on}, after today "
                               f"({today})")
    if told_on < request.received_on:
        raise ExtensionRefused(f"the subject cannot have been told on {told_on}, before the "
                               f"request was received ({request.received_on})")
    return extended_due(request.received_on, months)


def _request_type(value: RequestType | str) -> RequestType:
    try:
        return RequestType(value)
    except ValueError:
        choices = ", ".join(t.value for t in RequestType)
        raise LedgerError(f"unknown request type {value!r}; choose one of {choices}") from None


def _receipt(received: date | datetime | None, now: datetime) -> tuple[datetime, date]:
    """(moment in UTC, Swedish calendar day) of receipt."""
    if received is None:
        received = now
    if isinstance(received, datetime):
        moment = received if received.tzinfo else received.replace(tzinfo=LOCAL_TIMEZONE)
        return moment.astimezone(UTC), moment.astimezone(LOCAL_TIMEZONE).date()
    start = datetime(received.year, received.month, received.day, tzinfo=LOCAL_TIMEZONE)
    return start.astimezone(UTC), received


def request_types() -> Sequence[str]:
    return [t.value for t in RequestType]
