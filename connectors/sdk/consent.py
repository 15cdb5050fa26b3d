"""The consent part of the connector contract: what a processor offers the consent sync.

Two roles, each optional and declared on the connector class (:class:`connectors.sdk.base.
Connector`):

* a **consent source** (``Connector.consent_source()``) is where people subscribe and
  unsubscribe (MailerLite). The hub's sync (:mod:`hub.consent.sync`) decides *when* to read
  *what*; the source says what its API offers in neutral terms: the status lists every
  subscriber is in exactly one of, which of them are too large to read whole, their sizes,
  their pages newest first, and one subscriber by id. It may also describe the webhooks it
  pushes (``Connector.consent_webhook``), so ``dsar webhook serve`` can verify and read them.
* an **opt-out destination** (:class:`OptOutDestination`) is told about every withdrawal.

The types live here, below the hub, because connectors may import only the hub's core and HTTP
layers: a connector implementing either role must be able to name them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from hub.core.subject import Subject

#: the consent evidence a source may report, by the names the consent register stores
EVIDENCE_FIELDS = ("unsubscribed_at", "opted_in_at", "optin_ip", "subscribed_at", "ip_address")
#: the status of a subscriber the source no longer has (deleted or forgotten)
DELETED = "deleted"


@dataclass(frozen=True)
class SubscriberState:
    """One subscriber as the source shows it at one moment (a list page, a lookup, a webhook).

    ``evidence`` holds only the :data:`EVIDENCE_FIELDS` the source *sent*, timestamps as ISO
    8601 UTC (``2024-06-03T18:22:10Z``): the register fills fields a webhook leaves out from
    what it already knows, and compares the same instant in one spelling. ``position`` is the
    subscriber's place in the source's creation order (growing for newer subscribers), which
    the sync's high-water mark compares; None when the source has no such order for it.
    """

    subscriber_id: str
    email: str
    status: str
    evidence: dict[str, str | None] = field(default_factory=dict)
    updated_at: datetime | None = None
    position: int | None = None


@dataclass(frozen=True)
class ConsentPage:
    """One page of a status list and the cursor of the next page (None on the last one)."""

    states: list[SubscriberState]
    next_cursor: str | None


class ConsentSource(Protocol):
    """A processor's subscriber lists as the consent sync reads them.

    Every subscriber is in exactly one of :attr:`statuses`. :meth:`pages` lists one status
    newest first (descending :attr:`SubscriberState.position`), so reading from the top down
    to the highest position an earlier run saw finds every subscriber added since; a cursor it
    hands out resumes the walk in a later process. Errors are ``ConnectorError``s: a 4xx on
    :meth:`count` means the API offers no counts (the sync reads the small lists whole), a
    400/404/422 on a stored cursor means it expired (the sync reads that list again).
    """

    @property
    def name(self) -> str:
        """The connector's name (the register's ``system``)."""
        ...

    @property
    def title(self) -> str:
        """The processor's name for people."""
        ...

    @property
    def statuses(self) -> tuple[str, ...]:
        """The status lists, in the order the sync reads them."""
        ...

    @property
    def large_statuses(self) -> frozenset[str]:
        """Lists that hold most subscribers: an incremental run reads them only down to the
        high-water mark, never whole."""
        ...

    @property
    def requests_sent(self) -> int:
        """HTTP requests made so far (for the run's summary)."""
        ...

    def pages(self, status: str, *, cursor: str | None = None) -> AsyncIterator[ConsentPage]:
        """The pages of one status list from ``cursor`` (None: the top) on."""
        ...

    async def count(self, status: str) -> int:
        """How many subscribers have ``status`` now."""
        ...

    async def get(self, subscriber_id: str) -> SubscriberState | None:
        """One subscriber by id; None when the source no longer has them."""
        ...


class ConsentWebhook(Protocol):
    """How a source's consent webhooks are signed and what they carry."""

    #: the request header carrying the signature
    signature_header: str

    def verify(self, body: bytes, signature: str | None, secret: str) -> bool:
        """True only when ``signature`` proves ``body`` was signed with ``secret``."""
        ...

    def states(self, payload: Any) -> list[SubscriberState]:
        """The subscriber pictures in a parsed delivery; events that are not about a
        subscriber's consent yield nothing."""
        ...


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
