"""Step 1 of an erasure: the plan, one action per record found, decided by the retention policy.

Each record gets ``delete``, ``anonymise``, ``retain`` (legal basis and last day kept) or
``manual`` (``retention.decide``). Only records matched on the subject's verified address
(``exact`` / ``case-insensitive``) are planned for erasure as found. A record matched only by a
weaker identifier (``plus-address``, ``derived``) becomes a review task until the operator
approves that one record by its ref (``--approve fortnox:customer:10``): approving one weak
match never approves another, because erasing someone else's data cannot be undone. A weak
match whose name and e-mail address both differ from the subject's is someone else's record
(:mod:`.identity`): it is left out of the plan and cannot be approved. Systems of the
processing inventory without a connector, connectors that did not run and entries with
``manual_instructions`` become manual tasks, so nothing the controller holds is silently left
out. An anonymised record that retained records still refer to (a Fortnox customer named on
its invoices) keeps some fields for them: that remainder is planned as retained until the
latest of their holds ends (:mod:`.remainder`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypedDict

from hub.core.errors import InvalidInput
from hub.core.inventory import InventoryEntry
from hub.core.models import ProcessorStatus, Record, Report
from hub.core.retention import RetentionPolicy, decide
from hub.requests.erasure.identity import (
    VERIFIED_MATCHES,
    RecordMatch,
    describe_records,
    record_ref,
)
from hub.requests.erasure.remainder import remainder
from hub.store.erasure_actions import (
    REVIEW_PREFIX,
    ActionState,
    PlannedAction,
    initial_state,
    is_review,
)

#: The actions that call a processor to erase.
ERASING = frozenset({"delete", "anonymise"})
#: ``record_type`` of a manual task that is not about one record.
TASK = "task"
#: ``state`` of a record left out of the plan as someone else's (never saved in the ledger).
EXCLUDED = "not the subject"


class NotApprovable(InvalidInput):
    """An ``--approve`` ref that is not a weak match of this plan, or is someone else's record."""


@dataclass
class Plan:
    """The proposed actions, and the processors that could not be searched (so nothing of
    theirs could be planned: the request stays open until a re-run reaches them).

    ``matches`` says for every record found why it matched and whose it looks like;
    ``excluded`` are the weak matches that are someone else's (shown, never saved or run)."""

    actions: list[PlannedAction]
    unreachable: dict[str, str] = field(default_factory=dict)
    matches: dict[str, RecordMatch] = field(default_factory=dict)
    excluded: list[PlannedAction] = field(default_factory=list)

    @property
    def weak(self) -> list[PlannedAction]:
        return [a for a in self.actions if is_review(a.detail)]


def record_key(processor: str, record: Record) -> tuple[str, str, str]:
    return (processor, record.type, record.id)


def parse_ref(text: str) -> str:
    """A record's ref as the plan prints it (``processor:type:id``), checked for its shape."""
    processor, _, rest = text.strip().partition(":")
    record_type, _, record_id = rest.partition(":")
    if not (processor and record_type and record_id):
        raise InvalidInput(f"{text!r} is not a record ref: use processor:type:id as the plan "
                           "prints it, e.g. fortnox:customer:10")
    return f"{processor}:{record_type}:{record_id}"


def _short_basis(text: str, limit: int = 48) -> str:
    """The head of a legal basis (the law and article), for the plan table."""
    head = text.split(": ", 1)[0].split("; ", 1)[0]
    return head if len(head) <= limit else head[:limit - 1].rstrip() + "…"


def build_plan(lookup: Report, policy: RetentionPolicy, inventory: Sequence[InventoryEntry],
               today: date, *, approved: Collection[str] = ()) -> Plan:
    """The erasure plan for the records of ``lookup`` (see the module docstring); ``approved``
    are the refs of weak matches the operator has said are the subject's."""
    actions: list[PlannedAction] = []
    excluded: list[PlannedAction] = []
    unreachable: dict[str, str] = {}
    matches = describe_records(lookup)
    ran = set()
    for result in lookup.processors:
        ran.add(result.name)
        if result.status in (ProcessorStatus.ERROR, ProcessorStatus.SKIPPED):
            unreachable[result.name] = result.error or result.status.value
        for record in result.records:
            match = matches[record_ref(result.name, record)]
            if match.conflict:
                excluded.append(_excluded(result.name, record))
                continue
            action = _plan_record(result.name, record, policy, today, match.ref in approved)
            actions.append(action)
            kept = remainder(result.name, record, action, result.records, policy)
            if kept is not None:
                actions.append(kept)
        if result.status == ProcessorStatus.MANUAL:
            actions.append(PlannedAction(
                state=ActionState.MANUAL_OPEN.value, processor=result.name, record_type=TASK,
                record_id=result.name, action="manual",
                legal_basis="GDPR Art. 17(1): the processor could not be searched automatically",
                instructions="; ".join(result.notes) or f"search {result.name} by hand and erase "
                "what belongs to the subject"))
    for entry in inventory:
        task = _inventory_task(entry, ran, policy, today)
        if task is not None:
            actions.append(task)
    return Plan(actions, unreachable, matches, excluded)


