"""Identifiers other than the e-mail address: Swedish personnummer and phone numbers.

A personnummer or phone number found at one processor may identify the same person at another
(the processing inventory, "Subject identifiers"), so the hub widens a lookup with them. Both are
normalised before they are compared or sent, and a personnummer must carry a valid Luhn check
digit: a typo must never make us report (or erase) someone else's records.

Personnummer (Skatteverket, SKV 704): ``YYMMDD-NNNC`` or ``YYYYMMDDNNNC``; the separator is ``+``
from the year the person turns 100; a samordningsnummer adds 60 to the day. ``C`` is the Luhn
digit over the ten digits ``YYMMDDNNN``.
"""

from __future__ import annotations

import re
from datetime import date

import phonenumbers

_PNR = re.compile(r"^(?P<century>\d{2})?(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})"
                  r"(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(digits):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def normalise_personnummer(raw: str, today: date | None = None) -> str | None:
    """``YYYYMMDD-NNNC`` (12 digits, the canonical form), or None if it is not valid."""
    text = re.sub(r"\s", "", raw or "")
    match = _PNR.match(text)
    if not match:
        return None
    yy, mm, dd = match["yy"], int(match["mm"]), int(match["dd"])
    tail = match["serial"] + match["check"]
    if not luhn_ok(f"{yy}{match['mm']}{match['dd']}{tail[:3]}{tail[3]}"):
        return None
    day = dd - 60 if dd > 60 else dd  # samordningsnummer
    today = today or date.today()
    if match["century"]:
        year = int(match["century"] + yy)
    else:
        year = (today.year // 100) * 100 + int(yy)
        if year > today.year:
            year -= 100
        if match["sep"] == "+":
            year -= 100
    try:
        date(year, mm, day)
    except ValueError:
        return None
    return f"{year:04d}{match['mm']}{match['dd']}-{tail}"


def normalise_phone(raw: str, region: str = "SE") -> str | None:
    """E.164 (``+46701234567``) for a valid number, else None. Default region: Sweden."""
    try:
        number = phonenumbers.parse(raw or "", region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
