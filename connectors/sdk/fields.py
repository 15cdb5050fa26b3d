"""Field paths and ``{resource.field}`` placeholders in a declared REST API.

Why: a declaration names where things sit in an answer (``Results``, ``ResponseStatus.Message``,
``Customer.Email``) and links a child resource to its parent by placeholder
(``/bookings?CustomerId={customer.Id}``), the way dlt's rest_api source does
(``{customers.id}``). Both are plain strings in TOML; this module is the one place that reads
them, so the declaration's validator, the paginators and the HTTP code agree on their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors.sdk.paths import path_segment

#: ``{source.field.path}``: ``source`` names a resource, the rest is a dotted field path
PLACEHOLDER = re.compile(r"\{(?P<source>[A-Za-z_]\w*)\.(?P<field>[^{}\s]+)\}")
#: a lone ``{`` or ``}`` that is not part of a placeholder: almost always a typo
_STRAY_BRACE = re.compile(r"[{}]")

MISSING: Any = object()  # sentinel: the path does not exist (as opposed to an explicit null)


class MissingField(LookupError):
    """A placeholder names a field the record does not have."""

    def __init__(self, source: str, field: str) -> None:
        super().__init__(f"{{{source}.{field}}}")
        self.source = source
        self.field = field


def dig(obj: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted ``path`` (``a.b.0.c``) inside nested dicts and lists.

    An empty path is the object itself; a key that literally equals ``path`` wins (a stored
    record keeps its personal fields flat, keyed by their declared paths). Returns ``default``
    when any step is missing.
    """
    if not path:
        return obj
    if isinstance(obj, Mapping) and path in obj:
        return obj[path]
    for part in path.split("."):
        if isinstance(obj, Mapping) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return default
    return obj


def placeholders(text: str) -> list[tuple[str, str]]:
    """The ``(source, field)`` pairs named in ``text``."""
    return [(m["source"], m["field"]) for m in PLACEHOLDER.finditer(text)]


def stray_braces(text: str) -> bool:
    """True when ``text`` has a brace outside a well-formed placeholder."""
    return bool(_STRAY_BRACE.search(PLACEHOLDER.sub("", text)))


def placeholders_in(value: Any) -> list[tuple[str, str]]:
    """Every placeholder in a string, or in the strings of a nested body/params structure."""
    if isinstance(value, str):
        return placeholders(value)
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in placeholders_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in placeholders_in(v)]
    return []


def _lookup(context: Mapping[str, Any], source: str, field: str) -> Any:
    value = dig(context.get(source), field, MISSING)
    if value is MISSING or value is None:
        raise MissingField(source, field)
    return value


def render_path(template: str, context: Mapping[str, Any]) -> str:
    """``template`` with placeholders replaced by URL-quoted values (an id may hold ``/``).

    In the path part each value goes through :func:`~connectors.sdk.paths.path_segment`, so a
    record whose id is empty, ``.`` or ``..`` is refused (:class:`UnsafePathSegment`) rather
    than turned into a call on the collection; in the query part a value is only quoted.
    """
    path, mark, query = template.partition("?")

    def segment(m: re.Match[str]) -> str:
        return path_segment(_lookup(context, m["source"], m["field"]),
                            what=f"{m['field']} of a {m['source']} record")

    def query_value(m: re.Match[str]) -> str:
        return quote(str(_lookup(context, m["source"], m["field"])), safe="")

    return PLACEHOLDER.sub(segment, path) + mark + PLACEHOLDER.sub(query_value, query)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Placeholders replaced in a query value or JSON body.

    A string that is exactly one placeholder becomes the value itself (keeping numbers and
    booleans typed in a JSON body); placeholders inside longer strings are substituted as text.
    """
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return _lookup(context, whole["source"], whole["field"])
        return PLACEHOLDER.sub(lambda m: str(_lookup(context, m["source"], m["field"])), value)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value