def _plan_record(processor: str, record: Record, policy: RetentionPolicy, today: date,
                 approved: bool) -> PlannedAction:
    strength = record.match_strength.value
    weak = record.match_strength not in VERIFIED_MATCHES
    if weak and not approved:
        ref = record_ref(processor, record)
        return PlannedAction(
            processor=processor, record_type=record.type, record_id=record.id,
            matched_on=record.matched_on, action="manual",
            legal_basis="not erased: matched only on a weaker identifier than the verified "
                        f"address ({record.matched_on}, {strength})",
            state=ActionState.MANUAL_OPEN.value,
            detail=f"{REVIEW_PREFIX} ({strength}): review",
            instructions="Check whose record this is (the plan shows its name, e-mail, phone "
                         "and personnummer). If it is the subject's, approve this one record: "
                         f"`dsar requests review ID --approve {ref}`, then `dsar requests "
                         f"resume ID` (or `dsar erase EMAIL --approve {ref}`); if not, close "
                         f"the task with `dsar requests task done ID {ref} --note ...`.")
    decision = decide(processor, record.type, record.data, policy, today)
    return PlannedAction(
        state=initial_state(decision.action.value).value,
        processor=processor, record_type=record.type, record_id=record.id,
        matched_on=record.matched_on, action=decision.action.value,
        legal_basis=decision.legal_basis, retained_until=decision.retained_until,
        fields=tuple(decision.anonymise_fields),
        instructions=decision.instructions or (decision.note if decision.action.value == "manual"
                                               else None),
        detail=decision.note,
        extra={"approved": True, "match_strength": strength} if weak else {})


def _excluded(processor: str, record: Record) -> PlannedAction:
    return PlannedAction(
        processor=processor, record_type=record.type, record_id=record.id,
        matched_on=record.matched_on, action="none", state=EXCLUDED,
        legal_basis="not the subject's: another name and another e-mail address than the "
                    "subject's; never erased through this request",
        detail=f"matched only on {record.matched_on} ({record.match_strength.value})")


def _inventory_task(entry: InventoryEntry, ran: set[str], policy: RetentionPolicy,
                    today: date) -> PlannedAction | None:
    if entry.connector is None:
        instructions = entry.manual_instructions or f"Erase the subject's data in {entry.system}."
    elif entry.connector not in ran:
        instructions = (f"The {entry.connector} connector did not run (not installed or not "
                        f"enabled): erase the subject's data in {entry.system} by hand, or "
                        "enable it and resume the request.")
    elif entry.manual_instructions:
        instructions = entry.manual_instructions
    else:
        return None
    decision = decide(entry.key, "*", {}, policy, today)
    return PlannedAction(state=ActionState.MANUAL_OPEN.value, processor=entry.key,
                         record_type=TASK, record_id=entry.key,
                         action="manual", legal_basis=decision.legal_basis,
                         instructions=f"{entry.system}: {instructions}")


def check_approvals(refs: Sequence[str], plan: Plan, already: Collection[str] = ()) -> None:
    """Refuse (:class:`NotApprovable`) an ``--approve`` ref that is not a weak match found
    now, or whose identifiers conflict with the subject's (see the module docstring). A ref
    approved ``already`` and no longer found (erased meanwhile) is accepted again, so the same
    command can be re-run."""
    for ref in refs:
        match = plan.matches.get(ref)
        if match is None:
            if ref in already:
                continue
            raise NotApprovable(f"{ref} is not a record found for this subject now; approve "
                                "a weak match by its ref as the plan prints it")
        if match.conflict:
            raise NotApprovable(
                f"{ref} cannot be approved: its name and its e-mail address both differ from "
                "the subject's, so it is another person's record (it only shares "
                f"{match.matched_on} with the subject); it is never erased through this "
                "request")
        if not match.weak:
            raise NotApprovable(f"{ref} matched the subject's verified address; it needs no "
                                "approval")


