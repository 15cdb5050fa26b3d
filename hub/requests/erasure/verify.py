"""Step 3 of an erasure: check by a second lookup that what was erased is really gone.

A processor may answer "deleted" and keep the record (a failed background job, a replica);
only looking again proves the erasure. Every done record must be gone or anonymised; a pending
erasure with a ``completes_by`` date (MailerLite's forget) is accepted as promised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.core.models import ProcessorStatus, Report
from hub.requests.erasure.execute import found_records, reconciled
from hub.requests.erasure.plan import ERASING
from hub.store.erasure_actions import ActionState, ErasureLedger, PlannedAction


@dataclass
class Verification:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # processors that could not be asked

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "checked": self.checked, "problems": self.problems,
                "unverified": self.unverified}


def verify(plan: Sequence[PlannedAction], lookup: Report, elog: ErasureLedger | None = None
           ) -> tuple[Verification, list[PlannedAction]]:
    """Check the done actions against a fresh lookup; a record still holding the data is set
    back to ``failed`` (so a resume tries again)."""
    records = found_records(lookup)
    down = {r.name for r in lookup.processors
            if r.status in (ProcessorStatus.ERROR, ProcessorStatus.SKIPPED)}
    problems, checked, out = [], 0, []
    for action in plan:
        if action.state != ActionState.DONE or action.action not in ERASING:
            out.append(action)
            continue
        if action.processor in down:
            out.append(action)
            continue
        checked += 1
        record = records.get(action.key)
        problem = None
        if record is not None:
            if action.action == "delete" and action.completes_by is None:
                problem = "still present after deletion"
            elif action.action == "anonymise" and reconciled(action, record) is None:
                problem = "personal fields still present after anonymisation"
        if problem and elog is not None and action.id is not None:
            problems.append(f"{action.task}: {problem}")
            action = elog.set_state(action.id, ActionState.FAILED,
                                    detail=f"verification: {problem}")
        elif problem:
            problems.append(f"{action.task}: {problem}")
        out.append(action)
    return Verification(not problems and not down, checked, problems, sorted(down)), out
