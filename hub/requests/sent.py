"""The answer sent to the data subject: which documents make it, and recording the day it left.

Art. 12(3) sets the deadline for *providing* the answer, and Art. 5(2) asks the controller to
show it met it: the day the reply went out is the evidence, not the day the documents were
written. :func:`mark_sent` records that day in the request's history (an ``answer_sent``
event: date and how, never an address) and in the audit log, and closes the request when its
work is done, the way ``dsar requests close`` would:

* **access**: the documents must be written. A lookup held for the Art. 15(4) review, or no
  lookup at all, is refused: there is nothing the person could have received. Open manual
  checks do not block (the operator may answer and name them as pending) but are reported.
* **erasure**: the answer must be written; the request closes by the erasure rules (address
  replaced by its keyed hash), or stays open while actions or tasks are open.
* the other rights close themselves when their job finishes; sending their letter earlier is
  recorded and the request stays open.

A sent date is never in the future nor before the request arrived; it is recorded once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hub.core.errors import InvalidInput
from hub.core.inventory import InventoryEntry
from hub.core.request_types import RequestType
from hub.requests.access.approval import PENDING_FILE, REVIEW_NEEDED
from hub.requests.access.checks import manual_checks
from hub.requests.erasure.report import open_work
from hub.requests.erasure.stores import ErasureStores, close_request
from hub.store.access_review import REVIEWED
from hub.store.audit import AuditLog
from hub.store.ledger import LedgerRequest, RequestClosed, RequestStatus, local_today

#: ``request_events.kind`` (and audit action) of an answer sent to the data subject.
ANSWER_SENT = "answer_sent"

#: How an answer leaves: the only values recorded (the web form offers them, the CLI takes them).
SENT_BY = ("e-post", "post")


#: The documents the person receives, per request type, in the order a preview lists them.
#: Access and erasure answers are a report and the reply e-mail's text; the other rights are
#: answered with a letter (text to send, page to print).
ANSWER_FILES: dict[str, tuple[str, ...]] = {
    RequestType.ACCESS.value: ("report.html", "cover-letter.txt", "export.zip"),
    RequestType.ERASURE.value: ("report.html", "cover-letter.txt"),
    RequestType.RECTIFICATION.value: ("rectification-letter.html",
                                      "rectification-letter.txt"),
    RequestType.RESTRICTION.value: ("restriction-letter.html", "restriction-letter.txt"),
    RequestType.OBJECTION.value: ("objection-decision-letter.html",
                                  "objection-decision-letter.txt", "objection-letter.html",
                                  "objection-letter.txt"),
    RequestType.CONSENT_WITHDRAWAL.value: ("withdrawal-letter.html", "withdrawal-letter.txt"),
}

_HTML_LANG = re.compile(rb"<html[^>]*\blang=\"([a-z]{2})\"")


class AnswerNotReady(InvalidInput):
    """The documents the person would receive are not written (yet)."""


@dataclass(frozen=True)
class AnswerDocuments:
    """Where a request's answer stands: its folder, the documents in it, and for an access
    request whether the lookup ran and whether its documents wait for (or may still get)
    the Art. 15(4) review."""

    folder: Path | None
    files: tuple[str, ...] = ()
    looked_up: bool = False
    held_for_review: bool = False
    #: flagged items no review decided on: the documents were written unreviewed (a draft)
    review_open: bool = False
    #: the language the documents are written in (read from the report page)
    lang: str | None = None

    @property
    def written(self) -> bool:
        return bool(self.files) and not self.held_for_review


@dataclass(frozen=True)
class SentAnswer:
    """The ``answer_sent`` entry of a request's history."""

    on: date
    how: str

    def as_dict(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "how": self.how}


@dataclass(frozen=True)
class Sent:
    """An answer recorded as sent, and what became of its request."""

    request_id: str
    answer: SentAnswer
    closed: bool
    #: operator text: why the request stays open (None when it closed or was closed before)
    kept_open: str | None
    #: manual checks of an access request not marked done (systems searched by hand)
    open_checks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, **self.answer.as_dict(), "closed": self.closed,
                "kept_open": self.kept_open, "open_checks": list(self.open_checks)}


def sent_answer(request: LedgerRequest) -> SentAnswer | None:
    """The day the answer was recorded as sent (read from the history), or None."""
    for event in request.events:
        if event.kind == ANSWER_SENT and event.details.get("on"):
            return SentAnswer(date.fromisoformat(str(event.details["on"])),
                              str(event.details.get("how") or ""))
    return None


def _lang_of(page: Path) -> str | None:
    try:
        with page.open("rb") as handle:
            found = _HTML_LANG.search(handle.read(4096))
    except OSError:
        return None
    return found.group(1).decode("ascii") if found else None


def _folder_of(request: LedgerRequest, reports_dir: Path) -> tuple[Path | None, bool]:
    """The folder the newest run wrote the answer to (from the history, where the job records
    it), and whether an access lookup ran at all."""
    kind = {RequestType.ACCESS.value: RequestType.ACCESS.value,
            RequestType.ERASURE.value: "erasure.report"}.get(request.type)
    if kind is None:  # the other rights write their letters to the request's own folder
        return reports_dir / request.id, False
    folder = None
    for event in request.events:
        if event.kind == kind and event.details.get("folder"):
            folder = Path(str(event.details["folder"]))
    return folder, folder is not None


