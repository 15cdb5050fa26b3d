"""Unfilled placeholders of the configuration: text that must never reach a data subject.

The shipped example configuration marks what each business has to fill in with ``<...>``
segments (``<accounting firm>``), ``fill in`` notes and a sample contact address. The
controller and inventory texts are copied into the access and erasure answers, so
``dsar config check`` lists every one left with its TOML key, and ``lookup``/``erase`` refuse
to write a subject-facing document while one remains (unless the operator asks for a draft).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hub.config.settings import HubSettings

#: The contact address of the shipped example: a real business never answers from it.
SAMPLE_CONTACTS = frozenset({"info@example.se"})

_PLACEHOLDER = re.compile(r"<[^<>\s][^<>\n]*>|\bfill\s+in\b", re.IGNORECASE)


def is_placeholder(text: str) -> bool:
    """Whether ``text`` still holds a placeholder: a ``<...>`` segment, a "fill in" note or
    the example's sample contact address."""
    return bool(_PLACEHOLDER.search(text)) or text.strip().lower() in SAMPLE_CONTACTS


def _walk(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _walk(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{key}[{index}]")


def find_placeholders(settings: HubSettings) -> list[str]:
    """The TOML keys (``controller.contact_email``, ``inventory[3].recipients[0]``) of every
    subject-facing setting that still holds a placeholder, in file order."""
    found: list[str] = []
    sections = [("controller", settings.controller.model_dump(mode="json"))]
    sections += [(f"inventory[{index}]", entry.model_dump(mode="json"))
                 for index, entry in enumerate(settings.inventory)]
    for key, data in sections:
        found += [path for path, text in _walk(data, key) if is_placeholder(text)]
    return found


def placeholder_message(keys: list[str]) -> str:
    """The operator's error: which keys to fill in, and the way out for a draft."""
    return (f"the configuration still has {len(keys)} unfilled placeholder(s) that would reach "
            f"the data subject: {', '.join(keys)}. Fill them in (see `dsar config check`), or "
            "pass --draft to write documents stamped UTKAST / DRAFT. Nothing was contacted.")
