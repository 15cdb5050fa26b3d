"""External text made harmless to show: control and direction characters written as text.

Processor answers and user input may hold characters that are not text but instructions to
whatever shows them: ESC starts terminal sequences that recolour, clear or rewrite the screen
(and OSC 52 writes the clipboard); C1 codes do the same on some terminals; the Unicode
direction overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder the text after them,
so ``‮gpj.exe`` reads as ``exe.jpg``. An operator about to confirm an erasure plan must see
what is really there, so these are shown as escapes (``\\x1b``, ``\\u202e``): the value stays
recognisable and nothing is silently dropped.
"""

from __future__ import annotations

import re

#: C0 controls except tab and line feed, DEL, C1 controls, and the bidi embedding, override
#: and isolate characters.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str) -> str:
    """``text`` with every control and direction character written as an escape."""
    return _UNSAFE.sub(_escape, text)
