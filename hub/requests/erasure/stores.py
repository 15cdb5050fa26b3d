"""The records an erasure keeps (the request ledger, its action plan, the keyed-hash secret) and
closing a request in them.

Closing an erasure request is where the subject's address leaves the hub's own records: it is
replaced by its keyed hash in the ledger and the audit log, so the tool that erased a person
does not itself keep them (Art. 17, Art. 5(1)(e)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.config.settings import HubSettings
from hub.core.errors import InvalidInput
from hub.store.audit import AuditLog
from hub.store.db import open_database
from hub.store.erasure_actions import ErasureLedger
from hub.store.keyed import Pseudonymiser, secret_path
from hub.store.ledger import Ledger, RequestClosed, ledger_url
from hub.store.restrictions import RestrictionRegister


@dataclass(frozen=True)
class ErasureStores:
    """The ledger, the erasure plan of its requests and the keyed-hash secret, on one
    database."""

    ledger: Ledger
    actions: ErasureLedger
    secret: Path


def open_stores(settings: HubSettings, *, sandbox: bool, email: str | None = None
                ) -> ErasureStores:
    """The stores on the configured database (a sandbox run: its own throw-away one).
    ``email`` is the subject whose keyed hash the plan's audit entries carry."""
    engine = open_database(ledger_url(settings, sandbox=sandbox))
    secret = secret_path(settings.state_dir)
    return ErasureStores(Ledger(engine), ErasureLedger(engine, secret, subject_email=email),
                         secret)


def close_request(ledger: Ledger, request_id: str, secret: Path, *, note: str) -> bool:
    """Close an erasure request and replace the subject's address by its keyed hash in the
    ledger and the audit log. False when it was closed already: two runs of one request
    finishing together close it once, and only the one that did records it."""
    request = ledger.get(request_id)
    try:
        ledger.close(request_id, note=note)
    except RequestClosed:
        return False
    audit = AuditLog(ledger.engine, secret)
    audit.append("request.closed", request_id=request_id, subject_email=request.subject_email,
                 details={"note": note})
    ledger.pseudonymise(request_id, Pseudonymiser(ledger.engine, secret).hash)
    if request.subject_email:
        audit.pseudonymise(request.subject_email)
    return True


def refuse_if_restricted(stores: ErasureStores, email: str) -> None:
    """An erasure of a subject whose processing is restricted (GDPR Art. 18) is refused before
    anything is contacted: the person asked us to keep the data (Art. 18(1)(b)/(c)), so it
    waits until the restriction is lifted (InvalidInput: exit 2)."""
    restriction = RestrictionRegister(stores.ledger.engine, stores.secret).current(email)
    if restriction is None:
        return
    raise InvalidInput(
        f"processing of this subject is restricted (GDPR Art. 18) since "
        f"{restriction.since.date().isoformat()} (request {restriction.request_id}): the "
        "erasure is refused and nothing was contacted. Lift the restriction first, after "
        "telling the person: `dsar restrict EMAIL --lift --notified-on YYYY-MM-DD`")
