"""The access request as one use-case: look up, record in the ledger, write the report files.

``dsar lookup`` is a thin client of :func:`answer_access`; a scheduler or a web UI answers an
access request the same way, with the same ledger entries and the same files. The verdict
(:func:`access_verdict`) is the exit code the CLI returns, so every caller judges a lookup alike.

A lookup that found weak matches or another person's data (:mod:`.review`) is held for the
operator's Art. 15(4) review: only the operator's copy is written until ``dsar requests review``
approves (:mod:`.approval`), whoever started the lookup. A draft is written all the same, being
no answer to send; ``review=False`` writes the documents at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import ProcessorResult, ProcessorStatus, Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.content import with_manual_items
from hub.reports.files import write_report
from hub.requests.access.approval import (
    ReviewState,
    documents_written,
    flags_of,
    hold_for_review,
    note_flags,
)
from hub.requests.access.lookup import ProgressCallback, look_up_many
from hub.requests.context import RequestContext
from hub.store.db import open_database
from hub.store.ledger import Ledger, LedgerRequest, bind_report

_ANSWERED = frozenset({ProcessorStatus.FOUND, ProcessorStatus.NOT_FOUND})


@dataclass(frozen=True)
class AccessAnswer:
    """One answered access request: the report as written, its folder, the verdict and
    whether its documents wait for the operator's review."""

    report: Report
    folder: Path
    code: ExitCode
    review: ReviewState = field(default_factory=ReviewState)

    @property
    def request_id(self) -> str:
        return self.report.request.id


def access_verdict(results: Sequence[ProcessorResult]) -> ExitCode:
    """OK when every enabled processor answered in full, PARTIAL when one did not (an error,
    a manual step, or a search it could not finish: ``incomplete``, e.g. receipts that name
    nobody), USAGE when none is set up (nothing was contacted: a configuration problem, not an
    answer)."""
    enabled = [r for r in results if r.enabled]
    if not enabled:
        return ExitCode.USAGE
    answered = all(r.status in _ANSWERED and not r.incomplete for r in enabled)
    return ExitCode.OK if answered else ExitCode.PARTIAL


def batch_verdict(codes: Iterable[ExitCode]) -> ExitCode:
    """The verdict of several lookups: the worst one (partial before usage before OK)."""
    seen = set(codes)
    return next((code for code in (ExitCode.PARTIAL, ExitCode.USAGE) if code in seen),
                ExitCode.OK)


async def answer_access(ctx: RequestContext, subjects: Sequence[Subject], *,
                        lang: str = DEFAULT_LANGUAGE, concurrency: int = 5,
                        on_progress: ProgressCallback | None = None,
                        review: bool = True) -> list[AccessAnswer]:
    """Look every subject up (concurrently, sharing each processor's rate limit), attach each
    lookup to the subject's open access request in the ledger (opening one if needed), add the
    manual items of the processing inventory and write the report folders (held for review
    where flagged, unless ``review`` is False)."""
    for subject in subjects:
        register_secret(subject.email, "subject")
    # The requests are found or opened first, so the lookup's log lines carry their ids.
    ledger = Ledger(open_database(ctx.ledger_url))
    requests = [ledger.find_or_open(subject.email, RequestType.ACCESS)[0]
                for subject in subjects]
    reports = await look_up_many(list(subjects), ctx.settings, ctx.connectors,
                                 concurrency=concurrency, on_progress=on_progress,
                                 request_ids=[request.id for request in requests],
                                 **ctx.connector_options)
    return record_and_write(ctx, ledger, reports, requests, lang=lang, review=review)


def record_and_write(ctx: RequestContext, ledger: Ledger, reports: Sequence[Report],
                     requests: Sequence[LedgerRequest], *, lang: str,
                     review: bool = True) -> list[AccessAnswer]:
    """The ledger and file half of :func:`answer_access`, for lookups already made."""
    answers = []
    for report, request in zip(reports, requests, strict=True):
        bound = with_manual_items(bind_report(report, request), ctx.settings.inventory)
        flags = flags_of(ctx, bound)
        hold = bool(flags) and review
        if hold and not ctx.draft:
            folder = hold_for_review(ctx.reports_dir / bound.request.id, bound, flags)
        else:
            folder = write_report(bound, ctx.reports_dir, lang=lang, settings=ctx.settings,
                                  draft=ctx.draft)
            documents_written(folder)
        ledger.attach_report(request.id, bound, folder)
        note_flags(ledger, request.id, flags, lang=lang, reviewed=review)
        state = ReviewState(len(flags), needed=hold, withheld=hold and not ctx.draft)
        answers.append(AccessAnswer(bound, folder, access_verdict(bound.processors), state))
    return answers


async def answer_one(ctx: RequestContext, subject: Subject, *,
                     lang: str = DEFAULT_LANGUAGE) -> AccessAnswer:
    """One subject's access request (the request-type registry's entry point)."""
    [answer] = await answer_access(ctx, [subject], lang=lang)
    return answer
