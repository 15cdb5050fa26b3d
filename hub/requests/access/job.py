"""The access request as one use-case: look up, record in the ledger, write the report files.

``dsar lookup`` is a thin client of :func:`answer_access`; a scheduler or a web UI answers an
access request the same way, with the same ledger entries and the same files. The verdict
(:func:`access_verdict`) is the exit code the CLI returns, so every caller judges a lookup alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.core.exit_codes import ExitCode
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.logs import register_secret
from hub.core.models import ProcessorResult, ProcessorStatus, Report
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.content import with_manual_items
from hub.reports.files import write_report
from hub.requests.access.lookup import ProgressCallback, look_up_many
from hub.requests.context import RequestContext
from hub.store.db import open_database
from hub.store.ledger import Ledger, LedgerRequest, bind_report

_ANSWERED = frozenset({ProcessorStatus.FOUND, ProcessorStatus.NOT_FOUND})


@dataclass(frozen=True)
class AccessAnswer:
    """One answered access request: the report as written, its folder and the verdict."""

    report: Report
    folder: Path
    code: ExitCode

    @property
    def request_id(self) -> str:
        return self.report.request.id


def access_verdict(results: Sequence[ProcessorResult]) -> ExitCode:
    """OK when every enabled processor answered, PARTIAL when one did not, USAGE when none is
    set up (nothing was contacted: a configuration problem, not an answer)."""
    enabled = [r for r in results if r.enabled]
    if not enabled:
        return ExitCode.USAGE
    return ExitCode.OK if all(r.status in _ANSWERED for r in enabled) else ExitCode.PARTIAL


def batch_verdict(codes: Iterable[ExitCode]) -> ExitCode:
    """The verdict of several lookups: the worst one (partial before usage before OK)."""
    seen = set(codes)
    return next((code for code in (ExitCode.PARTIAL, ExitCode.USAGE) if code in seen),
                ExitCode.OK)


async def answer_access(ctx: RequestContext, subjects: Sequence[Subject], *,
                        lang: str = DEFAULT_LANGUAGE, concurrency: int = 5,
                        on_progress: ProgressCallback | None = None) -> list[AccessAnswer]:
    """Look every subject up (concurrently, sharing each processor's rate limit), attach each
    lookup to the subject's open access request in the ledger (opening one if needed), add the
    manual items of the processing inventory and write the report folders."""
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
    return record_and_write(ctx, ledger, reports, requests, lang=lang)


def record_and_write(ctx: RequestContext, ledger: Ledger, reports: Sequence[Report],
                     requests: Sequence[LedgerRequest], *, lang: str) -> list[AccessAnswer]:
    """The ledger and file half of :func:`answer_access`, for lookups already made."""
    bound = [with_manual_items(bind_report(report, request), ctx.settings.inventory)
             for report, request in zip(reports, requests, strict=True)]
    folders = [write_report(report, ctx.reports_dir, lang=lang, settings=ctx.settings,
                            draft=ctx.draft)
               for report in bound]
    for request, report, folder in zip(requests, bound, folders, strict=True):
        ledger.attach_report(request.id, report, folder)
    return [AccessAnswer(report, folder, access_verdict(report.processors))
            for report, folder in zip(bound, folders, strict=True)]


async def answer_one(ctx: RequestContext, subject: Subject, *,
                     lang: str = DEFAULT_LANGUAGE) -> AccessAnswer:
    """One subject's access request (the request-type registry's entry point)."""
    [answer] = await answer_access(ctx, [subject], lang=lang)
    return answer