@dataclass(frozen=True)
class ReviewItem:
    """A weak match and what became of it: ``awaiting-review``, ``approved`` or
    ``not-the-subject`` (someone else's, never erasable through this request); ``state`` is
    its action's state in the plan, ``match`` None when the processor no longer has it."""

    ref: str
    status: str
    match: RecordMatch | None = None
    state: str | None = None

    @property
    def reason(self) -> str:
        return self.match.reason if self.match else ""

    @property
    def identity(self) -> str:
        return self.match.identity.summary() if self.match else "(not found at the processor now)"

    def as_dict(self) -> dict[str, object]:
        processor, record_type, record_id = self.ref.split(":", 2)
        return {"ref": self.ref, "processor": processor, "record_type": record_type,
                "record_id": record_id, "status": self.status, "state": self.state,
                "matched_on": self.match.matched_on if self.match else None,
                "match_strength": self.match.strength.value if self.match else None,
                "identity": self.match.identity.as_dict() if self.match else None}


def review_items(plan: Plan, approved: Collection[str],
                 current: Sequence[PlannedAction] = ()) -> list[ReviewItem]:
    """The weak matches of ``plan``, and those of ``current`` (the plan to show) that are no
    longer found: approved earlier, or still open reviews; each with its :class:`ReviewItem`
    status."""
    states = {a.task: a.state for a in current}
    items = [ReviewItem(match.ref, "not-the-subject" if match.conflict
                        else "approved" if match.ref in approved else "awaiting-review",
                        match, states.get(match.ref))
             for match in plan.matches.values() if match.weak]
    gone = {a.task: "awaiting-review" for a in current if is_review(a.detail)
            and a.state == ActionState.MANUAL_OPEN and a.task not in plan.matches}
    gone |= {ref: "approved" for ref in approved if ref not in plan.matches}
    items += [ReviewItem(ref, status, None, states.get(ref))
              for ref, status in sorted(gone.items())]
    return items


def merged(current: Sequence[PlannedAction], proposed: Sequence[PlannedAction],
           approved: Collection[str] = ()) -> list[PlannedAction]:
    """What the ledger's plan will be after saving: shown before confirmation, so the
    person confirms the plan that will run, not only this run's proposal. An open review of
    an ``approved`` ref is replaced by the action planned for it now."""
    keep = []
    keys = set()
    replace = {a.key for a in proposed if a.task in approved and not is_review(a.detail)}
    for action in current:
        if action.key in replace and is_review(action.detail) \
                and action.state == ActionState.MANUAL_OPEN:
            continue
        keep.append(action)
        keys.add(action.key)
    return keep + [a for a in proposed if a.key not in keys]


class PlanRow(TypedDict):
    """One line of the plan as shown: a group of like actions about the same person."""

    processor: str
    record: str
    #: the ref to ``--approve`` (a weak match awaiting review), else ""
    ref: str
    #: why it matched: ``email, exact``; ``phone, derived``
    matched: str
    #: whose it looks like: name · e-mail · phone · masked personnummer
    identity: str
    action: str
    legal_basis: str
    retained_until: str
    state: str
    count: int


_GroupKey = tuple[str, str, str, str, date | None, str, str, str, str]


def plan_rows(plan: Sequence[PlannedAction],
              matches: Mapping[str, RecordMatch] | None = None,
              approved: Collection[str] = ()) -> list[PlanRow]:
    """The plan grouped for display: one row per processor, type, action, state, end date,
    match and identity (a subject with 120 retained charges gets one line, not 120; records
    of two different people never share one). A weak match, a record left out as someone
    else's and a manual record task always get a row of their own, named by its ref."""
    matches = matches or {}
    groups: dict[_GroupKey, list[PlannedAction]] = {}
    for action in plan:
        match = matches.get(action.task) if action.record_type != TASK else None
        alone = action.record_type != TASK and (
            action.action == "manual" or action.state == EXCLUDED
            or (match is not None and match.weak))
        matched = ("" if action.record_type == TASK
                   else match.reason if match else action.matched_on)
        if action.task in approved:
            matched += ", approved"
        key = (action.processor, action.record_type, action.action, action.state,
               action.retained_until, _short_basis(action.legal_basis),
               action.task if alone else "", matched,
               match.identity.summary() if match else "")
        groups.setdefault(key, []).append(action)
    rows = []
    ordered = sorted(groups.items(), key=lambda item: (
        item[0][0], item[0][1] == TASK, item[0][1], item[0][4] or date.min, item[0][6]))
    for (processor, rtype, act, state, until, basis, own, matched, who), members in ordered:
        if rtype == TASK:
            record = "(manual task)"
        elif len(members) == 1:
            record = f"{rtype} {members[0].record_id}"
        else:
            record = f"{len(members)} × {rtype}"
        review = bool(own) and (state == EXCLUDED or is_review(members[0].detail))
        rows.append(PlanRow(processor=processor, record=record,
                            ref=own if review else "", matched=matched, identity=who,
                            action=act, legal_basis=basis,
                            retained_until=until.isoformat() if until else "", state=state,
                            count=len(members)))
    return rows
