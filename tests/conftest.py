"""Shared fixtures. Tests never reach the network: respx mocks, or the sandbox on loopback."""

from __future__ import annotations

import pytest

from hub.core.logs import ensure_redaction
from hub.http import HttpPolicy


@pytest.fixture(autouse=True, scope="session")
def _redaction() -> None:
    ensure_redaction()


@pytest.fixture
def fast_policy() -> HttpPolicy:
    """Retries without long waits; three attempts as the tests' contract."""
    return HttpPolicy(max_attempts=3, max_retry_seconds=10, backoff_max_seconds=0.05,
                      rate_limit_requests=1000, rate_limit_seconds=1.0, timeout_seconds=2)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No test reads the developer's DSAR_* variables, .env or state directory."""
    import os

    for name in list(os.environ):
        if name.startswith("DSAR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _reports_match_schema(request: pytest.FixtureRequest):
    """Every report.json a test leaves under its tmp_path validates against the published
    schema (``dsar schema report``)."""
    yield
    tmp_path = getattr(request.node, "funcargs", {}).get("tmp_path")
    if tmp_path is not None:
        from tests.report_schema import assert_reports_valid_under

        assert_reports_valid_under(tmp_path)
