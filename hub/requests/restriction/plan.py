"""Step 1 of a restriction (GDPR Art. 18) or of its lifting: which record at which processor
gets (or loses) the visible restriction marker; nothing is changed here.

Per record found by the lookup:

* ``mark`` / ``unmark``: a record a processor can mark through its API
  (:attr:`~connectors.sdk.base.Connector.restrictable_records`: a Stripe customer's metadata, a
  booking system's declared field);
* ``manual``: a processor's register record (a customer, a subscriber) that its API cannot mark:
  a person marks it, or removes the mark, in the processor's own UI; except at a processor that
  only sends marketing (MailerLite), where the consent withdrawal already stops it;
* ``unchanged``: everything else (a booking, an invoice: they belong to the marked record) and
  weak matches (a person checks whose record it is first).

Marking adds a flag and nothing else; the subject's own data is not touched (Art. 18(2): it is
only stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.sdk.base import Capability, Connector
from hub.core.models import Report
from hub.core.subject import MatchStrength
from hub.store.erasure_actions import PlannedAction

MARK = "mark"
UNMARK = "unmark"
MANUAL = "manual"
LEGAL_BASIS = "GDPR Art. 18 (restriction of processing)"
LIFT_BASIS = "GDPR Art. 18(3) (restriction lifted, the subject told first)"
STRONG = frozenset({MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE})


@dataclass(frozen=True)
class PlanLine:
    processor: str
    record_type: str
    record_id: str
    action: str
    reason: str = ""
    matched_on: str = "email"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.processor, self.record_type, self.record_id)

    @property
    def runnable(self) -> bool:
        return self.action in (MARK, UNMARK, MANUAL)

    def as_dict(self) -> dict[str, object]:
        return {"processor": self.processor, "record_type": self.record_type,
                "record_id": self.record_id, "action": self.action, "reason": self.reason}

    def action_row(self, *, lift: bool) -> PlannedAction:
        """The ledger row of a runnable line; a manual one opens as a task with its
        instructions."""
        return PlannedAction(self.processor, self.record_type, self.record_id, self.action,
                             LIFT_BASIS if lift else LEGAL_BASIS, matched_on=self.matched_on,
                             instructions=self.reason if self.action == MANUAL else None)


def build_plan(lookup: Report, opened: Mapping[str, Connector], *, lift: bool
               ) -> list[PlanLine]:
    """One line per record found (see the module docstring)."""
    verb = UNMARK if lift else MARK
    lines: list[PlanLine] = []
    for result in lookup.processors:
        connector = opened.get(result.name)
        for record in result.records:
            where = (result.name, record.type, record.id)
            if connector is None:
                lines.append(PlanLine(*where, "unchanged", "processor not enabled"))
            elif record.type not in connector.restrictable_records | \
                    connector.rectifiable_records:
                lines.append(PlanLine(*where, "unchanged",
                                      "belongs to the marked record; no marker of its own"))
            elif record.match_strength not in STRONG:
                lines.append(PlanLine(*where, "unchanged", matched_on=record.matched_on,
                                      reason=f"weak match ({record.match_strength.value}): "
                                             "check by hand whose record it is"))
            elif Capability.RESTRICT in connector.capabilities \
                    and record.type in connector.restrictable_records:
                lines.append(PlanLine(*where, verb, matched_on=record.matched_on))
            elif Capability.CONSENT in connector.capabilities:
                lines.append(PlanLine(*where, "unchanged", matched_on=record.matched_on, reason=(
                    "marketing only: stopped by the consent withdrawal" if not lift else
                    "marketing only: a new subscription needs the person's fresh consent")))
            else:
                lines.append(PlanLine(*where, MANUAL, matched_on=record.matched_on, reason=(
                    f"{connector.title}'s API cannot mark it: in {connector.title}'s admin UI, "
                    + (f"remove the restriction note from {record.type} {record.id}" if lift
                       else f"note on {record.type} {record.id} that its processing is "
                            "restricted (GDPR Art. 18): store only, no changes, no marketing"))))
    return lines
