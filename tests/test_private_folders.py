"""Folders the hub creates, parents included, are 0700 whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hub.core.folders import make_private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_new_parent_is_private_and_existing_ones_are_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    old = os.umask(0o022)
    try:
        made = make_private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    assert made.is_dir()
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(tmp_path) == 0o755
    assert make_private_dir(made) == made  # repeatable


def test_a_file_in_the_way_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        make_private_dir(tmp_path / "file")
    with pytest.raises(OSError):
        make_private_dir(tmp_path / "file" / "below")


def test_report_folders_made_by_a_lookup_are_private(tmp_path: Path) -> None:
    from tests.e2e_helpers import run_dsar

    out = tmp_path / "new" / "reports"
    run = run_dsar("--sandbox", "--json", "--out", str(out), "lookup", "anna.svensson@example.se")
    assert run.code in (0, 3), run.stderr
    assert mode(tmp_path / "new") == 0o700 and mode(out) == 0o700


@pytest.mark.database  # opens a database of its own (SQLite: the lock is a file)
def test_the_consent_sync_lock_file_is_owner_only(tmp_path: Path) -> None:
    from hub.consent.lock import SyncLock
    from hub.store.db import open_database

    old = os.umask(0o022)
    try:
        engine = open_database(f"sqlite:///{tmp_path / 'own.sqlite3'}")
        lock = SyncLock(engine, tmp_path / "state", "consent-sync")
        assert lock.acquire()
        lock.release()
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "state" / "consent-sync.lock").stat().st_mode)
    assert mode == 0o600, oct(mode)
