"""The languages the hub writes its reports and cover letters in: the one list.

``--lang`` offers exactly these, ``hub/reports/i18n/<code>.toml`` must exist for each (a test
checks that files and list agree) and the templates take their texts and the ``lang`` attribute
from it. Adding a language is one member here plus its translation file.
"""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    """A report language by its ISO 639-1 code; Swedish first, the hub's default."""

    sv = "sv"
    en = "en"


#: Every report language's code, in :class:`Language` order.
LANGUAGES: tuple[str, ...] = tuple(language.value for language in Language)

#: The language of a report when none is asked for (the subjects are Swedish customers).
DEFAULT_LANGUAGE = Language.sv


def language_choices(conjunction: str = "or") -> str:
    """``sv or en``: the languages for an error message."""
    *head, last = LANGUAGES
    return f"{', '.join(head)} {conjunction} {last}" if head else last
