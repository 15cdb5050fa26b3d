"""What an erasure answer says: the erasure report.json in plain words, for the data subject.

Art. 12(3) asks the controller to tell the subject what it did about an Art. 17 request, and
Art. 12(4) to say why for anything it does not do. So the answer gives, per system, what was
erased and when; what is kept, with the law that requires it and the last day it is kept
(Art. 17(3)(b): Bokföringslagen 7 kap. 2 § keeps accounting records for seven years after the
end of the financial year); what is still pending and by when the subject hears from us; and
who else was told (Art. 19: processors through their APIs, named recipients by letter).

Like the erasure report it is made from, it names records only by kind and number, never by
content: a copy of the erased data in the answer would undo the erasure. Record types are read
through :func:`hub.reports.labels.type_label`, legal reasons through translated texts chosen by
code (a retention rule's ``legal_basis`` is operator text and never reaches the subject).

:class:`ErasureFacts` carries what report.json does not (when each record was erased, a
processor's completion date, weak matches still being checked, the Art. 19 letters); the
erasure job supplies it. Without it the answer says what the report alone can tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment

from hub.core.deadlines import LOCAL_TIMEZONE
from hub.core.inventory import Controller, InventoryEntry
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.models import ProcessorStatus, Record, RecordAction, Report
from hub.reports.content import inventory_entry_for, localised
from hub.reports.labels import processor_title, type_label
from hub.reports.render import environment
from hub.reports.translations import texts

RecordKey = tuple[str, str, str]

#: A retained record's legal basis that names the Swedish Bookkeeping Act (SFS 1999:1078).
_BOKFORINGSLAGEN = re.compile(r"bokf[öo]ringslag|1999:1078", re.IGNORECASE)
#: The type suffix of what an anonymised record keeps for the retained records that refer to
#: it (a Fortnox customer's name and address, kept as long as its invoices): the erasure plan
#: names that part ``customer-remainder``.
REMAINDER = "-remainder"


@dataclass(frozen=True)
class Art19Letter:
    """A named recipient told of the erasure by letter (GDPR Art. 19): the accountant, an
    assistant, anyone the inventory names as receiving a system's data.

    ``task`` is the ledger task that tracks the letter and the stem of its file in the request
    folder (``art19-<slug>.txt``); ``systems`` are the report's processor names (or inventory
    keys) the recipient received data from; ``sent_on`` is None until the task is marked done.
    """

    task: str
    recipient: str
    systems: tuple[str, ...]
    sent_on: date | None = None


@dataclass(frozen=True)
class ErasureFacts:
    """What the erasure job knows beyond report.json (see the module docstring)."""

    #: the local date each record was erased (its ``erasure.done`` event)
    erased_on: Mapping[RecordKey, date] = field(default_factory=dict)
    #: the date by which the processor finishes an erasure it accepted (MailerLite's forget)
    completes_by: Mapping[RecordKey, date] = field(default_factory=dict)
    #: per processor, weak matches still waiting for a person to check whose they are
    reviews: Mapping[str, int] = field(default_factory=dict)
    letters: Sequence[Art19Letter] = ()
    #: the address is on the suppression list (a keyed hash, Art. 21(3))
    suppressed: bool = False


@dataclass
class ErasedLine:
    """Records of one kind at one system erased on one day."""

    system: str
    label: str
    count: int
    action: str  # "deleted" | "anonymised"
    on: date | None
    completes_by: date | None = None


@dataclass
class KeptGroup:
    """Records of one kind at one system kept for one legal reason; ``by_end`` counts them per
    last day kept, so 124 payments kept year by year read as one line with its range."""

    system: str
    label: str
    count: int
    reason: str  # a key of the language's [erasure.reasons] table
    #: empty when no end date is known: kept as long as the law requires, never left out
    by_end: list[tuple[date, int]]

    @property
    def last(self) -> date | None:
        return self.by_end[-1][0] if self.by_end else None

    @property
    def first(self) -> date | None:
        return self.by_end[0][0] if self.by_end else None

    @property
    def one_date(self) -> bool:
        return len(self.by_end) <= 1


@dataclass
class PendingItem:
    """Something not finished yet; ``kind`` picks the sentence of [erasure.pending]."""

    system: str
    kind: str
    what: str = ""
    on: date | None = None


@dataclass
class ToldLine:
    """A recipient told of the erasure (Art. 19): through its API, or by letter."""

    recipient: str
    systems: list[str]
    how: str  # "api" | "letter"
    on: date | None
    sent: bool


@dataclass
class ErasureAnswerView:
    """Everything the erasure templates show, in one language."""

    lang: str
    t: dict[str, Any]
    report: Report
    controller: str
    contact: str | None
    authority: str
    generated_at: datetime
    erased: list[ErasedLine]
    kept: list[KeptGroup]
    pending: list[PendingItem]
    told: list[ToldLine]
    suppressed: bool = False
    #: a draft (placeholders allowed, stamped UTKAST / DRAFT): never sent as it is
    draft: bool = False

    @property
    def open_items(self) -> list[PendingItem]:
        """What is left for us to do (a processor finishing an erasure it accepted is not)."""
        return [item for item in self.pending if item.kind != "completes_later"]

    @property
    def complete(self) -> bool:
        return not self.open_items

    @property
    def reasons(self) -> list[str]:
        """The legal reasons the kept records are held for, each explained once."""
        return list(dict.fromkeys(group.reason for group in self.kept))


def lower_first(label: str) -> str:
    """``Betalningar`` as it reads inside a sentence (``124 betalningar``); an acronym stays."""
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def record_label(processor: str, record_type: str, lang: str, count: int = 1) -> str:
    """The record type as the subject reads it; a remainder as the kind it is part of."""
    if record_type.endswith(REMAINDER):
        whole = type_label(processor, record_type.removesuffix(REMAINDER), lang, count)
        return str(texts(lang)["erasure"]["remainder"]).format(label=whole)
    return type_label(processor, record_type, lang, count)


def reason_of(legal_basis: str | None) -> str:
    """The translated reason a retained record is kept for (a key of [erasure.reasons])."""
    return "bokforingslagen" if _BOKFORINGSLAGEN.search(legal_basis or "") else "legal_obligation"


def system_title(name: str, inventory: Sequence[InventoryEntry], lang: str) -> str:
    """The system as the inventory names it in ``lang``, else the processor's name."""
    entry = inventory_entry_for(name, inventory)
    if entry is None:
        return processor_title(name)
    return str(localised(entry, "system", lang) or entry.system)


