"""The extension letter: GDPR Art. 12(3) lets the controller take two further months "where
necessary", but only if it tells the subject within the first month, with the reasons for the
delay. This is that message, in the subject's language (``hub/reports/i18n``, table
``[extension]``), written to the request folder as ``extension-letter.txt``.

The reason is the operator's own words (``dsar requests extend --reason``): it is the one part
the hub cannot translate, so it is printed as given. Everything else comes from the
configuration's ``[controller]`` (name, supervisory authority) and the ledger's dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from hub.core.inventory import Controller
from hub.core.languages import DEFAULT_LANGUAGE
from hub.reports.content import localised
from hub.reports.render import environment
from hub.reports.translations import texts


@dataclass(frozen=True)
class ExtensionLetterView:
    """What the letter says, ready for the template."""

    lang: str
    t: dict[str, Any]
    request_id: str
    #: the request in words ("your request for access to your personal data")
    request: str
    received: date
    due: date
    extended: date
    #: "two months" in the letter's language
    months: str
    reason: str
    controller: str
    authority: str
    draft: bool = False


def extension_letter_view(*, request_id: str, request_type: str, received: date, due: date,
                          extended: date, months: int, reason: str, controller: Controller,
                          lang: str = DEFAULT_LANGUAGE, draft: bool = False
                          ) -> ExtensionLetterView:
    """The letter's content in ``lang``; ``draft`` stamps it UTKAST / DRAFT."""
    t = texts(lang)
    words = t["extension"]
    return ExtensionLetterView(
        lang=lang, t=t, request_id=request_id,
        request=words["requests"][request_type], received=received, due=due,
        extended=extended, months=words["one_month" if months == 1 else "two_months"],
        reason=reason.strip(),
        controller=str(localised(controller, "name", lang) or controller.name),
        authority=str(localised(controller, "supervisory_authority", lang)
                      or controller.supervisory_authority),
        draft=draft)


def render_extension_letter(view: ExtensionLetterView) -> str:
    """``extension-letter.txt``: the text to send the subject."""
    text = environment().get_template("extension-letter.txt").render(v=view)
    return text.strip() + "\n"
