"""Alembic's entry point: migrate the connection :mod:`hub.store.schema` hands over.

The hub never lets Alembic open its own connection: the caller has already taken the lock that
serialises upgrades (SQLite's write lock, PostgreSQL's advisory lock) on this connection.
"""

from __future__ import annotations

from alembic import context

from hub.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most constraints: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
