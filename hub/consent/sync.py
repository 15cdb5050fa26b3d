"""The consent sync: bring MailerLite's consent changes into the register, and make an opt-out
anywhere an opt-out everywhere (GDPR Art. 7(3), Art. 21(3)).

``dsar consent-sync`` runs from cron or a systemd timer every few minutes. What makes that
both cheap and correct is the incremental strategy below.

The API we have (developers.mailerlite.com/docs/subscribers)
    ``GET /api/subscribers`` with ``filter[status]`` (active, unsubscribed, unconfirmed,
    bounced, junk), ``limit`` and an opaque ``cursor``, newest first, i.e. in order of
    *creation* (subscriber id): a subscriber who unsubscribes today keeps their place deep in
    the list. There is no "updated since" filter. ``limit=0`` answers the count of a status.
    120 requests per minute per account, shared with every lookup and erasure.

Incremental strategy
    1. **Counts first** (5 requests): the size of each status list, compared with the number
       of subscribers the register holds in that status. A list whose size did not move is not
       read at all; a quiet run costs five requests.
    2. **Small lists are read whole** when their size moved (unsubscribed, bounced, junk,
       unconfirmed; up to ``incremental_full_scan_max`` subscribers), and the opt-out lists
       (unsubscribed, junk) at least every ``opt_out_rescan_minutes`` (60) even when it did
       not: an unsubscribe and a re-subscribe in the same interval cancel out in the counts.
       Since the order is by creation, an old subscriber who just unsubscribed can be
       anywhere in the list. Every
       subscriber read is compared with its stored **fingerprint** (status and the opt-in /
       opt-out evidence); only a different fingerprint records an event. Subscribers the
       register has in that status but the scan did not see have *left* the list: each is
       fetched by id (``GET /api/subscribers/{id}``) to learn where they went (re-subscribed,
       confirmed, deleted or forgotten: 404).
    3. **The large list (active) is read from the top only down to the high-water mark**, the
       highest subscriber id any earlier run saw: ids grow, so everything above it is new.
       Subscribers moving *into* active from another list are found by step 2 (they left a
       small list), so this read is skipped when the moves step 2 found already explain the
       active count.
    4. **Full reconciliation** reads every list completely against the fingerprints and looks
       up everyone not seen: on the first run, with ``--full``, every
       ``reconcile_every_hours`` (default 24), and for a list whose count still disagrees
       after an incremental run (a change the counts cannot explain, e.g. an active
       subscriber deleted, or two changes that cancel out in the counts). So nothing stays
       missed for longer than the reconciliation interval; webhooks (``dsar webhook serve``)
       make the usual case immediate.

    At 100,000 subscribers (90 % active) a quiet run costs 5 requests (plus, once an hour,
    ⌈(|unsubscribed| + |junk|) / page size⌉), a run with some unsubscribes about
    5 + |unsubscribed| / page size + one GET per subscriber who left it, and a full reconciliation
    Σ ⌈|list| / page size⌉ ≈ 1,000 requests, i.e. about eight minutes of the account's rate
    limit once a day (``bench/consent_scale.py`` measures it).

Durability and resumption
    Each page is applied in one transaction (events, fingerprints, propagation tasks, "seen by
    this scan" marks) and committed *before* the page's ``next_cursor`` is stored in the state
    store (:mod:`hub.store.state`). An interrupted run leaves its plan and cursors behind; the next
    run resumes it. A page applied but whose cursor was not yet stored is read again, and its
    unchanged fingerprints record nothing, so no change is lost or applied twice. A webhook and
    a poll seeing the same change record it once for the same reason; an older picture than
    the stored one (``updated_at`` earlier) is ignored rather than rolling the state back.

Propagation
    Each opt-out (unsubscribed, or junk = a spam complaint) opens one task per destination:
    inventory entries whose ``handling`` names them a "consent-sync target" (or those listed in
    ``[consent] destinations``), and every enabled connector that declares the ``consent``
    capability and implements :class:`OptOutDestination`. A destination with an API gets
    ``record_opt_out`` (failures are retried on every run, exit 3 until they succeed); one
    without (Paloma: it documents a contact API but no opt-out operation and no
    authentication we could rely on) gets a ``manual-open`` task with its instructions,
    listed by ``dsar consent tasks`` and ``dsar consent show EMAIL``.
    Opt-ins are never propagated (consent is given per system), addresses on the suppression
    list (:mod:`hub.store.suppression`) are never re-subscribed by the hub, and a subscriber who
    comes back is recorded as ``re_subscribed`` only with newer opt-in evidence; otherwise a
    review task is opened.

Locking
    One run at a time per database: an OS file lock in the state directory (SQLite) or a
    PostgreSQL advisory lock, both released by the operating system if the process dies, so a
    crash never leaves a stale lock. A second run exits at once (see :class:`SyncLock`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from connectors.sdk.base import Capability, Connector
from hub.core.errors import ConfigurationError, ConnectorError, InvalidInput, as_connector_error
from hub.core.logs import redact
from hub.core.subject import Subject
from hub.store.consent_register import (
    OPT_OUT_STATUSES,
    ConsentRegister,
    Destination,
    Observation,
    TaskState,
)
from hub.store.state import StateStore

if TYPE_CHECKING:
    from connectors.mailerlite import SubscriberPage
    from hub.config.settings import HubSettings
    from hub.store.suppression import SuppressionList

log = logging.getLogger(__name__)

STATUSES = ("active", "unsubscribed", "unconfirmed", "bounced", "junk")
#: lists read from the top down to the high-water mark only (they hold most subscribers)
LARGE_LISTS = frozenset({"active"})
TARGET_PATTERN = re.compile(r"consent[- ]sync target", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Settings: the [consent] table (proposed for HubSettings; read here until it is there)
# ---------------------------------------------------------------------------------------------


class ConsentSettings(BaseModel):
    """``[consent]`` in the TOML configuration, ``DSAR_CONSENT__*`` in the environment."""

    source: str = Field("mailerlite", description="Connector the consent sync reads.")
    destinations: list[str] | None = Field(
        None, description="Inventory keys or connector names that receive opt-outs. Default: "
        "inventory entries whose handling says 'consent-sync target', plus enabled connectors "
        "that implement record_opt_out.")
    reconcile_every_hours: float = Field(
        24.0, ge=0, description="Full reconciliation interval; 0 turns periodic ones off.")
    opt_out_rescan_minutes: float = Field(
        60.0, ge=0, description="Read the unsubscribed and junk lists whole at least this "
        "often even when their counts did not move (an unsubscribe and a re-subscribe in the "
        "same interval cancel out in the counts); 0 turns it off.")
    incremental_full_scan_max: int = Field(
        20_000, ge=0, description="A changed status list up to this size is read whole by an "
        "incremental run; larger ones are read down to the high-water mark only.")
    lock_warn_after_minutes: float = Field(
        120.0, gt=0, description="A run blocked by a lock older than this exits 3, not 0.")
    webhook_secret: SecretStr | None = Field(
        None, description="The MailerLite webhook's secret (signs the Signature header).")
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8787, ge=0, le=65535)
    webhook_path: str = "/webhooks/mailerlite"
    webhook_max_body_bytes: int = Field(1_000_000, gt=0)


def load_consent_settings(settings: HubSettings, config_path: Path | None) -> ConsentSettings:
    """The ``[consent]`` settings: from ``HubSettings.consent`` once that field exists,
    otherwise from the same sources (environment, .env, the TOML file) read here."""
    existing = getattr(settings, "consent", None)
    if isinstance(existing, BaseModel):
        return ConsentSettings.model_validate(existing.model_dump())

    class _ConsentFile(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="DSAR_", env_nested_delimiter="__", env_file=".env", extra="ignore",
            toml_file=config_path, nested_model_default_partial_update=True)
        consent: ConsentSettings = Field(default_factory=ConsentSettings)

        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, dotenv_settings,
                    TomlConfigSettingsSource(settings_cls), file_secret_settings)

    try:
        return _ConsentFile().consent
    except Exception as exc:  # pydantic ValidationError, unreadable TOML
        raise ConfigurationError(f"invalid [consent] settings: {exc}") from None


# ---------------------------------------------------------------------------------------------
# The contract a destination connector implements (proposed for connectors/base.py)
# ---------------------------------------------------------------------------------------------


class OptOutEvidence(BaseModel):
    """Why a destination must stop marketing to the subject: where and when they opted out."""

    source: str = Field(description="The system where the person opted out (e.g. mailerlite).")
    status: str = Field(description="Their status there: unsubscribed or junk.")
    opted_out_at: datetime | None = Field(description="When, per the source's evidence.")
    learned_at: datetime
    event_id: int = Field(description="Consent-register event; use as an idempotency key.")


@runtime_checkable
class OptOutDestination(Protocol):
    """A connector that can record an opt-out (declares ``Capability.CONSENT``).

    ``record_opt_out`` must be idempotent (it is retried after failures) and return a short
    human receipt ("newsletter flag cleared on customer 42"); it raises a ``ConnectorError``
    when the processor refused or could not be reached. A subject the processor does not know
    is a success ("not a subscriber there").
    """

    async def record_opt_out(self, subject: Subject, evidence: OptOutEvidence) -> str: ...


def supports_opt_out(cls: type[Connector]) -> bool:
    """Declares ``consent`` and implements ``record_opt_out`` itself (a default on the base
    class that only raises, should one be added, does not count)."""
    method = getattr(cls, "record_opt_out", None)
    inherited = getattr(Connector, "record_opt_out", None)
    return (Capability.CONSENT in cls.capabilities and inspect.iscoroutinefunction(method)
            and method is not inherited)


def resolve_destinations(settings: HubSettings, connectors: dict[str, type[Connector]],
                         consent: ConsentSettings) -> tuple[list[Destination], list[str]]:
    """Where opt-outs go, and warnings about destinations that cannot be reached."""
    source, explicit = consent.source, consent.destinations
    destinations: list[Destination] = []
    warnings: list[str] = []
    taken: set[str] = set()

    def reachable(name: str | None) -> bool:
        if not name or name not in connectors or not supports_opt_out(connectors[name]):
            return False
        processor = settings.processor(name)
        return processor.is_enabled() and not processor.missing_credentials()

    for entry in settings.inventory:
        if entry.key == source or entry.connector == source:
            continue
        wanted = (entry.key in explicit or (entry.connector or "") in explicit) \
            if explicit is not None else bool(TARGET_PATTERN.search(entry.handling))
        if not wanted:
            continue
        if reachable(entry.connector):
            destinations.append(Destination(entry.key, entry.system, entry.connector))
        else:
            destinations.append(Destination(entry.key, entry.system, None,
                                            _opt_out_instructions(entry.system,
                                                                  entry.manual_instructions)))
        taken |= {entry.key, entry.connector or entry.key}
    for name, cls in connectors.items():
        if name == source or name in taken or not supports_opt_out(cls):
            continue
        if explicit is not None and name not in explicit:
            continue
        if reachable(name):
            destinations.append(Destination(name, cls.title, name))
            taken.add(name)
        else:
            warnings.append(f"{cls.title} could receive opt-outs but is disabled or not "
                            "configured; it gets none")
    if explicit is not None:
        unknown = set(explicit) - taken
        if unknown:
            raise ConfigurationError(
                f"[consent] destinations names unknown systems: {', '.join(sorted(unknown))} "
                "(use inventory keys or connector names)")
    return destinations, warnings


def _opt_out_instructions(system: str, how_to_find: str | None) -> str:
    text_ = (f"Unsubscribe this address in {system} so it gets no more marketing (unsubscribe "
             "rather than delete: an unsubscribed entry stops a later import from adding it "
             "again).")
    return f"{text_} Finding it: {how_to_find}" if how_to_find else text_


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------


class SyncLock:
    """At most one holder per name and database, held for a process's lifetime.

    SQLite (the database is a local file): ``flock`` on ``<state dir>/<name>.lock``.
    PostgreSQL (several hosts may share it): a session advisory lock on a dedicated connection.
    Either way the operating system or the server drops the lock when the process dies. Who
    holds it (pid, host, since when) is written to the state store for the message a second
    run prints.
    """

    def __init__(self, engine: Engine, state_dir: Path, name: str) -> None:
        self.engine, self.state_dir, self.name = engine, state_dir, name
        self._file: Any = None
        self._connection: Any = None
        self._store = StateStore(engine)

    @property
    def _holder_key(self) -> str:
        return f"lock.{self.name}"

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(uuid.uuid5(uuid.NAMESPACE_OID, self.name).bytes[:8], "big",
                                 signed=True)
            connection = self.engine.connect()
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": key}).scalar():
                connection.close()
                return False
            connection.commit()
            self._connection, self._key = connection, key
        else:
            import fcntl

            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle = open(self.state_dir / f"{self.name}.lock", "a+")  # noqa: SIM115
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
        self._store.put(self._holder_key, {"pid": os.getpid(), "host": socket.gethostname(),
                                           "since": datetime.now(UTC).isoformat()})
        return True

    def holder(self) -> dict[str, Any] | None:
        value = self._store.get(self._holder_key)
        return value if isinstance(value, dict) else None

    def release(self) -> None:
        if self._file is None and self._connection is None:
            return
        with contextlib.suppress(Exception):
            self._store.put(self._holder_key, None)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": self._key})
            self._connection.close()
            self._connection = None
        if self._file is not None:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SyncLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


@dataclass
class SyncSummary:
    """What one run did, for the summary line, ``--json`` and monitoring."""

    system: str
    mode: str = "incremental"
    reason: str | None = None
    dry_run: bool = False
    resumed: bool = False
    status: str = "ok"  # ok | failed (the scan stopped; resumed next run) | locked
    error: str | None = None
    scans: list[str] = field(default_factory=list)
    requests: int = 0
    pages: int = 0
    subscribers_read: int = 0
    lookups: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    stale: int = 0
    propagated: int = 0
    propagation_failed: int = 0
    manual_opened: int = 0
    review_opened: int = 0
    open_tasks: dict[str, int] = field(default_factory=dict)
    destinations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock_holder: dict[str, Any] | None = None
    lock_stale: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        """0 done; 3 partial: the scan failed, a propagation failed (retried next run), a new
        manual step is needed, or a lock has been held for suspiciously long."""
        if self.status == "locked":
            return 3 if self.lock_stale else 0
        if self.status == "failed" or self.propagation_failed:
            return 3
        if not self.dry_run and (self.manual_opened or self.review_opened):
            return 3
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "status": self.status, "exit_code": self.exit_code,
            "mode": self.mode, "reason": self.reason, "dry_run": self.dry_run,
            "resumed": self.resumed, "error": redact(self.error) if self.error else None,
            "scans": self.scans, "requests": self.requests, "pages": self.pages,
            "subscribers_read": self.subscribers_read, "lookups": self.lookups,
            "changes": dict(self.changes), "changes_total": sum(self.changes.values()),
            "unchanged": self.unchanged, "stale_ignored": self.stale,
            "propagation": {"done": self.propagated, "failed": self.propagation_failed,
                            "manual_opened": self.manual_opened,
                            "review_opened": self.review_opened,
                            "open_tasks": self.open_tasks},
            "destinations": self.destinations, "warnings": [redact(w) for w in self.warnings],
            "lock_holder": self.lock_holder,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": round((self.finished_at - self.started_at).total_seconds(), 3)
            if self.finished_at else None,
        }

    def line(self) -> str:
        """One line for people and cron mail (no addresses)."""
        if self.status == "locked":
            holder = self.lock_holder or {}
            since = holder.get("since", "?")
            return (f"consent-sync: another run holds the lock (pid {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')} since {since}); this run did nothing"
                    + ("; it has been running for suspiciously long" if self.lock_stale else ""))
        changes = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in
                            sorted(self.changes.items())) or "no changes"
        head = "consent-sync (dry run)" if self.dry_run else "consent-sync"
        parts = [f"{head} {self.system} {self.mode}"
                 + (" (resumed)" if self.resumed else "")
                 + f": {self.requests} requests, {self.subscribers_read} subscribers read; "
                 + changes]
        if not self.dry_run:
            open_manual = self.open_tasks.get(TaskState.MANUAL_OPEN, 0)
            parts.append(f"propagation: {self.propagated} done, {self.propagation_failed} "
                         f"failed, {self.manual_opened} new manual tasks "
                         f"({open_manual} open in total)")
        if self.status == "failed":
            parts.append(f"stopped: {redact(self.error or '')} (the next run resumes)")
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# The source (MailerLite) as the sync sees it
# ---------------------------------------------------------------------------------------------


class ConsentSource(Protocol):
    name: str
    title: str
    requests_sent: int

    def subscriber_pages(self, status: str, *, cursor: str | None = None
                         ) -> Any: ...  # AsyncIterator[SubscriberPage]

    async def count_subscribers(self, status: str) -> int: ...

    async def get_subscriber(self, subscriber_id: str) -> dict[str, Any] | None: ...


def _id_number(subscriber_id: Any) -> int | None:
    text_id = str(subscriber_id)
    return int(text_id) if text_id.isdigit() else None


class Suppression:
    """The suppression check, batched: hashes are computed before a batch's transaction and
    looked up inside it (one query per page instead of one transaction per address)."""

    def __init__(self, suppression: SuppressionList | None, secret_file: Path | None) -> None:
        self.list, self.secret_file = suppression, secret_file

    def hashes(self, observations: Sequence[Observation]) -> dict[str, str] | None:
        if self.list is None or self.secret_file is None or not self.secret_file.exists():
            return None  # no secret yet: nobody has ever been suppressed
        from hub.store.consent_register import CONSENTING_STATUSES

        return {o.email: self.list.hash(o.email) for o in observations
                if o.email and o.status in CONSENTING_STATUSES}

    @staticmethod
    def lookup(session: Session, hashes: Sequence[str]) -> set[str]:
        from hub.store.suppression import SuppressedAddress

        return set(session.scalars(select(SuppressedAddress.email_hash).where(
            SuppressedAddress.email_hash.in_(list(hashes)))))


def open_consent_database(url: str) -> Engine:
    """The hub's database with the consent and suppression tables."""
    from hub.store import suppression  # noqa: F401 - register the tables
    from hub.store.db import open_database

    return open_database(url)


