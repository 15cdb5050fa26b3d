"""The rectification in a real browser: ``dsar --sandbox serve`` driven by headless Chromium (the
server fixture of ``tests/web_browser_helpers.py``). The operator opens a rectification request for
a sandbox person, types her new phone number on the request page, reads the plan (old numbers
masked, booked records kept), confirms, sees the result and opens the letter's preview.

With ``WEB_INBOX_SCREENSHOTS=DIR`` the test also saves the plan (``web-rectification-plan.png``)
and the result (``web-rectification-result.png``) there.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.web_browser_helpers import chromium, logged_in, needs_chromium, open_request, server

__all__ = ["server"]  # the fixture, imported to be used here

NEW_PHONE = "070-999 88 77"

pytestmark = needs_chromium


def test_a_rectification_from_the_new_phone_number_to_the_letter(
        server: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    base, link = server
    shots = os.environ.get("WEB_INBOX_SCREENSHOTS")
    with chromium() as browser:
        page, errors = logged_in(browser, link, {"width": 1000, "height": 800})
        open_request(page, "rectification")
        expect(page.get_by_role("heading", name="Rättelse", exact=True).first).to_be_visible()
        request_id = page.url.rsplit("/", 1)[1]

        form = page.locator("#rectification-form")
        form.get_by_label("Telefonnummer").fill(NEW_PHONE)
        form.get_by_role("button", name="Visa planen").click()
        # the page polls while the lookup runs, then reloads with the plan
        expect(page.get_by_role("heading", name="Planen", exact=True)).to_be_visible(
            timeout=120_000)
        changing = page.locator("#plan-changing")
        expect(changing).to_contain_text("Rättas")
        expect(changing).to_contain_text("+46709998877")
        expect(changing).to_contain_text("+4…67")  # the old number, masked
        assert "+46701234567" not in page.content()
        left = page.locator("#plan-left")
        left.locator("summary").click()
        expect(left).to_contain_text("Bokförd post")
        if shots:
            page.screenshot(path=str(Path(shots) / "web-rectification-plan.png"),
                            full_page=True)
        page.get_by_role("button", name="Gå vidare").click()

        expect(page.get_by_role("heading", name="Bekräfta rättelsen")).to_be_visible()
        expect(page.locator("#counts")).to_contain_text("poster rättas")
        expect(page.locator("#counts")).to_contain_text("Telefonnummer")
        page.get_by_role("button", name="Rätta nu").click()

        expect(page.get_by_role("heading", name="Resultat")).to_be_visible(timeout=180_000)
        outcome = page.locator("#result table.outcome")
        expect(outcome).to_contain_text("rättad")
        expect(outcome).to_contain_text("stripe")
        expect(page.locator("#result")).to_contain_text("avslutad")
        if shots:
            page.screenshot(path=str(Path(shots) / "web-rectification-result.png"),
                            full_page=True)
        preview = page.locator("#letters").get_by_role(
            "link", name="Brevet om rättelsen", exact=True)
        assert preview.get_attribute("href") == \
            f"/requests/{request_id}/preview/rectification-letter.html"
        with page.expect_popup() as opened:
            preview.click()
        letter = opened.value
        letter.wait_for_load_state()
        expect(letter.locator("body")).to_contain_text("telefonnummer")
        assert NEW_PHONE not in letter.url and "+4670" not in letter.url
        assert errors == []  # no script or style refused by the CSP, no failed fetch
        assert "@" not in page.url and "+46" not in page.url and base in page.url
