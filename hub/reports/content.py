"""What an access report says: report.json joined with the processing inventory.

GDPR Art. 15(1) asks for the data itself and, about its processing, (a) purposes, (b) categories,
(c) recipients, (d) retention, (e) the rights to rectification, erasure, restriction and
objection, (f) the right to complain, (g) the source and (h) automated decision-making; Art.
15(2) adds safeguards for transfers outside the EU/EEA. Everything about the processing comes
from the inventory in ``config/hub.toml`` (``[controller]``, ``[[inventory]]``), never from code,
so another business gets a correct report by editing its configuration.

Recipients are given by name, not by category (CJEU C-154/21, *Österreichische Post*): the
processor of each system, the entry's ``recipients`` and the controller-level ``recipients``.

The information is tailored to the subject (EDPB Guidelines 01/2022 on the right of access):
the "whole" lists only the systems that hold, or may hold, their data; a system searched with no
result is still shown, as searched and empty.

Two audiences. What went wrong technically, and how a search was limited, is told to the
operator: a processor's error text can quote a token, another person's address or a request URL
and names settings such as ``DSAR_STRIPE__API_KEY``; a connector's notes speak of API fields and
what to do by hand. Both stay in the operator's report.json, terminal and ``--json`` output. The
subject reads only translated sentences chosen by code: that a system could not be searched (and
when the answer follows), and for each limit a connector reported as a note code
(``note_codes``, table ``notes`` of the language's texts) the sentence for that code; a note
without a known code is not shown at all. A system whose search was incomplete (``incomplete``)
is shown as found-but-incomplete and listed among the parts that follow. Record types and fields
are named by the labels their connector declares (:mod:`hub.reports.labels`), never by their
API keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from hub.core.deadlines import LOCAL_TIMEZONE
from hub.core.inventory import Controller, InventoryEntry
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.models import ManualItem, ProcessorResult, ProcessorStatus, Report
from hub.core.subject import MatchStrength
from hub.reports.labels import field_label, field_value, processor_title, type_label
from hub.reports.translations import texts

#: Records matched only through a weaker identifier: the report marks them for the subject.
WEAK_MATCHES = frozenset({MatchStrength.DERIVED, MatchStrength.PLUS_ADDRESS,
                          MatchStrength.LOOKALIKE})

#: Statuses of a system that still needs work; the subject gets a supplement by the due date.
PENDING_STATUSES = frozenset({"error", "skipped", "manual", "by_hand", "not_searched"})


def note_text(code: str, lang: str) -> str | None:
    """The subject's sentence for a connector's note code (``zettle.card_payments_unlinkable``
    is ``[notes.zettle] card_payments_unlinkable``); None for a code without one."""
    found: Any = texts(lang).get("notes", {})
    for part in code.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found if isinstance(found, str) else None


def subject_notes(result: ProcessorResult, lang: str) -> list[str]:
    """What the subject reads about the limits of one processor's search: the sentence of each
    known note code, and a plain reason when the search was incomplete without one. The notes
    themselves are the operator's (see the module docstring)."""
    shown = [text for code in result.note_codes if (text := note_text(code, lang))]
    if result.incomplete and not shown:
        shown.append(texts(lang)["incomplete"]["unspecified"])
    return list(dict.fromkeys(shown))


def format_date(value: date | datetime, lang: str) -> str:
    """``4 januari 2027`` / ``4 January 2027``; datetimes are shown in Swedish local time."""
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(LOCAL_TIMEZONE)
        value = value.date()
    meta = texts(lang)["meta"]
    return meta["date"].format(day=value.day, month=meta["months"][value.month - 1],
                               year=value.year)


def localised(model: Any, name: str, lang: str) -> Any:
    """``model.<name>`` in ``lang`` when the configuration translates it.

    An inventory entry or the controller may carry ``translations = {sv = {purposes = [...]}}``
    (``[inventory.translations.sv]`` in TOML). Fields the models do not declare (yet) read as
    None, so the report works before and after the configuration grows them.
    """
    table = getattr(model, "translations", None) or {}
    value = (table.get(lang) or {}).get(name)
    return value if value is not None else getattr(model, name, None)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts and lists as ``(dotted.path, scalar)`` pairs, in order (lists by index).

    Empty containers stay as one pair with an empty value, so no field silently disappears.
    """
    if isinstance(data, Mapping):
        if not data and prefix:
            return [(prefix, None)]
        pairs: list[tuple[str, Any]] = []
        for key, value in data.items():
            pairs += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(data, list | tuple):
        if not data:
            return [(prefix, None)]
        pairs = []
        for index, value in enumerate(data):
            pairs += flatten(value, f"{prefix}.{index}" if prefix else str(index))
        return pairs
    return [(prefix, data)]


def inventory_entry_for(name: str, inventory: Sequence[InventoryEntry]) -> InventoryEntry | None:
    """The inventory entry a connector's results belong to (by ``connector``, else by ``key``)."""
    for entry in inventory:
        if entry.connector == name:
            return entry
    return next((entry for entry in inventory if entry.key == name), None)


