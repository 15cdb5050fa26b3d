"""The answer to a rectification request (GDPR Art. 16): which data was corrected and where,
that booked accounting documents keep the old data (Bokföringslagen: a verifikation may not
be changed) until their retention ends, and that the recipients were told (Art. 19).

In the subject's language (``hub/reports/i18n``, table ``[rectification]``), written to the
request folder as ``rectification-letter.txt`` (to paste into the reply) and
``rectification-letter.html`` (the same letter as a page); the corrected values are not
repeated in it (the subject gave them), only which kinds of data changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.core.inventory import Controller
from hub.core.languages import DEFAULT_LANGUAGE
from hub.reports.letters import LetterView, letter_view, listed
from hub.reports.render import environment
from hub.reports.translations import texts


@dataclass(frozen=True)
class RectificationFacts:
    """What the letter says: the fields corrected (the hub's words: ``phone``,
    ``address.city``), the systems corrected and those whose booked records keep the old data,
    and whether some correction is still waiting for a manual step."""

    fields: tuple[str, ...]
    corrected: tuple[str, ...]
    kept: tuple[str, ...]
    pending: bool
    request_id: str
    controller: Controller
    draft: bool = False




def rectification_letter_view(facts: RectificationFacts, *, lang: str = DEFAULT_LANGUAGE
                              ) -> LetterView:
    t = texts(lang)
    words = t["rectification"]
    names = words["fields"]
    fields = listed([names[f.replace(".", "_")] for f in facts.fields], words["and"])
    corrected = listed(list(facts.corrected), words["and"])
    paragraphs = [words["corrected"].format(fields=fields, systems=corrected) if corrected
                  else words["nothing"].format(fields=fields)]
    if facts.pending:
        paragraphs.append(words["pending"])
    if facts.kept:
        paragraphs.append(words["kept"].format(systems=listed(list(facts.kept), words["and"])))
    if corrected:
        paragraphs.append(words["told"])
    controller = facts.controller
    return letter_view(
        lang=lang, t=t, words=words, paragraphs=paragraphs, request_id=facts.request_id,
        controller=controller,
        draft=facts.draft)


def render_rectification_letters(facts: RectificationFacts, *, lang: str = DEFAULT_LANGUAGE
                                 ) -> dict[str, str]:
    """``rectification-letter.txt`` and ``rectification-letter.html`` by file name: the text
    to send the subject, and the same letter as a page."""
    view = rectification_letter_view(facts, lang=lang)
    env = environment()
    return {name: env.get_template(template).render(v=view).strip() + "\n"
            for name, template in (("rectification-letter.txt", "rectification-letter.txt"),
                                   ("rectification-letter.html", "letter.html"))}
