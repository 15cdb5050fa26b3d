"""What a rectification (GDPR Art. 16) changes: the ``--set FIELD=VALUE`` pairs, checked before
anything is contacted.

Only the fields every rectifiable processor can take are accepted (``name``, ``email``,
``phone``, ``address.street|postal_code|city|country``); an unknown field, an invalid e-mail
address or phone number raises :class:`~hub.core.errors.InvalidInput` (exit 2). A phone number
is stored in E.164 (``+46701234567``), as the lookups compare numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.rectify import ADDRESS_PARTS, split_name
from hub.core.errors import InvalidInput
from hub.core.identifiers import normalise_phone
from hub.core.subject import Subject

#: every ``--set`` field, in the order plans and letters list them
FIELD_NAMES = ("name", "email", "phone", *(f"address.{part}" for part in ADDRESS_PARTS))


@dataclass(frozen=True)
class Changes:
    """The new values by field (``address.city`` etc. flat)."""

    values: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name in FIELD_NAMES if name in self.values)

    @property
    def email(self) -> str | None:
        return self.values.get("email")

    def for_connector(self) -> dict[str, Any]:
        """The changes as :meth:`connectors.sdk.base.Connector.update` takes them."""
        out: dict[str, Any] = {k: v for k, v in self.values.items() if "." not in k}
        address = {k.partition(".")[2]: v for k, v in self.values.items()
                   if k.startswith("address.")}
        if address:
            out["address"] = address
        return out

    def wanted(self, word: str) -> str | None:
        """The new value under one of a connector's words (``first_name``: the name's first
        part), or None when that word is not being changed."""
        if word in self.values:
            return self.values[word]
        if word in ("first_name", "last_name") and "name" in self.values:
            first, last = split_name(self.values["name"])
            return first if word == "first_name" else last
        return None


def parse_changes(pairs: Iterable[str]) -> Changes:
    """``FIELD=VALUE`` pairs as :class:`Changes`; InvalidInput names the first bad one."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or name not in FIELD_NAMES:
            raise InvalidInput(f"--set {pair!r}: expected FIELD=VALUE with FIELD one of "
                               f"{', '.join(FIELD_NAMES)}")
        if not value:
            raise InvalidInput(f"--set {name}: the new value is empty (a correction replaces a "
                               "value; to remove data, use `dsar erase`)")
        values[name] = _checked(name, value)
    if not values:
        raise InvalidInput("nothing to correct: give at least one --set FIELD=VALUE")
    return Changes(values)


def _checked(name: str, value: str) -> str:
    if name == "email":
        try:
            return Subject.from_email(value).email
        except InvalidInput:
            raise InvalidInput(f"--set email: {value!r} is not a valid e-mail address") from None
    if name == "phone":
        phone = normalise_phone(value)
        if phone is None:
            raise InvalidInput(f"--set phone: {value!r} is not a valid phone number")
        return phone
    if name == "address.country":
        if len(value) != 2 or not value.isalpha():
            raise InvalidInput(f"--set address.country: {value!r} is not a two-letter country "
                               "code (ISO 3166-1, e.g. SE)")
        return value.upper()
    return value


def same(word: str, stored: Any, wanted: str) -> bool:
    """Whether a stored value already is the wanted one (phones compared as numbers, e-mail
    addresses ignoring letter case)."""
    if stored is None:
        return False
    text = str(stored).strip()
    if word == "phone":
        return normalise_phone(text) == wanted
    if word == "email" or word == "address.country":
        return text.casefold() == wanted.casefold()
    return text == wanted


def read(data: Mapping[str, Any], path: str) -> Any:
    """A dotted path in a record's data (``address.city``); None when absent."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
