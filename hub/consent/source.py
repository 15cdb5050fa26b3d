"""The consent source as the hub sees it: which connector it is, whether it can run, and how
what it reports becomes a register observation.

The source itself (its lists, paging, counts, timestamp formats, webhook shape) is the
connector's business (:mod:`connectors.sdk.consent`); the hub only needs to open it with the
user's settings and record what it says in the register's terms.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from connectors.sdk.base import Connector
from connectors.sdk.consent import DELETED, ConsentSource, ConsentWebhook, SubscriberState
from hub.config.consent import ConsentSettings
from hub.config.settings import HubSettings, env_name
from hub.core.errors import ConfigurationError, ConnectorError
from hub.store.consent_register import Observation
from hub.store.state import connector_state


class SourceNotReady(ConnectorError):
    """The source processor is disabled or lacks credentials: nothing could be read."""


def can_be_source(cls: type[Connector]) -> bool:
    """The connector overrides :meth:`Connector.consent_source` (it has lists to read)."""
    return cls.consent_source is not Connector.consent_source


def as_consent_source(source: Connector | ConsentSource) -> ConsentSource:
    """An opened source connector's consent lists; a consent source is taken as it is."""
    if isinstance(source, Connector):
        found = source.consent_source()
        if found is None:
            raise ConfigurationError(f"{source.title} cannot be the consent-sync source (it "
                                     "lists no subscribers)")
        return found
    return source


def source_webhook(cls: type[Connector] | None, name: str) -> ConsentWebhook:
    """The webhook format of the source connector ``cls`` (named ``name`` in messages)."""
    webhook = getattr(cls, "consent_webhook", None)
    if webhook is None:
        title = getattr(cls, "title", name)
        raise ConfigurationError(f"{title} sends no consent webhooks that the hub can read")
    return webhook


def observation_of(state: SubscriberState, system: str) -> Observation:
    """What the register records for one subscriber the source reported."""
    if state.status == DELETED:
        return Observation.deleted(system, state.subscriber_id, state.email)
    return Observation(system=system, subscriber_id=state.subscriber_id, email=state.email,
                       status=state.status, evidence=dict(state.evidence),
                       updated_at=state.updated_at)


def open_source(settings: HubSettings, connectors: dict[str, type[Connector]],
                consent: ConsentSettings, engine: Engine) -> Connector:
    """The ``[consent] source`` connector, not yet entered; :class:`SourceNotReady` when it is
    disabled or misses a credential, ``ConfigurationError`` when it cannot be a source."""
    name = consent.source
    if name not in connectors:
        raise ConfigurationError(f"[consent] source {name!r} is not an installed connector")
    cls = connectors[name]
    if not can_be_source(cls):
        raise ConfigurationError(f"{cls.title} cannot be the consent-sync source (it lists no "
                                 "subscribers)")
    processor = settings.processor(name)
    if not processor.is_enabled():
        raise SourceNotReady(f"{cls.title} is disabled; enable it to sync consent")
    missing = processor.missing_credentials()
    if missing:
        raise SourceNotReady(f"{cls.title} is not configured: missing setting "
                             + ", ".join(env_name(name, f) for f in missing))
    accepted: dict[str, Any] = ({"state": connector_state(engine, settings.state_dir)}
                                if "state" in cls.init_options else {})
    return cls(processor, **accepted)
