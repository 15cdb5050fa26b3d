"""The database the consent commands work on.

The consent register and the suppression list live in the hub's one database (beside the
request ledger), so an erasure and a consent change can be checked against each other; every
consent command opens it the same way.
"""

from __future__ import annotations

from sqlalchemy import Engine

from hub.store.db import open_database


def open_consent_database(url: str) -> Engine:
    """The hub's database with the consent and suppression tables (created if missing)."""
    return open_database(url)
