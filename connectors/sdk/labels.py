"""Readable names for the record types and fields a connector reports, in every report language.

Why: the data subject reads the access report, not the processor's API reference. A heading
``payment_intent`` or a field ``InvoiceAddress › InvoiceAddress1`` tells them nothing, so each
connector declares what its record types and the fields it shows are called, in Swedish and
English (:attr:`connectors.sdk.base.Connector.labels`); a declarative REST processor declares
them in its configuration table (``[<table>.labels]``). The raw keys stay in report.json.

How a field is found (one rule for every connector, so a declaration stays short):

* list indexes do not matter: ``products.0.name`` is ``products.name``;
* keys compare without regard to case, ``_``, ``-`` and spaces (``postal_code`` is
  ``PostalCode``), so one vocabulary fits processors that spell alike;
* the longest declared *tail* of the path names the field (``address.city``, else ``city``),
  and the longest declared *start* of what precedes it names the group it belongs to:
  ``shipping.address.city`` reads "Leveransadress – Ort" when ``shipping`` and ``city`` are
  declared, so the address fields are declared once for every place an address occurs;
* a path with no declared tail reads as the nearest of its parents that has a label by these
  rules (``metadata.note`` as ``metadata``, ``card.checks.cvc_check`` as ``card.checks``):
  the value belongs to that part of the record; with none it has no label and the report
  shows a neutral "other detail".

Values, too, are the processor's vocabulary: ``succeeded``, ``95000`` (öre), ``1714980751``
(Unix time). A connector declares how a field's value reads (``formats``: an amount in the
currency's minor unit, or Unix time) and what its coded values mean (``values``: ``succeeded``
→ "genomförd"). Both are found by the longest declared tail of the path, as field labels are.
The hub formats the values for the report's language (:mod:`hub.reports.labels`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

#: language code → text
Texts = dict[str, str]
#: language code → (singular, plural)
TypeTexts = dict[str, tuple[str, str]]

_T = TypeVar("_T")
_SEPARATORS = re.compile(r"[\s_\-]+")
#: the separator between a group's label and its field's label
GROUP_SEPARATOR = " – "
#: how a field's value reads: an amount in the currency's minor unit (öre, cents; the currency
#: is the record's ``currency`` field), a moment in Unix time (seconds since 1970, UTC), or a
#: moment written without an offset that is UTC (MailerLite's "YYYY-MM-DD HH:MM:SS"); a moment
#: written without an offset and not declared is shown as written (a booking's local time)
ValueFormat = Literal["minor_units", "unix_time", "utc_time"]


def normalise(key: str) -> str:
    """A key as compared: lower case, without ``_``, ``-`` and spaces."""
    return _SEPARATORS.sub("", key).casefold()


def path_key(path: str) -> tuple[str, ...]:
    """A dotted path as compared: normalised segments, list indexes left out."""
    return tuple(normalise(part) for part in path.split(".") if part and not part.isdigit())


class RecordLabels(BaseModel):
    """The labels one connector declares (see the module docstring for how fields match)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: dict[str, TypeTexts] = Field(
        default_factory=dict,
        description="Record type → {language: [singular, plural]}, e.g. "
        "customer = { sv = [\"Kund\", \"Kunder\"], en = [\"Customer\", \"Customers\"] }.")
    fields: dict[str, Texts] = Field(
        default_factory=dict,
        description="Dotted field path (no list indexes) → {language: label}, e.g. "
        "\"address.city\" = { sv = \"Ort\", en = \"City\" }; also names the group of the "
        "fields below it.")
    formats: dict[str, ValueFormat] = Field(
        default_factory=dict,
        description="Dotted field path → how its value reads, e.g. amount = \"minor_units\".")
    values: dict[str, dict[str, Texts]] = Field(
        default_factory=dict,
        description="Dotted field path → {coded value: {language: text}}, e.g. "
        "status = { succeeded = { sv = \"genomförd\", en = \"succeeded\" } }.")
    #: the fields by compared path, per language (built on first use)
    _index: dict[str, dict[tuple[str, ...], str]] = PrivateAttr(default_factory=dict)

    @field_validator("types", "fields")
    @classmethod
    def _texts_are_not_blank(cls, value: dict[str, dict[str, object]]
                             ) -> dict[str, dict[str, object]]:
        for key, texts in value.items():
            for lang, text in texts.items():
                parts = text if isinstance(text, tuple) else (text,)
                if not all(isinstance(p, str) and p.strip() for p in parts):
                    raise ValueError(f"{key}.{lang}: a label must be non-empty text")
        return value

    def merged(self, other: RecordLabels | Mapping[str, object] | None) -> Self:
        """These labels with ``other``'s on top (a configuration over a connector's defaults)."""
        if other is None:
            return self
        extra = other if isinstance(other, RecordLabels) else RecordLabels.model_validate(other)
        return type(self)(types={**self.types, **extra.types},
                          fields={**self.fields, **extra.fields},
                          formats={**self.formats, **extra.formats},
                          values={**self.values, **extra.values})

    def type_label(self, record_type: str, lang: str, count: int = 1) -> str | None:
        """The record type in ``lang`` (plural unless ``count`` is 1); None when undeclared."""
        wanted = normalise(record_type)
        for key, texts in self.types.items():
            if normalise(key) == wanted and lang in texts:
                one, many = texts[lang]
                return one if count == 1 else many
        return None

    def field_label(self, path: str, lang: str) -> str | None:
        """The field at dotted ``path`` in ``lang``; None when nothing declared matches."""
        return _label(self._declared(lang), path_key(path))

    def value_format(self, path: str) -> ValueFormat | None:
        """How the value at ``path`` reads, if declared (longest declared tail)."""
        return _tail({path_key(key): kind for key, kind in self.formats.items()},
                     path_key(path))

    def value_text(self, path: str, value: object, lang: str) -> str | None:
        """What the coded ``value`` at ``path`` means in ``lang``, if declared; codes compare
        as field keys do (``Canceled`` is ``canceled``)."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        codes = _tail({path_key(key): table for key, table in self.values.items()},
                      path_key(path))
        wanted = normalise(str(value))
        for code, texts in (codes or {}).items():
            if normalise(code) == wanted and lang in texts:
                return texts[lang]
        return None

    def _declared(self, lang: str) -> dict[tuple[str, ...], str]:
        if lang not in self._index:
            self._index[lang] = {path_key(key): texts[lang] for key, texts in self.fields.items()
                                 if lang in texts and path_key(key)}
        return self._index[lang]


def _label(declared: Mapping[tuple[str, ...], str], parts: tuple[str, ...]) -> str | None:
    for start in range(len(parts)):
        leaf = declared.get(parts[start:])
        if leaf is not None:
            group = _longest_start(declared, parts[:start])
            return f"{group}{GROUP_SEPARATOR}{leaf}" if group and group != leaf else leaf
    return _label(declared, parts[:-1]) if len(parts) > 1 else None


def _tail(declared: Mapping[tuple[str, ...], _T], parts: tuple[str, ...]) -> _T | None:
    """The entry of the longest declared tail of ``parts``."""
    for start in range(len(parts)):
        found = declared.get(parts[start:])
        if found is not None:
            return found
    return None


def _longest_start(declared: Mapping[tuple[str, ...], str], parts: tuple[str, ...]) -> str | None:
    for end in range(len(parts), 0, -1):
        found = declared.get(parts[:end])
        if found is not None:
            return found
    return None
