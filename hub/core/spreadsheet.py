"""CSV cells that a spreadsheet shows as text, never runs as a formula.

Why: the CSV files the hub writes (export.zip for the data subject, ``dsar requests export`` for
an auditor) hold text from outside: a processor's field, a name typed into a web form, the
requester's own address. Excel, LibreOffice and Google Sheets treat a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) as a formula, which can
leak other cells through a link or start a program through DDE ("CSV injection"). Following
OWASP, such a cell gets a leading apostrophe, which spreadsheets show as text and do not run.

A plain number is no formula: a phone number such as ``+46701234567`` or ``+46 70 123 45 67``
and an amount such as ``-500`` stay as they are, so they remain readable and importable.

Control characters (ESC and the other C0/C1 codes, except tab and line breaks) are written as
visible ``\\x1b``-style text: a cell holding a terminal escape sequence would otherwise recolour,
hide or rewrite what an operator sees when the file is shown with ``cat`` or ``less -r``, and
no processor's real data needs them.
"""

from __future__ import annotations

import re

#: What a spreadsheet reads as the start of a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# A sign, then only digits and the separators phone numbers and amounts use: nothing a
# spreadsheet could evaluate beyond arithmetic on the number itself.
_PLAIN_NUMBER = re.compile(r"[+-][\d .,()/-]*\d[\d .,()/-]*")


#: C0 and C1 control characters other than tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def safe_cell(value: str) -> str:
    """``value`` with an apostrophe in front when a spreadsheet would take it as a formula, and
    its control characters shown as text."""
    value = _CONTROL.sub(_visible, value)
    if value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
