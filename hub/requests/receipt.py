"""Requests whose receipt date nobody gave: the hub assumed it.

The one-month deadline of Art. 12(3) counts from the day a request reached the controller.
``dsar requests open --received DATE`` records that day; ``dsar lookup`` and ``dsar erase``
open a request themselves when none is open, and then only know when *they* ran. That moment
is recorded as the receipt, flagged as assumed (``requests.received_at_assumed``), and every
run on such a request says so, because a request that arrived by post a week earlier is due
a week earlier than the ledger thinks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from hub.requests.context import RequestContext
from hub.store.db import open_database
from hub.store.ledger import Ledger


def assumed_receipts(ctx: RequestContext, request_ids: Iterable[str]) -> dict[str, date]:
    """The requests among ``request_ids`` whose receipt date was assumed, with that date."""
    ledger = Ledger(open_database(ctx.ledger_url))
    try:
        requests = [ledger.get(request_id) for request_id in dict.fromkeys(request_ids)]
    finally:
        ledger.engine.dispose()
    return {r.id: r.received_on for r in requests if r.received_at_assumed}


def assumed_receipt_warning(request_id: str | None, received_on: date | None = None) -> str:
    """What the operator reads about one such request (no address: it may be logged).
    Without ``request_id`` the request is not opened yet (a plan only shown)."""
    advice = ("If it reached you earlier, record that day with `dsar requests open EMAIL --type "
              "TYPE --received DATE` before the first run; its one-month deadline counts from "
              "it.")
    if request_id is None:
        return ("no request is open for this address, so running the erasure will record today "
                f"as the day it was received (assumed). {advice}")
    return (f"request {request_id}: nobody gave the day it was received, so {received_on}, the "
            "day a lookup or erasure opened it, was recorded instead (assumed). If it reached "
            "you earlier, its one-month deadline is earlier too.")
