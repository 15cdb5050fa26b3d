"""Request ids: the one name a request goes by in folders, logs, the ledger and the audit log.

They are sortable by time and carry no personal data, so a log line or a folder listing never
reveals whose request it is.
"""

from __future__ import annotations

import secrets
from datetime import datetime


def new_request_id(kind: str, now: datetime) -> str:
    """``acc-20261201-093000-a1b2c3``: the type's first three letters, the time, six random hex."""
    return f"{kind[:3]}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
