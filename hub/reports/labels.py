"""Readable, translated names for record types and fields in subject-facing documents.

The data subject never reads a processor's API vocabulary (``payment_intent``,
``InvoiceAddress.InvoiceAddress1``): each connector declares labels for the record types it
returns and the fields it shows (:attr:`connectors.sdk.base.Connector.labels`; a declared REST
processor in its ``[<table>.labels]`` table), found here through the connector registry;
anything undeclared reads as a neutral "other detail", and the raw key stays in report.json for
the operator. How a field path finds its label is described in :mod:`connectors.sdk.labels`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.config.registry import connector_title, record_labels
from hub.core.deadlines import LOCAL_TIMEZONE
from hub.reports.translations import texts

#: the CLDR locale each report language formats numbers and dates in
_LOCALES = {"sv": "sv_SE", "en": "en_GB"}
#: a moment as processors write it: ISO 8601 with a time, with or without an offset
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def type_label(processor: str, record_type: str, lang: str, count: int = 1) -> str:
    """The record type as a person reads it, e.g. ``Betalning`` for Stripe's ``charge``
    (``Betalningar`` when ``count`` is not 1)."""
    declared = record_labels(processor).type_label(record_type, lang, count)
    if declared is not None:
        return declared
    neutral = texts(lang)["labels"]
    return neutral["other_type"] if count == 1 else neutral["other_types"]


def field_label(processor: str, record_type: str, path: str, lang: str) -> str:
    """The field at dotted ``path`` of a record as a person reads it (list indexes in the path
    do not matter). A connector's field labels hold for all its record types today;
    ``record_type`` is asked for so that callers stay right when one ever needs its own."""
    declared = record_labels(processor).field_label(path, lang)
    return declared if declared is not None else texts(lang)["labels"]["other_field"]


def processor_title(processor: str) -> str:
    """The processor's name as its connector gives it (``Stripe``, ``Fortnox``); the
    processor's key when no installed connector knows it."""
    return connector_title(processor) or processor


def field_value(processor: str, path: str, value: Any, record: Mapping[str, Any],
                lang: str) -> str:
    """The value at ``path`` of a record as a person reads it: a coded value by its declared
    meaning, an amount in minor units as money in the record's currency, a moment in Swedish
    local time, a day as a date; anything else as written (it is the person's own data).

    A processor's value that cannot be formatted (a millisecond timestamp where seconds were
    declared, year 9999, NaN, an amount beyond any currency) is shown as written: one odd
    value must never cost the person their report."""
    try:
        return _readable(processor, path, value, record, lang)
    except (ValueError, OverflowError, ArithmeticError, OSError):
        return str(value)


def _readable(processor: str, path: str, value: Any, record: Mapping[str, Any],
              lang: str) -> str:
    labels = record_labels(processor)
    if isinstance(value, bool):
        return str(texts(lang)["booleans"]["yes" if value else "no"])
    if value is None:
        return ""
    meant = labels.value_text(path, value, lang)
    if meant is not None:
        return meant
    kind = labels.value_format(path)
    number = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value))
    if kind == "minor_units" and number:
        return _money(value, _currency(record), lang)
    if kind == "unix_time" and number:
        return _moment(datetime.fromtimestamp(value, UTC), lang)
    if isinstance(value, str):
        text = value.strip()
        if _MOMENT.fullmatch(text):
            with suppress(ValueError):  # an impossible date stays as written
                moment = datetime.fromisoformat(_iso(text))
                if kind == "utc_time" and moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                return _moment(moment, lang)
        if _DAY.fullmatch(text):
            with suppress(ValueError):  # an impossible date stays as written
                return _day(date.fromisoformat(text), lang)
    return str(value)


def _currency(record: Mapping[str, Any]) -> str | None:
    for key, value in record.items():
        if key.casefold() == "currency" and isinstance(value, str) and len(value) == 3:
            return value.upper()
    return None


def _money(minor: float, currency: str | None, lang: str) -> str:
    from babel.numbers import format_currency, format_decimal, get_currency_precision

    locale = _LOCALES.get(lang, "en_GB")
    if currency is None:
        return str(format_decimal(Decimal(str(minor)).scaleb(-2), format="#,##0.00",
                                  locale=locale))
    amount = Decimal(str(minor)).scaleb(-get_currency_precision(currency))
    # English readers may not know "kr"; the currency's name says it ("950.00 Swedish kronor")
    return str(format_currency(amount, currency, locale=locale,
                               format_type="name" if lang != "sv" else "standard"))


def _moment(moment: datetime, lang: str) -> str:
    """A moment with an offset in Swedish local time; one without (a booking system's local
    time) as written."""
    from babel.dates import format_datetime

    if moment.tzinfo is not None:
        moment = moment.astimezone(LOCAL_TIMEZONE)
    pattern = "d MMMM y 'kl.' HH:mm" if lang == "sv" else "d MMMM y, HH:mm"
    return str(format_datetime(moment, pattern, locale=_LOCALES.get(lang, "en_GB")))


def _day(day: date, lang: str) -> str:
    from babel.dates import format_date

    return str(format_date(day, "d MMMM y", locale=_LOCALES.get(lang, "en_GB")))


def _iso(text: str) -> str:
    """``+0000`` (Zettle) as ``+00:00``, which every Python 3.11 ``fromisoformat`` reads."""
    text = text.replace(" ", "T", 1)
    return re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)

