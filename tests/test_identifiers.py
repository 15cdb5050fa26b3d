"""Personnummer and phone normalisation."""

from __future__ import annotations

from datetime import date

import pytest

from hub.core.identifiers import luhn_ok, normalise_personnummer, normalise_phone

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(("raw", "expected"), [
    ("811218-9876", "19811218-9876"),          # Skatteverket's example
    ("198112189876", "19811218-9876"),         # 12 digits, no separator
    ("19811218-9876", "19811218-9876"),
    ("8112189876", "19811218-9876"),
    ("121212+1212", "19121212-1212"),          # '+': a person of 100 years or more
    ("121212-1212", "20121212-1212"),
    ("701063-2391", "19701063-2391"),          # samordningsnummer: day + 60
])
def test_valid_personnummer(raw: str, expected: str) -> None:
    assert normalise_personnummer(raw, TODAY) == expected


@pytest.mark.parametrize("raw", ["811218-9877", "811318-9876", "81121-9876", "", "abc",
                                  "19811218-98765", "810230-1234"])
def test_invalid_personnummer(raw: str) -> None:
    assert normalise_personnummer(raw, TODAY) is None


def test_luhn() -> None:
    assert luhn_ok("8112189876") and not luhn_ok("8112189875")


@pytest.mark.parametrize(("raw", "expected"), [
    ("070-123 45 67", "+46701234567"),
    ("+46 70 123 45 67", "+46701234567"),
    ("0046701234567", "+46701234567"),
    ("08-123 456 78", "+46812345678"),
])
def test_phone_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a number", "070-12"])
def test_invalid_phone(raw: str) -> None:
    assert normalise_phone(raw) is None
