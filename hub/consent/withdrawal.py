"""A withdrawal of marketing consent that reached us outside the mail tool (GDPR Art. 7(3)).

People withdraw by replying to a mail, by phone, by letter or at the counter; an objection to
direct marketing (Art. 21(2)-(3)) and a restriction (Art. 18) stop marketing the same way.
Such a withdrawal has no record in MailerLite, so the hub records it itself: the consent
register gets an opt-out event under the system :data:`HUB_SYSTEM` with its evidence (when,
how, who recorded it), the address goes on the suppression list (never re-subscribed), and the
same propagation as the consent sync's (:mod:`hub.consent.propagate`) tells every marketing
destination: MailerLite is unsubscribed through its API (here it is a destination, not the
source), the booking system's newsletter flag is cleared through its declared call, Paloma
gets a manual task. The next consent sync then reads MailerLite's unsubscribed status and
confirms it; it opens no second task for a destination already told (the register checks).

Running it again for the same address (after a crash, or a second phone call) records nothing
new and sends nothing twice: the withdrawal is found in the register, and only the tasks that
are still pending or failed are pushed. A withdrawal recorded before the person consented
again somewhere is a new withdrawal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from connectors.sdk.base import Connector
from hub.config.consent import ConsentSettings
from hub.consent.lock import SyncLock
from hub.consent.propagate import Propagator, resolve_destinations, supports_opt_out
from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.subject import Subject
from hub.store.consent_register import (
    CONSENTING_STATUSES,
    OPT_OUT_STATUSES,
    ConsentRegister,
    Destination,
    Observation,
    TaskState,
    aware,
)
from hub.store.keyed import secret_path
from hub.store.state import connector_state
from hub.store.suppression import SuppressionList

if TYPE_CHECKING:
    from hub.config.settings import HubSettings

#: the consent register's ``system`` for opt-outs the hub recorded itself
HUB_SYSTEM = "dsar-hub"
#: how a withdrawal reached us (the register's ``learned_via``)
CHANNELS = ("email", "phone", "letter", "in-person", "objection", "restriction")
#: the lock the consent sync and the webhook server take while pushing opt-outs
PROPAGATION_LOCK = "consent-sync.propagation"
CLOSED = (TaskState.DONE, TaskState.MANUAL_DONE)


@dataclass(frozen=True)
class DestinationState:
    """Where one destination stands with this withdrawal."""

    key: str
    title: str
    state: str
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"destination": self.key, "title": self.title, "state": self.state,
                "detail": self.detail}


@dataclass
class WithdrawalOutcome:
    """What :func:`withdraw_consent` recorded and how far the opt-out got."""

    email: str
    channel: str
    recorded_by: str
    recorded_at: datetime
    already_recorded: bool
    suppressed: bool
    destinations: list[DestinationState] = field(default_factory=list)
    pushed: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        """Every destination confirmed the opt-out (by its API or a person)."""
        return all(d.state in (*CLOSED, "none") for d in self.destinations)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every destination confirmed; 3 while one failed or a manual task is open."""
        return ExitCode.OK if self.confirmed else ExitCode.PARTIAL

    def keyed_systems(self) -> list[tuple[str, str]]:
        """(key, name) of the destinations where marketing has stopped, for the letter that
        lists them. One still waiting (a manual task, a failed call) is left out: the letter
        must not tell the person a system is done before it is; its "pending" paragraph
        covers the rest."""
        return [(d.key, d.title) for d in self.destinations
                if d.state in (*CLOSED, "none")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email, "channel": self.channel, "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at.isoformat(), "already_recorded":
            self.already_recorded, "suppressed": self.suppressed,
            "destinations": [d.as_dict() for d in self.destinations],
            "pushed": self.pushed, "failed": self.failed, "confirmed": self.confirmed,
            "warnings": self.warnings, "exit_code": int(self.exit_code)}


def withdrawal_destinations(settings: HubSettings, connectors: dict[str, type[Connector]],
                            consent: ConsentSettings) -> tuple[list[Destination], list[str]]:
    """The consent sync's destinations plus its source: a withdrawal the hub records did not
    happen in MailerLite, so MailerLite must be told too."""
    as_hub = consent.model_copy(update={"source": HUB_SYSTEM})
    destinations, warnings = resolve_destinations(settings, connectors, as_hub)
    source = consent.source
    if source in connectors and all(source not in (d.key, d.connector) for d in destinations):
        cls = connectors[source]
        processor = settings.processor(source)
        if supports_opt_out(cls, processor) and processor.is_enabled() \
                and not processor.missing_credentials():
            destinations.insert(0, Destination(source, cls.title, source))
        else:  # not configured here: a person unsubscribes the address, as in Paloma
            destinations.insert(0, Destination(
                source, cls.title, None,
                f"Unsubscribe this address in {cls.title} so it gets no more marketing "
                "(unsubscribe rather than delete: an unsubscribed entry stops a later import "
                "from adding it again)."))
    return destinations, warnings


def _validate(email: str, channel: str, recorded_by: str) -> Subject:
    subject = Subject.from_email(email)
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r} (use one of {', '.join(CHANNELS)})")
    if not recorded_by.strip():
        raise InvalidInput("say who recorded the withdrawal (--recorded-by)")
    return subject


