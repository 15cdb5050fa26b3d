"""The operator's Art. 15(4) decision on an access request, kept as evidence.

GDPR Art. 15(4): the subject's copy must not adversely affect the rights of others. What was
left out or blanked, by whom and when, is what the controller shows a supervisory authority
later (Art. 5(2)), so the decision goes both into the request's history (``request_events``)
and into the hash-chained audit log (:mod:`hub.store.audit`), in one transaction: a decision
is in both or in neither. The details name records and fields by their refs only
(``zettle:purchase:<id>:userDisplayName``), never the values: the evidence must not itself
keep the other person's data it withheld.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from hub.store.audit import AuditLog
from hub.store.ledger import Ledger, LedgerEvent
from hub.store.tables import RequestEvent

#: ``request_events.kind`` (and audit action) of an approved review
REVIEWED = "access.reviewed"


def record_review_decision(ledger: Ledger, secret: Path, request_id: str,
                           details: Mapping[str, Any], *, subject_email: str | None,
                           actor: str | None = None, now: datetime | None = None
                           ) -> LedgerEvent:
    """Append the decision to the audit log and the request's history together; the event
    names who decided (the audit entry's actor: the operator's login unless given) and the
    audit entry's sequence number, so the two can be matched."""
    ledger.get(request_id)  # UnknownRequest before anything is written
    now = now or datetime.now(UTC)
    audit = AuditLog(ledger.engine, secret)
    with Session(ledger.engine, expire_on_commit=False) as session, session.begin():
        entry = audit.append(REVIEWED, request_id=request_id, actor=actor,
                             subject_email=subject_email, details=details, session=session)
        recorded = json.loads(json.dumps({**details, "decided_by": entry.actor,
                                          "audit_seq": entry.seq}, default=str))
        event = RequestEvent(request_id=request_id, at=now, kind=REVIEWED, details=recorded)
        session.add(event)
        session.flush()
        return LedgerEvent(event.id, now, event.kind, dict(event.details))