def recipient_name(name: str, inventory: Sequence[InventoryEntry], controller: Controller,
                   lang: str) -> str:
    """A configured recipient in ``lang``: the same position of the ``recipients`` list that
    the configuration translates into ``lang`` (``[inventory.translations.sv]``) for the entry
    or controller naming it. Untranslated, only who it is (``Lena Ek``, the part before its
    description): a name reads the same in every language, a description such as "the
    accountant" is in the configuration's own language."""
    models: list[InventoryEntry | Controller] = [*inventory, controller]
    for model in models:
        names = list(model.recipients)
        translated = (model.translations.get(lang) or {}).get("recipients") or []
        if name in names and names.index(name) < len(translated):
            return str(translated[names.index(name)])
    return re.split(r",|\s\(", name, maxsplit=1)[0].strip() or name


def _local(moment: datetime) -> date:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL_TIMEZONE).date()


def _label(processor: str, records: Sequence[Record], lang: str) -> str:
    return record_label(processor, records[0].type, lang, len(records))


def _erased(report: Report, facts: ErasureFacts, titles: Mapping[str, str], lang: str,
            today: date) -> list[ErasedLine]:
    groups: dict[tuple[str, str, str, date | None, date | None], list[Record]] = {}
    for result in report.processors:
        for record in result.records:
            if record.action not in (RecordAction.DELETED, RecordAction.ANONYMISED):
                continue
            key = (result.name, record.type, record.id)
            on = facts.erased_on.get(key, today)
            group = (result.name, record_label(result.name, record.type, lang, 1),
                     record.action.value, on, facts.completes_by.get(key))
            groups.setdefault(group, []).append(record)
    return [ErasedLine(system=titles[name], label=_label(name, records, lang),
                       count=len(records), action=action, on=on, completes_by=completes)
            for (name, _, action, on, completes), records in groups.items()]


