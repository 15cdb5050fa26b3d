"""An access request answered end to end in a real browser: ``dsar --sandbox serve`` (the
server fixture of ``tests/web_browser_helpers.py``) driven by headless Chromium.

Log in, open Anna's access request, run the lookup, review what it flagged, preview the
answer as she will read it, download the package, mark it sent: the inbox then lists the
request as closed. The sandbox writes drafts, so its documents are there before the review;
approving rewrites them with the decisions.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from hub.store.ledger import local_today
from tests.web_browser_helpers import chromium, needs_chromium, open_request, server, watch

__all__ = ["server"]  # the fixture, imported to be used here

WEAK = "fortnox:customer:10"  # Anna's address with a +tag at Fortnox: a weak match

pytestmark = needs_chromium


def test_an_access_request_from_lookup_to_answer_sent(server: tuple[str, str],
                                                     tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base, link = server
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 420, "height": 800},
                                      accept_downloads=True)  # a phone-sized window
        errors = watch(context)
        page = context.new_page()
        page.goto(link)
        open_request(page, "access")
        request_id = page.url.rsplit("/", 1)[1]
        answer = page.locator("#answer")
        expect(answer).to_contain_text("Kör sökningen först")

        page.get_by_role("button", name="Starta sökningen").click()
        expect(page.get_by_role("link", name="Rapporten till personen")).to_be_visible(
            timeout=120_000)
        page.get_by_role("link", name="Tillbaka till begäran").click()

        # the review: the weak match at Fortnox is left out, then approved
        answer.get_by_role("link", name="Granska och skriv dokumenten").click()
        expect(page.get_by_role("heading", name="Granskning före svaret")).to_be_visible()
        record = page.locator("fieldset.record").filter(has_text=WEAK)
        record.get_by_label("Utelämna").check()
        page.get_by_role("button", name="Visa resultatet").click()
        expect(page.locator("fieldset.record").filter(has_text=WEAK)
               .locator(".outcome-excluded")).to_have_text("utelämnas")
        page.get_by_role("button", name="Godkänn och skriv dokumenten").click()
        expect(answer).to_be_visible()
        expect(answer.get_by_role("link", name="Granska och skriv dokumenten")).to_have_count(0)

        # the preview: the report as Anna reads it, in a tab of its own
        with context.expect_page() as opened:
            answer.get_by_role("link", name="Rapporten till personen").click()
        preview = opened.value
        preview.wait_for_load_state()
        assert preview.url == f"{base}/requests/{request_id}/preview/report.html"
        expect(preview.locator("html")).to_have_attribute("lang", "sv")
        expect(preview.locator("body")).to_contain_text("UTKAST")
        # its own inline style applies (the inbox's policy would refuse it)
        assert preview.evaluate("getComputedStyle(document.documentElement)"
                                ".getPropertyValue('--accent').trim()") == "#2d5b88"
        preview.close()

        # the package: report, export and cover letter
        got: dict[str, Path] = {}
        for name, label in (("report.html", "Rapporten till personen"),
                            ("export.zip", "Uppgifterna som filer (zip)"),
                            ("cover-letter.txt", "Följebrevet")):
            with page.expect_download() as download:
                page.locator("#files").get_by_role("link", name=label).click()
            got[name] = tmp_path / name
            download.value.save_as(got[name])
        assert "UTKAST" in got["report.html"].read_text(encoding="utf-8")
        assert request_id in got["cover-letter.txt"].read_text(encoding="utf-8")
        with zipfile.ZipFile(got["export.zip"]) as archive:
            assert "report.json" in archive.namelist()

        # marked as sent today, by post
        expect(answer.get_by_label("Dag då svaret skickades")).to_have_value(
            local_today().isoformat())
        answer.get_by_label("brev med post").check()
        answer.get_by_role("button", name="Markera som skickat").click()
        expect(page.locator("#answer-sent")).to_have_text(
            f"Svaret skickades {local_today().isoformat()} (brev med post).")

        page.get_by_role("link", name="Inkorgen").first.click()
        expect(page.locator("main")).not_to_contain_text(request_id)  # open ones only
        page.get_by_label("Status").select_option("closed")
        page.get_by_role("button", name="Visa").click()
        row = page.locator("table.requests tbody tr").filter(has_text=request_id)
        expect(row).to_contain_text("Avslutad")
        assert errors == []  # nothing refused by a policy, no failed request