def answer_documents(request: LedgerRequest, reports_dir: Path) -> AnswerDocuments:
    """Where the answer of ``request`` (read with its history) stands; ``reports_dir`` is the
    report folder the other rights write their letters to."""
    folder, looked_up = _folder_of(request, reports_dir)
    if folder is None:
        return AnswerDocuments(None)
    files = tuple(name for name in ANSWER_FILES.get(request.type, ())
                  if (folder / name).is_file())
    held = (folder / PENDING_FILE).is_file() if request.type == RequestType.ACCESS else False
    review_open = False
    if request.type == RequestType.ACCESS:
        # flags noted after the newest lookup, and no decision since: written unreviewed
        for event in request.events:
            if event.kind == RequestType.ACCESS.value:
                review_open = False
            elif event.kind == REVIEW_NEEDED:
                review_open = True
            elif event.kind == REVIEWED:
                review_open = False
    page = next((folder / name for name in files if name.endswith(".html")), None)
    return AnswerDocuments(folder, files, looked_up, held, review_open or held,
                           _lang_of(page) if page else None)


def check_sent_on(request: LedgerRequest, on: date, *, today: date | None = None) -> None:
    """A sent date is a day between the request's receipt and today (InvalidInput if not)."""
    today = today or local_today()
    if on > today:
        raise InvalidInput(f"the answer cannot have been sent on {on}, after today ({today})")
    if on < request.received_on:
        raise InvalidInput(f"the answer cannot have been sent on {on}, before the request "
                           f"was received ({request.received_on})")


def check_how(how: str) -> str:
    """``how`` as recorded: one of :data:`SENT_BY` (the web form's choices; the CLI takes the
    same), so the history never holds an address or a number and reads the same whoever
    recorded it."""
    how = " ".join(how.split()).lower()
    if not how:
        raise InvalidInput("say how the answer was sent: " + " or ".join(SENT_BY))
    if how not in SENT_BY:
        raise InvalidInput(f"say how the answer was sent: {' or '.join(SENT_BY)} (the history "
                           "keeps no addresses, numbers or free text)")
    return how


def _ready(request: LedgerRequest, documents: AnswerDocuments) -> None:
    if request.type == RequestType.ACCESS:
        if not documents.looked_up:
            raise AnswerNotReady(f"request {request.id} has no lookup yet: nothing was written "
                                 f"to send (`dsar lookup EMAIL` first)")
        if documents.held_for_review:
            raise AnswerNotReady(
                f"the documents of {request.id} wait for the Art. 15(4) review and are not "
                f"written: `dsar requests review {request.id}` first")
    if not documents.written:
        raise AnswerNotReady(f"the answer of {request.id} is not written in "
                             f"{documents.folder or 'its report folder'}: nothing to send yet")


def mark_sent(stores: ErasureStores, reports_dir: Path, request_id: str, *,
              on: date | None = None, how: str = SENT_BY[0],
              inventory: Sequence[InventoryEntry] = (), actor: str | None = None,
              via: str | None = None, today: date | None = None) -> Sent:
    """Record that the answer of ``request_id`` was sent to the person on ``on`` (default
    today) and close the request when its work is done (see the module docstring). Every
    refusal (InvalidInput, exit 2) comes before anything is written."""
    request = stores.ledger.get(request_id)
    on = on or today or local_today()
    check_sent_on(request, on, today=today)
    how = check_how(how)
    earlier = sent_answer(request)
    if earlier is not None:
        raise InvalidInput(f"the answer of {request_id} was recorded as sent on {earlier.on} "
                           f"already")
    documents = answer_documents(request, reports_dir)
    _ready(request, documents)
    answer = SentAnswer(on, how)
    open_checks = tuple(c.system for c in manual_checks(request, inventory) if not c.done)
    details = {**answer.as_dict(), "documents": list(documents.files),
               **({"lang": documents.lang} if documents.lang else {}),
               **({"via": via} if via else {})}
    stores.ledger.attach(request_id, ANSWER_SENT, details)
    AuditLog(stores.ledger.engine, stores.secret).append(
        ANSWER_SENT, request_id=request_id, actor=actor, subject_email=request.subject_email,
        details={**details, "open_checks": len(open_checks)})
    closed, kept_open = _close(stores, request, f"svar skickat {on.isoformat()}")
    return Sent(request_id, answer, closed, kept_open, open_checks)


def _close(stores: ErasureStores, request: LedgerRequest, note: str) -> tuple[bool, str | None]:
    """Close ``request`` as its own rules allow: (closed now, why it stays open)."""
    if request.status != RequestStatus.OPEN:
        return False, None
    if request.type == RequestType.ERASURE:
        left = open_work(stores.actions.plan(request.id))
        if left:
            counts = ", ".join(f"{n} {state}" for state, n in sorted(left.items()))
            return False, (f"the erasure still has open work ({counts}); it closes when that "
                           f"is done (`dsar requests task list {request.id}`)")
        return close_request(stores.ledger, request.id, stores.secret, note=note), None
    if request.type != RequestType.ACCESS:
        return False, (f"a {request.type} request closes when its own work is done (run its "
                       f"command again), or by hand: `dsar requests close {request.id}`")
    try:
        stores.ledger.close(request.id, note=note)
    except RequestClosed:  # closed a moment ago by another process: the outcome wanted
        return False, None
    return True, None