# ---------------------------------------------------------------------------------------------
# The sync
# ---------------------------------------------------------------------------------------------


class ConsentSync:
    """One run of the sync against one source (see the module docstring for the strategy)."""

    def __init__(
        self,
        *,
        source: ConsentSource,
        register: ConsentRegister,
        store: StateStore,
        destinations: Sequence[Destination],
        consent: ConsentSettings,
        suppression: Suppression | None = None,
        dry_run: bool = False,
        on_page: Callable[[int], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source, self.register, self.store = source, register, store
        self.destinations, self.consent = list(destinations), consent
        self.suppression = suppression or Suppression(None, None)
        self.dry_run, self.on_page, self.now = dry_run, on_page, now
        self.key = f"consent_sync.{source.name}"
        self._pages = 0
        self._expected: Counter[str] = Counter()  # subscribers per status, as of now
        self._dry_seen: set[str] = set()  # dry runs mark nothing in the database

    async def run(self, *, full: bool = False) -> SyncSummary:
        summary = SyncSummary(system=self.source.name, dry_run=self.dry_run,
                              destinations=[d.title for d in self.destinations])
        state: dict[str, Any] = self.store.get(self.key) or {}
        run = state.get("run")
        try:
            if run is None or self.dry_run:
                run = await self._plan(state, full)
                self._save(state, run)
            else:
                summary.resumed = True
            summary.mode, summary.reason = run["mode"], run.get("reason")
            self._expected = Counter(self.register.counts_by_status(self.source.name))
            for step in run["steps"]:  # whole lists first: they explain moves between lists
                if step["kind"] == "full" and not step["done"]:
                    await self._scan(state, run, step, summary)
            await self._lookup_unseen(state, run, summary)
            counts = run.get("counts")
            for step in run["steps"]:
                if step["kind"] != "head" or step["done"]:
                    continue
                if counts and counts[step["status"]] == self._expected[step["status"]]:
                    step["done"] = True  # the moves found above explain its count: skip it
                    self._save(state, run)
                    continue
                await self._scan(state, run, step, summary)
            if not self.dry_run:
                await self._verify(state, run, summary)
                self._finish(state, run)
        except ConnectorError as exc:
            summary.status, summary.error = "failed", str(exc)
            log.warning("%s consent sync stopped: %s", self.source.title, exc)
        finally:
            summary.requests = self.source.requests_sent
        return summary

    # -- planning ------------------------------------------------------------------------------
    async def _plan(self, state: dict[str, Any], full: bool) -> dict[str, Any]:
        now = self.now()
        hwm = state.get("hwm")
        reason = None
        if full:
            reason = "asked for (--full)"
        elif hwm is None:
            reason = "first sync"
        elif self.consent.reconcile_every_hours and (
                state.get("last_full_at") is None
                or datetime.fromisoformat(state["last_full_at"])
                + timedelta(hours=self.consent.reconcile_every_hours) <= now):
            reason = f"periodic reconciliation (every {self.consent.reconcile_every_hours:g} h)"
        run: dict[str, Any] = {"scan_id": uuid.uuid4().hex[:16], "hwm_snapshot": hwm,
                               "started_at": now.isoformat(), "max_seen": hwm}
        if reason is not None:
            return run | {"mode": "full", "reason": reason, "counts": None, "unseen": None,
                          "steps": [_step(s, "full") for s in STATUSES]}
        counts = await self._counts()
        expected = self.register.counts_by_status(self.source.name)
        pending_full = set(state.get("pending_full") or []) | {
            status for status in self._rescan_due(state, now)
            if counts is None or counts[status] <= self.consent.incremental_full_scan_max}
        steps = []
        for status in STATUSES:
            if status in pending_full:
                steps.append(_step(status, "full"))
                continue
            large = status in LARGE_LISTS or (
                counts is not None and counts[status] > self.consent.incremental_full_scan_max)
            if large:  # read at run time only if the moves found first do not explain it
                steps.append(_step(status, "head"))
            elif counts is None or counts[status] != expected.get(status, 0):
                steps.append(_step(status, "full"))
        return run | {"mode": "incremental", "reason": None, "counts": counts,
                      "unseen": [s["status"] for s in steps if s["kind"] == "full"],
                      "steps": steps}

    def _rescan_due(self, state: dict[str, Any], now: datetime) -> set[str]:
        """Opt-out lists not read whole for ``opt_out_rescan_minutes``."""
        minutes = self.consent.opt_out_rescan_minutes
        if not minutes:
            return set()
        read_at = state.get("read_whole_at") or {}
        return {status for status in OPT_OUT_STATUSES
                if status not in read_at or datetime.fromisoformat(read_at[status])
                + timedelta(minutes=minutes) <= now}

    async def _counts(self) -> dict[str, int] | None:
        counts = {}
        for status in STATUSES:
            try:
                counts[status] = await self.source.count_subscribers(status)
            except ConnectorError as exc:
                if exc.status_code in (400, 422) or exc.status_code is None:
                    log.warning("%s did not answer a count (%s); reading the small lists whole",
                                self.source.title, exc)
                    return None
                raise
        return counts

    # -- scanning ------------------------------------------------------------------------------
    async def _scan(self, state: dict[str, Any], run: dict[str, Any], step: dict[str, Any],
                    summary: SyncSummary) -> None:
        status, head = step["status"], step["kind"] == "head"
        stop_at = run["hwm_snapshot"] if head else None
        summary.scans.append(f"{status}: {'down to the high-water mark' if head else 'whole'}")
        try:
            await self._walk(state, run, step, summary, status, stop_at)
        except ConnectorError as exc:
            if step["cursor"] is None or exc.status_code not in (400, 404, 422):
                raise
            # a stored cursor the API no longer accepts: read this list again from the top
            log.warning("%s refused a stored cursor (%s); re-reading the %s list",
                        self.source.title, exc, status)
            step["cursor"] = None
            await self._walk(state, run, step, summary, status, stop_at)

    async def _walk(self, state: dict[str, Any], run: dict[str, Any], step: dict[str, Any],
                    summary: SyncSummary, status: str, stop_at: int | None) -> None:
        scan_id = None if step["kind"] == "head" else run["scan_id"]
        page: SubscriberPage
        async for page in self.source.subscriber_pages(status, cursor=step["cursor"]):
            subscribers, reached = page.subscribers, False
            if stop_at is not None:
                fresh = [s for s in subscribers
                         if (number := _id_number(s["id"])) is None or number > stop_at]
                reached = len(fresh) < len(subscribers)
                subscribers = fresh
            observations = [Observation.from_mailerlite(
                s, system=self.source.name, status=s.get("status") or status)
                for s in subscribers]
            summary.pages += 1
            summary.subscribers_read += len(page.subscribers)
            result = self._apply(observations, summary, scan_id=scan_id,
                                 via="reconciliation" if run["mode"] == "full" else "sync")
            if result is not None and result.max_id is not None:
                run["max_seen"] = max(run["max_seen"] or 0, result.max_id)
            step["cursor"] = page.next_cursor
            step["done"] = reached or not page.next_cursor
            self._save(state, run)  # only now: the page above is committed
            self._pages += 1
            if self.on_page is not None:
                self.on_page(self._pages)
            if step["done"]:
                break
        step["done"] = True
        self._save(state, run)

    def _apply(self, observations: list[Observation], summary: SyncSummary, *,
               scan_id: str | None, via: str) -> Any:
        if not observations:
            return None
        if self.dry_run and scan_id is not None:
            self._dry_seen.update(o.subscriber_id for o in observations)
        result = self.register.apply(
            observations, via=via, destinations=self.destinations, scan_id=scan_id,
            suppressed_hashes=self.suppression.hashes(observations),
            suppression_lookup=Suppression.lookup, dry_run=self.dry_run, now=self.now(),
            source_title=self.source.title)
        self._expected.update(result.moves)
        summary.changes.update(result.kinds)
        summary.unchanged += result.unchanged
        summary.stale += result.stale
        summary.manual_opened += result.tasks.get(TaskState.MANUAL_OPEN, 0)
        summary.review_opened += result.review_tasks
        return result

    async def _lookup_unseen(self, state: dict[str, Any], run: dict[str, Any],
                             summary: SyncSummary) -> None:
        """Subscribers a completed full scan did not see left their list: ask where they went."""
        statuses = run["unseen"]
        if statuses == []:
            return
        for batch in self.register.unseen(self.source.name, run["scan_id"], statuses,
                                          exclude=self._dry_seen if self.dry_run else None):
            observations = []
            for subscriber_id, email in batch:
                subscriber = await self.source.get_subscriber(subscriber_id)
                summary.lookups += 1
                observations.append(
                    Observation.from_mailerlite(subscriber, system=self.source.name)
                    if subscriber is not None
                    else Observation.deleted(self.source.name, subscriber_id, email))
            self._apply(observations, summary, scan_id=run["scan_id"],
                        via="reconciliation" if run["mode"] == "full" else "sync")
            if self.dry_run:
                self._dry_seen.update(o.subscriber_id for o in observations)

    async def _verify(self, state: dict[str, Any], run: dict[str, Any],
                      summary: SyncSummary) -> None:
        """Every list must add up after a run. One that does not (asked twice: the count may
        just have moved) is read whole by the next run. After an incremental run only the
        lists read down to the high-water mark are checked (the others were compared at
        planning time and are compared again by the next run); after a full run, all of them:
        a subscriber who moved from a list not yet read into one already read was seen by
        neither scan."""
        kinds = {s["status"]: s["kind"] for s in run["steps"]}
        read_whole = {status for status, kind in kinds.items() if kind == "full"}
        pending = set(state.get("pending_full") or []) - read_whole
        counts = run.get("counts") or {}
        expected = self.register.counts_by_status(self.source.name)
        for status in STATUSES:
            if run["mode"] == "incremental" and kinds.get(status) != "head":
                continue
            if counts.get(status) == expected.get(status, 0):
                continue
            try:
                actual = await self.source.count_subscribers(status)
            except ConnectorError as exc:
                if exc.status_code is None or 400 <= exc.status_code < 500:
                    break  # no counts from this API: the periodic reconciliation must do
                raise
            if actual != expected.get(status, 0):
                pending.add(status)
                summary.warnings.append(
                    f"the {status} list does not add up after this run; the next run reads "
                    "it whole")
        state["pending_full"] = sorted(pending)

    def _finish(self, state: dict[str, Any], run: dict[str, Any]) -> None:
        now = self.now().isoformat()
        state["hwm"] = run["max_seen"]
        state["last_success_at"] = now
        if run["mode"] == "full":
            state["last_full_at"] = now
        read_at = state.setdefault("read_whole_at", {})
        for step in run["steps"]:
            if step["kind"] == "full":
                read_at[step["status"]] = run["started_at"]
        state["run"] = None
        if not self.dry_run:
            self.store.put(self.key, state)

    def _save(self, state: dict[str, Any], run: dict[str, Any]) -> None:
        if self.dry_run:
            return
        state["run"] = run
        self.store.put(self.key, state)


def _step(status: str, kind: str) -> dict[str, Any]:
    return {"status": status, "kind": kind, "cursor": None, "done": False}


# ---------------------------------------------------------------------------------------------
# Propagation
# ---------------------------------------------------------------------------------------------


class Propagator:
    """Pushes pending opt-outs to destinations with an API; failures stay ``failed`` and are
    tried again by the next run. Manual destinations were given their task when the opt-out
    was recorded."""

    def __init__(self, register: ConsentRegister, destinations: Sequence[Destination],
                 settings: HubSettings, connectors: dict[str, type[Connector]],
                 **connector_options: Any) -> None:
        self.register, self.settings, self.connectors = register, settings, connectors
        self.api = {d.key: d for d in destinations if not d.manual}
        self.options = connector_options

    async def run(self) -> tuple[int, int]:
        """(done, failed) in this pass."""
        if not self.api:
            return 0, 0
        done = failed = 0
        opened: dict[str, Connector] = {}
        after = 0
        try:
            while tasks := self.register.tasks_to_push(list(self.api), after_id=after):
                for task in tasks:
                    after = task.id
                    destination = self.api[task.destination]
                    ok = await self._push(task, destination, opened)
                    done, failed = done + ok, failed + (not ok)
        finally:
            for connector in opened.values():
                with contextlib.suppress(Exception):
                    await connector.aclose()
        return done, failed

    async def _push(self, task: Any, destination: Destination,
                    opened: dict[str, Connector]) -> bool:
        name = destination.connector or ""
        cls = self.connectors[name]
        try:
            connector = opened.get(name)
            if connector is None:
                accepted = {k: v for k, v in self.options.items() if k in cls.init_options}
                connector = opened[name] = cls(self.settings.processor(name), **accepted)
            event = self.register.event(task.event_id)
            evidence = OptOutEvidence(
                source=task.system, status=event.status if event else "unsubscribed",
                opted_out_at=event.changed_at if event else None,
                learned_at=event.learned_at if event else datetime.now(UTC),
                event_id=task.event_id)
            receipt = await connector.record_opt_out(  # type: ignore[attr-defined]
                Subject.from_email(task.email), evidence)
        except Exception as exc:  # every failure is recorded, none swallowed
            error = as_connector_error(exc, cls.title)
            if error is None and not isinstance(exc, InvalidInput):
                log.exception("opt-out task %s at %s: unexpected error", task.id, cls.title)
            message = str(error or exc) or type(exc).__name__
            log.warning("opt-out task %s at %s failed: %s", task.id, cls.title, message)
            self.register.finish_task(task.id, state=TaskState.FAILED, error=redact(message))
            return False
        self.register.finish_task(task.id, state=TaskState.DONE, receipt=redact(str(receipt)))
        log.info("opt-out task %s done at %s", task.id, cls.title)
        return True


# ---------------------------------------------------------------------------------------------
# One scheduled run, as the CLI and the benchmark start it
# ---------------------------------------------------------------------------------------------


async def sync_once(
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    consent: ConsentSettings,
    engine: Engine,
    *,
    dry_run: bool = False,
    full: bool = False,
    on_page: Callable[[int], None] | None = None,
    lock_name: str = "consent-sync",
) -> SyncSummary:
    """Take the lock, scan, propagate; the summary says what happened (never raises for a
    processor failure, see :attr:`SyncSummary.exit_code`)."""
    register, store = ConsentRegister(engine), StateStore(engine)
    summary = SyncSummary(system=consent.source, dry_run=dry_run)
    lock = SyncLock(engine, settings.state_dir, lock_name)
    if not dry_run and not lock.acquire():
        summary.status, summary.lock_holder = "locked", lock.holder()
        since = (summary.lock_holder or {}).get("since")
        if since:
            age = datetime.now(UTC) - datetime.fromisoformat(since)
            summary.lock_stale = age > timedelta(minutes=consent.lock_warn_after_minutes)
        summary.finished_at = datetime.now(UTC)
        return summary
    try:
        destinations, warnings = resolve_destinations(settings, connectors, consent)
        summary.destinations = [d.title for d in destinations]
        try:
            source = await _open_source(settings, connectors, consent, engine)
        except SourceNotReady as exc:
            summary.status, summary.error = "failed", str(exc)
            summary.finished_at = datetime.now(UTC)
            return summary
        async with source:
            from hub.store.keyed import secret_path
            from hub.store.suppression import SuppressionList

            path = secret_path(settings.state_dir)
            job = ConsentSync(
                source=source, register=register, store=store, destinations=destinations,
                consent=consent, suppression=Suppression(SuppressionList(engine, path), path),
                dry_run=dry_run, on_page=on_page)
            summary = await job.run(full=full)
        summary.warnings += warnings
        if not dry_run:
            pushing = SyncLock(engine, settings.state_dir, f"{lock_name}.propagation")
            if pushing.acquire():  # else the webhook server is pushing the same tasks now
                try:
                    done, failed = await Propagator(register, destinations, settings,
                                                    connectors, state=store).run()
                finally:
                    pushing.release()
                summary.propagated, summary.propagation_failed = done, failed
            summary.open_tasks = register.task_counts()
    finally:
        lock.release()
    summary.finished_at = datetime.now(UTC)
    return summary


async def _open_source(settings: HubSettings, connectors: dict[str, type[Connector]],
                       consent: ConsentSettings, engine: Engine) -> Any:
    from hub.config.settings import env_name

    name = consent.source
    if name not in connectors:
        raise ConfigurationError(f"[consent] source {name!r} is not an installed connector")
    cls = connectors[name]
    if not hasattr(cls, "subscriber_pages"):
        raise ConfigurationError(f"{cls.title} cannot be the consent-sync source (it lists no "
                                 "subscribers)")
    processor = settings.processor(name)
    if not processor.is_enabled():
        raise SourceNotReady(f"{cls.title} is disabled; enable it to sync consent")
    missing = processor.missing_credentials()
    if missing:
        raise SourceNotReady(f"{cls.title} is not configured: missing setting "
                             + ", ".join(env_name(name, f) for f in missing))
    accepted = {"state": StateStore(engine)} if "state" in cls.init_options else {}
    return cls(processor, **accepted)


class SourceNotReady(ConnectorError):
    """The source processor is disabled or lacks credentials: nothing could be read."""


def parse_interval(text_value: str) -> float:
    """``90s``, ``5m``, ``1h`` or plain seconds → seconds (at least 10)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text_value or "")
    if not match:
        raise InvalidInput(f"not an interval: {text_value!r} (use e.g. 30s, 5m, 1h)")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds < 10:
        raise InvalidInput("the interval must be at least 10 seconds")
    return seconds


def sleep_until_next(started: float, interval: float, stop: Any) -> bool:
    """Wait for the next tick (start-to-start); False when asked to stop meanwhile."""
    remaining = max(0.0, interval - (time.monotonic() - started))
    return not stop.wait(remaining)


__all__ = [
    "ConsentSettings", "ConsentSync", "OptOutDestination", "OptOutEvidence", "Propagator",
    "SyncLock", "SyncSummary", "load_consent_settings", "resolve_destinations", "sync_once",
]
