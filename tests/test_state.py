"""The durable state store: values survive, and the lock serialises read-modify-write."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.core.errors import ConfigurationError
from hub.store.db import open_database
from hub.store.state import StateStore


def test_put_get_and_rollback(database_url: str) -> None:
    store = StateStore(open_database(database_url))
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


def test_concurrent_increments_are_serialised(database_url: str) -> None:
    url = database_url
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


# --------------------------------------------------------------------------- encrypted values
TOKEN = "rt-5e1f0c7a-never-in-clear"


def _raw(store: StateStore, key: str) -> str:
    from sqlalchemy.orm import Session

    from hub.store.tables import StateEntry

    with Session(store.engine) as session:
        entry = session.get(StateEntry, key)
        assert entry is not None
        return entry.value


def test_connector_state_is_encrypted_under_a_private_key_beside_the_keyed_hash_key(
        tmp_path: Path, database_url: str) -> None:
    import stat

    from hub.store.keyed import secret_path
    from hub.store.sealed import key_path
    from hub.store.state import connector_state

    state_dir = tmp_path / "state"
    engine = open_database(database_url)
    store = connector_state(engine, state_dir)
    assert not key_path(state_dir).exists()  # nothing stored yet, no key made
    store.put("fortnox:tokens:x", {"refresh_token": TOKEN})
    assert key_path(state_dir).parent == secret_path(state_dir).parent
    assert stat.S_IMODE(key_path(state_dir).stat().st_mode) == 0o600
    raw = _raw(store, "fortnox:tokens:x")
    assert raw.startswith("fernet:v1:") and TOKEN not in raw
    assert store.get("fortnox:tokens:x") == {"refresh_token": TOKEN}
    with store.locked("fortnox:tokens:x") as locked:
        assert locked.value == {"refresh_token": TOKEN}
        locked.set({"refresh_token": TOKEN + "-2"})
    assert TOKEN not in _raw(store, "fortnox:tokens:x")
    assert connector_state(engine, state_dir).get("fortnox:tokens:x") == {
        "refresh_token": TOKEN + "-2"}  # another process with the same key file
    with pytest.raises(ConfigurationError, match="encrypted"):
        StateStore(engine).get("fortnox:tokens:x")  # the hub's own store has no key


def test_a_value_stored_in_clear_before_is_read_then_encrypted(tmp_path: Path,
                                                               database_url: str) -> None:
    from hub.store.state import connector_state

    engine = open_database(database_url)
    StateStore(engine).put("old", {"refresh_token": TOKEN})  # as an older version stored it
    sealed = connector_state(engine, tmp_path)
    assert sealed.get("old") == {"refresh_token": TOKEN}
    assert TOKEN in _raw(sealed, "old")  # a plain read changes nothing
    with sealed.locked("old") as locked:  # the next locked use (a token refresh) encrypts it
        assert locked.value == {"refresh_token": TOKEN}
    assert TOKEN not in _raw(sealed, "old") and sealed.get("old") == {"refresh_token": TOKEN}
    StateStore(engine).put("older", {"v": 1})
    sealed.put("older", {"v": 2})  # and so does any write
    assert _raw(sealed, "older").startswith("fernet:v1:")


def test_a_value_sealed_under_a_lost_key_counts_as_absent(tmp_path: Path, database_url: str,
                                                           caplog) -> None:
    from hub.store.sealed import key_path
    from hub.store.state import connector_state

    engine = open_database(database_url)
    connector_state(engine, tmp_path).put("k", {"refresh_token": TOKEN})
    key_path(tmp_path).unlink()  # the state folder was lost, the database restored
    assert connector_state(engine, tmp_path).get("k") is None
    assert "another key" in caplog.text and TOKEN not in caplog.text


@pytest.mark.database
def test_config_check_warns_about_a_state_folder_others_can_read(tmp_path: Path) -> None:
    from hub.config.check import state_warnings
    from hub.config.settings import HubSettings

    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)  # as the hub makes it (the database may live elsewhere)
    settings = HubSettings(state_dir=state_dir)
    StateStore(open_database(settings.ledger_url)).put("probe", 1)
    (state_dir / "consent-sync.lock").touch(mode=0o644)  # empty: nothing to read
    assert state_warnings(settings) == []
    state_dir.chmod(0o755)
    (state_dir / "keyed-hash.key").write_bytes(b"x" * 32)
    (state_dir / "keyed-hash.key").chmod(0o640)
    warnings = state_warnings(settings)
    assert len(warnings) == 2
    assert "open to group and others (mode 0755)" in warnings[0]
    assert f"chmod 700 {state_dir}" in warnings[0]
    assert "keyed-hash.key can be read by its group (mode 0640)" in warnings[1]
