"""The web inbox end to end in a real browser: ``dsar --sandbox serve`` in a subprocess on a
free loopback port, driven by headless Chromium (Debian's ``/usr/bin/chromium`` through
Playwright for Python; no browser is downloaded).

With ``WEB_INBOX_SCREENSHOTS=DIR`` (not a ``DSAR_`` variable: the tests drop those) the test
also saves the inbox (``inbox.png``) and a running lookup (``web-lookup.png``) there: the
README's pictures come from ``WEB_INBOX_SCREENSHOTS=docs pytest tests/test_web_browser.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_helpers import hub_environment

CHROMIUM = Path("/usr/bin/chromium")
ANNA = "anna.svensson@example.se"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
    "(apt-get install chromium); Playwright's own browsers are never downloaded")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``dsar --sandbox serve`` on a free port: its base URL and its one-time login link."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-m", "hub", "--sandbox", "--out", str(tmp_path / "reports"), "serve",
         "--port", str(port)], env=hub_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        link = None
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+/login/link\?token=\S+)", line)
            if found:
                link = found.group(1)
                break
        assert link, "the server printed no login link"
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base, link
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_an_access_request_from_login_to_a_task_done(server: tuple[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, link = server
    shots = os.environ.get("WEB_INBOX_SCREENSHOTS")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" else None)
            page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
                    if response.status >= 400 else None)
            page.goto(link)
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

            stranger = browser.new_context().new_page()  # no session: nothing shown
            stranger.goto(f"{base}/requests/{request_id}")
            expect(stranger.get_by_role("heading", name="Logga in")).to_be_visible()
            assert ANNA not in stranger.content() and request_id not in stranger.content()
        finally:
            browser.close()
