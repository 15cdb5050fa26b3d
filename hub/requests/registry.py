"""Which use-case answers which request type: one job module per type, registered by type.

A scheduler or web UI that has a verified request in hand looks its job up here instead of
knowing each module; the types without a job (objection, rectification, restriction, consent
withdrawal) are recorded in the ledger and answered by hand, and :func:`job_for` says so.
Consent withdrawals that arrive through a mailing list are applied by ``hub.consent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.requests.access.job import answer_one
from hub.requests.context import RequestContext
from hub.requests.erasure.job import erase_subject


class JobResult(Protocol):
    """What every job returns: the ledger request it answered, the verdict, the report."""

    @property
    def request_id(self) -> str: ...

    @property
    def code(self) -> ExitCode: ...

    @property
    def folder(self) -> Path: ...


class Job(Protocol):
    """Answer one verified subject's request of one type, writing its report in ``lang``."""

    async def __call__(self, ctx: RequestContext, subject: Subject, *,
                       lang: str = ...) -> JobResult: ...


JOBS: Mapping[RequestType, Job] = {
    RequestType.ACCESS: answer_one,
    RequestType.ERASURE: erase_subject,
}


def job_for(kind: RequestType | str) -> Job:
    """The job of a request type; InvalidInput for a type the hub answers by hand."""
    try:
        return JOBS[RequestType(kind)]
    except (ValueError, KeyError):
        automated = ", ".join(JOBS)
        raise InvalidInput(f"no automated job for {kind!r} requests (only {automated}); answer "
                           "it by hand and record that with `dsar requests close`") from None
