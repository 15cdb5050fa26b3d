"""The answer to a restriction request (GDPR Art. 18) and the notice that it was lifted.

The restriction's answer says what restriction means for the subject (their data is only
stored), where it is marked, that marketing stopped and that they will be told before it is
lifted (Art. 18(3)); the lift's says it was lifted as announced on the day they were told.
Plain text in the subject's language (``hub/reports/i18n``, table ``[restriction]``), written to
the request folder as ``restriction-letter.txt``, and the same letter as
``restriction-letter.html`` to print or attach. No reason, field or API name is repeated in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.core.inventory import Controller
from hub.core.languages import DEFAULT_LANGUAGE
from hub.reports.content import format_date
from hub.reports.letters import LetterView, letter_view, listed
from hub.reports.render import environment
from hub.reports.translations import texts


@dataclass(frozen=True)
class RestrictionFacts:
    """What the letter says: a restriction or its lift, the systems marked (or unmarked) and
    whether part of that waits for a manual step, since when, and the day the subject was
    told of the lift."""

    lift: bool
    marked: tuple[str, ...]
    pending: bool
    since: date
    notified_on: date | None
    request_id: str
    controller: Controller
    draft: bool = False




def restriction_letter_view(facts: RestrictionFacts, *, lang: str = DEFAULT_LANGUAGE
                            ) -> LetterView:
    t = texts(lang)
    words = t["restriction"]
    systems = listed(list(facts.marked), words["and"])
    if facts.lift:
        told = facts.notified_on or facts.since
        paragraphs = [words["lifted"].format(date=format_date(told, lang))]
        if systems:
            paragraphs.append(words["unmarked"].format(systems=systems))
        if facts.pending:
            paragraphs.append(words["unmark_pending"])
    else:
        paragraphs = [words["restricted"]]
        if systems:
            paragraphs.append(words["marked"].format(systems=systems))
        if facts.pending:
            paragraphs.append(words["pending"])
        paragraphs += [words["marketing"], words["before_lift"]]
    controller = facts.controller
    return letter_view(
        lang=lang, t=t, words=words, paragraphs=paragraphs,
        request_id=facts.request_id,
        controller=controller,
        draft=facts.draft)


def render_restriction_letters(facts: RestrictionFacts, *, lang: str = DEFAULT_LANGUAGE
                               ) -> dict[str, str]:
    """``restriction-letter.txt`` and ``restriction-letter.html`` by file name: the text to
    send the subject, and the same letter as a page."""
    view = restriction_letter_view(facts, lang=lang)
    env = environment()
    return {name: env.get_template(template).render(v=view).strip() + "\n"
            for name, template in (("restriction-letter.txt", "restriction-letter.txt"),
                                   ("restriction-letter.html", "letter.html"))}
