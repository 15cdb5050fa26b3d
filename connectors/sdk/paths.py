"""URL path segments built from processor data (record ids, document numbers, addresses).

Why: an id is the processor's data, not ours, and it goes into the path of a call that may
delete something. Unescaped, an id holding ``/``, ``?`` or ``#`` addresses another resource or
cuts the path short, and an id that *is* ``.`` or ``..`` is removed by URL normalisation
(RFC 3986 §5.2.4; httpx does it before sending): ``DELETE customers/..`` becomes ``DELETE /``,
``DELETE customers/.`` the collection endpoint. Percent-encoding cannot help with the dot
segments (``.`` is unreserved, and ``%2E`` means the same to many servers), so they are
refused, together with the empty id (which also lands on the collection). Every connector
builds such paths through :func:`path_segment`; an SDK that escapes ids itself (Stripe's
``quote_plus`` leaves dots alone) gets them through :func:`checked_segment` first.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from hub.core.errors import ProtocolError

_DOT_SEGMENTS = frozenset({".", ".."})
#: separators a server might still see after decoding (``%2F``) or on Windows (``\``)
_SEPARATORS = re.compile(r"[/\\]")


class UnsafePathSegment(ProtocolError):
    """A processor value cannot be used as a URL path segment; nothing was sent."""


def _dot_reason(text: str) -> str | None:
    """Why ``text`` would be (or could be decoded into) a dot segment, or None."""
    if text in _DOT_SEGMENTS:
        return f"it is {text!r}, a dot segment that URL normalisation removes"
    spellings = {unquote(text), unicodedata.normalize("NFKC", text)}
    for spelling in {text, *spellings}:
        if any(part in _DOT_SEGMENTS for part in _SEPARATORS.split(spelling)):
            return ("it holds a '.' or '..' segment (as written, percent-decoded or "
                    "NFKC-normalised) that a server could resolve to another resource")
    return None


def checked_segment(value: object, *, what: str = "id") -> str:
    """``value`` as text, refused (:class:`UnsafePathSegment`) if it is empty or a dot
    segment in any spelling; not encoded (for SDKs that encode ids themselves)."""
    text = "" if value is None else str(value)
    reason = "it is empty (the path would name the collection)" if not text.strip() \
        else _dot_reason(text)
    if reason is not None:
        raise UnsafePathSegment(f"refusing to put the {what} into a URL path: {reason}; "
                                "nothing was sent")
    return text


def path_segment(value: object, *, what: str = "id", safe: str = "") -> str:
    """``value`` percent-encoded as one URL path segment (``/``, ``?``, ``#``, ``%`` and every
    other reserved character escaped; ``safe`` may keep a few readable, never ``/``), after
    :func:`checked_segment`."""
    if "/" in safe or "\\" in safe:
        raise ValueError("a path segment never keeps a path separator")
    return quote(checked_segment(value, what=what), safe=safe)
