""""Connect Fortnox" end to end in a real browser: ``dsar --sandbox serve`` (the ``server``
fixture of ``tests/web_browser_helpers.py``), headless Chromium, the sandbox's Fortnox authorisation
page, and a lookup afterwards that reaches Fortnox with the new tokens.

Connecting re-authorises the sandbox's integration, which kills the refresh token the sandbox
configured: a lookup that still found Fortnox's customers after it can only have used the
tokens the callback stored.
"""

from __future__ import annotations

from tests.web_browser_helpers import chromium, logged_in, needs_chromium, open_request, server

__all__ = ["server"]  # the fixture, used by name

pytestmark = needs_chromium


def test_connect_fortnox_then_a_lookup_reaches_fortnox(server: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    base, link = server
    with chromium() as browser:
        phone = {"width": 420, "height": 800}  # a phone's width
        page, errors = logged_in(browser, link, phone, failed_responses=False)
        page.get_by_role("link", name="Inställningar").click()
        expect(page.get_by_role("heading", name="Inställningar")).to_be_visible()
        connection = page.locator("#fortnox-connect p.connection")
        expect(connection).to_contain_text("förnyelsetoken från konfigurationen")

        page.get_by_role("button", name="Anslut Fortnox").click()
        expect(page.get_by_role("heading", name="Fortnox (sandbox)")).to_be_visible()
        assert page.url.split("?")[0].endswith("/oauth-v1/auth")
        assert "state=" in page.url and "access_type=offline" in page.url
        page.get_by_role("button", name="Allow").click()

        expect(page.get_by_role("heading", name="Inställningar")).to_be_visible()
        assert page.url.startswith(f"{base}/settings")  # back on the inbox, still logged in
        expect(connection).to_contain_text("Fortnox är anslutet")

        open_request(page, None)
        page.get_by_role("button", name="Starta sökningen").click()
        expect(page.get_by_role("link", name="Rapporten till personen")).to_be_visible(
            timeout=120_000)
        expect(page.locator('#processors li[data-name="fortnox"]')).to_contain_text(
            "hittade uppgifter")
        assert errors == []  # nothing refused by the CSP
