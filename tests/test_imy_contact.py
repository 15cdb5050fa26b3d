"""The supervisory authority the subject may complain to (Art. 77) is named with every way to
reach it (postal address, phone, e-mail, web) in both languages: in the access report, the
cover letter and the extension letter, from the shipped configuration and from the default."""

from __future__ import annotations

from datetime import date

import pytest

from hub.config.settings import HubSettings
from hub.core.inventory import Controller
from hub.reports.content import build_view, localised
from hub.reports.extension import extension_letter_view, render_extension_letter
from hub.reports.render import render_cover_letter
from tests.test_report_html import make_report, render, settings  # noqa: F401 (fixture)

DETAILS = {
    "sv": ("Integritetsskyddsmyndigheten (IMY)", "Box 8114", "104 20 Stockholm",
           "telefon 08-657 61 00", "imy@imy.se", "www.imy.se"),
    "en": ("Integritetsskyddsmyndigheten", "Swedish Authority for Privacy Protection",
           "Box 8114", "SE-104 20 Stockholm, Sweden", "telephone +46 8 657 61 00",
           "imy@imy.se", "www.imy.se"),
}


def _has_all(text: str, lang: str) -> None:
    flat = " ".join(text.split())
    for part in DETAILS[lang]:
        assert part in flat, (lang, part)
    other = "en" if lang == "sv" else "sv"
    assert DETAILS[other][3] not in flat  # no "telefon" in English, no "+46" in Swedish


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_access_report_and_cover_letter_give_the_full_address(
        settings: HubSettings, lang: str) -> None:  # noqa: F811 (the fixture)
    dom = render(settings, lang)
    _has_all(dom.one("section", data_gdpr="15-1-f").one(data_field="authority").text(), lang)
    view = build_view(make_report(), lang=lang, controller=settings.controller,
                      inventory=settings.inventory)
    _has_all(render_cover_letter(view), lang)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_extension_letter_gives_the_full_address(settings: HubSettings, lang: str) -> None:  # noqa: F811
    letter = render_extension_letter(extension_letter_view(
        request_id="acc-1", request_type="access", received=date(2026, 12, 1),
        due=date(2027, 1, 4), extended=date(2027, 3, 1), months=2, reason="-",
        controller=settings.controller, lang=lang))
    _has_all(letter, lang)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_default_controller_names_imy_in_each_language(lang: str) -> None:
    for controller in (Controller(), Controller(translations={"sv": {"name": "Självkraft"}})):
        _has_all(str(localised(controller, "supervisory_authority", lang)), lang)
    own = Controller(supervisory_authority="Datatilsynet, www.datatilsynet.dk")
    assert localised(own, "supervisory_authority", lang) == "Datatilsynet, www.datatilsynet.dk"
