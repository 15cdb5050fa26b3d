"""The Art. 15(4) review as a use-case: hold the documents back, show what would be sent,
record the operator's decision, then write the documents (``dsar requests review ID``).

A lookup with flagged items (:mod:`.review`) writes only the operator's copy (``report.json``)
and ``review.txt`` into its folder. :func:`review_access` reads that stored result, applies
the operator's choices and, on approval, records the decision (ledger and audit log,
:mod:`hub.store.access_review`) before it writes the documents: a copy never leaves without
the evidence of who decided what. The unreviewed result is kept beside them as
``lookup.json`` (operator only), so a second review starts again from what was found, not
from what was already cut.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.core.errors import InvalidInput
from hub.core.folders import make_private_dir
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from hub.core.models import Report
from hub.core.request_types import RequestType
from hub.reports.files import REPORT_FILES, write_private, write_report
from hub.requests.access.review import (
    Flag,
    ReviewedRecord,
    apply_decisions,
    find_flags,
    parse_decisions,
    redaction_marker,
    review_summary,
    reviewed_records,
    third_party_fields,
)
from hub.requests.context import RequestContext
from hub.store.access_review import record_review_decision
from hub.store.db import open_database
from hub.store.ledger import Ledger, LedgerRequest, RequestStatus, bind_report

#: the operator's note beside a lookup whose documents wait for review
PENDING_FILE = "review.txt"
#: the unreviewed lookup result, kept once the reviewed documents replace report.json
ORIGINAL_FILE = "lookup.json"
#: what the data subject receives (report.json stays: it is the operator's copy until then)
SUBJECT_DOCUMENTS = tuple(name for name in REPORT_FILES if name != "report.json")
#: ``request_events.kind`` of a lookup whose flagged items wait for review, or went unreviewed
REVIEW_NEEDED = "access.review-needed"
REVIEW_SKIPPED = "access.review-skipped"


@dataclass(frozen=True)
class ReviewState:
    """What a lookup's answer says about the review: the number of flagged items, whether
    the operator still has to review them, and whether the documents were held back."""

    flags: int = 0
    needed: bool = False
    withheld: bool = False

    def as_dict(self, request_id: str) -> dict[str, Any]:
        """The ``review`` member of ``dsar lookup --json``."""
        found: dict[str, Any] = {"needed": self.needed, "flags": self.flags}
        if self.needed:
            found["command"] = f"dsar requests review {request_id}"
        return found


def flags_of(ctx: RequestContext, report: Report) -> list[Flag]:
    """The items of ``report`` the operator must review, by the installed connectors'
    declarations."""
    return find_flags(report, third_party_fields(ctx.connectors))


def hold_for_review(folder: Path, report: Report, flags: Sequence[Flag]) -> Path:
    """Write the operator's copy and ``review.txt``, not the documents; documents of an
    earlier run of this request are removed, so none older than this lookup can be sent."""
    make_private_dir(folder)
    write_private(folder / "report.json", report.model_dump_json(indent=2) + "\n")
    write_private(folder / PENDING_FILE, review_summary(report.request.id, flags))
    for name in (*SUBJECT_DOCUMENTS, ORIGINAL_FILE):
        (folder / name).unlink(missing_ok=True)
    return folder


def documents_written(folder: Path) -> None:
    """After a lookup wrote its documents: an earlier run's review note and unreviewed copy
    no longer describe this folder."""
    for name in (PENDING_FILE, ORIGINAL_FILE):
        (folder / name).unlink(missing_ok=True)


def note_flags(ledger: Ledger, request_id: str, flags: Sequence[Flag], *, lang: str,
               reviewed: bool) -> None:
    """Record in the request's history that a lookup found flagged items (refs only), and
    whether they wait for review or the operator chose to send without one."""
    if flags:
        ledger.attach(request_id, REVIEW_NEEDED if reviewed else REVIEW_SKIPPED,
                      {"flags": len(flags), "refs": [f.ref for f in flags], "lang": lang})


@dataclass(frozen=True)
class AccessReview:
    """The review of one access request: every record with its flags and what happens to it;
    after approval, the decision as recorded and the folder of the documents."""

    request_id: str
    lang: str
    flags: tuple[Flag, ...]
    records: tuple[ReviewedRecord, ...]
    folder: Path
    decision: dict[str, Any] | None = None

    @property
    def approved(self) -> bool:
        return self.decision is not None

    def as_dict(self, *, every: bool = False) -> dict[str, Any]:
        shown = [r for r in self.records if every or r.flags or r.outcome != "send"]
        return {"request_id": self.request_id, "type": RequestType.ACCESS.value,
                "lang": self.lang, "approved": self.approved,
                "flags": [f.as_dict() for f in self.flags],
                "records": [r.as_dict() for r in shown],
                "counts": self.counts(), "decision": self.decision,
                "folder": str(self.folder),
                "report_html": str(self.folder / "report.html") if self.approved else None}

    def counts(self) -> dict[str, dict[str, int]]:
        """Per processor: records to send, withheld and excluded."""
        counts: dict[str, dict[str, int]] = {}
        for record in self.records:
            per = counts.setdefault(record.processor, {"send": 0, "withheld": 0,
                                                        "excluded": 0})
            per[record.outcome] += 1
        return counts


def request_type(ctx: RequestContext, request_id: str) -> str:
    """The type of a request in the ledger (UnknownRequest, an InvalidInput, if absent)."""
    return Ledger(open_database(ctx.ledger_url)).get(request_id).type


def _lookup_folder(ctx: RequestContext, request: LedgerRequest) -> tuple[Path, str | None]:
    """Where the newest lookup wrote, and the language it was asked in (when recorded)."""
    folder, lang = None, None
    for event in request.events:
        if event.kind == RequestType.ACCESS.value and event.details.get("folder"):
            folder = Path(event.details["folder"])
        if event.kind in (REVIEW_NEEDED, REVIEW_SKIPPED):
            lang = event.details.get("lang")
    return folder or ctx.reports_dir / request.id, lang if lang in LANGUAGES else None


def stored_lookup(folder: Path, request_id: str) -> tuple[Report, bytes]:
    """The unreviewed lookup result (``lookup.json`` once a review was approved, else
    ``report.json``) and its bytes."""
    for name in (ORIGINAL_FILE, "report.json"):
        path = folder / name
        if path.is_file():
            raw = path.read_bytes()
            report = Report.model_validate_json(raw)
            if report.request.id != request_id:
                raise InvalidInput(f"{path} belongs to request {report.request.id}, not "
                                   f"{request_id}")
            return report, raw
    raise InvalidInput(f"request {request_id} has no lookup result in {folder}: run "
                       "`dsar lookup EMAIL` first (a closed request's reports may have been "
                       "purged)")


def review_access(ctx: RequestContext, request_id: str, *, exclude: Iterable[str] = (),
                  include: Iterable[str] = (), redact: Iterable[str] = (),
                  approve: bool = False, lang: str | None = None) -> AccessReview:
    """Show what the access request's documents would hold with these choices; with
    ``approve``, record the decision and write the documents. Every ref is checked before
    anything is written (InvalidInput, exit 2, names the first that does not fit)."""
    ledger = Ledger(open_database(ctx.ledger_url))
    request = ledger.get(request_id)
    if request.type != RequestType.ACCESS.value:
        raise InvalidInput(f"request {request_id} is an {request.type} request, not access")
    folder, asked_in = _lookup_folder(ctx, request)
    lang = lang or asked_in or DEFAULT_LANGUAGE
    source, raw = stored_lookup(folder, request_id)
    flags = flags_of(ctx, source)
    decisions = parse_decisions(source, flags, exclude=exclude, include=include,
                                redact=redact)
    applied = apply_decisions(source, flags, decisions, redaction_marker(lang))
    records = tuple(reviewed_records(source, flags, applied))
    review = AccessReview(request_id, lang, tuple(flags), records, folder)
    if not approve:
        return review
    if request.status != RequestStatus.OPEN.value:
        raise InvalidInput(f"request {request_id} is closed; its answer was given already")
    details = {**decisions.details(flags), "lang": lang, "draft": ctx.draft,
               "lookup_sha256": hashlib.sha256(raw).hexdigest()}
    # Two approvals at once: the decision recorded last must be the one the files hold.
    with _folder_lock(folder):
        record_review_decision(ledger, ctx.secret, request_id, details,
                               subject_email=request.subject_email)
        if not (folder / ORIGINAL_FILE).is_file():
            write_private(folder / ORIGINAL_FILE, raw.decode("utf-8"))
        # the request's current receipt date and deadline (an extension moves it)
        answer = bind_report(applied.report, ledger.get(request_id))
        written = write_report(answer, folder.parent, lang=lang, settings=ctx.settings,
                               draft=ctx.draft)
        (written / PENDING_FILE).unlink(missing_ok=True)
    return AccessReview(request_id, lang, tuple(flags), records, written, details)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the request folder itself (flock on the directory: no lock file
    is left among the documents)."""
    import fcntl
    import os

    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
