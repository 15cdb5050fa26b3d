"""The report languages' texts (``hub/reports/i18n/<lang>.toml``), loaded once per language.

A module of its own so that both the report content (:mod:`hub.reports.content`) and the
labels of record types and fields (:mod:`hub.reports.labels`) read them without importing
each other.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from hub.core.languages import LANGUAGES


@cache
def texts(lang: str) -> dict[str, Any]:
    """The translation table of ``lang`` (``hub/reports/i18n/<lang>.toml``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported report language {lang!r}; choose one of {LANGUAGES}")
    source = resources.files("hub.reports").joinpath("i18n", f"{lang}.toml")
    return tomllib.loads(source.read_text(encoding="utf-8"))
