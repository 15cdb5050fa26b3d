"""What the answer letters of the rights (rectification, restriction, objection, withdrawal)
share: the view a letter template reads, and a list of names joined as a person writes it.

Why one view: each right chooses its own paragraphs (:mod:`hub.reports.rectification`,
:mod:`hub.reports.restriction`, :mod:`hub.reports.objection`), but greeting, rights, reference
and signature are laid out the same in every letter, and ``templates/letter.html`` renders any
of them as a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.core.inventory import Controller
from hub.reports.content import localised


@dataclass(frozen=True)
class LetterView:
    """One letter in one language: the texts table of its right (``words``), its title (None:
    the table's ``title``), the paragraphs in order, and who signs it."""

    lang: str
    t: dict[str, Any]
    words: dict[str, Any]
    paragraphs: tuple[str, ...]
    request_id: str
    controller: str
    authority: str
    draft: bool
    title: str | None = None


def letter_view(*, lang: str, t: dict[str, Any], words: dict[str, Any],
                paragraphs: list[str], request_id: str, controller: Controller, draft: bool,
                title: str | None = None) -> LetterView:
    """The view, with the controller's name and supervisory authority in ``lang``."""
    return LetterView(
        lang=lang, t=t, words=words, paragraphs=tuple(paragraphs), request_id=request_id,
        controller=str(localised(controller, "name", lang) or controller.name),
        authority=str(localised(controller, "supervisory_authority", lang)
                      or controller.supervisory_authority),
        draft=draft, title=title)


def listed(items: list[str], word_and: str) -> str:
    """``A``, ``A och B``, ``A, B och C``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word_and} {items[-1]}"