def _kept(report: Report, titles: Mapping[str, str], lang: str) -> list[KeptGroup]:
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for result in report.processors:
        for record in result.records:
            if record.action is RecordAction.RETAINED:
                group = (result.name, record_label(result.name, record.type, lang, 1),
                         reason_of(record.legal_basis))
                groups.setdefault(group, []).append(record)
    kept = []
    for (name, _, reason), records in groups.items():
        ends: dict[date, int] = {}
        for record in records:
            if record.retained_until is not None:
                ends[record.retained_until] = ends.get(record.retained_until, 0) + 1
        kept.append(KeptGroup(system=titles[name], label=_label(name, records, lang),
                              count=len(records), reason=reason, by_end=sorted(ends.items())))
    return kept


def _records_phrase(processor: str, records: Sequence[Record], lang: str) -> str:
    """``2 kunder och 1 faktura``: the records of one system by kind, counted."""
    by_type: dict[str, int] = {}
    for record in records:
        by_type[record.type] = by_type.get(record.type, 0) + 1
    parts = [f"{n} {lower_first(record_label(processor, kind, lang, n))}"
             for kind, n in by_type.items()]
    joiner = texts(lang)["erasure"]["and"]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {joiner} {parts[-1]}"


def _pending(report: Report, facts: ErasureFacts, titles: Mapping[str, str],
             inventory: Sequence[InventoryEntry], lang: str) -> list[PendingItem]:
    items: list[PendingItem] = []
    handled: set[str] = set()
    # a processor that ran but could not search everything has a connector: "part of the
    # system is handled by hand", never "the system has no automatic connection"
    whole = {ProcessorStatus.ERROR: "search_failed", ProcessorStatus.SKIPPED: "not_searched",
             ProcessorStatus.MANUAL: "manual_step"}
    for result in report.processors:
        title = titles[result.name]
        if result.status in whole:
            items.append(PendingItem(title, whole[result.status]))
        for kind, action in (("failed", RecordAction.FAILED),
                             ("records_manual", RecordAction.MANUAL)):
            records = [r for r in result.records if r.action is action]
            if records:
                items.append(PendingItem(title, kind, _records_phrase(result.name, records,
                                                                      lang)))
        if facts.reviews.get(result.name):
            items.append(PendingItem(title, "review"))
        elif result.incomplete and result.status not in whole:
            items.append(PendingItem(title, "manual_step"))
        # an erasure the processor accepted and completes later (MailerLite's forget) is
        # listed once, among the erased records with its completion date, not here again
        handled.add(result.name)
    searched_by_hand = {r.name for r in report.processors if r.status in whole}
    for item in report.manual_items:
        if item.key in searched_by_hand:
            continue  # already said: the whole system is searched again or by hand
        entry = next((e for e in inventory if e.key == item.key), None)
        title = (str(localised(entry, "system", lang) or entry.system) if entry
                 else titles.get(item.key, item.system))
        ran = entry is not None and entry.connector in handled
        items.append(PendingItem(title, "manual_step" if ran else "manual_system"))
    for name, count in facts.reviews.items():  # a processor whose records were all withheld
        if count and name not in handled:
            items.append(PendingItem(titles.get(name, name), "review"))
    return items


def _told(report: Report, facts: ErasureFacts, inventory: Sequence[InventoryEntry],
          controller: Controller, titles: Mapping[str, str], lang: str,
          today: date) -> list[ToldLine]:
    """Art. 19: each processor whose API erased something has been told by that very call;
    each named recipient is told by letter (sent, or still to send)."""
    told: list[ToldLine] = []
    for result in report.processors:
        erased = [r for r in result.records
                  if r.action in (RecordAction.DELETED, RecordAction.ANONYMISED)]
        if not erased:
            continue
        entry = inventory_entry_for(result.name, inventory)
        name = titles[result.name]
        if entry is not None and entry.processor \
                and controller.name.casefold() not in entry.processor.casefold():
            name = entry.processor  # the legal entity that was told, not the product
        on = max(facts.erased_on.get((result.name, r.type, r.id), today) for r in erased)
        told.append(ToldLine(name, [titles[result.name]], "api", on, True))
    for letter in facts.letters:
        told.append(ToldLine(recipient_name(letter.recipient, inventory, controller, lang),
                             [titles.get(s) or system_title(s, inventory, lang)
                              for s in letter.systems],
                             "letter", letter.sent_on, letter.sent_on is not None))
    return told


