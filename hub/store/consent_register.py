"""The consent register: who consented or withdrew, where, when, on what evidence, and when the
hub learnt it; plus the work that follows from a withdrawal.

GDPR Art. 7(1) makes the controller able to *demonstrate* consent, and Art. 7(3) / 21(3) make a
withdrawal or objection stop the marketing everywhere. So the register keeps, per system:

Tables
    ``consent_events``        append-only history, one row per change we learnt of: subscriber
                              id and address (the erasure job replaces addresses by keyed hashes
                              when a request closes), system, status, kind of change, when it
                              happened at the source (``changed_at``), the source's evidence
                              (``unsubscribed_at``, ``opted_in_at``, ``optin_ip``,
                              ``subscribed_at``, ``ip_address``), when and how we learnt it
                              (``learned_at``, ``learned_via``: sync, reconciliation, webhook).
    ``consent_subscribers``   the current state per subscriber and system, with a fingerprint of
                              the consent-relevant fields: a re-read of an unchanged subscriber is
                              recognised and records nothing, which is what makes re-reading a
                              page after an interruption (or a replayed webhook) harmless.
    ``consent_propagation``   one task per withdrawal and destination: ``pending`` (an API will be
                              called), ``done``, ``failed`` (retried on the next run),
                              ``manual-open`` (a person must act, e.g. in Paloma), ``manual-done``.
    ``consent_webhook_deliveries``  digests of applied webhook bodies (replay protection).

Everything one batch changes (events, states, tasks, "seen in this scan" marks, a webhook
digest) is written in one transaction by :meth:`ConsentRegister.apply`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from connectors.sdk.consent import DELETED, EVIDENCE_FIELDS
from hub.store.keyed import normalise_email
from hub.store.tables import (
    OPEN_PROPAGATION_STATES,
    ConsentEvent,
    ConsentSubscriber,
    PropagationTask,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

#: statuses that mean "no marketing" and are pushed to every destination (Art. 7(3), 21(3));
#: ``junk`` is a spam complaint, an objection in all but name.
OPT_OUT_STATUSES = frozenset({"unsubscribed", "junk"})
#: statuses under which the source may still send (unconfirmed waits for the double opt-in)
CONSENTING_STATUSES = frozenset({"active", "unconfirmed"})
#: what we record when the source no longer has the subscriber (deleted or forgotten)
OPEN_TASK_STATES = OPEN_PROPAGATION_STATES


class TaskState:
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    MANUAL_OPEN = "manual-open"
    MANUAL_DONE = "manual-done"


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every datetime stored here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def parse_source_time(value: Any) -> datetime | None:
    """A processor timestamp as an aware UTC datetime.

    MailerLite's list answers say ``2024-06-03 18:22:10`` (UTC); webhook bodies and SDK
    samples use ISO 8601 (``2024-02-05T21:48:53.000000Z``). Both become the same instant, so
    the same state read two ways has one fingerprint.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def email_key(email: str) -> str:
    """The lookup form of an address: processors store it in any letter case, so the local
    part is lower-cased and the domain case-folded (:func:`hub.store.keyed.normalise_email`);
    not case-folded throughout, which would file ``straße@`` and ``strasse@`` as one person."""
    return normalise_email(email)


@dataclass(frozen=True)
class Observation:
    """One subscriber as a source showed it at one moment (a list page, a GET, a webhook).

    ``evidence`` holds only the evidence fields the source *sent* (normalised to ISO 8601
    UTC); fields a webhook leaves out are taken from what the register already knows.
    """

    system: str
    subscriber_id: str
    email: str
    status: str
    evidence: dict[str, str | None]
    updated_at: datetime | None = None
    #: the source's current state read by a reconciliation the operator asked for
    #: (``consent-sync --full``): recorded even when older than the stored picture, so a wrong
    #: timestamp the register holds cannot keep the real status out
    reconcile: bool = False

    @classmethod
    def deleted(cls, system: str, subscriber_id: str, email: str) -> Observation:
        return cls(system=system, subscriber_id=subscriber_id, email=email, status=DELETED,
                   evidence={})