def manual_items(report: Report, inventory: Sequence[InventoryEntry]) -> list[ManualItem]:
    """The inventory systems no connector searched in this request, and the ones that need a
    manual step besides their connector (``manual_instructions``)."""
    ran = {result.name for result in report.processors}
    items = []
    for entry in inventory:
        if entry.connector is None:
            items.append(ManualItem(key=entry.key, system=entry.system, processor=entry.processor,
                                    reason="no_connector", instructions=entry.manual_instructions))
        elif entry.connector not in ran:
            instructions = entry.manual_instructions or (
                f"The {entry.connector} connector did not run (not installed or not enabled): "
                f"search {entry.system} by hand, or enable the connector and run the lookup again.")
            items.append(ManualItem(key=entry.key, system=entry.system, processor=entry.processor,
                                    reason="connector_not_run", instructions=instructions))
        elif entry.manual_instructions:
            items.append(ManualItem(key=entry.key, system=entry.system, processor=entry.processor,
                                    reason="instructions", instructions=entry.manual_instructions))
    return items


def with_manual_items(report: Report, inventory: Sequence[InventoryEntry]) -> Report:
    """``report`` with its ``manual_items`` filled from the inventory (kept if already set)."""
    if report.manual_items or not inventory:
        return report
    return report.model_copy(update={"manual_items": manual_items(report, inventory)})


@dataclass
class RecordView:
    type: str
    id: str
    matched_on: str
    match_strength: str
    weak: bool
    fields: list[tuple[str, str]]
    retained_until: date | None
    legal_basis: str | None
    action: str | None


@dataclass
class RecordGroup:
    type: str
    records: list[RecordView]
    #: the record type as the subject reads it (plural unless there is one record)
    label: str = ""


@dataclass
class SystemView:
    """One system of the report: a processor that was searched, or an inventory entry that a
    person must check by hand."""

    key: str
    title: str
    processor: str | None
    status: str  # a ProcessorStatus value, or "by_hand" / "not_searched" for manual items
    record_count: int = 0
    error: str | None = None
    #: the subject's sentences about the limits of the search (never the operator's notes)
    notes: list[str] = field(default_factory=list)
    #: the search could not cover everything: the system is pending even when data was found
    incomplete: bool = False
    also_manual: bool = False
    in_inventory: bool = True
    purposes: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    legal_basis: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    transfers: str | None = None
    retention: str | None = None
    source: str | None = None
    groups: list[RecordGroup] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATUSES or self.also_manual or self.incomplete

    @property
    def relevant(self) -> bool:
        """Holds, or may hold, the subject's data (so it belongs in the overview)."""
        return (self.status != ProcessorStatus.NOT_FOUND.value or self.also_manual
                or self.incomplete)


@dataclass
class AccessReportView:
    """Everything the templates show, in one language."""

    lang: str
    t: dict[str, Any]
    report: Report
    controller: str
    contact: str | None
    authority: str
    automated_decisions: str | None
    general_recipients: list[str]
    systems: list[SystemView]
    generated_at: datetime
    #: a draft (placeholders allowed, stamped UTKAST / DRAFT): never sent as it is
    draft: bool = False
    #: processor name → the system's title, for "found at …" (inventory, else the connector's)
    titles: dict[str, str] = field(default_factory=dict)

    def source_title(self, processor: str) -> str:
        """The system an identifier was found in, as the subject knows it."""
        return self.titles.get(processor) or processor_title(processor)

    @property
    def relevant(self) -> list[SystemView]:
        return [s for s in self.systems if s.relevant]

    @property
    def pending(self) -> list[SystemView]:
        return [s for s in self.systems if s.pending]

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def any_found(self) -> bool:
        return any(s.record_count for s in self.systems)

    @property
    def has_weak_matches(self) -> bool:
        return any(r.weak for s in self.systems for g in s.groups for r in g.records)

    @property
    def purposes(self) -> list[str]:
        return _unique(p for s in self.relevant for p in s.purposes)

    @property
    def categories(self) -> list[str]:
        return _unique(c for s in self.relevant for c in s.categories)

    @property
    def recipients(self) -> list[str]:
        return _unique([*(r for s in self.relevant for r in s.recipients),
                        *self.general_recipients])

    @property
    def transfers(self) -> list[tuple[str, str]]:
        return [(s.title, s.transfers) for s in self.relevant if s.transfers]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _is_controller_itself(processor: str | None, controller: Controller) -> bool:
    return bool(processor) and controller.name.casefold() in str(processor).casefold()


