"""What an access answer must not hand over (GDPR Art. 15(4)), found before it is sent.

Art. 15(4): the right to a copy "shall not adversely affect the rights and freedoms of
others". A lookup can find two kinds of such data, and this module flags both:

* **weak matches**: records found only through a weaker identifier than the verified
  address (a +tag variant, a look-alike spelling, a phone number found at another processor;
  :data:`hub.reports.content.WEAK_MATCHES`). They may be another person's records, so they
  are withheld unless the operator includes them (``--include REF``);
* **third-party fields**: fields a connector declares as naming someone else
  (:attr:`connectors.sdk.base.Connector.third_party_fields`, e.g. the Zettle cashier's
  name). They are removed unless the operator keeps one (``--include REF:FIELD``); the subject
  reads a translated marker in their place, never a silent gap.

The operator may also drop any record (``--exclude REF``) or blank any field
(``--redact REF:FIELD``). The decisions are applied to the stored lookup result
(:mod:`.approval` writes the documents), so a review never asks a processor again and the
documents show exactly what was reviewed. Refs are ``processor:type:id`` as the erasure plan
prints them, and ``processor:type:id:field.path`` for a field (list positions as numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.errors import InvalidInput
from hub.core.models import ProcessorResult, ProcessorStatus, Record, Report
from hub.core.subject import Identifier, MatchStrength
from hub.reports.content import WEAK_MATCHES, flatten
from hub.reports.translations import texts
from hub.requests.context import ConnectorClasses
from hub.requests.erasure.identity import identifier_values, record_ref

WEAK_MATCH = "weak-match"
THIRD_PARTY = "third-party"

_HOW = {
    MatchStrength.EXACT: "the verified address",
    MatchStrength.CASE_INSENSITIVE: "the verified address in other letter case",
    MatchStrength.PLUS_ADDRESS: "the same mailbox with another +tag: perhaps a shared or "
                                "another person's address",
    MatchStrength.LOOKALIKE: "equal to the verified address only after folding look-alike "
                             "letters (ß/ss, full-width): perhaps another person",
}


@dataclass(frozen=True)
class Flag:
    """One item the operator must look at: a weak match (a record) or a third-party field."""

    kind: str  # WEAK_MATCH | THIRD_PARTY
    processor: str
    record: str  # the record's ref
    field: str | None  # the field's path (THIRD_PARTY only)
    why: str  # operator text: how it matched, or whose data it is

    @property
    def ref(self) -> str:
        """What ``--include`` takes for it: the record's ref, or ``ref:field``."""
        return f"{self.record}:{self.field}" if self.field else self.record

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "processor": self.processor,
                "record": self.record, "field": self.field, "why": self.why}


def third_party_fields(connectors: ConnectorClasses) -> dict[str, frozenset[str]]:
    """Each installed connector's declared third-party field paths (empty ones left out)."""
    return {name: frozenset(cls.third_party_fields) for name, cls in connectors.items()
            if getattr(cls, "third_party_fields", None)}


def how_matched(report: Report, record: Record) -> str:
    """Operator text: why ``record`` was taken for the subject's."""
    if record.match_strength is MatchStrength.DERIVED:
        sources = sorted({i.source for i in report.subject.identifiers
                          if i.kind == record.matched_on and not i.verified})
        found_at = ", ".join(sources) or "another processor"
        return (f"a {record.matched_on} found at {found_at}, not the verified address: "
                "perhaps another person")
    return f"{record.matched_on}: {_HOW.get(record.match_strength, record.match_strength.value)}"


def _nodes(data: Any, path: str = "", generic: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every field of ``data``, nested ones too: (path with list positions, path without
    them, value). A list's items share the list's position-free path."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            kind = f"{generic}.{key}" if generic else str(key)
            yield here, kind, value
            yield from _nodes(value, here, kind)
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            here = f"{path}.{index}" if path else str(index)
            yield here, generic, value
            yield from _nodes(value, here, generic)


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, Mapping | list | tuple)
                                            and not value)


def _within(path: str, parents: Iterable[str]) -> bool:
    return any(path == parent or path.startswith(parent + ".") for parent in parents)


def _matching(data: Any, wanted: str) -> list[str]:
    """The paths in ``data`` that ``wanted`` names (exactly, or without list positions),
    outermost first; a path inside one already named is left out."""
    found: list[str] = []
    for path, generic, _ in _nodes(data):
        if wanted in (path, generic) and not _within(path, found):
            found.append(path)
    return found


def find_flags(report: Report, declared: Mapping[str, frozenset[str]]) -> list[Flag]:
    """The weak matches and the filled third-party fields of ``report``, in report order."""
    flags: list[Flag] = []
    for result in report.processors:
        paths = declared.get(result.name, frozenset())
        for record in result.records:
            ref = record_ref(result.name, record)
            if record.match_strength in WEAK_MATCHES:
                flags.append(Flag(WEAK_MATCH, result.name, ref, None,
                                  f"{record.match_strength.value} match on "
                                  f"{how_matched(report, record)}"))
            seen: list[str] = []
            for path, generic, value in _nodes(record.data):
                if (generic in paths or path in paths) and not _empty(value) \
                        and not _within(path, seen):
                    seen.append(path)
                    flags.append(Flag(THIRD_PARTY, result.name, ref, path,
                                      f"{result.name} declares {generic or path} as another "
                                      "person's data (e.g. staff)"))
    return flags