def _subscriber_id(email_hash: str, generation: int) -> str:
    """The register's subscriber id of the hub's n-th withdrawal for an address: the address's
    keyed hash (the register must not file it under the plain address twice), shortened to
    fit, plus the generation after the first."""
    base = hashlib.sha256(email_hash.encode()).hexdigest()[:48]
    return base if generation == 1 else f"{base}-{generation}"


def _standing(register: ConsentRegister, email: str, email_hash: str
              ) -> tuple[int, Any | None]:
    """(generation, row): the hub's latest withdrawal row for the address when it still holds
    (None when there is none, or the person consented again somewhere since), and the
    generation to record a new one under."""
    history = register.history(email)
    mine = {row.subscriber_id: row for row in history["subscribers"]
            if row.system == HUB_SYSTEM}
    generation = 1
    while _subscriber_id(email_hash, generation + 1) in mine:
        generation += 1
    latest = mine.get(_subscriber_id(email_hash, generation))
    if latest is None:
        return generation, None
    since = aware(latest.changed_at)
    again = any(e.status in CONSENTING_STATUSES and e.system != HUB_SYSTEM
                and since is not None and (aware(e.learned_at) or since) > since
                for e in history["events"])
    if latest.status in OPT_OUT_STATUSES and not again:
        return generation, latest
    return generation + 1, None


def withdrawal_in_force(settings: HubSettings, engine: Engine, email: str) -> bool:
    """The hub recorded a withdrawal for ``email`` and the person has not consented anywhere
    since: a new one would record nothing (callers then open no new request)."""
    suppression = SuppressionList(engine, secret_path(settings.state_dir))
    _, standing = _standing(ConsentRegister(engine), email,
                            suppression.hash(Subject.from_email(email).email))
    return standing is not None


async def withdraw_consent(
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    consent: ConsentSettings,
    engine: Engine,
    email: str,
    *,
    channel: str,
    recorded_by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> WithdrawalOutcome:
    """Record the withdrawal with its evidence, suppress the address and push the opt-out to
    every marketing destination. Bad input raises :class:`InvalidInput` before anything is
    written or contacted; a processor's failure never raises (the task stays ``failed``, the
    next run or ``dsar consent sync`` tries again, and the outcome's exit code is 3)."""
    subject = _validate(email, channel, recorded_by)
    destinations, warnings = withdrawal_destinations(settings, connectors, consent)
    moment = now or datetime.now(UTC)
    register = ConsentRegister(engine)
    suppression = SuppressionList(engine, secret_path(settings.state_dir))
    email_hash = suppression.hash(subject.email)
    generation, standing = _standing(register, subject.email, email_hash)
    subscriber_id = _subscriber_id(email_hash, generation)
    if standing is None:
        evidence: dict[str, str | None] = {
            "unsubscribed_at": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": channel, "recorded_by": recorded_by.strip(), "note": note or None}
        register.apply(
            [Observation(system=HUB_SYSTEM, subscriber_id=subscriber_id, email=subject.email,
                         status="unsubscribed", evidence=evidence, updated_at=moment)],
            via=channel, destinations=destinations, now=moment, source_title="the hub")
        recorded_at = moment
    else:
        recorded_at = aware(standing.changed_at) or moment
        evidence = dict(standing.evidence)
        channel = str(evidence.get("channel") or channel)
        recorded_by = str(evidence.get("recorded_by") or recorded_by)
    suppression.add(subject.email, f"consent withdrawn ({channel})")
    outcome = WithdrawalOutcome(
        email=subject.email, channel=channel, recorded_by=recorded_by,
        recorded_at=recorded_at, already_recorded=standing is not None, suppressed=True,
        warnings=warnings)
    pushing = SyncLock(engine, settings.state_dir, PROPAGATION_LOCK)
    if pushing.acquire():
        try:
            outcome.pushed, outcome.failed = await Propagator(
                register, destinations, settings, connectors,
                state=connector_state(engine, settings.state_dir)).run()
        finally:
            pushing.release()
    else:
        outcome.warnings.append("another process (the consent sync or the webhook server) is "
                                "pushing opt-outs now; it pushes this one too")
    outcome.destinations = _destination_states(register, subject.email, subscriber_id,
                                               destinations)
    return outcome


def _destination_states(register: ConsentRegister, email: str, subscriber_id: str,
                        destinations: list[Destination]) -> list[DestinationState]:
    """Each destination's latest task for this withdrawal (a destination already told by an
    earlier opt-out of the same address shows that task)."""
    tasks = [t for t in register.history(email)["tasks"] if t.action == "opt_out"]
    states: list[DestinationState] = []
    for destination in destinations:
        mine = [t for t in tasks if t.destination == destination.key
                and t.system == HUB_SYSTEM and t.subscriber_id == subscriber_id]
        other = [t for t in tasks if t.destination == destination.key]
        task = (mine or other or [None])[-1]
        if task is None:
            states.append(DestinationState(destination.key, destination.title, "none",
                                           "no task (the opt-out happened there)"))
            continue
        detail = task.receipt if task.state in CLOSED else (task.last_error
                                                            or task.instructions)
        states.append(DestinationState(destination.key, destination.title, task.state,
                                       detail))
    return states
