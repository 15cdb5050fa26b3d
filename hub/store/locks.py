"""Serialising the writers of one key, on SQLite and on PostgreSQL alike.

Several stores read a row, decide, and write it back: the state store's one-time tokens, the
audit log's head, the keyed-hash fingerprint, a request's erasure plan. Two processes must
never both act on the same read. ``SELECT … FOR UPDATE`` is not enough on PostgreSQL: it locks
only rows that exist, so the first use of a key (no row yet) locks nothing, both processes see
"absent", and both insert. What each database needs:

* SQLite: nothing more. Every transaction of ours begins ``IMMEDIATE`` (:mod:`hub.store.db`)
  and so holds the database's write lock from its first statement.
* PostgreSQL: a transaction-level advisory lock on the key's name, taken before the read. It
  exists whether or not the row does, and the server drops it when the transaction commits,
  rolls back or its connection dies, so a crash never leaves it held. Under PostgreSQL's
  default isolation (read committed) each statement after it sees what the previous holder
  committed.

Two names that hash alike merely wait for each other. The locks live in a two-part key space
of their own (:data:`KEY_SPACE`), apart from the schema upgrade's single 64-bit key.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

#: first half of every advisory lock key taken here ("dsar" in ASCII)
KEY_SPACE = 0x64736172


def lock_key(session: Session | Connection, name: str) -> None:
    """Hold ``name`` until the current transaction ends (see the module docstring); every
    other transaction that locks the same name waits for it."""
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
                        {"space": KEY_SPACE, "name": name})


def lock_state_entry(session: Session | Connection, key: str) -> None:
    """Hold the state store's entry ``key`` (present or not) until the transaction ends."""
    lock_key(session, f"state:{key}")
