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
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from connectors.base import (
    Capability,
    Connector,
    ConnectorSettings,
    Findings,
    api_root,
    personal_fields,
)
from hub.errors import ProtocolError
from hub.http import HttpPolicy, raise_for_response, read_json
from hub.models import Record
from hub.subject import Identifier, Subject

SUBSCRIBER_FIELDS = (
    "email", "status", "source", "ip_address", "subscribed_at", "unsubscribed_at",
    "opted_in_at", "optin_ip", "created_at", "updated_at",
)


class MailerLiteSettings(ConnectorSettings):
    base_url: str = "https://connect.mailerlite.com/api"
    api_token: SecretStr | None = None
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=120, rate_limit_seconds=60.0)
    )
    required_credentials = ("api_token",)


def _message(body: Any) -> str | None:
    return body.get("message") if isinstance(body, dict) else None


class MailerLiteConnector(Connector):
    name = "mailerlite"
    title = "MailerLite"
    docs_url = "https://developers.mailerlite.com/docs/subscribers"
    capabilities = frozenset({Capability.ACCESS})
    settings_model = MailerLiteSettings

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
            subscriber = await self._get_subscriber(address)
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
        response = await self._client.get(f"subscribers/{quote(address, safe='@')}")
        if response.status_code == 404:
            return None
        raise_for_response(response, self.title, _message)
        body = read_json(response, self.title)
        subscriber = body.get("data") if isinstance(body, dict) else None
        if not isinstance(subscriber, dict) or "id" not in subscriber:
            raise ProtocolError(f"{self.title} answered without a subscriber object")
        return subscriber

    async def check_credentials(self) -> str:
        response = await self._client.get("subscribers", params={"limit": 1})
        raise_for_response(response, self.title, _message)
        read_json(response, self.title)
        return "API token accepted (listed subscribers)"


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
