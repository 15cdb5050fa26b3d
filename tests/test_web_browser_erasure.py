"""The erasure in a real browser: ``dsar --sandbox serve`` driven by headless Chromium (the server
fixture of ``tests/web_browser_helpers.py``). Anna's sandbox records include one weak match of her
own (a Fortnox customer under a ``+kurs`` spelling of her address): the operator builds the
plan, approves that one record, confirms, sees the result, does the tasks left for a person
and marks the answer as sent: the request is then closed.

With ``WEB_INBOX_SCREENSHOTS=DIR`` the test also saves the plan (``web-erasure-plan.png``) and
the result (``web-erasure-result.png``) there.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.web_browser_helpers import chromium, logged_in, needs_chromium, open_request, server

__all__ = ["server"]  # the fixture, imported to be used here

ANNAS_DUPLICATE = "fortnox:customer:10"

pytestmark = needs_chromium


def test_an_erasure_from_the_plan_to_the_answer_sent(
        server: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    base, link = server
    shots = os.environ.get("WEB_INBOX_SCREENSHOTS")
    with chromium() as browser:
        page, errors = logged_in(browser, link, {"width": 1000, "height": 800})
        open_request(page, "erasure")
        expect(page.get_by_role("heading", name="Radering", exact=True)).to_be_visible()
        request_id = page.url.rsplit("/", 1)[1]

        page.get_by_role("button", name="Ta fram planen").click()
        # the page polls while the lookup runs, then reloads with the plan
        expect(page.get_by_role("heading", name="Planen", exact=True)).to_be_visible(
            timeout=120_000)
        expect(page.locator("table.plan")).to_contain_text("Raderas")
        expect(page.locator("table.plan")).to_contain_text("Sparas med stöd av lag")
        weak = page.locator(f'li[data-ref="{ANNAS_DUPLICATE}"]')
        expect(weak).to_contain_text("personens adress +kurs")  # in Swedish, not "subject's"
        expect(page.locator("main")).not_to_contain_text("subject's address")
        expect(weak.locator("table.compare")).to_contain_text("Personen som begär")
        if shots:
            # the weak matches, side by side with the person (the whole plan is long)
            page.locator("section[aria-labelledby=weak-h]").screenshot(
                path=str(Path(shots) / "web-erasure-plan.png"))
        weak.get_by_label("Godkänn den här posten").check()
        page.get_by_role("button", name="Gå vidare").click()

        expect(page.get_by_role("heading", name="Bekräfta raderingen")).to_be_visible()
        expect(page.locator("#counts")).to_contain_text("poster raderas")
        expect(page.locator("#approved")).to_contain_text(ANNAS_DUPLICATE)
        page.get_by_role("button", name="Radera nu").click()

        expect(page.get_by_role("heading", name="Resultat")).to_be_visible(timeout=180_000)
        outcome = page.locator("table.outcome")
        expect(outcome).to_contain_text("Stripe")
        expect(outcome).to_contain_text("Fortnox")
        expect(outcome).to_contain_text("Brev till")  # an Art. 19 letter by its recipient
        expect(outcome).not_to_contain_text("client_register")  # no configuration keys
        answer = page.get_by_role("link", name="Svaret till personen")
        assert answer.get_attribute("href") == \
            f"/requests/{request_id}/erasure/files/report.html"
        if shots:
            page.screenshot(path=str(Path(shots) / "web-erasure-result.png"), full_page=True)

        page.get_by_role("link", name="Visa uppgifterna som är kvar").click()
        expect(page.locator("ul.checklist li.open").first).to_be_visible()
        expect(page.locator("ul.checklist")).to_contain_text("fortnox:invoice:2")
        expect(page.get_by_role("button", name="Fortsätt raderingen")).to_be_visible()

        # the tasks left for a person, done one by one, each with what was done
        open_tasks = page.locator("ul.checklist li.open")
        left = open_tasks.count()
        assert left >= 1
        for _ in range(left):
            task = open_tasks.first
            task.get_by_label("Vad gjordes?").fill("gjort för hand")
            task.get_by_role("button", name="Markera som klar").click()
        expect(page.locator("ul.checklist li.open")).to_have_count(0)

        # and the answer marked as sent: the request is then closed
        answer = page.locator("#answer")
        answer.get_by_role("button", name="Markera som skickat").click()
        expect(page.locator("#answer-sent")).to_contain_text("Svaret skickades")
        page.get_by_role("link", name="Inkorgen").first.click()
        page.get_by_label("Status").select_option("closed")
        page.get_by_role("button", name="Visa").click()
        row = page.locator("table.requests tbody tr").filter(has_text=request_id)
        expect(row).to_contain_text("Avslutad")
        assert errors == []  # no script or style refused by the CSP, no failed fetch
        assert "@" not in page.url and base in page.url
