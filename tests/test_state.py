"""The durable state store: values survive, and the lock serialises read-modify-write."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.store.db import open_database
from hub.store.state import StateStore


def test_put_get_and_rollback(tmp_path: Path) -> None:
    store = StateStore(open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    assert store.get("k") is None
    store.put("k", {"token": "one"})
    assert store.get("k") == {"token": "one"}
    with pytest.raises(RuntimeError), store.locked("k") as locked:
        locked.set({"token": "two"})
        raise RuntimeError("crash before commit")
    assert store.get("k") == {"token": "one"}
    with pytest.raises(RuntimeError), store.locked("k") as locked:
        locked.set({"token": "three"})
        locked.commit()  # durable now, whatever happens next
        raise RuntimeError("crash after commit")
    assert store.get("k") == {"token": "three"}


def test_concurrent_increments_are_serialised(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    open_database(url)

    def worker() -> None:
        store = StateStore(open_database(url))
        for _ in range(20):
            with store.locked("n") as locked:
                locked.set((locked.value or 0) + 1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert StateStore(open_database(url)).get("n") == 80


def test_the_database_file_is_private_even_in_an_open_folder(tmp_path: Path) -> None:
    """A state folder that others may read (0755, umask 022) still gets a 0600 database."""
    import os
    import stat

    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        engine = open_database(f"sqlite:///{folder / 'ledger.sqlite3'}")
        StateStore(engine).put("probe", {"x": 1})
    finally:
        os.umask(old)
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        path = folder / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_an_existing_readable_database_is_made_private(tmp_path: Path) -> None:
    import stat

    path = tmp_path / "ledger.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_database(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