def _record_groups(result: ProcessorResult, lang: str) -> list[RecordGroup]:
    groups: dict[str, list[RecordView]] = {}
    for record in result.records:
        fields = [(field_label(result.name, record.type, path, lang),
                   field_value(result.name, path, value, record.data, lang))
                  for path, value in flatten(record.data) if value not in (None, "")]
        groups.setdefault(record.type, []).append(RecordView(
            type=record.type, id=record.id, matched_on=record.matched_on,
            match_strength=record.match_strength.value,
            weak=record.match_strength in WEAK_MATCHES, fields=fields,
            retained_until=record.retained_until, legal_basis=record.legal_basis,
            action=record.action.value if record.action else None))
    return [RecordGroup(type=kind, records=records,
                        label=type_label(result.name, kind, lang, len(records)))
            for kind, records in groups.items()]


def _describe(view: SystemView, entry: InventoryEntry | None, controller: Controller,
              lang: str) -> SystemView:
    if entry is None:
        view.in_inventory = False
        return view
    view.title = localised(entry, "system", lang) or entry.system
    view.processor = entry.processor
    view.purposes = list(localised(entry, "purposes", lang) or [])
    view.categories = list(localised(entry, "personal_data", lang) or [])
    view.legal_basis = list(localised(entry, "legal_basis", lang) or [])
    own = ([] if not entry.processor or _is_controller_itself(entry.processor, controller)
           else [entry.processor])
    view.recipients = _unique([*own, *(localised(entry, "recipients", lang) or [])])
    view.transfers = localised(entry, "transfers_outside_eea", lang)
    view.retention = localised(entry, "retention", lang)
    view.source = localised(entry, "source", lang)
    return view


def build_view(report: Report, *, lang: str = DEFAULT_LANGUAGE,
               controller: Controller | None = None,
               inventory: Sequence[InventoryEntry] = (),
               generated_at: datetime | None = None) -> AccessReportView:
    """The access report's content in ``lang``; systems follow the inventory's order."""
    t = texts(lang)
    controller = controller or Controller()
    order = {entry.key: index for index, entry in enumerate(inventory)}
    systems: list[tuple[int, SystemView]] = []
    shown: set[str] = set()  # inventory keys that have a processor card

    for result in report.processors:
        entry = inventory_entry_for(result.name, inventory)
        shown.add(entry.key if entry else result.name)
        # the operator's error text never reaches the subject: a translated sentence instead
        failed = result.error and result.status == ProcessorStatus.ERROR
        view = SystemView(key=result.name, title=processor_title(result.name), processor=None,
                          status=result.status.value, record_count=len(result.records),
                          error=t["next_step"]["technical_withheld"] if failed else None,
                          notes=subject_notes(result, lang), incomplete=result.incomplete,
                          also_manual=bool(entry and entry.manual_instructions),
                          groups=_record_groups(result, lang))
        rank = order.get(entry.key, len(order)) if entry else len(order)
        systems.append((rank, _describe(view, entry, controller, lang)))

    for item in report.manual_items:
        if item.key in shown:
            continue  # its connector ran; the card of that processor says "also by hand"
        entry = next((e for e in inventory if e.key == item.key), None)
        status = "by_hand" if item.reason == "no_connector" else "not_searched"
        view = SystemView(key=item.key, title=item.system, processor=item.processor,
                          status=status)
        systems.append((order.get(item.key, len(order)), _describe(view, entry, controller, lang)))

    systems.sort(key=lambda pair: pair[0])  # stable: unknown processors keep report order
    return AccessReportView(
        lang=lang, t=t, report=report,
        controller=localised(controller, "name", lang) or controller.name,
        contact=controller.contact_email,
        authority=localised(controller, "supervisory_authority", lang)
        or controller.supervisory_authority,
        automated_decisions=localised(controller, "automated_decision_making", lang),
        general_recipients=list(localised(controller, "recipients", lang) or []),
        systems=[view for _, view in systems],
        generated_at=generated_at or datetime.now(UTC),
        titles={view.key: view.title for _, view in systems},
    )
