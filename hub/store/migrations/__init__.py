"""Alembic migrations of the hub's database (both SQLite and PostgreSQL).

``hub.store.schema.upgrade`` runs them; ``env.py`` is what Alembic executes for each run and
``versions/`` holds one revision per schema change. A revision is written once and never
edited after it has shipped: databases in the field are at every revision.
"""
