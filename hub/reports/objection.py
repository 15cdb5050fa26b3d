"""The answers to a consent withdrawal (GDPR Art. 7(3)) and an objection (Art. 21).

Three letters, each in the subject's language (``hub/reports/i18n``, table ``[objection]``):
the confirmation that a withdrawal reaching us by mail, phone or letter stopped the marketing;
the answer to an objection to direct marketing (absolute, Art. 21(3): it stopped everywhere,
naming the systems); and the decision on an objection to other processing (upheld or
rejected, Art. 21(1), with the right to complain and to go to court). Written as
``<name>-letter.txt`` to send and ``<name>-letter.html`` to print or attach. No operator
reason, field or API name is repeated in them: the systems are named as the inventory and
the connectors name them for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hub.core.inventory import Controller
from hub.core.languages import DEFAULT_LANGUAGE
from hub.reports.letters import LetterView, letter_view, listed
from hub.reports.render import environment
from hub.reports.translations import texts

#: which letter: the withdrawal's, the marketing objection's, or the decision on another one
LetterKind = Literal["withdrawal", "marketing", "upheld", "rejected"]


@dataclass(frozen=True)
class ObjectionFacts:
    """What the letter says: its kind, the systems where marketing stopped (for the first two)
    and whether part of that waits for a manual step."""

    kind: LetterKind
    request_id: str
    controller: Controller
    systems: tuple[str, ...] = ()
    pending: bool = False
    draft: bool = False




def objection_letter_view(facts: ObjectionFacts, *, lang: str = DEFAULT_LANGUAGE
                          ) -> LetterView:
    t = texts(lang)
    words = t["objection"]
    if facts.kind in ("withdrawal", "marketing"):
        title = words["title_withdrawal" if facts.kind == "withdrawal" else "title_marketing"]
        paragraphs = [words[facts.kind]]
        if facts.systems:
            paragraphs.append(words["systems"].format(
                systems=listed(list(facts.systems), words["and"])))
        if facts.pending:
            paragraphs.append(words["pending"])
        paragraphs.append(words["kept"])
    else:
        title = words["title_decision"]
        paragraphs = [words[facts.kind]]
        if facts.kind == "rejected":
            paragraphs.append(words["court"])
    controller = facts.controller
    return letter_view(
        lang=lang, t=t, words=words, title=title, paragraphs=paragraphs,
        request_id=facts.request_id,
        controller=controller,
        draft=facts.draft)


def letter_names(kind: LetterKind) -> tuple[str, str]:
    """The file names of a letter of ``kind`` (text, page)."""
    stem = {"withdrawal": "withdrawal", "marketing": "objection",
            "upheld": "objection-decision", "rejected": "objection-decision"}[kind]
    return f"{stem}-letter.txt", f"{stem}-letter.html"


def render_objection_letters(facts: ObjectionFacts, *, lang: str = DEFAULT_LANGUAGE
                             ) -> dict[str, str]:
    """The letter as text and as a page, by file name (:func:`letter_names`)."""
    view = objection_letter_view(facts, lang=lang)
    env = environment()
    text_name, page_name = letter_names(facts.kind)
    return {text_name: env.get_template("objection-letter.txt").render(v=view).strip() + "\n",
            page_name: env.get_template("letter.html").render(v=view).strip() + "\n"}
