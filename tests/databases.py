"""Which database the suite runs on (see tests/conftest.py): SQLite files by default, a
PostgreSQL server when ``DSAR_TEST_DATABASE_URL`` names one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

#: Read at import, before the conftest clears every DSAR_* variable for the tests.
POSTGRES_URL = os.environ.get("DSAR_TEST_DATABASE_URL") or None

#: The fixtures that hand a test its own database. A test asking for one of them (directly or
#: through a fixture that depends on it) runs on PostgreSQL too.
DATABASE_FIXTURES = frozenset({"database_url", "new_database_url"})

#: The marker for a test that reaches the hub's database some other way: the real CLI in a
#: subprocess, an in-process hub reading ``DSAR_DATABASE_URL``, ``hub_database_url``. The SQLite
#: run fails a test that does so without it (see ``_hub_uses_the_test_database`` in the conftest).
DATABASE_MARKER = "database"

Test = TypeVar("Test", bound=Callable[..., Any])


def touches_database(item: pytest.Item) -> bool:
    """Whether ``item`` runs on PostgreSQL as well: it asks for a test database or carries the
    ``database`` marker. Decided from what the test declares, before it runs, so the PostgreSQL
    run can leave out the rest; the SQLite run proves the rest never opened the hub's database.
    """
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    return item.get_closest_marker(DATABASE_MARKER) is not None


def postgres_only(reason: str) -> Callable[[Test], Test]:
    """Decorates a test that skips on SQLite and runs on PostgreSQL (the job queue, say). It
    carries the ``database`` marker as well: skipped on SQLite, the test never shows there that
    it needs a database, so only the marker keeps it in the PostgreSQL run."""

    def mark(test: Test) -> Test:
        skipped_on_sqlite = pytest.mark.skipif(POSTGRES_URL is None, reason=reason)(test)
        return pytest.mark.database(skipped_on_sqlite)

    return mark


def on_postgres() -> bool:
    """The suite runs against PostgreSQL (for the few checks only an SQLite file allows)."""
    return POSTGRES_URL is not None


def hub_database_url(state_dir: Path) -> str:
    """The database a hub with ``DSAR_STATE_DIR=state_dir`` uses in this test: the test's
    PostgreSQL database (``DSAR_DATABASE_URL``, set by the conftest), else the SQLite file in
    the state folder."""
    return os.environ.get("DSAR_DATABASE_URL") or f"sqlite:///{state_dir / 'ledger.sqlite3'}"
