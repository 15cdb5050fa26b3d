"""Run the real ``dsar`` CLI in a subprocess, as a user or a scheduler would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
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


def hub_environment() -> dict[str, str]:
    """This process's environment for a ``python -m hub`` subprocess: no DSAR_* setting of the
    developer's, except the test's database (``DSAR_DATABASE_URL``, set by the conftest only
    when the suite runs on PostgreSQL)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("DSAR_") or k == "DSAR_DATABASE_URL"}


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
