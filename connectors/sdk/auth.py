"""Authentication schemes for a declared REST API, registered by name.

After singer-sdk's ``singer_sdk/authenticators.py`` (one small hierarchy: API key, bearer,
basic, OAuth) and httpx's ``httpx/_auth.py`` (a token flow that owns refresh in one place).
A declaration lists one or more schemes; they apply together, because some APIs want two
(BokaMera: an ``x-api-key`` header *and* a bearer token from its identity server).

Static schemes become default headers of the connector's HTTP client. A scheme that needs a
token exchange (``oauth2_password``) becomes the client's ``httpx.Auth``; its token request goes
through the same client, so it shares the processor's rate limit and retry policy.

Secrets never appear in the declaration: a scheme names which setting holds its secret
(``api_key`` → ``DSAR_<PROCESSOR>__API_KEY``, ``password`` → ``DSAR_<PROCESSOR>__PASSWORD``),
and the connector passes the secrets in with the names the user sets them by (for messages).
"""

from __future__ import annotations

import base64
import time
from abc import ABC
from collections.abc import Generator, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hub.core.errors import CredentialsRejected, ProtocolError

SecretName = Literal["api_key", "password"]


class AuthOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretName = Field("api_key", description="Which setting holds the credential.")


class AuthScheme(ABC):
    """One way of proving who we are; ``headers`` for static schemes, ``flow`` for token flows."""

    name: ClassVar[str]
    Options: ClassVar[type[AuthOptions]] = AuthOptions

    def __init__(self, options: AuthOptions) -> None:
        self.options = options

    def secret_names(self) -> tuple[str, ...]:
        return (self.options.secret,)

    def header_names(self) -> tuple[str, ...]:
        """Headers this scheme sets (two schemes setting the same one is a declaration error)."""
        return ()

    def headers(self, secrets: Mapping[str, str]) -> dict[str, str]:
        return {}

    def flow(self, secrets: Mapping[str, str], processor: str,
             setting_names: Mapping[str, str] | None = None) -> httpx.Auth | None:
        """A token flow, or None for a static scheme. ``setting_names`` says where the user
        sets each secret (``password`` → ``DSAR_BOOKING__PASSWORD``), for messages."""
        return None


AUTH_SCHEMES: dict[str, type[AuthScheme]] = {}


def register_auth(cls: type[AuthScheme]) -> type[AuthScheme]:
    """Make an authentication scheme available to declarations under ``cls.name``."""
    AUTH_SCHEMES[cls.name] = cls
    return cls


@register_auth
class NoAuth(AuthScheme):
    """A public API (or one behind a proxy that adds credentials)."""

    name = "none"

    def secret_names(self) -> tuple[str, ...]:
        return ()


class ApiKeyOptions(AuthOptions):
    header: str = Field("x-api-key", description="Header that carries the key.")
    prefix: str = Field("", description="Text before the key, e.g. 'ApiKey '.")


@register_auth
class ApiKeyHeader(AuthScheme):
    """The key in a header of its own (BokaMera: ``x-api-key``)."""

    name = "api_key"
    Options = ApiKeyOptions
    options: ApiKeyOptions

    def header_names(self) -> tuple[str, ...]:
        return (self.options.header.lower(),)

    def headers(self, secrets: Mapping[str, str]) -> dict[str, str]:
        return {self.options.header: f"{self.options.prefix}{secrets[self.options.secret]}"}


@register_auth
class BearerToken(AuthScheme):
    """``Authorization: Bearer <token>`` with a long-lived token (RFC 6750)."""

    name = "bearer"

    def header_names(self) -> tuple[str, ...]:
        return ("authorization",)

    def headers(self, secrets: Mapping[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {secrets[self.options.secret]}"}


class BasicOptions(AuthOptions):
    username: str = Field(description="The user name; the secret setting is the password.")


@register_auth
class BasicAuth(AuthScheme):
    """HTTP Basic (RFC 7617): a user name from the declaration, the password from a secret."""

    name = "basic"
    Options = BasicOptions
    options: BasicOptions

    def header_names(self) -> tuple[str, ...]:
        return ("authorization",)

    def headers(self, secrets: Mapping[str, str]) -> dict[str, str]:
        pair = f"{self.options.username}:{secrets[self.options.secret]}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}


class PasswordGrantOptions(AuthOptions):
    secret: SecretName = "password"  # noqa: S105 - the name of the setting, not a secret
    token_url: str = Field(description="The OAuth 2 token endpoint (absolute URL).")
    client_id: str
    username: str
    scope: str | None = None


@register_auth
class PasswordGrant(AuthScheme):
    """OAuth 2 resource-owner password grant (RFC 6749 §4.3), as BokaMera's Keycloak uses."""

    name = "oauth2_password"
    Options = PasswordGrantOptions
    options: PasswordGrantOptions

    def header_names(self) -> tuple[str, ...]:
        return ("authorization",)

    def flow(self, secrets: Mapping[str, str], processor: str,
             setting_names: Mapping[str, str] | None = None) -> httpx.Auth:
        o = self.options
        form = {"grant_type": "password", "client_id": o.client_id, "username": o.username,
                "password": secrets[o.secret]}
        if o.scope:
            form["scope"] = o.scope
        setting = (setting_names or {}).get(o.secret, o.secret)
        return _TokenFlow(o.token_url, form, processor, setting)


class _TokenFlow(httpx.Auth):
    """Fetch a token before the first request and again when it expires or is refused."""

    requires_response_body = True
    EARLY_SECONDS = 30.0  # renew a little before the stated expiry

    def __init__(self, token_url: str, form: dict[str, str], processor: str,
                 password_setting: str) -> None:
        self._token_url = token_url
        self._form = form
        self._processor = processor
        self._password_setting = password_setting
        self._token: str | None = None
        self._expires_at = 0.0

    def _valid(self) -> bool:
        return self._token is not None and time.monotonic() < self._expires_at

    def _store(self, response: httpx.Response) -> None:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not response.is_success:
            said = None
            if isinstance(body, dict):
                said = body.get("error_description") or body.get("error")
            raise CredentialsRejected(
                f"{self._processor}'s identity server refused the login (HTTP "
                f"{response.status_code}{': ' + said if said else ''}); check the user name "
                f"and {self._password_setting}", status_code=response.status_code)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"{self._processor}'s identity server answered without an "
                                "access_token")
        self._token = token
        lifetime = float(body.get("expires_in") or 300)
        self._expires_at = time.monotonic() + max(lifetime - self.EARLY_SECONDS, 1.0)

    def _token_request(self) -> httpx.Request:
        return httpx.Request("POST", self._token_url, data=self._form,
                             headers={"Accept": "application/json"})

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._valid():
            self._store((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one fresh token, one retry
            self._store((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
