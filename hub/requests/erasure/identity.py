"""Whose a found record is, as far as its own fields tell, and whether it can be the subject's.

A record found through a weaker identifier than the verified address (a ``+tag`` spelling of
the mailbox, a phone number seen at another processor) may be someone else's: two people share
a household phone, a typo puts one client's number on another's booking. An erasure cannot be
undone, so the operator decides each such record on its own (``--approve REF``) and must be
able to tell two people apart: the plan shows every record's name, e-mail, phone and masked
personnummer, read from the record itself.

A weak match whose name *and* e-mail address both differ from the subject's (as the records
matched on the verified address show them) is another person's record, whatever it shares with
the subject: it is never erased through the subject's request, not even when approved.

The subject's own address is shown as "subject's address" (with the ``+tag`` or letter case
that differs), so the plan names the records it matched without printing the address itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.identifiers import normalise_personnummer, normalise_phone
from hub.core.models import Record, Report
from hub.core.subject import MatchStrength, Subject

#: Matches on the subject's verified address: these records may be erased without review.
VERIFIED_MATCHES = frozenset({MatchStrength.EXACT, MatchStrength.CASE_INSENSITIVE})

# Field names, compared without case and punctuation (``customer_email`` = ``CustomerEmail``).
_FULL_NAME = frozenset({"name", "fullname", "customername", "individualname", "displayname"})
_FIRST_NAME = frozenset({"firstname", "givenname"})
_LAST_NAME = frozenset({"lastname", "surname", "familyname"})
_PERSONNUMMER = frozenset({"personalidentitynumber", "personnummer", "organisationnumber",
                           "socialsecuritynumber", "ssn"})
#: Nested objects that describe the person (a name elsewhere may be a product's or a service's).
_PERSON_OBJECTS = frozenset({"customer", "customerdetails", "billingdetails", "shipping",
                             "fields", "contact", "person", "client"})
_MAX_DEPTH = 3


@dataclass(frozen=True)
class Identity:
    """What a record says about whose it is, ready to show: names, e-mail addresses (the
    subject's own shown relative to it), phone numbers (E.164) and personnummer (masked)."""

    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    personnummer: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the plan table, e.g. ``Anna Svensson · subject's address ·
        +46701234567 · 19850312-****``."""
        parts = [*self.names, *self.emails, *self.phones, *self.personnummer]
        return " · ".join(parts) if parts else "(none in its fields)"

    def as_dict(self) -> dict[str, list[str]]:
        return {"names": list(self.names), "emails": list(self.emails),
                "phones": list(self.phones), "personnummer": list(self.personnummer)}


@dataclass(frozen=True)
class RecordMatch:
    """Why a record was found, whose it looks like, and whether it conflicts with the subject."""

    ref: str  # processor:type:id, as ``--approve`` takes it
    matched_on: str
    strength: MatchStrength
    identity: Identity = field(default_factory=Identity)
    #: a weak match with another name and another e-mail address than the subject's
    conflict: bool = False

    @property
    def weak(self) -> bool:
        return self.strength not in VERIFIED_MATCHES

    @property
    def reason(self) -> str:
        """Why it matched, for the plan table: ``email, plus-address``."""
        return f"{self.matched_on}, {self.strength.value}"


def record_ref(processor: str, record: Record) -> str:
    """The handle of a record in the plan and on the command line (``fortnox:customer:10``)."""
    return f"{processor}:{record.type}:{record.id}"


def describe_records(lookup: Report) -> dict[str, RecordMatch]:
    """Every record of ``lookup`` by its ref: why it matched and whose it looks like."""
    subject = Subject(email=lookup.subject.email)
    found = [(result.name, record, _fields(record.data))
             for result in lookup.processors for record in result.records]
    names = [name for _, record, fields in found if record.match_strength in VERIFIED_MATCHES
             for name in fields.names]
    matches = {}
    for processor, record, fields in found:
        weak = record.match_strength not in VERIFIED_MATCHES
        matches[record_ref(processor, record)] = RecordMatch(
            ref=record_ref(processor, record), matched_on=record.matched_on,
            strength=record.match_strength, identity=fields.shown(subject),
            conflict=weak and fields.conflicts_with(subject, names))
    return matches


def identifier_values(record: Record) -> set[str]:
    """The e-mail addresses, phone numbers (E.164) and personnummer (``YYYYMMDD-NNNC``) a
    record holds, in the forms a processor result's ``identifiers`` carry."""
    fields = _fields(record.data)
    return {*fields.emails, *fields.phones, *fields.personnummer}


@dataclass
class _Fields:
    """The identifying values found in one record, as stored (e-mails not yet made relative)."""

    names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    personnummer: list[str] = field(default_factory=list)

    def shown(self, subject: Subject) -> Identity:
        return Identity(
            names=tuple(self.names),
            emails=tuple(dict.fromkeys(_email_label(e, subject) for e in self.emails)),
            phones=tuple(self.phones),
            personnummer=tuple(f"{p[:8]}-****" for p in self.personnummer))

    def conflicts_with(self, subject: Subject, subject_names: list[str]) -> bool:
        """Another name and another e-mail address than the subject's (both must be known:
        a record without a name or an address is for the operator to judge)."""
        if not self.emails or not self.names or not subject_names:
            return False
        if any(subject.match_email(address) is not None for address in self.emails):
            return False
        return not any(same_name(mine, theirs)
                       for mine in self.names for theirs in subject_names)


def same_name(one: str, other: str) -> bool:
    """Whether two names can be the same person's: equal after case and spacing, or one the
    other with a name left out ("Anna Svensson", "Anna Maria Svensson", "Svensson")."""
    a, b = _words(one), _words(other)
    return bool(a and b) and (a <= b or b <= a)


def _words(name: str) -> set[str]:
    return set(re.findall(r"\w+", unicodedata.normalize("NFKC", name).casefold()))


def _fields(data: Mapping[str, Any]) -> _Fields:
    found = _Fields()
    for parent, obj in _objects(data, "", 0):
        strings = {_key(k): v.strip() for k, v in obj.items()
                   if isinstance(k, str) and isinstance(v, str) and v.strip()}
        if parent == "" or parent in _PERSON_OBJECTS:
            _add_names(found.names, strings)
        for key, value in strings.items():
            if "email" in key and "@" in value:
                _add(found.emails, value)
            elif "phone" in key:
                _add(found.phones, normalise_phone(value))
            elif key in _PERSONNUMMER:
                _add(found.personnummer, normalise_personnummer(value))
    return found


def _objects(data: Mapping[str, Any], parent: str, depth: int
             ) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The record and the objects nested in it (not in lists: line items, comments), with the
    name of the field that holds each."""
    yield parent, data
    if depth >= _MAX_DEPTH:
        return
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _objects(value, _key(str(key)), depth + 1)


def _add_names(names: list[str], strings: Mapping[str, str]) -> None:
    first = next((v for k, v in strings.items() if k in _FIRST_NAME), None)
    last = next((v for k, v in strings.items() if k in _LAST_NAME), None)
    if last is not None:  # MailerLite keeps the first name in "name" beside "last_name"
        first = first or strings.get("name")
        _add_name(names, " ".join(part for part in (first, last) if part))
    elif first is not None:
        _add_name(names, first)
    for key, value in strings.items():
        if key in _FULL_NAME and not (last is not None and key == "name"):
            _add_name(names, value)


def _add_name(names: list[str], name: str) -> None:
    if _words(name) and all(_words(name) != _words(known) for known in names):
        names.append(" ".join(name.split()))


def _add(values: list[str], value: str | None) -> None:
    if value and value not in values:
        values.append(value)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _email_label(address: str, subject: Subject) -> str:
    strength = subject.match_email(address)
    if strength is MatchStrength.EXACT:
        return "subject's address"
    if strength is MatchStrength.CASE_INSENSITIVE:
        return "subject's address (other letter case)"
    if strength is MatchStrength.PLUS_ADDRESS:
        tag = address.rpartition("@")[0].partition("+")[2]
        return f"subject's address +{tag}" if tag else "subject's address without its +tag"
    if strength is MatchStrength.LOOKALIKE:
        # shown as it is: the operator must see which letters differ (ß and ss, wide letters)
        return f"{address} (look-alike of the subject's address)"
    return address
