"""The answer's last steps in the browser: the Art. 15(4) review, a preview of the documents
as the person will read them, and recording the day the answer was sent.

The pages call the use-cases the CLI calls: :func:`hub.requests.access.review_access` (``dsar
requests review ID [--approve]``) and :func:`hub.requests.sent.mark_sent` (``dsar requests sent
ID``), so the ledger and the audit log read the same whichever was used.

The review page lists the flagged records with their fields as they would be sent; the
operator's choices go back to the use-case as the CLI's ``--include``/``--exclude``/
``--redact`` refs. The form is checked against the lookup first, so a choice that does not fit
(a tampered value, a field both kept and blanked) is shown next to its record and nothing is
written.

The preview serves the written document inline in its own tab, under a policy of its own:
the report page carries its style inline (it is self-contained for the person), which the
inbox's policy forbids, so the preview allows inline style and nothing else, and ``sandbox``
keeps it from running anything or acting as the inbox's origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from hub.core.errors import InvalidInput
from hub.core.languages import LANGUAGES
from hub.core.request_types import RequestType
from hub.requests.access import AccessReview, review_access
from hub.requests.access.checks import manual_checks
from hub.requests.access.review import THIRD_PARTY, WEAK_MATCH, ReviewedRecord
from hub.requests.sent import (
    ANSWER_FILES,
    SENT_BY,
    AnswerDocuments,
    AnswerNotReady,
    answer_documents,
    mark_sent,
    sent_answer,
)
from hub.store.ledger import LedgerRequest, UnknownRequest, local_today
from hub.web.auth import Session
from hub.web.base import field, guarded, redirect, render, state

#: The documents a preview opens in the browser, and how each is sent.
PREVIEW_TYPES = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}

#: The preview's own policy: the document's inline style, nothing else; a sandboxed origin.
PREVIEW_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox")

#: A record's choices on the review page: a weak match, and any other record.
WEAK_CHOICES = ("withhold", "include", "exclude")
OTHER_CHOICES = ("send", "exclude")


def _get(request: Request) -> LedgerRequest | None:
    try:
        return state(request).stores.ledger.get(request.path_params["request_id"])
    except UnknownRequest:
        return None


def _error(request: Request, session: Session, status: int, key: str,
           back: str | None = None) -> Response:
    return render(request, "error.html", status=status, session=session, message_key=key,
                  back=back)


def _documents(request: Request, found: LedgerRequest) -> AnswerDocuments:
    """The answer's documents, or none when the recorded folder lies outside the report
    folder (only the hub's own documents are ever served)."""
    documents = answer_documents(found, state(request).ctx.reports_dir)
    root = state(request).ctx.reports_dir.resolve()
    if documents.folder is None:
        return documents
    folder = documents.folder.resolve()
    if not folder.is_relative_to(root) or folder == root:
        return AnswerDocuments(None, looked_up=documents.looked_up)
    return documents


def answer_panel(request: Request, found: LedgerRequest) -> dict[str, Any]:
    """What the request page shows of the answer (``answer_panel.html``): review, preview,
    the sent form or the day it was sent."""
    documents = _documents(request, found)
    sent = sent_answer(found)
    inventory = state(request).ctx.settings.inventory
    open_checks = [c.system for c in manual_checks(found, inventory) if not c.done]
    return {"documents": documents, "sent": sent, "open_checks": open_checks,
            "previews": [n for n in documents.files if Path(n).suffix in PREVIEW_TYPES],
            "can_review": found.type == RequestType.ACCESS and found.status == "open"
            and documents.review_open,
            "can_send": documents.written and sent is None,
            "form": _sent_form(found), "draft": state(request).ctx.draft}


def _sent_form(found: LedgerRequest, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None) -> dict[str, Any]:
    today = local_today()
    return {"filled": values or {"on": today.isoformat(), "how": SENT_BY[0]},
            "errors": errors or {}, "today": today.isoformat(),
            "min": found.received_on.isoformat(), "choices": SENT_BY}


# -- recording the answer as sent ------------------------------------------------------------


def _sent_page(request: Request, session: Session, found: LedgerRequest,
               values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               status: int = 200) -> Response:
    panel = answer_panel(request, found)
    panel["form"] = _sent_form(found, values, errors)
    return render(request, "sent.html", status=status, session=session, r=found,
                  answer=panel)


def _check_form(found: LedgerRequest, values: dict[str, str]) -> tuple[date | None,
                                                                       dict[str, str]]:
    """The sent date, or the errors by field (translated keys), as the use-case would
    refuse them."""
    errors: dict[str, str] = {}
    day = None
    try:
        day = date.fromisoformat(values["on"])
    except ValueError:
        errors["on"] = "errors.not_a_date"
    if day is not None and day > local_today():
        errors["on"] = "answer.error_future"
    elif day is not None and day < found.received_on:
        errors["on"] = "answer.error_before_received"
    if values["how"] not in SENT_BY:
        errors["how"] = "answer.error_how"
    return day, errors


async def sent_page(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _error(request, session, 404, "errors.unknown_request")
    back = f"/requests/{found.id}#answer"
    if sent_answer(found) is not None:
        return _error(request, session, 409, "answer.error_already_sent", back)
    if form is None:
        return _sent_page(request, session, found)
    values = {"on": field(form, "on").strip(), "how": field(form, "how").strip()}
    day, errors = _check_form(found, values)
    if errors:
        return _sent_page(request, session, found, values, errors, status=400)
    web = state(request)
    try:
        mark_sent(web.stores, web.ctx.reports_dir, found.id, on=day, how=values["how"],
                  inventory=web.ctx.settings.inventory, actor=web.actor, via="web")
    except AnswerNotReady:
        return _error(request, session, 409, "answer.error_not_ready", back)
    except InvalidInput:  # sent already, a moment ago in another tab
        return _error(request, session, 409, "answer.error_already_sent", back)
    return redirect(back)


# -- the preview -----------------------------------------------------------------------------


async def preview(request: Request, session: Session, form: FormData | None) -> Response:
    """One of the answer's documents, inline, as the person will read it."""
    found = _get(request)
    name = request.path_params["name"]
    if found is None or Path(name).suffix not in PREVIEW_TYPES \
            or name not in ANSWER_FILES.get(found.type, ()):
        return _error(request, session, 404, "errors.no_file")
    documents = _documents(request, found)
    if documents.folder is None or name not in documents.files:
        return _error(request, session, 404, "errors.no_file")
    path = (documents.folder / name).resolve()
    if path.parent != documents.folder.resolve():
        return _error(request, session, 404, "errors.no_file")
    state(request).record("file.previewed", request_id=found.id,
                          subject_email=found.subject_email, file=name)
    return FileResponse(path, media_type=PREVIEW_TYPES[Path(name).suffix],
                        filename=f"{found.id}-{name}", content_disposition_type="inline",
                        headers={"Content-Security-Policy": PREVIEW_POLICY,
                                 "Cache-Control": "no-store"})


# -- the Art. 15(4) review -------------------------------------------------------------------


def _choices(review: AccessReview, form: FormData | None
             ) -> tuple[dict[str, str], set[str], set[str], dict[str, str]]:
    """The form's choices (record choice by ref, kept and blanked field refs) and the errors
    by record ref ('' for one that names no record)."""
    records = {r.ref: r for r in review.records}
    weak = {f.record for f in review.flags if f.kind == WEAK_MATCH}
    third = {f.ref: f.record for f in review.flags if f.kind == THIRD_PARTY}
    choice: dict[str, str] = {}
    errors: dict[str, str] = {}
    if form is None:
        return choice, set(), set(), errors
    for key in form:
        if not key.startswith("choice:"):
            continue
        ref, value = key.removeprefix("choice:"), field(form, key)
        allowed = WEAK_CHOICES if ref in weak else OTHER_CHOICES
        if ref not in records:
            errors[""] = "review.error_unknown"
        elif value not in allowed:
            errors[ref] = "review.error_choice"
        else:
            choice[ref] = value
    kept = {v for v in form.getlist("keep") if isinstance(v, str)}
    blanked = {v for v in form.getlist("redact") if isinstance(v, str)}
    if kept - set(third):
        errors[""] = "review.error_unknown"
    for text in blanked:
        # the longest ref first: an id with a colon in it is still one record's
        owner = next((r for r in sorted(records, key=len, reverse=True)
                      if text.startswith(r + ":")), None)
        if owner is None or text[len(owner) + 1:] not in dict(records[owner].fields):
            errors[owner or ""] = "review.error_unknown"
    for text in kept & blanked:
        errors[third[text]] = "review.error_keep_and_redact"
    return choice, kept, blanked, errors


def _decisions(review: AccessReview, choice: dict[str, str], kept: set[str],
               blanked: set[str]) -> dict[str, list[str]]:
    weak = {f.record for f in review.flags if f.kind == WEAK_MATCH}
    return {"exclude": sorted(r for r, c in choice.items() if c == "exclude"),
            "include": sorted({r for r, c in choice.items() if c == "include" and r in weak}
                              | kept),
            "redact": sorted(blanked)}


def _rows(review: AccessReview, shown: Iterable[ReviewedRecord], choice: dict[str, str],
          kept: set[str], blanked: set[str], errors: dict[str, str]) -> list[dict[str, Any]]:
    weak = {f.record for f in review.flags if f.kind == WEAK_MATCH}
    rows = []
    for record in shown:
        is_weak = record.ref in weak
        third = [{"ref": f.ref, "field": f.field, "kept": f.ref in kept}
                 for f in record.flags if f.kind == THIRD_PARTY]
        default = "withhold" if is_weak else "send"
        rows.append({
            "ref": record.ref, "processor": record.processor, "type": record.type,
            "id": record.id, "weak": is_weak, "strength": record.match_strength,
            "outcome": record.outcome, "choice": choice.get(record.ref, default),
            "choices": WEAK_CHOICES if is_weak else OTHER_CHOICES, "third": third,
            "fields": [{"path": path, "value": "" if value is None else str(value),
                        "removed": any(path == r or path.startswith(r + ".")
                                       for r in record.removed),
                        "redact": f"{record.ref}:{path}" in blanked}
                       for path, value in record.fields],
            "error": errors.get(record.ref)})
    return rows


def _review_page(request: Request, session: Session, found: LedgerRequest,
                 review: AccessReview, *, every: bool, choice: dict[str, str],
                 kept: set[str], blanked: set[str], errors: dict[str, str],
                 status: int = 200, failure: str | None = None) -> Response:
    listed = [r for r in review.records
              if every or r.flags or r.outcome != "send" or r.ref in choice]
    documents = _documents(request, found)
    return render(request, "review.html", status=status, session=session, r=found,
                  review=review, every=every, documents=documents,
                  rows=_rows(review, listed, choice, kept, blanked, errors),
                  general_error=errors.get(""), failure=failure, languages=LANGUAGES,
                  counts=review.counts(), draft=state(request).ctx.draft)


async def review_page(request: Request, session: Session, form: FormData | None) -> Response:
    found = _get(request)
    if found is None:
        return _error(request, session, 404, "errors.unknown_request")
    back = f"/requests/{found.id}"
    if found.type != RequestType.ACCESS or found.status != "open":
        return _error(request, session, 409, "review.error_not_reviewable", back)
    web = state(request)
    every = (field(form, "all") if form is not None
             else request.query_params.get("all", "")) == "1"
    # not ``lang``: that is the inbox's own language in every URL
    lang = field(form, "doc_lang") or None
    lang = lang if lang in LANGUAGES else None
    try:
        review = review_access(web.ctx, found.id, lang=lang)
    except InvalidInput:  # no lookup result (yet, or purged)
        return _error(request, session, 409, "review.error_no_lookup", back)
    choice, kept, blanked, errors = _choices(review, form)
    if form is None:
        return _review_page(request, session, found, review, every=every, choice=choice,
                            kept=kept, blanked=blanked, errors=errors)
    if errors:
        return _review_page(request, session, found, review, every=every, choice=choice,
                            kept=kept, blanked=blanked, errors=errors, status=400)
    approve = field(form, "action") == "approve"
    try:
        review = review_access(web.ctx, found.id, approve=approve, lang=lang,
                               **_decisions(review, choice, kept, blanked))
    except InvalidInput as exc:  # a choice the lookup does not allow: nothing written
        return _review_page(request, session, found, review, every=every, choice=choice,
                            kept=kept, blanked=blanked, errors=errors, status=400,
                            failure=str(exc))
    if not approve:
        return _review_page(request, session, found, review, every=every, choice=choice,
                            kept=kept, blanked=blanked, errors=errors)
    web.record("access.review_approved", request_id=found.id,
               subject_email=found.subject_email, lang=review.lang, flags=len(review.flags))
    return redirect(f"/requests/{found.id}#answer")


ROUTES = [
    Route("/requests/{request_id}/review", guarded(review_page), methods=["GET", "POST"]),
    Route("/requests/{request_id}/preview/{name}", guarded(preview), methods=["GET"]),
    Route("/requests/{request_id}/sent", guarded(sent_page), methods=["GET", "POST"]),
]
