"""The contract between the hub and a processor connector.

A connector states its API as data (name, documentation URL, capabilities, settings model with
base URL, credentials and HTTP policy defaults) and writes code only for what is its own: which
objects hold personal data and how they link to the subject. The shared HTTP behaviour (rate
limits, retries, timeouts) comes from :func:`hub.http.build_client`.

Capabilities grow by issue: ``access`` (find the subject's records) is required of every
connector; ``erasure`` and ``consent`` are declared by connectors that implement the matching
methods, so the hub can ask a connector what it can do before it plans a request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.sdk.consent import ConsentSource, ConsentWebhook
from connectors.sdk.labels import RecordLabels
from hub.core.models import Record
from hub.core.subject import Identifier, Subject
from hub.http import HttpPolicy, PoliteTransport, RateLimit, build_client


class Capability(StrEnum):
    ACCESS = "access"
    ERASURE = "erasure"
    CONSENT = "consent"


class ErasureAction(StrEnum):
    """What an erasure does to one record at the processor (GDPR Art. 17)."""

    DELETE = "delete"
    ANONYMISE = "anonymise"


class ErasureState(StrEnum):
    DONE = "done"  # the processor confirmed the deletion/anonymisation
    ALREADY_GONE = "already_gone"  # nothing left to erase (e.g. 404 on delete): also success
    REFUSED = "refused"  # the processor refuses for a lawful reason (e.g. bookkeeping)
    FAILED = "failed"  # could not be done now; retried when the request is resumed


class ErasureOutcome(BaseModel):
    """The typed result of one erase call; never a swallowed error."""

    state: ErasureState
    detail: str = Field(description="What happened, in words for the report.")
    completes_by: date | None = Field(
        None, description="When the processor finishes, if later (MailerLite forget: 30 days).")
    fallback: ErasureAction | None = Field(
        None, description="With REFUSED: the action that the processor would accept instead.")


class ConnectorSettings(BaseModel):
    """Settings every processor has; subclasses add credentials and change defaults.

    Unknown keys are kept (``extra="allow"``) and reported by ``dsar config check`` rather than
    refusing to start: a stray variable in the environment must not stop an urgent request.
    """

    model_config = ConfigDict(extra="allow")

    enabled: bool | None = Field(
        None, description="true: always asked (missing credentials make the request partial); "
        "false: never; unset: asked once any of its credentials is configured.")
    base_url: str = Field(description="The API address; override for sandboxes and proxies.")
    http: HttpPolicy = Field(default_factory=HttpPolicy)

    #: names of the fields that must be set before the connector can run
    required_credentials: ClassVar[tuple[str, ...]] = ()

    def credential_names(self) -> tuple[str, ...]:
        """The settings whose presence shows the user set this processor up."""
        return self.required_credentials

    def configured(self) -> bool:
        """Whether any of the processor's credentials is set (environment, .env or TOML);
        a processor that needs none is always set up."""
        names = self.credential_names()
        if not names:
            return True
        for name in names:
            value = getattr(self, name, None)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value:
                return True
        return False

    def is_enabled(self) -> bool:
        """Asked in requests: explicitly enabled, or not disabled and set up."""
        return self.enabled if self.enabled is not None else self.configured()

    def missing_credentials(self) -> list[str]:
        missing = []
        for name in self.required_credentials:
            value = getattr(self, name, None)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if not value:
                missing.append(name)
        return missing

    def secret_values(self) -> list[str]:
        """Every secret in these settings, for the log redactor."""
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class Findings(BaseModel):
    """What a connector found about one subject, with the limits of the search.

    A limit is told twice, to two audiences: ``notes`` in the operator's words (counts, dates,
    API names, what to do by hand), for the terminal, report.json and the ledger; and a code in
    ``note_codes`` (``<connector>.<limit>``, e.g. ``zettle.card_payments_unlinkable``) that the
    subject's report turns into a translated sentence (``hub/reports/i18n``, table ``notes``).
    A note without a code never reaches the subject. Record both with :meth:`note`.
    """

    records: list[Record] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    note_codes: list[str] = Field(
        default_factory=list,
        description="Codes of the limits the subject is told about, e.g. "
        "'zettle.card_payments_unlinkable'.")
    incomplete: bool = Field(
        False, description="True when the search could not cover everything the processor may "
        "hold about the subject (a part that must be checked by hand): the answer is not "
        "complete even if records were found.")
    identifiers: list[Identifier] = Field(
        default_factory=list,
        description="Phones, personnummer and stored address spellings seen in the records "
        "(normalised, source = this processor); the hub widens the lookup with them.",
    )
    manual: bool = Field(
        False, description="True when the processor cannot be searched and a person must look."
    )

    def note(self, text: str, code: str | None = None, *, incomplete: bool = False) -> None:
        """Record a limit of the search: ``text`` for the operator, ``code`` for the subject;
        ``incomplete`` when a part of the processor is left unsearched."""
        if text not in self.notes:
            self.notes.append(text)
        if code is not None and code not in self.note_codes:
            self.note_codes.append(code)
        self.incomplete = self.incomplete or incomplete


def api_root(base_url: str, version_path: str) -> str:
    """The base URL with the API's version path appended unless it already ends with it.

    Users give the processor's address (``https://connect.mailerlite.com`` or a proxy); the
    documented paths start with a version segment (``/api``, ``/v1``, ``/3``). Accepting both
    spellings avoids a silent "not found" from a wrongly joined URL.
    """
    base = base_url.rstrip("/")
    return base if base.endswith(version_path) else base + version_path


def personal_fields(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of an API object that are present and not empty."""
    return {name: obj[name] for name in fields if obj.get(name) not in (None, "", {}, [])}


