"""What the TestClient tests of the web inbox share: the ``gate`` and ``client`` fixtures (each
test file defines its own ``context`` and imports these by name), logging in with the one-time
link, the tokens a page carries, opening a request through the "new request" form, waiting for
a background run, and the sandbox's processors wired into a context on the test's database.

One copy, so that a change to the login or to the forms is followed by every test file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.requests.context import RequestContext
from hub.sandbox import Sandbox
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path
from hub.store.ledger import Ledger
from hub.store.state import connector_state
from hub.web.app import build_app
from hub.web.auth import Gate
from tests.e2e_helpers import filled_config
from tests.test_erase_e2e import relaxed

ANNA = "anna.svensson@example.se"


@pytest.fixture
def gate() -> Gate:
    return Gate(None)


@pytest.fixture
def client(context: RequestContext, gate: Gate) -> TestClient:
    return TestClient(build_app(context, gate))


def ledger_of(context: RequestContext) -> Ledger:
    return Ledger.open(context.ledger_url)


def csrf_of(page: str) -> str:
    """The CSRF token of a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def plan_of(page: str) -> str:
    """The plan token a confirm form carries (erasure, rectification)."""
    found = re.search(r'name="plan" value="([^"]+)"', page)
    assert found, page[:2000]
    return found.group(1)


def log_in(client: TestClient, gate: Gate) -> str:
    """Log in with the one-time link; the session's CSRF token."""
    page = client.get(f"/login/link?token={gate.login_token}")
    assert page.status_code == 200 and "Öppna begäranden" in page.text
    return csrf_of(page.text)


def open_request(client: TestClient, csrf: str, **fields: str) -> str:
    """Open a request through the "new request" form (Anna's access request unless ``fields``
    say otherwise); its id."""
    data = {"csrf": csrf, "type": "access", "email": ANNA, "received": "",
            "verified_by": "reply from the address on file", **fields}
    response = client.post("/requests/new", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


def wait_for_run(client: TestClient, request_id: str, kind: str) -> str:
    """Poll a background run's status (``kind``: erasure, rectification) until it ends; its
    phase."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/requests/{request_id}/{kind}/status").json()
        if status["finished"]:
            return str(status["phase"])
        time.sleep(0.2)
    raise AssertionError(f"the {kind} did not finish")


@contextmanager
def relaxed_sandbox() -> Iterator[Sandbox]:
    """The sandbox's processors without their rate limits (these tests count mutations); on
    the way out, none of its fakes may have crashed."""
    with Sandbox() as running:
        yield relaxed(running)
        for name, server in running.servers.items():
            assert server.internal_errors == [], f"{name} fake crashed"


def sandbox_context(sandbox: Sandbox, database_url: str, tmp_path: Path) -> RequestContext:
    """The connectors pointed at the sandbox, as ``dsar --sandbox`` points them, but on the
    test's database."""
    config = filled_config()
    connectors = discover(config)
    state_dir = tmp_path / "state"
    settings = load_settings(connectors, config, database_url=database_url, state_dir=state_dir)
    for name in connectors:
        values = ({"enabled": True, "base_url": sandbox.base_urls[name],
                   **sandbox.credentials.get(name, {})} if name in sandbox.base_urls
                  else {"enabled": False})
        settings = with_processor_overrides(settings, name, values)
    engine = open_database(database_url)
    index = HistoryIndex(engine, Pseudonymiser(engine, secret_path(state_dir)))
    return RequestContext(settings, connectors, {"state": connector_state(engine, state_dir),
                                                 "history_index": index},
                          out_dir=tmp_path / "reports", draft=True)
