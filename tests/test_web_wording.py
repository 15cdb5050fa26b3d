"""The erasure plan's operator phrases on a Swedish page: translated where they are the
plan's own words, untouched where they are someone's address or name."""

from __future__ import annotations

import pytest

from hub.web.wording import in_language


@pytest.mark.parametrize(("said", "swedish"), [
    ("subject's address +kurs", "personens adress +kurs"),
    ("subject's address (other letter case)", "personens adress (andra versaler)"),
    ("Anna Svensson · subject's address · +46701234567",
     "Anna Svensson · personens adress · +46701234567"),
    ("email, plus-address", "e-post, +tagg-variant"),
    ("phone, derived", "telefon, härledd"),
    ("anna.email@example.se (look-alike of the subject's address)",
     "anna.email@example.se (liknar personens adress)"),
    ("exact@example.se", "exact@example.se"),
    ("Name Phone", "Name Phone"),
])
def test_swedish_pages_get_swedish_phrases_and_addresses_stay_as_found(
        said: str, swedish: str) -> None:
    assert in_language(said, "sv") == swedish
    assert in_language(said, "en") == said
