"""The web inbox end to end in a real browser: ``dsar --sandbox serve`` in a subprocess on a
free loopback port, driven by headless Chromium (Debian's ``/usr/bin/chromium`` through
Playwright for Python; no browser is downloaded).

With ``WEB_INBOX_SCREENSHOTS=DIR`` (not a ``DSAR_`` variable: the tests drop those) the test
also saves the inbox (``inbox.png``) and a running lookup (``web-lookup.png``) there: the
README's pictures come from ``WEB_INBOX_SCREENSHOTS=docs pytest tests/test_web_browser.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.web_browser_helpers import ANNA, chromium, logged_in, needs_chromium, server

__all__ = ["server"]  # the fixture, imported to be used here

pytestmark = needs_chromium


def test_an_access_request_from_login_to_a_task_done(server: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    base, link = server
    shots = os.environ.get("WEB_INBOX_SCREENSHOTS")
    with chromium() as browser:
        page, errors = logged_in(browser, link, {"width": 1000, "height": 700})
        expect(page.get_by_role("heading", name="Öppna begäranden")).to_be_visible()

        page.get_by_role("link", name="Ny begäran").first.click()
        page.get_by_label("Vad personen begär").select_option("access")
        page.get_by_label("Personens e-postadress").fill(ANNA)
        page.get_by_label("Hur du har kontrollerat personens identitet").fill(
            "svar från adressen i kundregistret")
        page.get_by_label("Personens e-postadress").press("Enter")  # the keyboard submits
        expect(page.get_by_text(ANNA)).to_be_visible()
        request_id = page.url.rsplit("/", 1)[1]
        assert "@" not in page.url

        page.get_by_role("button", name="Starta sökningen").click()
        expect(page.get_by_role("heading", name="Sökning")).to_be_visible()
        # live progress: a processor's answer shows while the others still search
        expect(page.locator("#processors")).to_contain_text("hittade uppgifter",
                                                            timeout=60_000)
        if shots:
            page.screenshot(path=str(Path(shots) / "web-lookup.png"), full_page=True)
        report = page.get_by_role("link", name="Rapporten till personen")
        expect(report).to_be_visible(timeout=120_000)  # the page polls, then reloads
        assert report.get_attribute("href") == f"/requests/{request_id}/files/report.html"
        expect(page.locator("#processors")).to_contain_text("stripe")

        page.get_by_role("link", name="Tillbaka till begäran").click()
        first_task = page.locator("ul.checklist li.open").first
        first_task.get_by_label("Vad gjordes?").fill("sökte i pärmen, inget fanns")
        first_task.get_by_role("button", name="Markera som klar").click()
        expect(page.get_by_text("Anteckning: sökte i pärmen, inget fanns")).to_be_visible()
        expect(page.get_by_role("cell", name="manual_check.done")).to_be_visible()

        page.get_by_role("link", name="Inkorgen").first.click()
        row = page.locator("table.requests tbody tr").filter(has_text=request_id)
        expect(row).to_contain_text("Tillgång")
        expect(row).to_contain_text("dagar kvar")
        if shots:
            page.screenshot(path=str(Path(shots) / "inbox.png"), full_page=True)
        assert errors == []  # no script or style refused by the CSP, no failed fetch

        # the logged-in browser's own cookie, but no CSRF token: refused, nothing started
        forged = page.request.post(f"{base}/requests/{request_id}/lookup",
                                   form={"note": "x"}, max_redirects=0)
        assert forged.status == 403
        page.goto(f"{base}/requests/{request_id}")
        expect(page.locator("main")).not_to_contain_text("Sökningen pågår")

        stranger = browser.new_context().new_page()  # no session: nothing shown
        stranger.goto(f"{base}/requests/{request_id}")
        expect(stranger.get_by_role("heading", name="Logga in")).to_be_visible()
        assert ANNA not in stranger.content() and request_id not in stranger.content()