def fingerprint(email: str, status: str, evidence: dict[str, Any]) -> str:
    """What must change for a re-read subscriber to count as a change (not ``updated_at``,
    which moves with every edit of a name field)."""
    material = json.dumps([email, status, {k: evidence.get(k) for k in EVIDENCE_FIELDS}],
                          sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Destination:
    """A system an opt-out must reach: through a connector's API, or as a manual task."""

    key: str
    title: str
    connector: str | None = None
    instructions: str | None = None

    @property
    def manual(self) -> bool:
        return self.connector is None


@dataclass
class ApplyResult:
    """What one :meth:`ConsentRegister.apply` call did."""

    kinds: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    stale: int = 0
    tasks: Counter[str] = field(default_factory=Counter)  # by initial state
    review_tasks: int = 0
    duplicate_delivery: bool = False
    clock_skew: int = 0  # source timestamps in the future, not used to order changes
    max_id: int | None = None
    moves: Counter[str] = field(default_factory=Counter)  # net subscribers per status

    @property
    def events(self) -> int:
        return sum(self.kinds.values())

    def merge(self, other: ApplyResult) -> None:
        self.kinds.update(other.kinds)
        self.tasks.update(other.tasks)
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.review_tasks += other.review_tasks
        self.clock_skew += other.clock_skew
        self.moves.update(other.moves)
        if other.max_id is not None:
            self.max_id = max(self.max_id or other.max_id, other.max_id)


#: answers "which of these keyed hashes are suppressed?" inside the caller's session
SuppressionLookup = Callable[[Session, Sequence[str]], set[str]]


class ConsentRegister:
    """Reads and writes the register. Each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the one write path --------------------------------------------------------------------
    def apply(
        self,
        observations: Sequence[Observation],
        *,
        via: str,
        destinations: Sequence[Destination] = (),
        scan_id: str | None = None,
        suppressed_hashes: dict[str, str] | None = None,
        suppression_lookup: SuppressionLookup | None = None,
        delivery_digest: str | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
        source_title: str | None = None,
    ) -> ApplyResult:
        """Record what changed in ``observations``, in one transaction.

        ``scan_id`` marks every observed subscriber as seen by that scan (reconciliation finds
        the ones that were not). ``suppressed_hashes`` maps addresses to their keyed hashes and
        ``suppression_lookup`` says which hashes are on the suppression list. With
        ``delivery_digest`` (a webhook body's SHA-256) a body applied before changes nothing.
        ``dry_run`` does all of it and rolls back. ``source_title`` names the source system
        in review tasks (a person must look at something there).

        Two writers may record the same change at once (the webhook server and a scheduled
        poll). The subscribers' rows are read locked (``FOR UPDATE`` on PostgreSQL; SQLite's
        transactions hold the write lock from their start), so the later writer sees what the
        earlier one recorded and finds nothing new. Should both still write (a database that
        took no lock: each subscriber row is versioned, a new subscriber is a unique key, and
        so is an open task per opt-out and destination), the loser's batch is rolled back and
        applied once more on top of the winner's, where it finds nothing new.
        """
        options: dict[str, Any] = {
            "via": via, "destinations": destinations, "scan_id": scan_id,
            "suppressed_hashes": suppressed_hashes, "suppression_lookup": suppression_lookup,
            "delivery_digest": delivery_digest, "dry_run": dry_run,
            "now": now or datetime.now(UTC), "source_title": source_title}
        try:
            return self._apply_once(observations, **options)
        except (IntegrityError, StaleDataError):
            if delivery_digest is not None and self._delivered(delivery_digest):
                return ApplyResult(duplicate_delivery=True)  # the same body, applied meanwhile
        return self._apply_once(observations, **options)

    def _delivered(self, digest: str) -> bool:
        with Session(self.engine) as session:
            return session.get(WebhookDelivery, digest) is not None

    def _apply_once(
        self,
        observations: Sequence[Observation],
        *,
        via: str,
        destinations: Sequence[Destination],
        scan_id: str | None,
        suppressed_hashes: dict[str, str] | None,
        suppression_lookup: SuppressionLookup | None,
        delivery_digest: str | None,
        dry_run: bool,
        now: datetime,
        source_title: str | None,
    ) -> ApplyResult:
        """One attempt of :meth:`apply`, in one transaction; IntegrityError or StaleDataError
        when another writer changed one of the same rows first."""
        result = ApplyResult()
        with Session(self.engine) as session:
            if delivery_digest is not None:
                if session.get(WebhookDelivery, delivery_digest) is not None:
                    result.duplicate_delivery = True
                    return result
                session.add(WebhookDelivery(body_sha256=delivery_digest, received_at=now,
                                            observations=len(observations)))
            by_key = {(o.system, o.subscriber_id) for o in observations}
            current = self._current(session, by_key)
            suppressed = self._suppressed(session, observations, current, suppressed_hashes,
                                          suppression_lookup)
            for observation in observations:
                self._apply_one(session, observation, current, result, via=via,
                                destinations=destinations, scan_id=scan_id,
                                suppressed=suppressed, now=now, source_title=source_title)
            if dry_run:
                session.rollback()
                return result
            session.commit()
        return result

    @staticmethod
    def _current(session: Session, keys: set[tuple[str, str]]
                 ) -> dict[tuple[str, str], ConsentSubscriber]:
        found: dict[tuple[str, str], ConsentSubscriber] = {}
        by_system: dict[str, list[str]] = {}
        for system, subscriber_id in keys:
            by_system.setdefault(system, []).append(subscriber_id)
        for system, ids in by_system.items():
            for start in range(0, len(ids), 500):
                rows = session.scalars(select(ConsentSubscriber).where(
                    ConsentSubscriber.system == system,
                    ConsentSubscriber.subscriber_id.in_(ids[start:start + 500]),
                ).with_for_update())
                found.update({(row.system, row.subscriber_id): row for row in rows})
        return found

    @staticmethod
    def _suppressed(session: Session, observations: Sequence[Observation],
                    current: dict[tuple[str, str], ConsentSubscriber],
                    hashes: dict[str, str] | None, lookup: SuppressionLookup | None) -> set[str]:
        """Addresses (as observed) that are suppressed, among those entering a consenting
        status in this batch."""
        if not hashes or lookup is None:
            return set()
        wanted = {}
        for o in observations:
            row = current.get((o.system, o.subscriber_id))
            if o.status in CONSENTING_STATUSES and (
                    row is None or row.status not in CONSENTING_STATUSES) and o.email in hashes:
                wanted[hashes[o.email]] = o.email
        if not wanted:
            return set()
        hit = lookup(session, list(wanted))
        return {wanted[h] for h in hit}

    def _apply_one(self, session: Session, o: Observation,
                   current: dict[tuple[str, str], ConsentSubscriber], result: ApplyResult, *,
                   via: str, destinations: Sequence[Destination], scan_id: str | None,
                   suppressed: set[str], now: datetime, source_title: str | None) -> None:
        if o.subscriber_id.isdigit():
            number = int(o.subscriber_id)
            result.max_id = number if result.max_id is None else max(result.max_id, number)
        row = current.get((o.system, o.subscriber_id))
        if row is not None and scan_id is not None:
            row.seen_scan = scan_id
        claimed_updated = o.updated_at
        o, stored_updated = _sane_stamps(o, row, now, result)
        if stored_updated and o.updated_at and o.updated_at < stored_updated \
                and not o.reconcile:
            result.stale += 1  # an older picture (a late webhook retry): never go back in time
            return
        evidence = {**(row.evidence if row else {}), **o.evidence} if o.status != DELETED else \
            dict(row.evidence if row else {})
        email = o.email or (row.email if row else "")
        print_ = fingerprint(email, o.status, evidence)
        if row is not None and row.fingerprint == print_:
            result.unchanged += 1
            row.source_updated_at = _next_stamp(stored_updated, o)
            return

        previous = row.status if row else None
        kind = _classify(previous, o.status, evidence, aware(row.last_opt_out_at) if row else None,
                         now)
        notes = []
        review: str | None = None
        if email in suppressed:
            notes.append("address is on the suppression list (erased or objected) or its "
                         "processing is restricted (GDPR Art. 18): the hub "
                         "never re-subscribes it anywhere")
            review = ("This address is on the suppression list or restricted (Art. 18) but "
                      "the subscriber is "
                      f"{o.status} again in {source_title or o.system}. Check how it came "
                      "back; unless the person has freshly and knowingly consented, "
                      "unsubscribe or forget it.")
        elif kind == "reactivated_without_fresh_optin":
            notes.append("reactivated after an opt-out without newer opt-in evidence")
            review = (f"The subscriber was set to {o.status} in {source_title or o.system} "
                      "after opting out, without newer opt-in evidence. Unless they consented "
                      "again, set them back to unsubscribed.")
        event = ConsentEvent(
            system=o.system, subscriber_id=o.subscriber_id, email=email,
            email_key=email_key(email), kind=kind, status=o.status, previous_status=previous,
            changed_at=_changed_at(o, evidence, now),
            evidence={**evidence, "updated_at": _iso(claimed_updated)},
            learned_at=now, learned_via=via, note="; ".join(notes) or None,
        )
        session.add(event)
        session.flush()
        result.kinds[kind] += 1
        result.moves[o.status] += 1
        if previous is not None:
            result.moves[previous] -= 1

        if row is None:
            row = ConsentSubscriber(system=o.system, subscriber_id=o.subscriber_id,
                                    first_seen_at=now, seen_scan=scan_id)
            session.add(row)
            current[(o.system, o.subscriber_id)] = row
        row.email, row.email_key, row.status = email, email_key(email), o.status
        row.evidence, row.fingerprint, row.changed_at = evidence, print_, now
        row.last_event_id = event.id
        row.source_updated_at = _next_stamp(stored_updated, o)
        opted_out = o.status in OPT_OUT_STATUSES and previous not in OPT_OUT_STATUSES
        if opted_out:
            row.last_opt_out_at = event.changed_at or now
            for destination in destinations:
                if o.system in (destination.key, destination.connector):
                    continue  # the opt-out happened there: never pushed back to its origin
                self._task(session, event, destination, "opt_out", result, now)
        if review is not None:
            source = Destination(key=o.system, title=source_title or o.system,
                                 instructions=review)
            if self._task(session, event, source, "review", result, now):
                result.review_tasks += 1

    @staticmethod
    def _task(session: Session, event: ConsentEvent, destination: Destination, action: str,
              result: ApplyResult, now: datetime) -> bool:
        """Open a task unless the same one is still open for this subscriber."""
        already = session.scalar(select(PropagationTask.id).where(
            PropagationTask.system == event.system,
            PropagationTask.subscriber_id == event.subscriber_id,
            PropagationTask.destination == destination.key,
            PropagationTask.action == action,
            PropagationTask.state.in_(OPEN_TASK_STATES)).limit(1))
        if already is not None:
            return False
        if action == "opt_out" and _already_told(session, event, destination):
            return False
        state = TaskState.MANUAL_OPEN if destination.manual else TaskState.PENDING
        session.add(PropagationTask(
            event_id=event.id, system=event.system, subscriber_id=event.subscriber_id,
            email=event.email, email_key=event.email_key, destination=destination.key,
            destination_title=destination.title, action=action, state=state, attempts=0,
            instructions=destination.instructions, created_at=now, updated_at=now))
        if action == "opt_out":
            result.tasks[state] += 1
        return True

    # -- scans ---------------------------------------------------------------------------------
    def counts_by_status(self, system: str) -> dict[str, int]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(ConsentSubscriber.status, func.count())
                .where(ConsentSubscriber.system == system)
                .group_by(ConsentSubscriber.status))
            return {status: count for status, count in rows}

    def unseen(self, system: str, scan_id: str, statuses: Iterable[str] | None,
               batch: int = 100, exclude: set[str] | None = None
               ) -> Iterator[list[tuple[str, str]]]:
        """(subscriber id, address) of subscribers a finished scan did not see, in batches of
        at most ``batch``; only those whose stored status is in ``statuses`` (None: all but
        deleted). ``exclude`` holds ids seen by a dry run (which marks nothing)."""
        wanted = list(statuses) if statuses is not None else None
        after = ""
        while True:
            with Session(self.engine) as session:
                query = select(ConsentSubscriber.subscriber_id, ConsentSubscriber.email).where(
                    ConsentSubscriber.system == system,
                    ConsentSubscriber.subscriber_id > after)
                if exclude is None:
                    query = query.where((ConsentSubscriber.seen_scan != scan_id)
                                        | ConsentSubscriber.seen_scan.is_(None))
                if wanted is None:
                    query = query.where(ConsentSubscriber.status != DELETED)
                else:
                    query = query.where(ConsentSubscriber.status.in_(wanted))
                rows = [(r[0], r[1]) for r in session.execute(
                    query.order_by(ConsentSubscriber.subscriber_id).limit(batch))]
            if not rows:
                return
            after = rows[-1][0]
            rows = [row for row in rows if not exclude or row[0] not in exclude]
            if rows:
                yield rows

    def mark_seen(self, system: str, subscriber_ids: Sequence[str], scan_id: str) -> None:
        with Session(self.engine) as session:
            session.execute(update(ConsentSubscriber).where(
                ConsentSubscriber.system == system,
                ConsentSubscriber.subscriber_id.in_(list(subscriber_ids))
            ).values(seen_scan=scan_id))
            session.commit()

    def known_email(self, system: str, subscriber_id: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(ConsentSubscriber, (system, subscriber_id))
            return row.email if row else None

    # -- propagation ---------------------------------------------------------------------------
    def tasks_to_push(self, destinations: Sequence[str], *, after_id: int = 0,
                      batch: int = 100) -> list[PropagationTask]:
        """Pending and failed opt-out tasks for API destinations, oldest first."""
        if not destinations:
            return []
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(PropagationTask).where(
                PropagationTask.destination.in_(list(destinations)),
                PropagationTask.action == "opt_out",
                PropagationTask.state.in_((TaskState.PENDING, TaskState.FAILED)),
                PropagationTask.id > after_id,
            ).order_by(PropagationTask.id).limit(batch)))

    def event(self, event_id: int) -> ConsentEvent | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(ConsentEvent, event_id)

    def finish_task(self, task_id: int, *, state: str, receipt: str | None = None,
                    error: str | None = None, count_attempt: bool = True,
                    now: datetime | None = None) -> None:
        with Session(self.engine) as session:
            task = session.get(PropagationTask, task_id)
            if task is None:
                raise KeyError(task_id)
            task.state = state
            task.attempts += 1 if count_attempt else 0
            task.receipt = receipt if receipt is not None else task.receipt
            task.last_error = error
            task.updated_at = now or datetime.now(UTC)
            session.commit()

    def task_counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            rows = session.execute(select(PropagationTask.state, func.count())
                                   .group_by(PropagationTask.state))
            return {state: count for state, count in rows}

    def open_tasks(self, *, include_closed: bool = False,
                   limit: int | None = None) -> list[PropagationTask]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(PropagationTask).order_by(PropagationTask.id)
            if not include_closed:
                query = query.where(PropagationTask.state.in_(OPEN_TASK_STATES))
            if limit:
                query = query.limit(limit)
            return list(session.scalars(query))

    def resolve_task(self, task_id: int, note: str | None = None,
                     now: datetime | None = None) -> PropagationTask:
        """A person did the task by hand (or made sure it is not needed)."""
        with Session(self.engine, expire_on_commit=False) as session:
            task = session.get(PropagationTask, task_id)
            if task is None:
                raise KeyError(task_id)
            if task.state in (TaskState.DONE, TaskState.MANUAL_DONE):
                return task
            task.state = TaskState.MANUAL_DONE
            task.receipt = note or "done by hand"
            task.updated_at = now or datetime.now(UTC)
            session.commit()
            return task

    def follow_address(self, old: str, new: str) -> int:
        """A subject's corrected e-mail address (rectification, GDPR Art. 16): each system's
        current consent state is now filed under ``new``, so the next sync and a later
        withdrawal find it; the events keep the address they were observed with (they are
        evidence). Returns how many subscriber rows moved."""
        with Session(self.engine) as session, session.begin():
            rows = list(session.scalars(select(ConsentSubscriber).where(
                ConsentSubscriber.email_key == email_key(old))))
            for row in rows:
                row.email, row.email_key = new, email_key(new)
            return len(rows)

    # -- reading one person's history ----------------------------------------------------------
    def history(self, email: str) -> dict[str, list[Any]]:
        key = email_key(email)
        with Session(self.engine, expire_on_commit=False) as session:
            return {
                "subscribers": list(session.scalars(select(ConsentSubscriber).where(
                    ConsentSubscriber.email_key == key).order_by(ConsentSubscriber.system))),
                "events": list(session.scalars(select(ConsentEvent).where(
                    ConsentEvent.email_key == key).order_by(ConsentEvent.id))),
                "tasks": list(session.scalars(select(PropagationTask).where(
                    PropagationTask.email_key == key).order_by(PropagationTask.id))),
            }

    def snapshot(self) -> dict[str, Any]:
        """The whole register without volatile columns, for tests comparing two runs."""
        with Session(self.engine) as session:
            events = [
                (e.system, e.subscriber_id, e.email, e.kind, e.status, e.previous_status,
                 _iso(aware(e.changed_at)), json.dumps(e.evidence, sort_keys=True), e.note)
                for e in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))]
            states = [
                (s.system, s.subscriber_id, s.email, s.status, s.fingerprint)
                for s in session.scalars(select(ConsentSubscriber).order_by(
                    ConsentSubscriber.system, ConsentSubscriber.subscriber_id))]
            tasks = [
                (t.subscriber_id, t.destination, t.action, t.state)
                for t in session.scalars(select(PropagationTask).order_by(PropagationTask.id))]
        return {"events": sorted(events), "states": states, "tasks": sorted(tasks)}


def _already_told(session: Session, event: ConsentEvent, destination: Destination) -> bool:
    """The destination has an opt-out task for this address (from another system: a
    withdrawal the hub recorded, then seen again as MailerLite's unsubscribe), in any state
    (a failed one is retried), and the address has not been recorded as consenting anywhere
    since: telling it again would only open a second manual task for the same person."""
    last_consent = session.scalar(select(func.max(ConsentEvent.learned_at)).where(
        ConsentEvent.email_key == event.email_key,
        ConsentEvent.status.in_(CONSENTING_STATUSES)))
    query = select(PropagationTask.id).where(
        PropagationTask.email_key == event.email_key,
        PropagationTask.destination == destination.key,
        PropagationTask.action == "opt_out")
    if last_consent is not None:
        query = query.where(PropagationTask.created_at > last_consent)
    return session.scalar(query.limit(1)) is not None


#: how far ahead of this machine's clock a source timestamp may be and still order changes
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)


def _future(moment: datetime | None, now: datetime) -> bool:
    """``moment`` lies in the future beyond :data:`CLOCK_SKEW_TOLERANCE`."""
    return moment is not None and moment > now + CLOCK_SKEW_TOLERANCE


def _evidence_time(evidence: dict[str, Any], name: str, now: datetime) -> datetime | None:
    """An evidence timestamp to compare with, or None when absent or in the future."""
    moment = parse_source_time(evidence.get(name))
    return None if _future(moment, now) else moment


def _sane_stamps(o: Observation, row: ConsentSubscriber | None, now: datetime,
                 result: ApplyResult) -> tuple[Observation, datetime | None]:
    """The observation and the stored ``updated_at`` as far as they can order changes.

    One record whose ``updated_at`` lies in the future (a skewed clock at the source, an import
    with a wrong date) would otherwise outrank every later real change of that subscriber: each
    real opt-out would count as an older, stale picture. So a future ``updated_at`` is not used
    to order anything, whether it arrives now (it is dropped from the observation, and the
    event keeps it as the source's claim) or is already stored (it is disregarded and replaced
    by the next sane one). The log names the subscriber by id only, never by address.
    """
    stored = aware(row.source_updated_at) if row else None
    if o.updated_at is not None and _future(o.updated_at, now):
        log.warning("%s subscriber %s: updated_at %s is %s ahead of this clock; not used to "
                    "order changes", o.system, o.subscriber_id, _iso(o.updated_at),
                    o.updated_at - now)
        result.clock_skew += 1
        o = replace(o, updated_at=None)
    if row is not None and _future(stored, now):
        log.warning("%s subscriber %s: the stored updated_at %s is in the future; disregarded",
                    o.system, o.subscriber_id, _iso(stored))
        result.clock_skew += 1
        row.source_updated_at = stored = None
    if row is not None and _future(aware(row.last_opt_out_at), now):
        log.warning("%s subscriber %s: the stored opt-out time is in the future; set to now",
                    o.system, o.subscriber_id)
        result.clock_skew += 1
        row.last_opt_out_at = now  # it happened before we learnt it, so not after now
    return o, stored


def _next_stamp(stored: datetime | None, o: Observation) -> datetime | None:
    """The ``updated_at`` to keep: the newer one; the observed one on a reconciliation."""
    if o.reconcile or (o.updated_at and (stored is None or o.updated_at > stored)):
        return o.updated_at
    return stored


def _changed_at(o: Observation, evidence: dict[str, Any], now: datetime) -> datetime | None:
    """When the change happened at the source, from its own evidence where it has one (a
    timestamp in the future is no evidence of when anything happened)."""
    if o.status == "unsubscribed":
        return _evidence_time(evidence, "unsubscribed_at", now) or o.updated_at
    if o.status in CONSENTING_STATUSES:
        return (_evidence_time(evidence, "opted_in_at", now)
                or _evidence_time(evidence, "subscribed_at", now) or o.updated_at)
    return o.updated_at


def _classify(previous: str | None, status: str, evidence: dict[str, Any],
              last_opt_out: datetime | None, now: datetime) -> str:
    if previous is None:
        return "first_seen"
    if status == DELETED:
        return "deleted"
    if status in OPT_OUT_STATUSES and previous not in OPT_OUT_STATUSES:
        return "opt_out"
    if status in CONSENTING_STATUSES and (previous in OPT_OUT_STATUSES
                                          or (previous == DELETED and last_opt_out)):
        opted_in = (_evidence_time(evidence, "opted_in_at", now)
                    or _evidence_time(evidence, "subscribed_at", now))
        fresh = opted_in is not None and (last_opt_out is None or opted_in > last_opt_out)
        return "re_subscribed" if fresh else "reactivated_without_fresh_optin"
    if previous == "unconfirmed" and status == "active":
        return "confirmed"
    if status == "bounced" and previous != "bounced":
        return "bounced"
    if status != previous:
        return "status_changed"
    return "evidence_changed"
