"""Run the real ``dsar`` CLI in a subprocess, as a user or a scheduler would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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


def hub_environment() -> dict[str, str]:
    """This process's environment for a ``python -m hub`` subprocess: no DSAR_* setting of the
    developer's, except the test's database (``DSAR_DATABASE_URL``, set by the conftest when the
    suite runs on PostgreSQL, and on SQLite for a database-free test, to catch one that is not);
    the configuration is the filled-in example (:func:`filled_config`) unless a test passes its
    own ``DSAR_CONFIG`` or ``--config``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DSAR_") or k == "DSAR_DATABASE_URL"}
    return {**env, "DSAR_CONFIG": str(filled_config())}


def sandbox_env(sandbox: Any, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Environment that points the real connectors at a running sandbox (all its processors
    by default)."""
    env: dict[str, str] = {}
    for name in names or tuple(sandbox.base_urls):
        env[f"DSAR_{name.upper()}__BASE_URL"] = sandbox.base_urls[name]
        for field, value in sandbox.credentials[name].items():
            # nested settings (e.g. a declaration) travel as JSON, as pydantic-settings reads it
            env[f"DSAR_{name.upper()}__{field.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value))
    return env
