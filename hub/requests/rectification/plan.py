"""Step 1 of a rectification: which record at which processor changes which field, from what
to what; nothing is changed here.

Per record found by the lookup:

* ``rectify``: a processor's register record (a Stripe customer, a MailerLite subscriber, a
  Fortnox customer, a booking-system customer) that holds a field with another value than the
  corrected one; the plan lists each such field with its old value (masked when shown) and the
  new one;
* ``correct``: such a record that already holds the new values (a second run changes nothing);
* ``kept``: a booked accounting record (an invoice, a charge, a till receipt): a verifikation
  may not be altered (Bokföringslagen 5 kap.), so it keeps the old data until its retention
  ends, and the answer says so;
* ``unchanged``: a record the correction does not reach (a booking, a subscription: they point
  at the corrected record) or one matched only by a weak identifier (a person checks it);
* ``not-applicable``: a processor whose records cannot be changed at all (Zettle's receipts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.sdk.base import Capability, Connector
from hub.core.models import Record, Report
from hub.core.subject import MatchStrength
from hub.requests.rectification.changes import Changes, read, same
from hub.store.erasure_actions import PlannedAction

RECTIFY = "rectify"
LEGAL_BASIS = "GDPR Art. 16 (rectification)"
STRONG = frozenset({MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE})


@dataclass(frozen=True)
class FieldChange:
    """One field of one record: the hub's word for it, the value stored now and the new one."""

    field: str
    old: str | None
    new: str

    def as_dict(self, *, masked: bool = True) -> dict[str, str | None]:
        return {"field": self.field, "from": mask(self.old) if masked else self.old,
                "to": self.new}


@dataclass(frozen=True)
class PlanLine:
    processor: str
    record_type: str
    record_id: str
    action: str
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""
    matched_on: str = "email"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.processor, self.record_type, self.record_id)

    def as_dict(self) -> dict[str, object]:
        return {"processor": self.processor, "record_type": self.record_type,
                "record_id": self.record_id, "action": self.action, "reason": self.reason,
                "changes": [c.as_dict() for c in self.changes]}

    def action_row(self) -> PlannedAction:
        """The ledger row of a ``rectify`` line (no values: the ledger holds no personal
        data; the new values come with every run's ``--set``)."""
        return PlannedAction(self.processor, self.record_type, self.record_id, RECTIFY,
                             LEGAL_BASIS, fields=tuple(c.field for c in self.changes),
                             matched_on=self.matched_on)


def mask(value: str | None) -> str | None:
    """An old value as the terminal shows it: enough to recognise, not to copy (the erasure
    plan masks the same way)."""
    if value is None or value == "":
        return value
    local, at, domain = value.partition("@")
    if at:
        return f"{local[:1]}…@{domain}"
    return f"{value[:2]}…{value[-2:]}" if len(value) > 6 else "…"


def stored(connector: type[Connector] | Connector, record: Record, word: str) -> str | None:
    """What the record holds for ``word`` (``name`` joined from first and last name where the
    processor keeps them apart)."""
    fields = connector.rectify_fields
    if word in fields:
        value = read(record.data, fields[word])
        return None if value is None else str(value)
    if word == "name" and "first_name" in fields:
        parts = [read(record.data, fields[w]) for w in ("first_name", "last_name") if w in fields]
        joined = " ".join(str(p) for p in parts if p not in (None, ""))
        return joined or None
    return None


def field_changes(connector: Connector, record: Record, changes: Changes
                  ) -> tuple[FieldChange, ...]:
    """The fields of ``record`` that differ from the corrected values; a field the processor
    does not keep is left out."""
    out = []
    for word in changes.fields:
        if not _keeps(connector, word):
            continue
        old = stored(connector, record, word)
        if not same(word, old, changes.values[word]):
            out.append(FieldChange(word, old, changes.values[word]))
    return tuple(out)


def _keeps(connector: Connector, word: str) -> bool:
    fields = connector.rectify_fields
    return word in fields or (word == "name" and "first_name" in fields)


def build_plan(lookup: Report, opened: Mapping[str, Connector], changes: Changes
               ) -> list[PlanLine]:
    """One line per record found (see the module docstring)."""
    lines: list[PlanLine] = []
    for result in lookup.processors:
        connector = opened.get(result.name)
        for record in result.records:
            where = (result.name, record.type, record.id)
            if connector is None:
                lines.append(PlanLine(*where, "unchanged", reason="processor not enabled"))
            elif record.type in connector.booked_records:
                lines.append(PlanLine(*where, "kept", reason=(
                    "booked accounting record: not altered (Bokföringslagen); keeps the old "
                    "data until its retention ends")))
            elif Capability.RECTIFY not in connector.capabilities \
                    and not connector.rectifiable_records:
                lines.append(PlanLine(*where, "not-applicable", reason=(
                    f"{connector.title} records cannot be changed (receipts are immutable)")))
            elif record.type not in connector.rectifiable_records:
                lines.append(PlanLine(*where, "unchanged", reason=(
                    "refers to the corrected record; nothing of its own to change")))
            elif record.match_strength not in STRONG:
                lines.append(PlanLine(*where, "unchanged", matched_on=record.matched_on,
                                      reason=f"weak match ({record.match_strength.value}): "
                                             "check by hand whose record it is"))
            elif not any(_keeps(connector, word) for word in changes.fields):
                lines.append(PlanLine(*where, "unchanged", matched_on=record.matched_on,
                                      reason=f"{connector.title} does not keep these fields"))
            else:
                diff = field_changes(connector, record, changes)
                lines.append(PlanLine(*where, RECTIFY if diff else "correct", diff,
                                      "" if diff else "already holds the corrected values",
                                      matched_on=record.matched_on))
    return lines
