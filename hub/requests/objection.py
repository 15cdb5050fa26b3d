"""The objection (GDPR Art. 21) and the consent withdrawal (Art. 7(3)) as ledger requests.

Both stop processing the person did not (or no longer) want, so both are requests with the
Art. 12(3) deadline, one open per subject and type, and an answer letter:

* a **withdrawal** (``dsar consent withdraw``) and an **objection to direct marketing**
  (``dsar object --to marketing``: absolute, Art. 21(3)) stop the marketing everywhere. The
  command runs the consent withdrawal (:mod:`hub.consent.withdrawal`; the use-cases may not
  import the consent package, so the command joins the two), then :func:`answer_marketing`
  writes the letter naming the systems and closes the request once no opt-out task is open.
  Running the command again continues the open request (it re-sends nothing).
* an **objection to other processing** (Art. 21(1)) needs a person's assessment: the request
  gets a manual task ``assessment`` due on the request's deadline (listed by ``dsar requests
  show`` and ``dsar requests task list``), and :func:`decide_objection` records the decision,
  writes the decision letter and closes the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hub.core.errors import InvalidInput
from hub.core.inventory import Controller, InventoryEntry
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.request_types import RequestType
from hub.core.subject import Subject
from hub.reports.content import inventory_entry_for, localised
from hub.reports.files import write_private
from hub.reports.objection import LetterKind, ObjectionFacts, render_objection_letters
from hub.requests.erasure.stores import ErasureStores
from hub.store.erasure_actions import ActionState, PlannedAction
from hub.store.ledger import LedgerRequest

if TYPE_CHECKING:
    from hub.config.settings import HubSettings

#: what the person objects to: direct marketing (absolute) or another processing
Target = Literal["marketing", "other"]
TARGETS: tuple[str, ...] = ("marketing", "other")
DECISIONS: tuple[str, ...] = ("upheld", "rejected")
#: the ledger event saying what an objection request is about
RECEIVED_EVENT = "objection.received"
DECIDED_EVENT = "objection.decided"
#: the manual task of an objection to other processing
ASSESSMENT = "assessment"


@dataclass(frozen=True)
class Answer:
    """A letter written for a request, and whether the request is now closed."""

    request_id: str
    letters: tuple[Path, ...]
    closed: bool

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "letters": [str(p) for p in self.letters],
                "closed": self.closed}


def check_objection(*, to: str | None, decide: str | None, reason: str | None) -> None:
    """Bad input, found before anything is written or contacted (InvalidInput: exit 2)."""
    if decide is not None:
        if decide not in DECISIONS:
            raise InvalidInput(f"--decide must be one of {', '.join(DECISIONS)}")
        if to is not None:
            raise InvalidInput("--decide records the decision on an open objection; leave "
                               "out --to")
        if not reason or not reason.strip():
            raise InvalidInput("--decide needs --reason: why (kept in the request's history, "
                               "never in the letter)")
        return
    if to not in TARGETS:
        raise InvalidInput(f"--to must be one of {', '.join(TARGETS)} (direct marketing, or "
                           "another processing that needs an assessment)")


def objection_target(request: LedgerRequest) -> str | None:
    """What an objection request is about (None before its first event was recorded)."""
    for event in request.events:
        if event.kind == RECEIVED_EVENT:
            return str(event.details.get("to") or "") or None
    return None


def open_objection(stores: ErasureStores, subject: Subject, *, to: Target,
                   reason: str | None) -> LedgerRequest:
    """The subject's open objection request, or a new one recording what it is about; an
    objection to other processing gets its assessment task due on the request's deadline.
    An open objection about the other kind refuses (one open objection per subject)."""
    ledger = stores.ledger
    found = ledger.find_open_request(subject.email, RequestType.OBJECTION)
    request = ledger.get(found.id) if found is not None else \
        ledger.find_or_open(subject.email, RequestType.OBJECTION)[0]
    target = objection_target(ledger.get(request.id))
    if target is not None and target != to:
        raise InvalidInput(
            f"request {request.id} (an objection to {target} processing) is still open: "
            "finish it first (`dsar object EMAIL --decide upheld|rejected --reason ...`) or "
            "close it with `dsar requests close`")
    if target is None:
        ledger.attach(request.id, RECEIVED_EVENT,
                      {"to": to, "reason": (reason or "").strip() or None})
    if to == "other":
        _assessment_task(stores, ledger.get(request.id))
    return ledger.get(request.id)


def _assessment_task(stores: ErasureStores, request: LedgerRequest) -> PlannedAction:
    deadline = request.deadline
    row = PlannedAction(
        processor=ASSESSMENT, record_type="task", record_id="art21", action="manual",
        legal_basis="GDPR Art. 21(1)",
        instructions=(
            "Assess the objection: stop the processing it is about unless there are compelling "
            "legitimate grounds that override the person's interests, rights and freedoms, or "
            "it is needed to establish, exercise or defend legal claims. Decide by "
            f"{deadline.isoformat()} and record it with `dsar object EMAIL --decide "
            "upheld|rejected --reason TEXT` (writes the answer letter and closes the request)."))
    plan = stores.actions.save_plan(request.id, [row])
    task = next(a for a in plan if a.key == row.key)
    if task.completes_by is None and task.id is not None:
        task = stores.actions.set_state(task.id, ActionState(task.state),
                                        completes_by=deadline)
    return task


def _write(folder: Path, facts: ObjectionFacts, lang: str) -> tuple[Path, ...]:
    written = []
    for name, text in render_objection_letters(facts, lang=lang).items():
        write_private(folder / name, text)
        written.append(folder / name)
    return tuple(written)


def system_names(destinations: Sequence[tuple[str, str]],
                 inventory: Sequence[InventoryEntry], lang: str) -> tuple[str, ...]:
    """The destinations (key, title) as the letter names them: the inventory's name for the
    system in the subject's language, else the connector's own name."""
    names = []
    for key, title in destinations:
        entry = inventory_entry_for(key, inventory)
        names.append(str(localised(entry, "system", lang) or title) if entry else title)
    return tuple(dict.fromkeys(names))


def answer_marketing(stores: ErasureStores, request: LedgerRequest, reports_dir: Path, *,
                     kind: Literal["withdrawal", "marketing"],
                     destinations: Sequence[tuple[str, str]], confirmed: bool,
                     settings: HubSettings, draft: bool = False,
                     lang: str = DEFAULT_LANGUAGE, details: dict[str, object] | None = None
                     ) -> Answer:
    """Write the letter saying marketing stopped (naming the ``destinations``, (key, title)
    pairs) and close the request when every destination ``confirmed`` it; ``details`` (the
    propagation's states) go into the request's history."""
    facts = ObjectionFacts(kind=kind, request_id=request.id, controller=settings.controller,
                           systems=system_names(destinations, settings.inventory, lang),
                           pending=not confirmed, draft=draft)
    letters = _write(reports_dir / request.id, facts, lang)
    stores.ledger.attach(request.id, f"{request.type}.marketing_stopped" if confirmed
                         else f"{request.type}.marketing_pending", details or {})
    closed = False
    if confirmed and stores.ledger.get(request.id).status == "open":
        stores.ledger.close(request.id, note="marketing stopped everywhere; answer written")
        closed = True
    return Answer(request.id, letters, closed)


def decide_objection(stores: ErasureStores, subject: Subject, reports_dir: Path, *,
                     decision: str, reason: str, controller: Controller, draft: bool = False,
                     lang: str = DEFAULT_LANGUAGE) -> Answer:
    """Record the decision on the subject's open objection to other processing: the
    assessment task done, the decision in the history, the letter written, the request
    closed. InvalidInput (exit 2) when there is no such objection open."""
    found = stores.ledger.find_open_request(subject.email, RequestType.OBJECTION)
    if found is None:
        raise InvalidInput("no objection of this subject is open: open one with `dsar object "
                           "EMAIL --to other`")
    request = stores.ledger.get(found.id)
    if objection_target(request) != "other":
        raise InvalidInput(f"request {request.id} is an objection to direct marketing: it is "
                           "not assessed, it stops marketing (`dsar object EMAIL --to "
                           "marketing`)")
    task = _assessment_task(stores, request)
    if task.state != ActionState.MANUAL_DONE and task.id is not None:
        stores.actions.set_state(task.id, ActionState.MANUAL_DONE, note=reason.strip(),
                                 detail=f"decided: {decision}")
    stores.ledger.attach(request.id, DECIDED_EVENT,
                         {"decision": decision, "reason": reason.strip()})
    kind: LetterKind = "upheld" if decision == "upheld" else "rejected"
    facts = ObjectionFacts(kind=kind, request_id=request.id, controller=controller,
                           draft=draft)
    letters = _write(reports_dir / request.id, facts, lang)
    stores.ledger.close(request.id, note=f"objection {decision}; answer written")
    return Answer(request.id, letters, True)