class Connector(ABC):
    """One processor. Instances are used for one request and closed afterwards."""

    name: ClassVar[str]
    title: ClassVar[str]
    docs_url: ClassVar[str]
    #: what the connector does; an instance may narrow it when its settings decide (a declared
    #: REST processor in export mode cannot erase)
    capabilities: frozenset[Capability] = frozenset({Capability.ACCESS})
    settings_model: ClassVar[type[ConnectorSettings]]
    #: identifier kinds this processor can be searched by in the widening round (an instance
    #: may narrow them to what its declaration searches)
    searchable_identifiers: frozenset[str] = frozenset({"email"})
    #: extra keyword arguments the constructor accepts from the hub (e.g. ``state``, the
    #: hub's :class:`~connectors.sdk.storage.KeyValueStore`)
    init_options: ClassVar[frozenset[str]] = frozenset()
    #: how the processor signs and shapes the consent webhooks it pushes (None: it sends none)
    consent_webhook: ClassVar[ConsentWebhook | None] = None
    #: what the record types and fields it reports are called, for the subject's report
    #: (see :mod:`connectors.sdk.labels`); undeclared ones read as a neutral "other detail"
    labels: ClassVar[RecordLabels] = RecordLabels()
    #: field paths in its records' ``data`` that name or identify someone other than the
    #: subject (staff, another customer): Art. 15(4) says the subject's copy must not
    #: adversely affect them, so the hub flags these for the operator's review before the
    #: documents are written (list indices left out: ``payments.attributes.x``)
    third_party_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._inner_transport = transport  # test seam: replaces the network below our policy
        self._clients: list[tuple[httpx.AsyncClient, PoliteTransport]] = []

    def http_client(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        extra_limits: Sequence[RateLimit] = (),
    ) -> httpx.AsyncClient:
        """An HTTP client with this processor's policy; closed with the connector."""
        transport = PoliteTransport(
            self.settings.http,
            processor=self.title,
            limit_key=f"{self.name} {base_url}",
            extra_limits=extra_limits,
            inner=self._inner_transport,
        )
        client = build_client(transport, base_url=base_url, headers=headers, auth=auth)
        self._clients.append((client, transport))
        return client

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    async def find_subject(self, subject: Subject) -> Findings:
        """Every record at this processor that holds the subject's personal data."""

    async def find_by_identifiers(
        self, subject: Subject, identifiers: list[Identifier]
    ) -> Findings:
        """Second round: records matching ``identifiers`` found at other processors.

        Only called with kinds in :attr:`searchable_identifiers`. Records found this way carry
        ``matched_on`` = the identifier kind and ``match_strength`` = ``derived`` (unless it is
        an e-mail spelling of the subject's own address). The default finds nothing.
        """
        return Findings()

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Delete or anonymise one record found by :meth:`find_subject` (erasure capability).

        ``idempotency_key`` is derived from the request and record, so a resumed request that
        repeats a call the processor already applied is harmless (sent as ``Idempotency-Key``
        where the API supports it). ``fields`` names the fields to anonymise when the retention
        policy lists them. Errors the processor answers are returned as ``FAILED`` or
        ``REFUSED`` outcomes; only programming errors raise.
        """
        raise NotImplementedError(f"{self.name} does not implement erasure")

    @classmethod
    def configured_labels(cls, table: Mapping[str, Any]) -> RecordLabels:
        """The labels of this processor under its configuration table (``[<name>]``).

        The default is :attr:`labels`: a connector written in Python names its own records. A
        connector whose records are declared in the configuration (the REST engine) reads the
        labels declared there too."""
        return cls.labels

    def consent_source(self) -> ConsentSource | None:
        """This processor as the source the consent sync reads (see
        :mod:`connectors.sdk.consent`); None: it cannot be one. Overridden by connectors
        whose subscriber lists can be read that way."""
        return None

    @abstractmethod
    async def check_credentials(self) -> str:
        """Make one cheap authenticated read; return what it proved, in plain words."""

    async def aclose(self) -> None:
        """Release HTTP clients."""
        for client, _ in self._clients:
            await client.aclose()

    @property
    def requests_sent(self) -> int:
        """How many HTTP requests (attempts) this connector made; for benchmarks and tests."""
        return sum(transport.attempts for _, transport in self._clients)
