"""Whether a stored customer is the subject, and which identifiers it reveals.

Shared by the API and the export reader so both modes decide the same way. A booking system's
search may be partial (BokaMera's ``Search`` is free text over name, e-mail and phone), so a
search answer is only a list of candidates: each is compared here, exactly, with
:meth:`Subject.match_email` and :meth:`Subject.match_identifier` (the processing inventory,
"Subject identifiers"). A name is never enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject

OTHER_KINDS = ("phone", "personnummer")


@dataclass(frozen=True)
class Match:
    matched_on: str
    strength: MatchStrength


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def match(subject: Subject, stored: Mapping[str, Any], kinds: set[str]) -> Match | None:
    """How the record whose identifiers are ``stored`` (kind → raw value) ties to the subject.

    The e-mail address is always compared (it gives the strongest match); phone and
    personnummer only when ``kinds`` asks for them (the widening round).
    """
    strength = subject.match_email(_text(stored.get("email")))
    if strength is not None:
        return Match("email", strength)
    for kind in OTHER_KINDS:
        if kind in kinds:
            identifier = subject.match_identifier(kind, _text(stored.get(kind)))
            if identifier is not None:
                return Match(kind, MatchStrength.EXACT if identifier.verified
                             else MatchStrength.DERIVED)
    return None


def identifiers_in(stored: Mapping[str, Any], source: str) -> list[Identifier]:
    """The valid identifiers a matched record holds, normalised, for widening the lookup."""
    found = [Identifier.found(kind, _text(value), source) for kind, value in stored.items()]
    return [identifier for identifier in found if identifier is not None]


def search_terms(identifier: Identifier) -> list[str]:
    """Spellings to search a text index for: the stored form is unknown, so ask for the usual
    ones (``+46701234567``, ``070-123 45 67``, ``0701234567``; ``19850612-1238``,
    ``198506121238``, ``850612-1238``)."""
    value = identifier.value
    if identifier.kind == "phone":
        number = phonenumbers.parse(value)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        digits = "".join(ch for ch in national if ch.isdigit())
        return list(dict.fromkeys([value, national, digits]))
    if identifier.kind == "personnummer":
        return list(dict.fromkeys([value, value.replace("-", ""), value[2:]]))
    return [value]


def to_record(kind: str, record_id: Any, data: dict[str, Any], found: Match) -> Record:
    return Record(type=kind, id=str(record_id), matched_on=found.matched_on,
                  match_strength=found.strength, data=data)
