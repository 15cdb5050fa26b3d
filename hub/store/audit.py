"""The audit log: an append-only, hash-chained record of what the hub did and for whom.

Why. The controller must be able to demonstrate compliance (GDPR Art. 5(2), Art. 24): which
request was answered, which record was deleted, retained (Bokföringslagen SFS 1999:1078 7 kap.
2 §, Art. 17(3)(b)) or handed to a person, and which recipients were told (Art. 19). Evidence
that can be edited silently proves nothing, so every entry carries the SHA-256 of the previous
entry (a hash chain from a fixed genesis value) and ``verify`` recomputes the chain:

* an edited entry no longer matches its own hash;
* a deleted or reordered entry breaks the sequence numbers or the link to its predecessor;
* a deleted *tail* leaves a shorter but internally valid chain, so the newest head
  (sequence number and hash) is also written to the state store (:mod:`hub.store.state`) in the same
  transaction, and ``verify`` compares the log's end with it. Both live in one database, so
  someone who can rewrite both can still hide a truncation: for that, keep the head that
  ``dsar audit verify`` prints somewhere else and pass it back as ``expected_head``.

Concurrency. Appends are serialised by the database's write lock: SQLite's ``BEGIN
IMMEDIATE`` (:mod:`hub.store.db`), and on PostgreSQL an advisory lock on the head's key taken
before the head is read (:mod:`hub.store.locks`; a row lock alone would lock nothing before the
first entry), held until the appending transaction ends, the caller's own included. The
sequence number is the primary key, so even a writer that bypassed the lock could not fork the
chain: two entries with one number cannot both commit.

Personal data (pseudonymisation design). When a request closes, the subject's e-mail must be
replaced by its keyed hash (:mod:`hub.store.keyed`) without breaking the chain. The chain therefore
never covers the address itself: each entry has ``subject_hash`` (the keyed hash, covered by
the chain from the start) and ``subject_email`` (the readable label while the request is open,
*excluded* from the hash). :meth:`AuditLog.pseudonymise` clears the label; nothing covered by
the chain changes, so verification still passes, and the entries remain findable by the
person's hash. ``details`` (covered) must hold no personal data: any e-mail address in it is
replaced by ``keyed:<hash>`` before the entry is hashed. ``verify`` also checks each remaining
label against its hash, so an edited label is detected too. Other personal data (names,
phone numbers) does not belong in ``details``: log record ids, processors and actions.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import CursorResult, Engine, Update, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import DsarError
from hub.store.keyed import Pseudonymiser, key_available, keyed_hash_with
from hub.store.locks import lock_state_entry
from hub.store.tables import AuditEntry, StateEntry

#: What the first entry chains to.
GENESIS_HASH = hashlib.sha256(b"dsar-hub audit log genesis v1").hexdigest()
#: State-store key of the anchored head: {"seq": n, "hash": "..."}.
HEAD_STATE_KEY = "audit.head"
_APPEND_ATTEMPTS = 3
#: An e-mail address (also percent-encoded, as in a logged URL). Like hub.core.logs.EMAIL_PATTERN,
#: but without "/" in the local part, so a path before an address is not taken as part of it.
ADDRESS_PATTERN = re.compile(r"[\w.!#$%&'*+=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.UNICODE)


class AuditChainError(DsarError):
    """The log's end does not match its anchored head: it was tampered with, so nothing is
    appended to it until ``dsar audit verify`` has been run and the cause cleared up."""


def canonical(value: Any) -> bytes:
    """The one byte serialisation that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`; ``first_bad_seq`` is the first entry that is wrong
    or missing."""

    ok: bool
    first_bad_seq: int | None = None
    reason: str | None = None
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in some containers
        return "unknown"


class AuditLog:
    """The audit log in the hub's database (tables created by ``open_database``)."""

    def __init__(self, engine: Engine, secret_path: Path) -> None:
        self.engine = engine
        self.secret_path = secret_path
        self._pseudonyms = Pseudonymiser(engine, secret_path)

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        action: str,
        *,
        request_id: str | None = None,
        actor: str | None = None,
        subject_email: str | None = None,
        details: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> AuditEntry:
        """Add one entry. With ``session`` it joins the caller's transaction (so the entry
        commits or rolls back with the ledger change it describes); without, it commits its
        own. Raises :class:`AuditChainError` if the log's end was tampered with."""
        if session is not None:
            fields = self._fields(action, request_id, actor, subject_email, details, session)
            return self._append_in(session, fields, subject_email)
        fields = self._fields(action, request_id, actor, subject_email, details)
        for attempt in range(_APPEND_ATTEMPTS):
            with Session(self.engine, expire_on_commit=False) as own:
                try:
                    entry = self._append_in(own, fields, subject_email)
                    own.commit()
                    return entry
                except IntegrityError:  # a writer that bypassed the lock took the number
                    own.rollback()
                    if attempt == _APPEND_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def _fields(self, action: str, request_id: str | None, actor: str | None,
                subject_email: str | None, details: Mapping[str, Any] | None,
                session: Session | None = None) -> dict[str, Any]:
        def pseudonym(email: str) -> str:
            return self._pseudonyms.hash(email, session)

        return {
            "request_id": request_id,
            "actor": actor or _default_actor(),
            "action": action,
            "subject_hash": pseudonym(subject_email) if subject_email else None,
            "details": _scrub(dict(details or {}), pseudonym),
        }

    def _append_in(self, session: Session, fields: dict[str, Any],
                   subject_email: str | None) -> AuditEntry:
        lock_state_entry(session, HEAD_STATE_KEY)
        head = session.get(StateEntry, HEAD_STATE_KEY, with_for_update=True,
                           populate_existing=True)
        anchored = json.loads(head.value) if head else None
        last = session.scalars(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        actual = {"seq": last.seq, "hash": last.entry_hash} if last else None
        if anchored != actual:
            raise AuditChainError(
                f"the audit log ends at {actual or 'no entry'} but its anchored head is "
                f"{anchored or 'missing'}; run 'dsar audit verify'")
        seq = last.seq + 1 if last else 1
        chained = {**fields, "seq": seq, "at": _now(),
                   "prev_hash": last.entry_hash if last else GENESIS_HASH}
        entry = AuditEntry(
            seq=seq, at=chained["at"], request_id=fields["request_id"], actor=fields["actor"],
            action=fields["action"], subject_hash=fields["subject_hash"],
            subject_email=subject_email, details=canonical(fields["details"]).decode("utf-8"),
            prev_hash=chained["prev_hash"], entry_hash=entry_hash(chained))
        session.add(entry)
        value = json.dumps({"seq": seq, "hash": entry.entry_hash})
        if head is None:
            session.add(StateEntry(key=HEAD_STATE_KEY, value=value, updated_at=datetime.now(UTC)))
        else:
            head.value, head.updated_at = value, datetime.now(UTC)
        session.flush()
        return entry

    def pseudonymise(self, email: str, *, session: Session | None = None) -> int:
        """Drop the readable address from every entry about ``email`` (GDPR Art. 17 once the
        request is closed); the entries keep its keyed hash and still verify. Returns how many
        entries changed."""
        statement = (update(AuditEntry)
                     .where(AuditEntry.subject_hash == self._pseudonyms.hash(email, session),
                            AuditEntry.subject_email.is_not(None))
                     .values(subject_email=None))
        if session is not None:
            return _changed(session, statement)
        with Session(self.engine) as own:
            count = _changed(own, statement)
            own.commit()
            return count

    # -- reading -------------------------------------------------------------------------

    def entries(self, request_id: str | None = None, limit: int | None = None
                ) -> list[AuditEntry]:
        """Entries in order (the newest ``limit`` when given), optionally of one request."""
        query = select(AuditEntry)
        if request_id is not None:
            query = query.where(AuditEntry.request_id == request_id)
        with Session(self.engine) as session:
            if limit is None:
                return list(session.scalars(query.order_by(AuditEntry.seq)))
            newest = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit)))
            return newest[::-1]

    def head(self) -> tuple[int, str] | None:
        """The anchored head (sequence number, hash), or None for an empty log."""
        with Session(self.engine) as session:
            entry = session.get(StateEntry, HEAD_STATE_KEY)
            if entry is None:
                return None
            value = json.loads(entry.value)
            return value["seq"], value["hash"]

    def verify(self, expected_head: tuple[int, str] | None = None) -> VerifyResult:
        """Recompute the whole chain; the first problem found is reported.

        ``expected_head`` is a head kept outside this database (see the module docstring).
        """
        secret = self._pseudonyms.secret() if key_available(self.secret_path) else None
        with Session(self.engine) as session:
            rows = session.scalars(
                select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=500))
            previous, expected_seq, checked = GENESIS_HASH, 1, 0
            for row in rows:
                problem = _check_row(row, expected_seq, previous, secret)
                if problem is None and expected_head and row.seq == expected_head[0] \
                        and row.entry_hash != expected_head[1]:
                    problem = row.seq, f"entry {row.seq} differs from the expected head"
                if problem is not None:
                    return VerifyResult(False, problem[0], problem[1], checked)
                previous, expected_seq, checked = row.entry_hash, row.seq + 1, checked + 1
            anchor = session.get(StateEntry, HEAD_STATE_KEY)
            anchored = json.loads(anchor.value) if anchor else None
        last_seq = expected_seq - 1
        problem = _check_anchor(anchored, last_seq, previous)
        if problem is None and expected_head and expected_head[0] > last_seq:
            problem = last_seq + 1, (f"the log ends at entry {last_seq} but the expected head "
                                     f"is entry {expected_head[0]}: the last entries were deleted")
        if problem is not None:
            return VerifyResult(False, problem[0], problem[1], checked, last_seq, previous)
        return VerifyResult(True, checked=checked, head_seq=last_seq, head_hash=previous)


def _changed(session: Session, statement: Update) -> int:
    """Rows an UPDATE changed (an UPDATE always yields a cursor result, which counts them)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def _scrub(value: Any, pseudonym: Callable[[str], str]) -> Any:
    """``value`` with every e-mail address (also percent-encoded) replaced by ``keyed:<hash>``."""
    if isinstance(value, str):
        return ADDRESS_PATTERN.sub(lambda m: "keyed:" + pseudonym(unquote(m.group())), value)
    if isinstance(value, Mapping):
        return {_scrub(str(k), pseudonym): _scrub(v, pseudonym) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, pseudonym) for v in value]
    return value


def _check_row(row: AuditEntry, expected_seq: int, previous: str,
               secret: bytes | None) -> tuple[int, str] | None:
    if row.seq != expected_seq:
        return expected_seq, (f"entry {expected_seq} is missing (deleted): the next entry is "
                              f"{row.seq}")
    try:
        computed = entry_hash(row.chained_fields())
    except (ValueError, TypeError):
        return row.seq, f"entry {row.seq} has unreadable details (edited)"
    if computed != row.entry_hash:
        return row.seq, f"entry {row.seq} does not match its hash (edited or moved)"
    if row.prev_hash != previous:
        return row.seq, (f"entry {row.seq} does not follow entry {row.seq - 1} "
                         "(an entry was replaced, inserted or reordered)")
    if row.subject_email is not None and (
            row.subject_hash is None
            or (secret is not None
                and keyed_hash_with(row.subject_email, secret) != row.subject_hash)):
        return row.seq, f"entry {row.seq}: the subject's address does not match its hash (edited)"
    return None


def _check_anchor(anchored: dict[str, Any] | None, last_seq: int,
                  last_hash: str) -> tuple[int, str] | None:
    """The log's end against the head anchored in the state store."""
    if anchored is None:
        if last_seq:
            return last_seq, "the log's anchored head is missing from the state store (removed)"
        return None
    seq, expected = anchored["seq"], anchored["hash"]
    if last_seq < seq:
        return last_seq + 1, (f"the log ends at entry {last_seq} but its anchored head is "
                              f"entry {seq}: the last entries were deleted")
    if last_seq > seq:
        return seq + 1, (f"the log continues after its anchored head (entry {seq}): entries "
                         "were added outside the hub")
    if last_hash != expected:
        return seq, f"entry {seq} differs from the anchored head (replaced)"
    return None