@dataclass(frozen=True)
class Decisions:
    """The operator's choices, resolved against one lookup result (record refs; field refs
    with list positions)."""

    excluded: frozenset[str] = frozenset()
    included: frozenset[str] = frozenset()
    kept: frozenset[str] = frozenset()
    redacted: frozenset[str] = frozenset()

    def details(self, flags: Iterable[Flag]) -> dict[str, Any]:
        """What the ledger and the audit log keep: refs only, never a value."""
        flags = list(flags)
        withheld = {f.record for f in flags if f.kind == WEAK_MATCH} - self.included
        removed = {f.ref for f in flags if f.kind == THIRD_PARTY} - self.kept
        return {"flags": len(flags), "excluded": sorted(self.excluded),
                "included": sorted(self.included), "withheld": sorted(withheld - self.excluded),
                "redacted": sorted(self.redacted | removed), "kept": sorted(self.kept)}


def _records(report: Report) -> dict[str, tuple[str, Record]]:
    return {record_ref(result.name, record): (result.name, record)
            for result in report.processors for record in result.records}


def _split(text: str, refs: Iterable[str], option: str) -> tuple[str, str]:
    """``processor:type:id:field`` as (record ref, field); the longest known ref wins, so an
    id with a colon in it still splits right."""
    for ref in sorted(refs, key=len, reverse=True):
        if text.startswith(ref + ":") and len(text) > len(ref) + 1:
            return ref, text[len(ref) + 1:]
    raise InvalidInput(f"{option} {text!r}: no record of this lookup has that ref; use "
                       "REF:FIELD with REF as `dsar requests review ID --all` lists it (e.g. "
                       "zettle:purchase:<id>:userDisplayName)")


def parse_decisions(report: Report, flags: Iterable[Flag], *, exclude: Iterable[str] = (),
                    include: Iterable[str] = (), redact: Iterable[str] = ()) -> Decisions:
    """Check every ref against the lookup result; InvalidInput (exit 2) names the first one
    that does not fit, before anything is written."""
    records = _records(report)
    flags = list(flags)
    weak = {f.record for f in flags if f.kind == WEAK_MATCH}
    third = {f.ref: f for f in flags if f.kind == THIRD_PARTY}
    excluded = set()
    for text in (t.strip() for t in exclude):
        if text not in records:
            raise InvalidInput(f"--exclude {text!r}: no record of this lookup has that ref; "
                               "`dsar requests review ID --all` lists them")
        excluded.add(text)
    included: set[str] = set()
    kept: set[str] = set()
    for text in (t.strip() for t in include):
        if text in records:
            if text not in weak:
                raise InvalidInput(f"--include {text!r}: not a weak match, it is sent as it is")
            included.add(text)
            continue
        ref, wanted = _split(text, records, "--include")
        paths = [path for path in _matching(records[ref][1].data, wanted)
                 if f"{ref}:{path}" in third]
        if not paths:
            raise InvalidInput(f"--include {text!r}: no flagged field of {ref} is called "
                               f"{wanted!r}")
        kept.update(f"{ref}:{path}" for path in paths)
    redacted: set[str] = set()
    for text in (t.strip() for t in redact):
        ref, wanted = _split(text, records, "--redact")
        paths = _matching(records[ref][1].data, wanted)
        if not paths:
            raise InvalidInput(f"--redact {text!r}: {ref} has no field {wanted!r}")
        redacted.update(f"{ref}:{path}" for path in paths)
    if both := sorted(excluded & included):
        raise InvalidInput(f"{both[0]} is both excluded and included")
    if both := sorted(kept & redacted):
        raise InvalidInput(f"{both[0]} is both included and redacted")
    return Decisions(frozenset(excluded), frozenset(included), frozenset(kept),
                     frozenset(redacted))


def redaction_marker(lang: str) -> str:
    """What the subject reads in place of a removed field."""
    return str(texts(lang)["access_review"]["redacted"])


