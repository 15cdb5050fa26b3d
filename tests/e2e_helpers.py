"""Run the real ``dsar`` CLI in a subprocess, as a user or a scheduler would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_dsar(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 120) -> Run:
    base = hub_environment()
    completed = subprocess.run(  # noqa: S603 - our own CLI with test arguments
        [sys.executable, "-m", "hub", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


#: The shipped example's placeholders and the invented values a practice would fill in.
FILLED_VALUES = {
    "<name>": "Lena Ek",
    "<accounting firm>": "Ekonomibyrån Exempel AB",
    "<fill in: Art. 15(1)(d) needs a period or the criteria>":
        "två år efter din senaste kontakt med oss",
    "<fill in the legal basis (and the Art. 9(2) condition for health data)>":
        "samtycke (artikel 6.1 a och 9.2 a)",
    "info@example.se": "kontakt@sjalvkraft.example.se",
}


@cache
def filled_config() -> Path:
    """The shipped example configuration with every placeholder filled in, as a practice would
    run it: lookups and erasures against it write real (not draft) documents."""
    text = (Path(__file__).resolve().parents[1] / "config" / "hub.toml").read_text("utf-8")
    for placeholder, value in FILLED_VALUES.items():
        text = text.replace(placeholder, value)
    path = Path(tempfile.mkdtemp(prefix="dsar-test-config-")) / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


#: A pace no fake notices: 1,000 requests a second.
UNPACED = (1000, 1.0)


def pace_of(server: Any) -> tuple[int, float]:
    """The pace the hub keeps with one running fake: the limit it enforces, as (requests,
    seconds), or :data:`UNPACED` when it enforces none.

    Why: the shipped pacing is the real processors' documented limits; against fakes on
    loopback that enforce none (Stripe, Zettle; MailerLite and the booking system unless a test
    turns theirs on) it is only waiting: a lookup of Anna retrieves 136 of her payments one by
    one, 5 s at Stripe's 25 a second. And the hub shares its budget between processes, so
    Fortnox's 25 per 5 s made every second command of a test wait for the first one's window
    even where the test had relaxed the fake. A fake that enforces a limit is paced at exactly
    that limit (the documented one unless the test changed it), so its 429 handling stays
    real; the pacing itself is proven where it is the subject (tests/test_http.py,
    tests/test_rate_budget.py, tests/sandbox/)."""
    if hasattr(server, "rate_limit_requests"):  # Fortnox: always enforced, adjustable
        return server.rate_limit_requests, server.rate_limit_seconds
    if getattr(server, "enforce_rate_limit", False):  # booking, MailerLite: a switch
        return server.window.limit, server.window.seconds
    return UNPACED


def pacing_env(servers: Mapping[str, Any]) -> dict[str, str]:
    """:func:`pace_of` each fake, as ``DSAR_<NAME>__HTTP__RATE_LIMIT_*`` settings."""
    env: dict[str, str] = {}
    for name, server in servers.items():
        requests, seconds = pace_of(server)
        env[f"DSAR_{name.upper()}__HTTP__RATE_LIMIT_REQUESTS"] = str(requests)
        env[f"DSAR_{name.upper()}__HTTP__RATE_LIMIT_SECONDS"] = str(seconds)
    return env


@cache
def _sandbox_pacing() -> dict[str, str]:
    """:func:`pacing_env` of the sandbox ``dsar --sandbox`` starts (a fresh, unchanged one)."""
    from hub.sandbox import Sandbox

    return pacing_env(Sandbox().servers)


def hub_environment() -> dict[str, str]:
    """This process's environment for a ``python -m hub`` subprocess: no DSAR_* setting of the
    developer's, except the test's database (``DSAR_DATABASE_URL``, set by the conftest when the
    suite runs on PostgreSQL, and on SQLite for a database-free test, to catch one that is not);
    the configuration is the filled-in example (:func:`filled_config`) unless a test passes its
    own ``DSAR_CONFIG`` or ``--config``; the pacing is that of the sandbox ``--sandbox`` starts
    (:func:`pacing_env`; :func:`sandbox_env` gives a running sandbox's own)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DSAR_") or k == "DSAR_DATABASE_URL"}
    return {**env, "DSAR_CONFIG": str(filled_config()), **_sandbox_pacing()}


def sandbox_env(sandbox: Any, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Environment that points the real connectors at a running sandbox (all its processors
    by default), paced as its fakes enforce now (:func:`pacing_env`: relax a fake before)."""
    names = names or tuple(sandbox.base_urls)
    env = pacing_env({name: sandbox.servers[name] for name in names})
    for name in names:
        env[f"DSAR_{name.upper()}__BASE_URL"] = sandbox.base_urls[name]
        settings = dict(sandbox.credentials[name])
        if isinstance(settings.get("http"), dict):  # a JSON table would win over the pacing
            requests, seconds = pace_of(sandbox.servers[name])
            settings["http"] = {**settings["http"], "rate_limit_requests": requests,
                                "rate_limit_seconds": seconds}
        for field, value in settings.items():
            # nested settings (e.g. a declaration) travel as JSON, as pydantic-settings reads it
            env[f"DSAR_{name.upper()}__{field.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value))
    return env
