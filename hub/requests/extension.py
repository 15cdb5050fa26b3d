"""Extending a request's deadline (GDPR Art. 12(3)) as one use-case: check, write the letter,
record.

Art. 12(3): the answer is due within one month of receipt; "that period may be extended by two
further months where necessary, taking into account the complexity and number of the
requests. The controller shall inform the data subject of any such extension within one month
of receipt of the request, together with the reasons for the delay." So an extension is three
things at once, and this use-case does them together:

* the ledger's deadline moves (at most two months, once, and only within the first month:
  :meth:`hub.store.ledger.Ledger.extend` refuses anything else);
* the subject gets a letter saying so, with the reason (``extension-letter.txt`` in the
  request folder, mode 0600, in the subject's language);
* the day the subject was told is recorded, in the ledger and the audit log, because the
  controller must be able to show it was within the first month (Art. 5(2)).

The letter is rendered before anything is recorded (a configuration that cannot produce it
records nothing) and written after, so a refused extension leaves no letter behind. It is a
draft (stamped UTKAST / DRAFT) while the ``[controller]`` texts it quotes (name, supervisory
authority) still hold placeholders, or on a sandbox run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hub.config.placeholders import find_placeholders
from hub.core.deadlines import MAX_EXTENSION_MONTHS
from hub.core.languages import DEFAULT_LANGUAGE
from hub.reports.extension import extension_letter_view, render_extension_letter
from hub.reports.files import write_private
from hub.requests.context import RequestContext
from hub.store.audit import AuditLog
from hub.store.db import open_database
from hub.store.ledger import Ledger, LedgerRequest

#: The letter's file name in the request folder.
LETTER = "extension-letter.txt"
#: The ``[controller]`` settings the letter quotes (in any language): a placeholder left in
#: one of them makes the letter a draft.
QUOTED = (".name", ".supervisory_authority")


@dataclass(frozen=True)
class Extension:
    """A recorded extension: the request as it is now and the letter to send."""

    request: LedgerRequest
    letter: Path
    told_on: date
    lang: str
    draft: bool

    def as_dict(self) -> dict[str, object]:
        """The request as ``dsar requests show --json`` has it, plus the letter."""
        return {**self.request.as_dict(), "letter": str(self.letter),
                "told_on": self.told_on.isoformat(), "lang": self.lang, "draft": self.draft}


def extend_request(ctx: RequestContext, request_id: str, reason: str, *,
                   months: int = MAX_EXTENSION_MONTHS, told_on: date | None = None,
                   lang: str = DEFAULT_LANGUAGE, today: date | None = None) -> Extension:
    """Extend ``request_id`` by ``months`` for ``reason``, the subject told on ``told_on``
    (default: today, the ledger's Swedish calendar day); raises
    :class:`~hub.store.ledger.ExtensionRefused` (nothing recorded, no letter) when Art. 12(3)
    does not allow it."""
    ledger = Ledger(open_database(ctx.ledger_url))
    try:
        extended = ledger.check_extension(request_id, reason, months=months, told_on=told_on,
                                          today=today)
        request = ledger.get(request_id)
        draft = ctx.draft or any(key.startswith("controller") and key.endswith(QUOTED)
                                 for key in find_placeholders(ctx.settings))
        text = render_extension_letter(extension_letter_view(
            request_id=request.id, request_type=request.type, received=request.received_on,
            due=request.due_at, extended=extended, months=months, reason=reason,
            controller=ctx.settings.controller, lang=lang, draft=draft))
        recorded = ledger.extend(request_id, reason, months=months, told_on=told_on,
                                 today=today, audit=AuditLog(ledger.engine, ctx.secret))
    finally:
        ledger.engine.dispose()
    letter = write_private(ctx.reports_dir / recorded.id / LETTER, text)
    assert recorded.extension_told_on is not None  # extend() records it
    return Extension(recorded, letter, recorded.extension_told_on, lang, draft)
