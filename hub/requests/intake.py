"""Recording a request that has just arrived: the one use-case behind ``dsar requests open`` and
the web inbox's "new request" form.

Both must refuse the same input for the same reasons (an invalid address, an unknown type, a
receipt date in the future or before the GDPR applied), so the checks live here and each
refusal names the field it is about: the CLI prints it, the web form shows it next to that
field. Nothing is written before every check has passed.
"""

from __future__ import annotations

from datetime import date

from hub.core.errors import InvalidInput
from hub.core.logs import register_secret
from hub.core.request_types import REQUEST_TYPES
from hub.core.subject import Subject
from hub.store import ledger as ledger_store
from hub.store.audit import AuditLog
from hub.store.ledger import Ledger, LedgerRequest

#: The day the GDPR started to apply: an earlier receipt date is a typo (and a date near the
#: start of the calendar cannot be turned into a moment in UTC).
EARLIEST_RECEIPT = date(2018, 5, 25)
#: how long the note on how the identity was verified may be (the web form says so too)
MAX_VERIFIED_BY = 300


class FieldRefused(InvalidInput):
    """One field of a new request is unusable; ``field`` names it (``email``, ``type``,
    ``received``) and ``code`` says why, for a caller that words the message itself."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def parse_received(text: str | None, *, today: date | None = None) -> date | None:
    """The receipt day given as ``YYYY-MM-DD`` (None when not given: today is used)."""
    if text is None or not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise FieldRefused("received", "not_a_date",
                           f"{text!r} is not a date (YYYY-MM-DD)") from None
    if day < EARLIEST_RECEIPT:
        raise FieldRefused("received", "before_gdpr",
                           f"{text!r} is before the GDPR applied ({EARLIEST_RECEIPT}); give the "
                           "day the request reached you")
    # the ledger's today (looked up at call time, so a test's or a scheduler's clock holds)
    if day > (today or ledger_store.local_today()):
        raise FieldRefused("received", "future", f"the received date {day} is in the future")
    return day


def checked_request(email: str, request_type: str) -> Subject:
    """The subject of a new request, or :class:`FieldRefused` for the address or the type."""
    try:
        subject = Subject.from_email(email)
    except InvalidInput as exc:
        raise FieldRefused("email", "invalid_email", str(exc)) from None
    if request_type not in REQUEST_TYPES:
        raise FieldRefused("type", "unknown_type",
                           f"unknown request type {request_type!r}; choose one of "
                           f"{', '.join(REQUEST_TYPES)}")
    return subject


def open_new_request(ledger: Ledger, email: str, request_type: str, *,
                     received: date | None = None, verified_by: str | None = None,
                     audit: AuditLog | None = None, actor: str | None = None,
                     via: str | None = None) -> LedgerRequest:
    """Record a new request and its Art. 12(3) deadline; with ``audit``, also an audit entry
    ``request.opened`` (``via`` says which interface, e.g. ``web``).

    Raises :class:`FieldRefused` for bad input and
    :class:`hub.store.ledger.RequestAlreadyOpen` when the subject has an open request of the
    type already; in both cases nothing is written."""
    subject = checked_request(email, request_type)
    if len((verified_by or "").strip()) > MAX_VERIFIED_BY:
        raise FieldRefused("verified_by", "too_long",
                           f"how the identity was verified: at most {MAX_VERIFIED_BY} "
                           "characters (a short note, e.g. 'replied from the address we hold')")
    register_secret(subject.email, "subject")
    request = ledger.open_request(subject.email, request_type, received=received,
                                  verified_by=(verified_by or "").strip() or None)
    if audit is not None:
        audit.append("request.opened", request_id=request.id, actor=actor,
                     subject_email=subject.email,
                     details={"type": request.type, "due_at": request.due_at.isoformat(),
                              "verified": bool(request.verified_by),
                              **({"via": via} if via else {})})
    return request
