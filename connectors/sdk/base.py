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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
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
    RECTIFY = "rectify"
    #: a visible marker on the subject's record that its processing is restricted (Art. 18)
    RESTRICT = "restrict"


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


@dataclass(frozen=True)
class PaymentFields:
    """Where a record type that is a payment keeps its date, amount and currency, so the hub can
    read payments from any processor's records without knowing the processor.

    ``minor_units``: the amount is in hundredths (Stripe's ``amount``) rather than major units
    (Fortnox's ``Total``). ``what`` names the record in the operator's words ("invoice").
    """

    when: str
    amount: str
    currency: str
    what: str
    minor_units: bool = False


@dataclass(frozen=True)
class PaymentHint:
    """A payment of the subject found at one processor, for a processor that can only tie
    records to people by when and how much was paid (Zettle's receipts name nobody).

    ``when`` is a date as the processor states it (an invoice date) or an instant (a charge's
    creation time); the receiving connector decides which local day an instant falls on.
    ``amount`` is in major units; ``currency`` is an upper-case ISO 4217 code; ``source``
    names the payment for the operator ("Fortnox invoice 1001").
    """

    when: date | datetime
    amount: Decimal
    currency: str
    source: str


def _as_moment(value: Any) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            return (datetime.fromisoformat(value) if "T" in value
                    else date.fromisoformat(value[:10]))
        except ValueError:
            return None
    return None


def payment_hints(processor: str, kinds: Mapping[str, PaymentFields], records: Iterable[Record]
                  ) -> list[PaymentHint]:
    """The payments among ``records`` as :class:`PaymentHint`; records missing a readable
    date, amount or currency are left out rather than guessed."""
    hints = []
    for record in records:
        fields = kinds.get(record.type)
        if fields is None:
            continue
        when = _as_moment(record.data.get(fields.when))
        raw, currency = record.data.get(fields.amount), record.data.get(fields.currency)
        if when is None or isinstance(raw, bool) or not isinstance(currency, str) or not currency:
            continue
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            continue
        if not amount.is_finite():
            continue
        hints.append(PaymentHint(when, amount.scaleb(-2) if fields.minor_units else amount,
                                 currency.upper(), f"{processor} {fields.what} {record.id}"))
    return hints


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

    #: record types that are payments of the subject and where their date and amount are, so
    #: the hub can hand them to processors that tie records to people by payment
    payment_records: ClassVar[Mapping[str, PaymentFields]] = {}
    #: whether :meth:`find_by_payments` does anything (the hub skips the round otherwise)
    uses_payment_hints: ClassVar[bool] = False
    #: record types :meth:`update` corrects (rectification, GDPR Art. 16)
    rectifiable_records: frozenset[str] = frozenset()
    #: record types that are booked accounting records: never altered (Bokföringslagen)
    booked_records: ClassVar[frozenset[str]] = frozenset()
    #: where a rectifiable record keeps each field in its ``data``: the hub's word (``name``,
    #: ``first_name``, ``last_name``, ``email``, ``phone``, ``address.<part>``) -> dotted path;
    #: the plan shows the old value from it and the verification reads the new one
    rectify_fields: Mapping[str, str] = MappingProxyType({})
    #: record types :meth:`mark_restricted` marks (restriction, GDPR Art. 18)
    restrictable_records: frozenset[str] = frozenset()

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

    async def find_by_payments(self, subject: Subject, hints: list[PaymentHint]) -> Findings:
        """Last round: records tied to the subject only by their payments found elsewhere (same
        day and amount). Called after the other rounds, only when :attr:`uses_payment_hints`;
        such records are ``derived`` matches. The default finds nothing."""
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

    async def update(self, record_type: str, record_id: str, changes: Mapping[str, Any], *,
                     idempotency_key: str = "") -> ErasureOutcome:
        """Correct one record's personal data (GDPR Art. 16; rectify capability).

        ``changes`` uses the hub's field names, whatever the processor calls them: ``name``,
        ``email``, ``phone`` (strings) and ``address`` (a mapping of ``street``,
        ``postal_code``, ``city``, ``country``: only the parts given change). The outcome is
        ``DONE`` when the processor accepted the change, ``REFUSED`` when the record may not be
        changed (a booked accounting record) or needs a person, ``FAILED`` otherwise; only
        programming errors raise. ``idempotency_key`` is sent where the API supports one."""
        raise NotImplementedError(f"{self.name} does not implement rectification")

    async def mark_restricted(self, record: Record, restricted: bool, *,
                              idempotency_key: str = "") -> ErasureOutcome:
        """Set (``restricted``) or remove the visible marker saying the record's processing is
        restricted (GDPR Art. 18; restrict capability), so whoever opens the record in the
        processor's own UI sees that it may only be stored. Only the types in
        :attr:`restrictable_records` are marked. The outcome is ``DONE`` when the processor
        accepted it, ``REFUSED`` when a person must mark it by hand, ``FAILED`` otherwise;
        only programming errors raise. ``idempotency_key`` is sent where the API supports
        one."""
        raise NotImplementedError(f"{self.name} cannot mark a restriction")

    @classmethod
    def receives_opt_outs(cls, settings: ConnectorSettings) -> bool:
        """Whether this processor, configured with ``settings``, is told about withdrawn
        marketing consent (``record_opt_out``, :mod:`connectors.sdk.consent`). A connector
        written in code decides by its class (the ``consent`` capability); a declarative one
        only when its declaration says how (a REST table with an ``opt_out`` call)."""
        return Capability.CONSENT in cls.capabilities

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