def _blank(data: Any, path: list[str], marker: str) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced by ``marker`` (absent: as is)."""
    if not path:
        return marker
    head, rest = path[0], path[1:]
    if isinstance(data, Mapping) and head in data:
        return {k: _blank(v, rest, marker) if k == head else v for k, v in data.items()}
    if isinstance(data, list | tuple) and head.isdigit() and int(head) < len(data):
        return [_blank(v, rest, marker) if i == int(head) else v for i, v in enumerate(data)]
    return data


@dataclass(frozen=True)
class Applied:
    """The report as it will be sent, and what became of each record."""

    report: Report
    #: record ref -> "send", "withheld" (a weak match not included) or "excluded"
    outcome: dict[str, str] = field(default_factory=dict)
    #: record ref -> the field paths replaced by the marker
    removed: dict[str, list[str]] = field(default_factory=dict)


def apply_decisions(report: Report, flags: Iterable[Flag], decisions: Decisions,
                    marker: str) -> Applied:
    """``report`` as the subject receives it: withheld and excluded records left out, removed
    fields replaced by ``marker``. A processor left with none of the records it found answers
    as if the search had found nothing (or as a manual step, when it asked for one); an
    identifier that came only from data left out goes too, so the report never shows
    another person's phone number as one of the subject's."""
    flags = list(flags)
    weak = {f.record for f in flags if f.kind == WEAK_MATCH}
    blanked = decisions.redacted | ({f.ref for f in flags if f.kind == THIRD_PARTY}
                                    - decisions.kept)
    outcome: dict[str, str] = {}
    removed: dict[str, list[str]] = {}
    results: list[ProcessorResult] = []
    gone: set[str] = set()  # identifier values in what is left out
    kept_values: set[str] = set()
    sources_kept: set[str] = set()
    for result in report.processors:
        records = []
        for record in result.records:
            ref = record_ref(result.name, record)
            if ref in decisions.excluded or (ref in weak and ref not in decisions.included):
                outcome[ref] = "excluded" if ref in decisions.excluded else "withheld"
                gone |= identifier_values(record)
                continue
            outcome[ref] = "send"
            paths = sorted((b[len(ref) + 1:] for b in blanked if b.startswith(ref + ":")),
                           key=lambda p: p.count("."))
            data: Any = record.data
            for path in paths:
                data = _blank(data, path.split("."), marker)
            if paths:
                removed[ref] = paths
                gone |= identifier_values(record)
            copy = record.model_copy(update={"data": data})
            kept_values |= identifier_values(copy)
            records.append(copy)
        if records:
            sources_kept.add(result.name)
        update: dict[str, Any] = {"records": records}
        if result.records and not records and result.status is ProcessorStatus.FOUND:
            update["status"] = (ProcessorStatus.MANUAL if result.incomplete
                                else ProcessorStatus.NOT_FOUND)
        results.append(result.model_copy(update=update))
    gone -= kept_values

    def keep(identifier: Identifier) -> bool:
        return identifier.verified or (identifier.value not in gone
                                       and identifier.source in sources_kept)

    results = [r.model_copy(update={"identifiers": [i for i in r.identifiers if keep(i)]})
               for r in results]
    subject = report.subject.model_copy(update={
        "identifiers": [i for i in report.subject.identifiers if keep(i)]})
    sent = report.model_copy(update={"processors": results, "subject": subject})
    return Applied(sent, outcome, removed)


@dataclass(frozen=True)
class ReviewedRecord:
    """One record as the review shows it: how it matched, what will happen to it, its
    fields as they will be sent (or, left out, as they are)."""

    ref: str
    processor: str
    type: str
    id: str
    match_strength: str
    how: str
    outcome: str
    flags: tuple[Flag, ...]
    removed: tuple[str, ...]
    fields: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "processor": self.processor, "type": self.type, "id": self.id,
                "match_strength": self.match_strength, "matched": self.how,
                "outcome": self.outcome, "flags": [f.as_dict() for f in self.flags],
                "removed": list(self.removed), "fields": dict(self.fields)}


def reviewed_records(report: Report, flags: Iterable[Flag], applied: Applied
                     ) -> list[ReviewedRecord]:
    """Every record of the lookup, in report order, with its flags and outcome."""
    flags = list(flags)
    sent = {record_ref(r.name, rec): rec for r in applied.report.processors
            for rec in r.records}
    rows = []
    for result in report.processors:
        for record in result.records:
            ref = record_ref(result.name, record)
            shown = sent.get(ref, record)
            rows.append(ReviewedRecord(
                ref=ref, processor=result.name, type=record.type, id=record.id,
                match_strength=record.match_strength.value, how=how_matched(report, record),
                outcome=applied.outcome.get(ref, "send"),
                flags=tuple(f for f in flags if f.record == ref),
                removed=tuple(applied.removed.get(ref, ())),
                fields=tuple(flatten(shown.data))))
    return rows


def review_summary(request_id: str, flags: Iterable[Flag]) -> str:
    """The operator's note beside a lookup whose documents wait for review (``review.txt``):
    refs and reasons only, the values are in report.json."""
    flags = list(flags)
    width = max((len(f.ref) for f in flags), default=0)
    lines = [
        f"Request {request_id}: the documents for the data subject are not written yet.",
        "GDPR Art. 15(4): the copy must not adversely affect others. Review these first:",
        "",
        *(f"  {f.kind:<11}  {f.ref:<{width}}  {f.why}" for f in flags),
        "",
        f"See what would be sent:  dsar requests review {request_id}",
        f"Then write the documents: dsar requests review {request_id} [--include REF] "
        "[--exclude REF] [--redact REF:FIELD] --approve",
        "Weak matches are withheld unless included; fields naming another person are removed "
        "(include one with --include REF:FIELD).",
        "",
    ]
    return "\n".join(lines)
