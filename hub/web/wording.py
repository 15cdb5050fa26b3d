"""The plan's operator phrases (from :mod:`hub.requests.erasure.identity` and the match
strengths) in the page's language.

The use-cases word why a record matched and whose it looks like in English, for the terminal
and ``--json`` (``subject's address +kurs``, ``email, plus-address``). A Swedish page shows
them in Swedish: the owner compares them with the person's details before approving a record,
so they must read as plainly as the rest of the page. Anything not known here (an address, a
name, a look-alike spelled as found) is shown as it is.
"""

from __future__ import annotations

import re

#: whole phrases and words, longest first so a phrase wins over its words
_SWEDISH = (
    ("(look-alike of the subject's address)", "(liknar personens adress)"),
    ("subject's address (other letter case)", "personens adress (andra versaler)"),
    ("subject's address without its +tag", "personens adress utan +tagg"),
    ("subject's address", "personens adress"),
    ("case-insensitive", "andra versaler"),
    ("plus-address", "+tagg-variant"),
    ("personnummer", "personnummer"),
    ("lookalike", "snarlik adress"),
    ("derived", "härledd"),
    ("payment", "betalning"),
    ("exact", "exakt"),
    ("email", "e-post"),
    ("phone", "telefon"),
    ("name", "namn"),
)
#: a word only where it stands alone: never inside an address (``anna.email@…``) or a name
_PATTERN = re.compile("|".join(rf"(?<![\w.@+-]){re.escape(phrase)}(?![\w.@+-])"
                               if phrase[0].isalnum() else re.escape(phrase)
                               for phrase, _ in _SWEDISH))
_LOOKUP = dict(_SWEDISH)


def in_language(text: str, lang: str) -> str:
    """``text`` with the plan's English operator phrases in ``lang`` (only Swedish differs)."""
    if lang != "sv" or not text:
        return text
    return _PATTERN.sub(lambda found: _LOOKUP[found.group()], text)
