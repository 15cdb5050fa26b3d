"""What an anonymised record keeps for the retained records that refer to it, and until when.

Anonymising a Fortnox customer blanks only what the law does not need: its name, address and
personnummer stay, because the invoices addressed to it are accounting records kept under
Bokföringslagen (SFS 1999:1078) 7 kap. 2 § (GDPR Art. 17(3)(b)). Those fields are needed only
as long as the invoices are; without an end date of their own nothing would ever revisit them,
and the customer would outlive its books (a breach of Art. 5(1)(e)).

So the plan gets one more action per such record, its *remainder*: ``retain`` until the last
day the latest of the referring records is kept (the same date the plan gives that record),
listed by ``dsar retention due`` once it has passed. Then the record is deleted, or, when the
processor still refuses that (Fortnox keeps a customer its invoices refer to), the kept fields
are blanked too (:func:`hub.requests.erasure.retention.erase_due`).

The remainder is an action of its own, not a date on the anonymise action: the anonymise is
done now and reported as done, while the remainder stays ``retained`` for years, in the same
state and the same query as every other record under a legal hold. Its record type is the
record's own with :data:`SUFFIX`, so the ledger's one-row-per-record rule holds for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from hub.core.models import Record
from hub.core.retention import (
    ErasureAction,
    RetentionPolicy,
    RetentionRule,
    decide_with,
    erasable_from,
)
from hub.store.erasure_actions import ActionState, PlannedAction

#: Appended to a record's type to name its remainder (``fortnox:customer-remainder:10``).
SUFFIX = "-remainder"


@dataclass(frozen=True)
class HeldBy:
    """Which retained records of the same processor refer to a record, by which of their
    fields, and what of the referred record the law keeps for them."""

    #: the referring records' type (their retention policy gives the hold)
    record_type: str
    #: their field that holds the referred record's id
    field: str
    #: the referred record's fields kept for them (blanked when the last hold has ended)
    kept: tuple[str, ...]
    #: those fields in words, for the legal basis the subject reads
    described: str


#: Records that retained records refer to, by processor and type. Fortnox: an invoice names
#: its customer by ``CustomerNumber`` (apidocs, Invoices); the kept fields are the customer's
#: name, identity number and addresses, all writable free text of a Fortnox customer.
HELD_BY: dict[tuple[str, str], HeldBy] = {
    ("fortnox", "customer"): HeldBy(
        record_type="invoice", field="CustomerNumber",
        kept=("Name", "OrganisationNumber", "Address1", "Address2", "ZipCode", "City",
              "DeliveryName", "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode",
              "DeliveryCity", "VisitingAddress", "VisitingZipCode", "VisitingCity",
              "YourReference"),
        described="the customer's name, address and identity number"),
}


def is_remainder(record_type: str) -> bool:
    return record_type.endswith(SUFFIX)


def remainder_of(record_type: str) -> str:
    """The record type a remainder's type stands for (``customer-remainder`` -> ``customer``)."""
    return record_type.removesuffix(SUFFIX)


def hold_end(processor: str, record: Record, policy: RetentionPolicy) -> date | None:
    """The last day ``record`` is kept under the policy's hold, whether or not that day has
    passed (so a customer whose invoices' hold has already ended gets a date in the past and
    is due at once); None when its accounting date cannot be read (or it is not held).
    ``date.min`` as "today" makes :func:`~hub.core.retention.decide_with` report the hold
    instead of its end."""
    entry = policy.for_record(processor, record.type)
    if entry is None or entry.action is not ErasureAction.RETAIN:
        return None
    return decide_with(entry, record.data, policy, date.min).retained_until


def remainder(processor: str, record: Record, anonymise: PlannedAction,
              records: Sequence[Record], policy: RetentionPolicy) -> PlannedAction | None:
    """The remainder action of ``record``, planned to be anonymised as ``anonymise``, or None
    when nothing of it is kept for other records (no retained record among ``records``, the
    processor's records of this lookup, refers to it).

    When a referring record's accounting date cannot be read, the end cannot be known either:
    the remainder becomes a manual task, never a hold without an end."""
    held = HELD_BY.get((processor, record.type))
    if held is None or anonymise.action != ErasureAction.ANONYMISE.value:
        return None
    referring = [r for r in records if r.type == held.record_type
                 and str(r.data.get(held.field, "")) == record.id]
    entry = policy.for_record(processor, held.record_type)
    kept = tuple(name for name in held.kept if name not in anonymise.fields)
    if not (referring and kept) or entry is None or entry.action is not ErasureAction.RETAIN \
            or entry.rule is RetentionRule.UNTIL_ERASURE:
        return None  # nothing kept, or kept for nothing the law holds
    ends = {r.id: hold_end(processor, r, policy) for r in referring}
    ids = ", ".join(sorted(ends))
    base = PlannedAction(
        processor=processor, record_type=record.type + SUFFIX, record_id=record.id,
        matched_on=record.matched_on, action=ErasureAction.RETAIN.value, fields=kept,
        legal_basis=f"{held.described[:1].upper()}{held.described[1:]} stay as long as the "
                    f"{held.record_type}s that refer to it are kept: {entry.legal_basis}")
    unknown = sorted(rid for rid, end in ends.items() if end is None)
    if unknown:
        return replace(
            base, action=ErasureAction.MANUAL.value, state=ActionState.MANUAL_OPEN.value,
            detail=f"kept for {held.record_type}s {ids}",
            instructions=f"The accounting date of {held.record_type} {', '.join(unknown)} "
                         f"cannot be read, so it is unknown how long {processor} "
                         f"{record.type} {record.id} must keep {held.described}: find the last "
                         f"day its {held.record_type}s are kept and after it (never before) "
                         f"delete the {record.type} or blank {', '.join(kept)}.")
    last = max(end for end in ends.values() if end is not None)
    return replace(
        base, state=ActionState.RETAINED.value, retained_until=last,
        detail=f"kept for {held.record_type}s {ids}; from {erasable_from(last)} deleted, or "
               f"{', '.join(kept)} blanked while {processor} refuses to delete it")