def build_erasure_view(report: Report, *, lang: str = DEFAULT_LANGUAGE,
                       controller: Controller | None = None,
                       inventory: Sequence[InventoryEntry] = (),
                       facts: ErasureFacts | None = None,
                       generated_at: datetime | None = None,
                       draft: bool = False) -> ErasureAnswerView:
    """The erasure answer's content in ``lang`` (see the module docstring)."""
    t = texts(lang)
    controller = controller or Controller()
    facts = facts or ErasureFacts()
    generated_at = generated_at or datetime.now(UTC)
    today = _local(generated_at)
    names = [r.name for r in report.processors]
    names += [s for letter in facts.letters for s in letter.systems]
    titles = {name: system_title(name, inventory, lang) for name in [*names, *facts.reviews]}
    return ErasureAnswerView(
        lang=lang, t=t, report=report,
        controller=str(localised(controller, "name", lang) or controller.name),
        contact=controller.contact_email,
        authority=str(localised(controller, "supervisory_authority", lang)
                      or controller.supervisory_authority),
        generated_at=generated_at,
        erased=_erased(report, facts, titles, lang, today),
        kept=_kept(report, titles, lang),
        pending=_pending(report, facts, titles, inventory, lang),
        told=_told(report, facts, inventory, controller, titles, lang, today),
        suppressed=facts.suppressed, draft=draft)


# -- the Art. 19 letter to a named recipient --------------------------------------------------


@dataclass
class Art19LetterView:
    """One recipient's letter: what was erased and kept at the systems it received data from,
    by kind and count (never content), and the request's reference."""

    t: dict[str, Any]
    lang: str
    letter: Art19Letter
    recipient: str
    controller: str
    contact: str | None
    request_id: str
    systems: list[str]
    erased: list[ErasedLine]
    kept: list[KeptGroup]
    draft: bool = False


def build_art19_view(report: Report, letter: Art19Letter, *, lang: str = DEFAULT_LANGUAGE,
                     controller: Controller | None = None,
                     inventory: Sequence[InventoryEntry] = (),
                     facts: ErasureFacts | None = None, generated_at: datetime | None = None,
                     draft: bool = False) -> Art19LetterView:
    """The letter to ``letter.recipient``, about ``letter.systems`` only."""
    controller = controller or Controller()
    mine = report.model_copy(update={
        "processors": [p for p in report.processors if p.name in letter.systems]})
    view = build_erasure_view(mine, lang=lang, controller=controller, inventory=inventory,
                              facts=facts, generated_at=generated_at, draft=draft)
    return Art19LetterView(
        t=view.t, lang=lang, letter=letter,
        recipient=recipient_name(letter.recipient, inventory, controller, lang),
        controller=view.controller, contact=view.contact, request_id=report.request.id,
        systems=[system_title(s, inventory, lang) for s in letter.systems],
        erased=view.erased, kept=view.kept, draft=draft)


def join_names(names: Iterable[str], lang: str) -> str:
    """``A, B och C`` / ``A, B and C``."""
    listed = list(names)
    if len(listed) < 2:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {texts(lang)['erasure']['and']} {listed[-1]}"


# -- rendering ---------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    """The reports' Jinja environment (autoescaping, strict undefined, ``fill``/``ldate``)
    plus the two helpers the erasure texts need; its own template cache, so no template is
    bound to the environment without them."""
    env = environment().overlay(cache_size=50)
    env.filters = {**env.filters, "lower_first": lower_first, "join_names": join_names}
    return env


def render_erasure_answer(view: ErasureAnswerView) -> str:
    """``report.html`` of an erasure request: self-contained, prints on A4."""
    return _environment().get_template("erasure-answer.html").render(v=view)


def render_erasure_letter(view: ErasureAnswerView) -> str:
    """``cover-letter.txt`` of an erasure request: the reply e-mail's text."""
    return _environment().get_template("erasure-letter.txt").render(v=view).strip() + "\n"


def render_art19_letter(view: Art19LetterView) -> str:
    """``art19-<slug>.txt``: the notice to one named recipient."""
    return _environment().get_template("art19-letter.txt").render(v=view).strip() + "\n"
