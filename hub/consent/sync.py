"""The consent sync engine: bring a source's consent changes into the register, resumably.

``dsar consent-sync`` runs from cron or a systemd timer every few minutes. What makes that both
cheap and correct is the incremental strategy below, written against any source that offers
what :class:`connectors.sdk.consent.ConsentSource` describes: status lists (every subscriber in
exactly one), their sizes, their pages newest first with a resumable cursor, and one subscriber
by id. The source decides which lists are large; MailerLite's facts (no "updated since" filter,
a list order by creation, 120 requests per minute) are in :mod:`connectors.mailerlite_consent`.

Incremental strategy
    1. **Counts first** (one request per list): the size of each status list, compared with
       the number of subscribers the register holds in that status. A list whose size did not
       move is not read at all; a quiet run costs one request per list.
    2. **Small lists are read whole** when their size moved (up to
       ``incremental_full_scan_max`` subscribers), and the opt-out lists (unsubscribed, junk)
       at least every ``opt_out_rescan_minutes`` (60) even when it did not: an unsubscribe and
       a re-subscribe in the same interval cancel out in the counts. Since the order is by
       creation, an old subscriber who just unsubscribed can be anywhere in the list. Every
       subscriber read is compared with its stored **fingerprint** (status and the opt-in /
       opt-out evidence); only a different fingerprint records an event. Subscribers the
       register has in that status but the scan did not see have *left* the list: each is
       looked up by id to learn where they went (re-subscribed, confirmed, deleted or
       forgotten).
    3. **A large list is read from the top only down to the high-water mark**, the highest
       position any earlier run saw: positions grow, so everything above it is new.
       Subscribers moving *into* a large list from another list are found by step 2 (they left
       a small list), so this read is skipped when the moves step 2 found already explain the
       large list's count.
    4. **Full reconciliation** reads every list completely against the fingerprints and looks
       up everyone not seen: on the first run, with ``--full``, every
       ``reconcile_every_hours`` (default 24), and for a list whose count still disagrees
       after an incremental run (a change the counts cannot explain, e.g. an active
       subscriber deleted, or two changes that cancel out in the counts). So nothing stays
       missed for longer than the reconciliation interval; webhooks (``dsar webhook serve``)
       make the usual case immediate.

    At 100,000 MailerLite subscribers (90 % active) a quiet run costs 5 requests (plus, once an
    hour, ⌈(|unsubscribed| + |junk|) / page size⌉), a run with some unsubscribes about
    5 + |unsubscribed| / page size + one lookup per subscriber who left it, and a full
    reconciliation Σ ⌈|list| / page size⌉ ≈ 1,000 requests, i.e. about eight minutes of the
    account's rate limit once a day (``bench/consent_scale.py`` measures it).

Durability and resumption
    Each page is applied in one transaction (events, fingerprints, propagation tasks, "seen by
    this scan" marks) and committed *before* the page's next cursor is stored in the state
    store (:mod:`hub.store.state`). An interrupted run leaves its plan and cursors behind; the
    next run resumes it. A page applied but whose cursor was not yet stored is read again, and
    its unchanged fingerprints record nothing, so no change is lost or applied twice. A
    webhook and a poll seeing the same change record it once for the same reason; an older
    picture than the stored one (``updated_at`` earlier) is ignored rather than rolling the
    state back. That ordering trusts the source's clock only so far: an ``updated_at`` more
    than a few minutes ahead of ours orders nothing (it is logged, by subscriber id, and
    counted in the run's warnings), so one mis-dated record cannot make every later real
    opt-out look stale; and a ``--full`` run records the source's current status whatever
    the timestamps say, which repairs what such a record left behind.

Propagation (:mod:`hub.consent.propagate`) and the lock (:mod:`hub.consent.lock`) are wrapped
around a run by :func:`hub.consent.job.sync_once`.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.base import Connector
from connectors.sdk.consent import ConsentSource
from hub.config.consent import ConsentSettings
from hub.consent.source import as_consent_source, observation_of
from hub.consent.summary import SyncSummary
from hub.consent.suppression import Suppression
from hub.core.errors import ConnectorError
from hub.store.consent_register import (
    OPT_OUT_STATUSES,
    ApplyResult,
    ConsentRegister,
    Destination,
    Observation,
    TaskState,
)
from hub.store.state import StateStore

log = logging.getLogger(__name__)

_SKEW_WARNING = "some subscriber timestamps from the source lay"


class ConsentSync:
    """One run of the sync against one source (see the module docstring for the strategy)."""

    def __init__(
        self,
        *,
        source: ConsentSource | Connector,
        register: ConsentRegister,
        store: StateStore,
        destinations: Sequence[Destination],
        consent: ConsentSettings,
        suppression: Suppression | None = None,
        dry_run: bool = False,
        on_page: Callable[[int], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``source`` is the source's consent lists, or the opened source connector whose
        lists they are."""
        self.source = as_consent_source(source)
        self.register, self.store = register, store
        self.destinations, self.consent = list(destinations), consent
        self.suppression = suppression or Suppression(None, None)
        self.dry_run, self.on_page, self.now = dry_run, on_page, now
        self.key = f"consent_sync.{self.source.name}"
        self._pages = 0
        self._expected: Counter[str] = Counter()  # subscribers per status, as of now
        self._dry_seen: set[str] = set()  # dry runs mark nothing in the database

    @property
    def statuses(self) -> tuple[str, ...]:
        """The source's status lists, in the order a run reads them."""
        return self.source.statuses

    async def run(self, *, full: bool = False) -> SyncSummary:
        """Plan (or resume) a run, read what the plan says, verify the counts, finish; a
        processor failure stops the run with ``status = "failed"`` (the next run resumes)."""
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
                          "steps": [_step(s, "full") for s in self.statuses],
                          "reconcile": full}
        counts = await self._counts()
        expected = self.register.counts_by_status(self.source.name)
        pending_full = set(state.get("pending_full") or []) | {
            status for status in self._rescan_due(state, now)
            if counts is None or counts[status] <= self.consent.incremental_full_scan_max}
        steps = []
        for status in self.statuses:
            if status in pending_full:
                steps.append(_step(status, "full"))
                continue
            large = status in self.source.large_statuses or (
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
        return {status for status in self.statuses if status in OPT_OUT_STATUSES
                if status not in read_at or datetime.fromisoformat(read_at[status])
                + timedelta(minutes=minutes) <= now}

    async def _counts(self) -> dict[str, int] | None:
        counts = {}
        for status in self.statuses:
            try:
                counts[status] = await self.source.count(status)
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
        async for page in self.source.pages(status, cursor=step["cursor"]):
            states, reached = page.states, False
            if stop_at is not None:
                fresh = [s for s in states if s.position is None or s.position > stop_at]
                reached = len(fresh) < len(states)
                states = fresh
            summary.pages += 1
            summary.subscribers_read += len(page.states)
            self._apply([observation_of(s, self.source.name) for s in states], summary,
                        scan_id=scan_id, via="reconciliation" if run["mode"] == "full" else "sync",
                        reconcile=bool(run.get("reconcile")))
            positions = [s.position for s in states if s.position is not None]
            if positions:
                run["max_seen"] = max(run["max_seen"] or 0, *positions)
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
               scan_id: str | None, via: str, reconcile: bool = False) -> ApplyResult | None:
        """Record one batch. ``reconcile`` (a ``--full`` run) makes the source's current
        state win over the stored one whatever their ``updated_at`` say."""
        if not observations:
            return None
        if reconcile:
            observations = [replace(o, reconcile=True) for o in observations]
        if self.dry_run and scan_id is not None:
            self._dry_seen.update(o.subscriber_id for o in observations)
        restricted = self.suppression.restricted(observations)
        free = [o for o in observations if o.email not in restricted]
        result = self.register.apply(
            free, via=via, destinations=self.destinations, scan_id=scan_id,
            suppressed_hashes=self.suppression.hashes(free),
            suppression_lookup=Suppression.lookup, dry_run=self.dry_run, now=self.now(),
            source_title=self.source.title)
        if restricted:
            # GDPR Art. 18: the register keeps what the source says (storage is allowed), but
            # no task is opened that would change the subscriber at another processor, and a
            # return to a consenting status is held for a person's review
            held = [o for o in observations if o.email in restricted]
            result.merge(self.register.apply(
                held, via=via, destinations=(), scan_id=scan_id,
                suppressed_hashes={o.email: o.email for o in held},
                suppression_lookup=Suppression.everyone, dry_run=self.dry_run, now=self.now(),
                source_title=self.source.title))
            summary.restricted += len(held)
        self._expected.update(result.moves)
        summary.changes.update(result.kinds)
        summary.unchanged += result.unchanged
        summary.stale += result.stale
        summary.manual_opened += result.tasks.get(TaskState.MANUAL_OPEN, 0)
        summary.review_opened += result.review_tasks
        if result.clock_skew and not any(w.startswith(_SKEW_WARNING) for w in summary.warnings):
            summary.warnings.append(
                f"{_SKEW_WARNING} in the future (a skewed clock at the source?) and were not "
                "used to order changes; `dsar consent-sync --full` records the source's "
                "current status whatever its timestamps say")
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
                found = await self.source.get(subscriber_id)
                summary.lookups += 1
                observations.append(
                    observation_of(found, self.source.name) if found is not None
                    else Observation.deleted(self.source.name, subscriber_id, email))
            self._apply(observations, summary, scan_id=run["scan_id"],
                        via="reconciliation" if run["mode"] == "full" else "sync",
                        reconcile=bool(run.get("reconcile")))
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
        for status in self.statuses:
            if run["mode"] == "incremental" and kinds.get(status) != "head":
                continue
            if counts.get(status) == expected.get(status, 0):
                continue
            try:
                actual = await self.source.count(status)
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
    """A step of a run's plan: one list read whole (``full``) or down to the high-water mark
    (``head``), with the cursor it has reached (stored, so a later process resumes it)."""
    return {"status": status, "kind": kind, "cursor": None, "done": False}

