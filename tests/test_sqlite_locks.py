"""SQLite shared by a long-running ``dsar serve`` and other ``dsar`` commands: the server must
keep its locks on the database when it opens another engine, or the next command deletes the
WAL under it and the server's writes are lost (POSIX drops a process's locks on a file when it
closes any descriptor of that file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from hub.store.db import make_engine

OTHER_COMMAND = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                 "print(c.execute('SELECT count(*) FROM t').fetchone()[0]); c.close()")


def _other_process(path: Path) -> str:
    """A separate process that opens the database, reads it and closes it, as a CLI command
    does."""
    done = subprocess.run([sys.executable, "-c", OTHER_COMMAND, str(path)],  # noqa: S603
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_a_second_engine_keeps_the_servers_writes_when_another_process_closes(
        tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    server = make_engine(f"sqlite:///{path}")
    with server.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    held = server.connect()  # the server's pool keeps its connection open
    held.execute(text("SELECT count(*) FROM t")).scalar_one()
    held.commit()

    make_engine(f"sqlite:///{path}")  # the server opens another store on the same file
    assert _other_process(path) == "1"  # another dsar command comes and goes
    held.execute(text("INSERT INTO t VALUES (2)"))
    held.commit()
    held.close()

    assert _other_process(path) == "2"  # the server's second write reached the database
    server.dispose()
