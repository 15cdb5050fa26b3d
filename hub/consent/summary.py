"""What one consent-sync run did: the summary line, the ``--json`` document and the exit code.

Kept apart from the engine so the CLI, the scheduler loop and monitoring read one value with
one meaning of "partial" (exit 3), whichever part of the run (lock, scan, propagation) set it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.core.logs import redact
from hub.store.consent_register import TaskState


@dataclass
class SyncSummary:
    """What one run did, for the summary line, ``--json`` and monitoring."""

    system: str
    mode: str = "incremental"
    reason: str | None = None
    dry_run: bool = False
    resumed: bool = False
    status: str = "ok"  # ok | failed (the scan stopped; resumed next run) | locked
    error: str | None = None
    scans: list[str] = field(default_factory=list)
    requests: int = 0
    pages: int = 0
    subscribers_read: int = 0
    lookups: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    stale: int = 0
    propagated: int = 0
    propagation_failed: int = 0
    manual_opened: int = 0
    review_opened: int = 0
    #: subscribers whose processing is restricted (GDPR Art. 18): recorded, but no task was
    #: opened that would change them elsewhere, and a return to a consenting status is a review
    restricted: int = 0
    open_tasks: dict[str, int] = field(default_factory=dict)
    destinations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock_holder: dict[str, Any] | None = None
    lock_stale: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        """0 done; 3 partial: the scan failed, a propagation failed (retried next run), a new
        manual step is needed, or a lock has been held for suspiciously long."""
        if self.status == "locked":
            return 3 if self.lock_stale else 0
        if self.status == "failed" or self.propagation_failed:
            return 3
        if not self.dry_run and (self.manual_opened or self.review_opened):
            return 3
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "status": self.status, "exit_code": self.exit_code,
            "mode": self.mode, "reason": self.reason, "dry_run": self.dry_run,
            "resumed": self.resumed, "error": redact(self.error) if self.error else None,
            "scans": self.scans, "requests": self.requests, "pages": self.pages,
            "subscribers_read": self.subscribers_read, "lookups": self.lookups,
            "changes": dict(self.changes), "changes_total": sum(self.changes.values()),
            "unchanged": self.unchanged, "stale_ignored": self.stale,
            "restricted_left_alone": self.restricted,
            "propagation": {"done": self.propagated, "failed": self.propagation_failed,
                            "manual_opened": self.manual_opened,
                            "review_opened": self.review_opened,
                            "open_tasks": self.open_tasks},
            "destinations": self.destinations, "warnings": [redact(w) for w in self.warnings],
            "lock_holder": self.lock_holder,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": round((self.finished_at - self.started_at).total_seconds(), 3)
            if self.finished_at else None,
        }

    def line(self) -> str:
        """One line for people and cron mail (no addresses)."""
        if self.status == "locked":
            holder = self.lock_holder or {}
            since = holder.get("since", "?")
            return (f"consent-sync: another run holds the lock (pid {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')} since {since}); this run did nothing"
                    + ("; it has been running for suspiciously long" if self.lock_stale else ""))
        changes = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in
                            sorted(self.changes.items())) or "no changes"
        head = "consent-sync (dry run)" if self.dry_run else "consent-sync"
        parts = [f"{head} {self.system} {self.mode}"
                 + (" (resumed)" if self.resumed else "")
                 + f": {self.requests} requests, {self.subscribers_read} subscribers read; "
                 + changes]
        if self.restricted:
            parts.append(f"{self.restricted} restricted subscribers (Art. 18) left alone")
        if not self.dry_run:
            open_manual = self.open_tasks.get(TaskState.MANUAL_OPEN, 0)
            parts.append(f"propagation: {self.propagated} done, {self.propagation_failed} "
                         f"failed, {self.manual_opened} new manual tasks "
                         f"({open_manual} open in total)")
        if self.status == "failed":
            parts.append(f"stopped: {redact(self.error or '')} (the next run resumes)")
        return "; ".join(parts)
