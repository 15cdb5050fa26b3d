"""The ``[worker]`` settings: when the periodic consent sync runs under ``dsar worker``.

Read like ``[consent]`` (:mod:`hub.config.consent`): environment (``DSAR_WORKER__*``), ``.env``,
then the TOML file. Only the workers read them, so they live beside the jobs, not in the hub's
settings that every command validates.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from hub.config.table import load_table

#: every five minutes: the cadence the README recommends for the cron-started consent sync
DEFAULT_CONSENT_CRON = "*/5 * * * *"


class WorkerSettings(BaseModel):
    """What ``dsar worker`` schedules by itself."""

    consent_sync_cron: str = Field(
        DEFAULT_CONSENT_CRON,
        description="When the consent sync runs (cron; a sixth field gives seconds). Every "
        "worker schedules it and the queue runs it once per tick across all machines; an "
        "empty value turns the periodic sync off.")

    @field_validator("consent_sync_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        fields = value.split()
        if len(fields) not in (5, 6):
            raise ValueError(f"not a cron expression: {value!r} (e.g. '*/5 * * * *')")
        try:
            from croniter import croniter  # type: ignore[import-untyped]  # procrastinate's
        except ImportError:  # checked again, with an install hint, when a worker starts
            return value
        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r} (e.g. '*/5 * * * *')")
        return value


def load_worker_settings(config_path: Path | None) -> WorkerSettings:
    """The ``[worker]`` table of the configuration (environment first, as everywhere)."""

    return load_table(config_path, "worker", WorkerSettings)
