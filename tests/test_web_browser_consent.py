"""The consent pages end to end in a real browser: ``dsar --sandbox serve`` (the ``server``
fixture of ``tests/web_browser_helpers.py``) driven by headless Chromium, on a desktop and on a
phone-sized window. A withdrawal by phone is recorded from the form (MailerLite's fake is told
through its API, Paloma becomes a task), the person's history is found by a POSTed address,
and the Paloma task is marked done by keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web_browser_helpers import ANNA, chromium, logged_in, needs_chromium, server

__all__ = ["server"]  # the fixture, imported to be used here

pytestmark = needs_chromium


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("viewport", [{"width": 1000, "height": 700},
                                      {"width": 375, "height": 700}], ids=["desktop", "phone"])
def test_a_withdrawal_by_phone_then_the_history_and_the_task_done(
        server: tuple[str, str], browser, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    base, link = server
    page, errors = logged_in(browser, link, viewport)
    page.get_by_role("link", name="Samtycken").click()
    expect(page.get_by_role("heading", name="Samtycke till marknadsföring")).to_be_visible()

    # a withdrawal without its channel: the error beside the field, nothing recorded
    page.get_by_label("Personens e-postadress").fill(ANNA)
    page.get_by_role("button", name="Registrera återkallandet").click()
    expect(page.locator("#channel-error")).to_have_text("Välj hur återkallandet nådde er.")
    assert f"400 {base}/consent/withdraw" in errors  # the form's refusal, and only it
    assert all("400" in error for error in errors)
    errors.clear()
    expect(page.get_by_label("Personens e-postadress")).to_have_value(ANNA)  # kept

    page.get_by_label("Hur återkallandet nådde er").select_option(label="telefon")
    page.get_by_label("Anteckning (valfri)").fill("samtal 3 mars")
    page.get_by_label("Anteckning (valfri)").press("Enter")  # the keyboard submits
    expect(page.get_by_role("heading", name="Återkallandet är registrerat")).to_be_visible(
        timeout=60_000)
    assert "@" not in page.url
    destinations = page.locator("#destinations")
    expect(destinations.locator("li").filter(has_text="MailerLite")).to_contain_text("klar")
    expect(destinations.locator("li").filter(has_text="Paloma")).to_contain_text(
        "görs för hand")

    page.get_by_role("link", name="Tillbaka till samtyckessidorna").click()
    page.get_by_label("Adress att söka efter").fill(ANNA)
    page.get_by_role("button", name="Visa historiken").click()
    expect(page.get_by_role("heading", name="Samtyckeshistorik")).to_be_visible()
    assert "@" not in page.url
    expect(page.locator("#suppressed")).to_contain_text("står på spärrlistan")
    expect(page.locator("#consent-events")).to_contain_text("telefon")
    expect(page.locator("#consent-events")).to_contain_text("samtal 3 mars")

    paloma = page.locator("ul.checklist li.open").filter(has_text="Paloma")
    paloma.get_by_label("Vad gjordes?").fill("avregistrerad i Paloma")
    paloma.get_by_label("Vad gjordes?").press("Enter")
    expect(page.get_by_role("status").filter(
        has_text="Uppgiften är markerad som klar.")).to_be_visible()
    expect(page.locator("ul.checklist li").filter(has_text="Paloma")).to_contain_text(
        "gjord för hand")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert errors == []  # no script or style refused by the CSP, no failed request
