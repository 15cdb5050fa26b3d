"""Which database the suite runs on (see tests/conftest.py): SQLite files by default, a
PostgreSQL server when ``DSAR_TEST_DATABASE_URL`` names one."""

from __future__ import annotations

import os
from pathlib import Path

#: Read at import, before the conftest clears every DSAR_* variable for the tests.
POSTGRES_URL = os.environ.get("DSAR_TEST_DATABASE_URL") or None


def on_postgres() -> bool:
    """The suite runs against PostgreSQL (for the few checks only an SQLite file allows)."""
    return POSTGRES_URL is not None


def hub_database_url(state_dir: Path) -> str:
    """The database a hub with ``DSAR_STATE_DIR=state_dir`` uses in this test: the test's
    PostgreSQL database (``DSAR_DATABASE_URL``, set by the conftest), else the SQLite file in
    the state folder."""
    return os.environ.get("DSAR_DATABASE_URL") or f"sqlite:///{state_dir / 'ledger.sqlite3'}"
