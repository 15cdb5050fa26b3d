"""Making an opt-out anywhere an opt-out everywhere (GDPR Art. 7(3), Art. 21(3)).

Each opt-out (unsubscribed, or junk = a spam complaint) opens one task per destination:
inventory entries whose ``handling`` names them a "consent-sync target" (or those listed in
``[consent] destinations``), and every enabled connector that declares the ``consent``
capability and implements :class:`connectors.sdk.consent.OptOutDestination`. A destination
with an API gets ``record_opt_out`` (failures are retried on every run, exit 3 until they
succeed); one without (Paloma: it documents a contact API but no opt-out operation and no
authentication we could rely on) gets a ``manual-open`` task with its instructions, listed by
``dsar consent tasks`` and ``dsar consent show EMAIL``.

Opt-ins are never propagated (consent is given per system), addresses on the suppression list
(:mod:`hub.store.suppression`) are never re-subscribed by the hub, and a subscriber who comes
back is recorded as ``re_subscribed`` only with newer opt-in evidence; otherwise a review task
is opened (both decided by :mod:`hub.store.consent_register` when the change is recorded).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.sdk.base import Capability, Connector, ConnectorSettings
from connectors.sdk.consent import OptOutDestination, OptOutEvidence
from hub.config.consent import ConsentSettings
from hub.core.errors import ConfigurationError, InvalidInput, as_connector_error
from hub.core.logs import redact
from hub.core.subject import Subject
from hub.store.consent_register import ConsentRegister, Destination, TaskState

if TYPE_CHECKING:
    from hub.config.settings import HubSettings

log = logging.getLogger(__name__)

TARGET_PATTERN = re.compile(r"consent[- ]sync target", re.IGNORECASE)


def supports_opt_out(cls: type[Connector], settings: ConnectorSettings | None = None) -> bool:
    """Implements ``record_opt_out`` itself (a default on the base class that only raises,
    should one be added, does not count) and takes opt-outs: by the ``consent`` capability,
    or, given its ``settings``, as its configuration declares (a REST declaration with an
    ``opt_out`` call, :meth:`Connector.receives_opt_outs`)."""
    method = getattr(cls, "record_opt_out", None)
    inherited = getattr(Connector, "record_opt_out", None)
    if not inspect.iscoroutinefunction(method) or method is inherited:
        return False
    if settings is None:
        return Capability.CONSENT in cls.capabilities
    return cls.receives_opt_outs(settings)


def _configured(settings: HubSettings, name: str) -> ConnectorSettings | None:
    try:
        return settings.processor(name)
    except (AttributeError, AssertionError):
        return None


def resolve_destinations(settings: HubSettings, connectors: dict[str, type[Connector]],
                         consent: ConsentSettings) -> tuple[list[Destination], list[str]]:
    """Where opt-outs go, and warnings about destinations that cannot be reached."""
    source, explicit = consent.source, consent.destinations
    destinations: list[Destination] = []
    warnings: list[str] = []
    taken: set[str] = set()

    def reachable(name: str | None) -> bool:
        if not name or name not in connectors:
            return False
        processor = _configured(settings, name)
        if processor is None or not supports_opt_out(connectors[name], processor):
            return False
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
        configured = _configured(settings, name)
        if name == source or name in taken or not supports_opt_out(cls, configured):
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
            if not isinstance(connector, OptOutDestination):
                raise ConfigurationError(f"{cls.title} cannot record an opt-out")
            receipt = await connector.record_opt_out(Subject.from_email(task.email), evidence)
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
