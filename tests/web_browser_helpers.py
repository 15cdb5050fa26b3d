"""What the real-browser tests of the web inbox share: ``dsar --sandbox serve`` on a free loopback
port (the ``server`` fixture), Debian's headless Chromium (no browser is downloaded), the list
of what a page refused or failed to load, and opening a request from the inbox's form.

Kept in one place so that every browser test launches Chromium with the same flags and counts
the same failures; a test file imports ``server`` by name for pytest to find the fixture."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_helpers import hub_environment

CHROMIUM = Path("/usr/bin/chromium")
ANNA = "anna.svensson@example.se"

needs_chromium = pytest.mark.skipif(
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


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, closed on the way out even when a test
    fails; the flags keep it from calling home while the tests run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()


def watch(target: Any, *, failed_responses: bool = True) -> list[str]:
    """The console errors of a page or a browser context (a script or style the CSP refused)
    and, unless told otherwise, every response of 400 or more: the list grows as the test
    browses, so a test asserts it empty (or holding only what it provoked) at the end."""
    errors: list[str] = []
    target.on("console", lambda message: errors.append(message.text)
              if message.type == "error" else None)
    if failed_responses:
        target.on("response", lambda response: errors.append(
            f"{response.status} {response.url}") if response.status >= 400 else None)
    return errors


def logged_in(browser: Any, link: str, viewport: dict[str, int], *,
              failed_responses: bool = True) -> tuple[Any, list[str]]:
    """A new page of ``browser`` logged in with the one-time ``link``, and the list
    :func:`watch` keeps for it (watched from before the login)."""
    page = browser.new_page(viewport=viewport)
    errors = watch(page, failed_responses=failed_responses)
    page.goto(link)
    return page, errors


def open_request(page: Any, kind: str | None, address: str = ANNA) -> None:
    """Fills the inbox's "new request" form for ``address`` (``kind`` None keeps the form's
    default) and registers it: the page then shows the new request."""
    page.get_by_role("link", name="Ny begäran").first.click()
    if kind is not None:
        page.get_by_label("Vad personen begär").select_option(kind)
    page.get_by_label("Personens e-postadress").fill(address)
    page.get_by_label("Hur du har kontrollerat personens identitet").fill(
        "svar från adressen i kundregistret")
    page.get_by_role("button", name="Registrera begäran").click()
