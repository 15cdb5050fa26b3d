"""Access lookups started from the browser, run in the background with their progress kept for
the status page.

A lookup takes seconds to minutes (processors' rate limits), longer than a browser waits for
a page, so the form only starts it: it runs in a thread of its own, with its own event loop
(the server's loop keeps answering pages meanwhile), through the same use-case as
``dsar lookup`` (:func:`hub.requests.access.answer_access`). The page then polls the progress
kept here. One lookup per request at a time; a second start while one runs joins it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.core.models import ProcessorResult
from hub.core.subject import Subject
from hub.requests.access import answer_access
from hub.requests.context import RequestContext

log = logging.getLogger(__name__)


@dataclass
class LookupRun:
    """The progress of one lookup: each processor's status (None while it searches)."""

    request_id: str
    processors: dict[str, str | None] = field(default_factory=dict)
    finished: bool = False
    failed: bool = False
    folder: Path | None = None
    review_needed: bool = False
    withheld: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "finished": self.finished, "failed": self.failed,
                "processors": [{"name": name, "status": status or "searching"}
                               for name, status in sorted(self.processors.items())]}


class LookupRunner:
    """The lookups of one server, by request id."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.runs: dict[str, LookupRun] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> LookupRun | None:
        with self._lock:
            return self.runs.get(request_id)

    def start(self, request_id: str, email: str, *, lang: str) -> LookupRun:
        """Start the lookup of ``email`` for ``request_id`` unless one is running already."""
        with self._lock:
            running = self.runs.get(request_id)
            if running is not None and not running.finished:
                return running
            run = self.runs[request_id] = LookupRun(request_id)
        thread = threading.Thread(target=self._run, args=(run, email, lang),
                                  name=f"lookup-{request_id}", daemon=True)
        thread.start()
        return run

    def _run(self, run: LookupRun, email: str, lang: str) -> None:
        def progress(name: str, result: ProcessorResult | None) -> None:
            status = None if result is None else result.status.value + (
                "-incomplete" if result.incomplete else "")
            with self._lock:
                run.processors[name] = status

        try:
            [answer] = asyncio.run(answer_access(self.ctx, [Subject.from_email(email)],
                                                 lang=lang, on_progress=progress))
        except Exception:
            log.exception("lookup for request %s failed", run.request_id)
            with self._lock:
                run.failed = run.finished = True
            return
        with self._lock:
            for result in answer.report.processors:
                run.processors.setdefault(result.name, result.status.value)
            run.folder = answer.folder
            run.review_needed = answer.review.needed
            run.withheld = answer.review.withheld
            run.finished = True
