"""MailerLite (the "new" API at https://connect.mailerlite.com/api): subscribers and consent.

API facts this module relies on (https://developers.mailerlite.com/docs/subscribers,
https://developers.mailerlite.com/docs/#rate-limits, and the recorded responses in the official
``mailerlite/mailerlite-python`` test cassettes):

- ``Authorization: Bearer <token>``; a missing or bad token answers
  ``401 {"message": "Unauthenticated."}``.
- ``GET /api/subscribers/{id_or_email}`` answers ``{"data": {...subscriber...}}``, and
  ``404 {"message": "Resource not found."}`` for an unknown address. There is no search by
  partial address, so we ask for each spelling of the address the subject could have used.
- 120 requests per minute per account; 429 ``{"message": "Too Many Attempts."}`` with
  ``Retry-After``. Validation errors are 422 with ``message`` and ``errors``.
- A subscriber holds name and other custom ``fields``, ``groups``, ``status`` and the opt-in
  evidence (``ip_address``, ``subscribed_at``, ``opted_in_at``, ``optin_ip``) that an access
  request must disclose.
- ``GET /api/subscribers`` lists subscribers newest first with ``filter[status]`` (active,
  unsubscribed, unconfirmed, bounced, junk), ``limit`` (default 25) and an opaque ``cursor``;
  the answer carries ``meta.next_cursor`` (null on the last page). ``links.next`` repeats only
  the cursor and drops the other parameters, so we always send our own parameters plus the
  cursor. ``limit=0`` answers ``{"total": N}`` (the count the official SDKs use). There is no
  "updated since" filter: :mod:`connectors.mailerlite_consent` explains how the consent sync
  copes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import httpx
from pydantic import Field, SecretStr

from connectors.mailerlite_consent import MAILERLITE_WEBHOOK, MailerLiteConsentSource
from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    api_root,
    personal_fields,
)
from connectors.sdk.consent import OptOutEvidence
from connectors.sdk.labels import RecordLabels
from connectors.sdk.paginators import CursorOptions, CursorPaginator, Page, PageRequest, walk
from connectors.sdk.paths import UnsafePathSegment, path_segment
from connectors.sdk.rectify import address_of, split_name
from connectors.sdk.vocabulary import COMMON_LABELS, said
from hub.core.errors import ConnectorError, ProtocolError
from hub.core.models import Record
from hub.core.subject import Identifier, Subject
from hub.http import REPLAYABLE, HttpPolicy, raise_for_response, read_json

#: the statuses ``filter[status]`` accepts (developers.mailerlite.com/docs/subscribers)
SUBSCRIBER_STATUSES = ("active", "unsubscribed", "unconfirmed", "bounced", "junk")

SUBSCRIBER_FIELDS = (
    "email", "status", "source", "ip_address", "subscribed_at", "unsubscribed_at",
    "opted_in_at", "optin_ip", "created_at", "updated_at",
)

#: what the subject reads for a subscriber (developers.mailerlite.com/docs/subscribers)
LABELS = COMMON_LABELS.merged(RecordLabels(
    types={"subscriber": {"sv": ("Prenumeration på nyhetsbrev", "Prenumerationer på nyhetsbrev"),
                          "en": ("Newsletter subscription", "Newsletter subscriptions")}},
    fields={
        "source": said("Hur du anmälde dig", "How you signed up"),
        "ip_address": said("IP-adress vid anmälan", "IP address when signing up"),
        "subscribed_at": said("Anmäld", "Signed up"),
        "unsubscribed_at": said("Avanmäld", "Unsubscribed"),
        "opted_in_at": said("Anmälan bekräftad", "Sign-up confirmed"),
        "optin_ip": said("IP-adress vid bekräftelsen", "IP address when confirming"),
        "fields.name": said("Förnamn", "First name"),
        "groups": said("Utskicksgrupp", "Mailing group"),
    },
    # "YYYY-MM-DD HH:MM:SS" in UTC (developers.mailerlite.com/docs/subscribers)
    formats=dict.fromkeys(("subscribed_at", "unsubscribed_at", "opted_in_at", "created_at",
                           "updated_at"), "utc_time"),
    values={
        "status": {"active": said("prenumererar", "subscribed"),
                   "unsubscribed": said("avanmäld", "unsubscribed"),
                   "unconfirmed": said("väntar på bekräftelse", "awaiting confirmation"),
                   "bounced": said("e-post kan inte levereras", "e-mail cannot be delivered"),
                   "junk": said("markerade utskick som skräppost", "marked mailings as spam")},
        "source": {"api": said("via vårt system", "through our system"),
                   "import": said("importerad från en lista", "imported from a list"),
                   "manual": said("tillagd för hand", "added by hand"),
                   "webform": said("anmälningsformulär", "sign-up form")},
    }))


class MailerLiteSettings(ConnectorSettings):
    base_url: str = "https://connect.mailerlite.com/api"
    api_token: SecretStr | None = None
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=120, rate_limit_seconds=60.0)
    )
    page_size: int = Field(
        100, ge=1, le=1000,
        description="Subscribers per page when listing (`limit`). The documented default is 25 "
        "and no maximum is documented; 100 is what the sandbox (and the conservative reading) "
        "allows.")
    required_credentials = ("api_token",)


@dataclass(frozen=True)
class SubscriberPage:
    """One page of ``GET /api/subscribers``: the subscribers, the cursor that fetched it (None
    for the first page) and the cursor of the next page (None on the last page)."""

    subscribers: list[dict[str, Any]]
    cursor: str | None
    next_cursor: str | None


def _message(body: Any) -> str | None:
    return body.get("message") if isinstance(body, dict) else None


class MailerLiteConnector(Connector):
    name = "mailerlite"
    title = "MailerLite"
    docs_url = "https://developers.mailerlite.com/docs/subscribers"
    capabilities = frozenset({Capability.ACCESS, Capability.CONSENT, Capability.ERASURE,
                              Capability.RECTIFY})
    rectifiable_records = frozenset({"subscriber"})
    rectify_fields: Mapping[str, str] = MappingProxyType({
        "first_name": "fields.name", "last_name": "fields.last_name", "email": "email",
        "phone": "fields.phone", "address.city": "fields.city",
        "address.postal_code": "fields.z_i_p", "address.country": "fields.country"})
    settings_model = MailerLiteSettings
    consent_webhook = MAILERLITE_WEBHOOK
    labels = LABELS

    def __init__(
        self, settings: MailerLiteSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        self._client = self.http_client(
            api_root(settings.base_url, "/api"), headers={"Authorization": f"Bearer {token}"}
        )

    async def find_subject(self, subject: Subject) -> Findings:
        return await self._find(subject, subject.email_variants())

    async def find_by_identifiers(self, subject: Subject, identifiers: list[Identifier]
                                  ) -> Findings:
        """Spellings of the address other processors store: MailerLite only answers exact
        addresses, so each spelling is one more ``GET /subscribers/{email}``."""
        new = [i.value for i in identifiers if i.kind == "email"]
        tried = set(subject.email_variants()) - set(new)
        return await self._find(subject, [spelling for spelling in new if spelling not in tried])

    async def _find(self, subject: Subject, addresses: list[str]) -> Findings:
        records: dict[str, Record] = {}
        for address in addresses:
            try:
                subscriber = await self._get_subscriber(address)
            except UnsafePathSegment:
                continue  # a spelling found elsewhere that no subscriber can have
            if subscriber is None:
                continue
            strength = subject.match_email(subscriber.get("email"))
            if strength is None:  # the API answered with someone else: never report that
                continue
            records.setdefault(str(subscriber["id"]), _subscriber_record(subscriber, strength))
        identifiers = [
            found for record in records.values() for found in (
                Identifier.found("email", record.data.get("email"), self.name),
                Identifier.found("phone", record.data.get("fields", {}).get("phone"), self.name),
            ) if found is not None
        ]
        return Findings(records=list(records.values()),
                        identifiers=list(dict.fromkeys(identifiers)))

    async def _get_subscriber(self, address: str) -> dict[str, Any] | None:
        response = await self._client.get(
            f"subscribers/{path_segment(address, what='subscriber id or address', safe='@')}")
        if response.status_code == 404:
            return None
        raise_for_response(response, self.title, _message)
        body = read_json(response, self.title)
        subscriber = body.get("data") if isinstance(body, dict) else None
        if not isinstance(subscriber, dict) or "id" not in subscriber:
            raise ProtocolError(f"{self.title} answered without a subscriber object")
        return subscriber

    # ------------------------------------------------------------------ consent (listing)
    async def subscriber_pages(
        self, status: str, *, cursor: str | None = None, limit: int | None = None
    ) -> AsyncIterator[SubscriberPage]:
        """Pages of the subscribers with ``status``, newest first, from ``cursor`` on.

        One page is in memory at a time; the caller stores ``page.next_cursor`` to resume.
        A cursor the API already handed out in this walk means the paging loops: that is a
        :class:`ProtocolError`, never an endless scan (singer-sdk's paginators refuse the
        same token twice for the same reason).
        """
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        assert isinstance(self.settings, MailerLiteSettings)
        # every parameter on every page: links.next would drop all but the cursor
        size = limit or self.settings.page_size
        params: dict[str, Any] = {"filter[status]": status, "limit": size}
        paginator = CursorPaginator(
            CursorOptions(cursor_path="meta.next_cursor", stop_on_empty=True, max_pages=None),
            self.title, loop_message=f"{self.title} handed out the same page cursor twice while "
            f"listing {status} subscribers; stopped instead of looping")

        async def fetch(request: PageRequest) -> Page[dict[str, Any]]:
            response = await self._client.get("subscribers", params={**params, **request.params})
            raise_for_response(response, self.title, _message)
            body = read_json(response, self.title)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list) or not all(
                isinstance(item, dict) and "id" in item for item in data
            ):
                raise ProtocolError(f"{self.title} listed subscribers without a data list")
            self._next_cursor(body)  # a malformed cursor fails before the page is used
            return Page(request, response, body, data)

        start = paginator.start_at(cursor) if cursor else None
        async for page in walk(paginator, fetch, start=start):
            asked = page.request.params.get("cursor")
            yield SubscriberPage(subscribers=page.items,
                                 cursor=str(asked) if asked is not None else cursor,
                                 next_cursor=self._next_cursor(page.body))

    def _next_cursor(self, body: Any) -> str | None:
        """``meta.next_cursor``: a string, or None on the last page."""
        meta = body.get("meta") if isinstance(body, dict) else None
        next_cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise ProtocolError(f"{self.title} answered with a cursor that is not a string")
        return next_cursor or None

    async def subscribers(self, status: str) -> AsyncIterator[dict[str, Any]]:
        """Every subscriber with ``status``, one at a time (see :meth:`subscriber_pages`)."""
        async for page in self.subscriber_pages(status):
            for subscriber in page.subscribers:
                yield subscriber

    async def count_subscribers(self, status: str) -> int:
        """How many subscribers have ``status`` (``limit=0`` answers ``{"total": N}``)."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        response = await self._client.get(
            "subscribers", params={"filter[status]": status, "limit": 0})
        raise_for_response(response, self.title, _message)
        body = read_json(response, self.title)
        total = body.get("total") if isinstance(body, dict) else None
        if not isinstance(total, int) or total < 0:
            raise ProtocolError(f"{self.title} answered a count request without a total")
        return total

    async def get_subscriber(self, subscriber_id: str) -> dict[str, Any] | None:
        """One subscriber by id (None when MailerLite no longer has it: deleted or forgotten)."""
        return await self._get_subscriber(subscriber_id)

    def consent_source(self) -> MailerLiteConsentSource:
        """This account as the consent sync's source (:mod:`connectors.mailerlite_consent`)."""
        return MailerLiteConsentSource(self)

    async def check_credentials(self) -> str:
        response = await self._client.get("subscribers", params={"limit": 1})
        raise_for_response(response, self.title, _message)
        read_json(response, self.title)
        return "API token accepted (listed subscribers)"

    # ------------------------------------------------------------------ erasure
    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Forget one subscriber: ``POST /api/subscribers/{id}/forget``.

        Not the plain ``DELETE /api/subscribers/{id}``, which keeps the data "in case they
        re-subscribe" (https://www.mailerlite.com/help/how-to-delete-or-forget-a-subscriber):
        forget deletes it "completely" and MailerLite finishes "within 30 days"
        (https://developers.mailerlite.com/docs/subscribers#forget-a-subscriber), so the outcome
        carries that date. A 404 means there is nothing left to forget. MailerLite documents no
        idempotency key (so ``idempotency_key`` is not sent); forgetting twice is harmless (the
        second answers 404), so the POST is marked REPLAYABLE and a 5xx is retried.
        """
        if record.type != "subscriber":
            raise ValueError(f"MailerLite records have no type {record.type!r}")
        if action is not ErasureAction.DELETE:
            return ErasureOutcome(
                state=ErasureState.REFUSED, fallback=ErasureAction.DELETE,
                detail="MailerLite cannot anonymise a subscriber; its erasure is forget, which "
                "deletes the subscriber's data completely.")
        try:
            path = f"subscribers/{path_segment(record.id, what='subscriber id')}/forget"
        except UnsafePathSegment as exc:
            return ErasureOutcome(state=ErasureState.FAILED, detail=f"{self.title}: {exc}")
        try:
            response = await self._client.post(path, extensions={REPLAYABLE: True})
        except httpx.TransportError as exc:
            return ErasureOutcome(
                state=ErasureState.FAILED,
                detail=f"could not reach {self.title} ({type(exc).__name__}) after retries; "
                "re-run later")
        if response.status_code == 404:
            try:
                said = _message(response.json()) or ""
            except ValueError:
                said = ""
            # a wrong base address answers "The route … could not be found": not "gone"
            if not said.startswith("The route"):
                return ErasureOutcome(
                    state=ErasureState.ALREADY_GONE,
                    detail=f"{self.title} has no subscriber {record.id} any more (404: already "
                    "forgotten or deleted).")
        try:
            raise_for_response(response, self.title, _message)
        except ConnectorError as exc:
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(exc))
        completes_by = datetime.now(UTC).date() + timedelta(days=30)
        return ErasureOutcome(
            state=ErasureState.DONE, completes_by=completes_by,
            detail=f"{self.title} accepted the forget request for subscriber {record.id}: its "
            "data \"will be completely deleted and forgotten within 30 days\" "
            "(developers.mailerlite.com/docs/subscribers#forget-a-subscriber), so by "
            f"{completes_by.isoformat()}.")

    async def update(self, record_type: str, record_id: str, changes: Mapping[str, Any], *,
                     idempotency_key: str = "") -> ErasureOutcome:
        """Correct a subscriber: ``PUT /api/subscribers/{id}`` with the new values in
        ``fields`` (``name``, ``last_name``, ``phone``, ``city``, ``z_i_p``, ``country``;
        https://developers.mailerlite.com/docs/subscribers#update-a-subscriber). The e-mail
        address is the subscriber's identifier there, not a field the update changes, so a new
        address is left to a person (REFUSED, after the other fields are sent). A PUT is
        idempotent, so ``idempotency_key`` is not needed (MailerLite documents none)."""
        if record_type != "subscriber":
            return ErasureOutcome(state=ErasureState.REFUSED,
                                  detail=f"MailerLite has no {record_type!r} records to change")
        fields: dict[str, str] = {}
        if "name" in changes:
            fields["name"], fields["last_name"] = split_name(str(changes["name"]))
        if "phone" in changes:
            fields["phone"] = str(changes["phone"])
        names = {"city": "city", "postal_code": "z_i_p", "country": "country"}
        fields.update({names[k]: v for k, v in address_of(changes).items() if k in names})
        if fields:
            try:
                path = f"subscribers/{path_segment(record_id, what='subscriber id')}"
                response = await self._client.put(path, json={"fields": fields})
                raise_for_response(response, self.title, _message)
            except UnsafePathSegment as exc:
                return ErasureOutcome(state=ErasureState.FAILED, detail=f"{self.title}: {exc}")
            except httpx.TransportError as exc:
                return ErasureOutcome(state=ErasureState.FAILED,
                                      detail=f"could not reach {self.title} ({type(exc).__name__})")
            except ConnectorError as exc:
                return ErasureOutcome(state=ErasureState.FAILED, detail=str(exc))
        if "email" in changes:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"{self.title} identifies subscriber {record_id} by its e-mail address, "
                "which its API does not change: manual task in MailerLite: add the new address "
                "with the same consent and forget the old one")
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"{self.title} updated subscriber {record_id} "
                                     f"({', '.join(fields)})")


    # ------------------------------------------------------------------ consent (destination)
    async def record_opt_out(self, subject: Subject, evidence: OptOutEvidence) -> str:
        """Unsubscribe the subject (a withdrawal that reached us by e-mail, phone or letter,
        or an objection): ``GET /api/subscribers/{email}`` for each spelling of the address,
        then ``PUT /api/subscribers/{id}`` with ``{"status": "unsubscribed"}`` for a subscriber
        who may still be sent to (https://developers.mailerlite.com/docs/subscribers#update-a-
        subscriber). The update rather than the create-or-update ``POST /api/subscribers``: an
        upsert would add an address MailerLite never had, and the hub must not create
        subscribers. Unsubscribed, junk or bounced subscribers are left as they are, so a retry
        sends nothing twice; the evidence's event id needs no idempotency key (a PUT is
        idempotent and MailerLite documents none)."""
        changed: list[str] = []
        kept: list[str] = []
        for address in subject.email_variants():
            try:
                subscriber = await self._get_subscriber(address)
            except UnsafePathSegment:
                continue
            if subscriber is None or subject.match_email(subscriber.get("email")) is None:
                continue
            subscriber_id = str(subscriber["id"])
            if subscriber_id in changed or subscriber_id in kept:
                continue
            if subscriber.get("status") not in ("active", "unconfirmed"):
                kept.append(subscriber_id)
                continue
            response = await self._client.put(
                f"subscribers/{path_segment(subscriber_id, what='subscriber id')}",
                json={"status": "unsubscribed"})
            raise_for_response(response, self.title, _message)
            changed.append(subscriber_id)
        if changed:
            return f"unsubscribed subscriber {', '.join(changed)} in {self.title}"
        if kept:
            return f"subscriber {', '.join(kept)} was already not sent to in {self.title}"
        return f"not a subscriber in {self.title}"


def _subscriber_record(subscriber: dict[str, Any], strength: Any) -> Record:
    data = personal_fields(subscriber, SUBSCRIBER_FIELDS)
    fields = {k: v for k, v in (subscriber.get("fields") or {}).items() if v not in (None, "")}
    if fields:
        data["fields"] = fields
    groups = [g.get("name") for g in subscriber.get("groups") or [] if isinstance(g, dict)]
    if groups:
        data["groups"] = groups
    return Record(
        type="subscriber",
        id=str(subscriber["id"]),
        matched_on="email",
        match_strength=strength,
        data=data,
    )
