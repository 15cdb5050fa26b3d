"""Fortnox's OAuth tokens: a rotating, single-use refresh token kept in the injected store.

https://www.fortnox.se/developer/authorization/get-refresh-token and
https://www.fortnox.se/developer/authorization/migrate-legacy-token-to-jwt — ``POST
https://apps.fortnox.se/oauth-v1/token``, form-encoded, ``Authorization: Basic
base64(ClientId:ClientSecret)``, ``grant_type=refresh_token&refresh_token=…``; the answer holds
``access_token`` (1 hour), a new ``refresh_token`` (45 days, **single use**), ``scope``,
``expires_in``, ``token_type``. "If multiple instances of your integration attempt to refresh
the token simultaneously, it could result in token invalidation": use a lock in a database.

:class:`FortnoxAuth` is an ``httpx.Auth`` whose ``async_auth_flow`` owns the refresh: the newest
refresh token lives in the key-value store the hub injects (:mod:`connectors.sdk.storage`; the
hub's is a database) and is saved and committed inside the key's lock straight after the token
answer, before the new access token is used, so a crash can lose a token only in the instant
between the answer and the commit (and the next run then says to re-authorise). The configured
``DSAR_FORTNOX__REFRESH_TOKEN`` only seeds the store; a configured token the store has never
seen (a re-authorisation) takes over.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from connectors.fortnox.errors import as_int, error_detail, json_or_none, token_refused
from connectors.fortnox.settings import FortnoxSettings
from connectors.sdk.storage import KeyValueStore, LockedEntry, hold
from hub.core.errors import CredentialsRejected, ProcessorUnavailable, ProtocolError
from hub.core.logs import register_secret
from hub.http import raise_for_response, read_json

#: refresh this long before the access token expires (at most a quarter of its lifetime)
EXPIRY_MARGIN_SECONDS = 60.0
#: how many configured refresh tokens the store remembers as already used
REMEMBERED_SEEDS = 20
STORED_GRANT_REFUSED = (
    "Fortnox refused the stored refresh token: re-authorise Fortnox and set "
    "DSAR_FORTNOX__REFRESH_TOKEN"
)
CONFIGURED_GRANT_REFUSED = (
    "Fortnox refused the configured refresh token (refresh tokens are single-use and expire "
    "after 45 days): re-authorise Fortnox and set DSAR_FORTNOX__REFRESH_TOKEN to the new one"
)


def fingerprint(token: str) -> str:
    """Remembers which configured refresh tokens seeded the store without storing them again."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenState:
    """What the store holds for one Fortnox integration (JSON under :func:`state_key`)."""

    refresh_token: str
    access_token: str
    expires_at: float  # Unix time: shared by processes, so wall clock
    lifetime: float
    seeds: tuple[str, ...]  # fingerprints of configured refresh tokens already used

    def fresh(self, now: float) -> bool:
        margin = min(EXPIRY_MARGIN_SECONDS, self.lifetime / 4)
        return now < self.expires_at - margin

    def knows(self, seed: str) -> bool:
        return fingerprint(seed) in self.seeds

    @classmethod
    def load(cls, value: Any) -> TokenState | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(refresh_token=str(value["refresh_token"]),
                       access_token=str(value["access_token"]),
                       expires_at=float(value["expires_at"]),
                       lifetime=float(value.get("lifetime", 3600)),
                       seeds=tuple(value.get("seeds", ())))
        except (KeyError, TypeError, ValueError):
            return None

    def dump(self) -> dict[str, Any]:
        return {"refresh_token": self.refresh_token, "access_token": self.access_token,
                "expires_at": self.expires_at, "lifetime": self.lifetime,
                "seeds": list(self.seeds)}


def state_key(client_id: str, token_url: httpx.URL) -> str:
    """``fortnox:tokens:<client_id>@<token host>``: tokens of one authorisation server only."""
    return f"fortnox:tokens:{client_id}@{token_url.netloc.decode()}"



_refresh_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _refresh_lock(key: str) -> asyncio.Lock:
    """One lock per state key in this event loop: a batch of lookups opens one connector per
    subject, and only one of them may wait for (and take) the store's lock."""
    per_loop = _refresh_locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())




class FortnoxAuth(httpx.Auth):
    """Bearer authentication with Fortnox's rotating refresh token, refreshed in one place.

    The flow (after ``httpx/_auth.py``): attach a valid access token; on a 401 (or a 403 with an
    invalid-login code) get a new one once and send the request again.
    """

    def __init__(self, settings: FortnoxSettings, token_url: httpx.URL,
                 token_client: httpx.AsyncClient, store: KeyValueStore) -> None:
        self._client_id = _secret(settings.client_id)
        self._client_secret = _secret(settings.client_secret)
        self._seed = _secret(settings.refresh_token)
        self._token_url = token_url
        self._http = token_client
        self._store = store
        self.key = state_key(self._client_id, token_url)
        self._cached: TokenState | None = None
        self.refreshes = 0  # token requests this instance made; for tests and benchmarks

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("FortnoxAuth refreshes tokens asynchronously; use an AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 403:
            await response.aread()  # its ErrorInformation says whether the token was refused
        if token_refused(response):
            token = await self.access_token(refused=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def access_token(self, refused: str | None = None) -> str:
        """A valid access token: cached, stored by another connector or process, or new."""
        cached = self._cached
        if cached is not None and self._usable(cached, refused):
            return cached.access_token
        async with _refresh_lock(self.key):
            cached = self._cached  # possibly just renewed by a request we waited for
            if cached is not None and self._usable(cached, refused):
                return cached.access_token
            async with hold(self._store, self.key) as locked:
                stored = TokenState.load(locked.value)
                if stored is not None and self._usable(stored, refused):
                    cached = stored
                else:
                    cached = await self._refresh(locked, stored)
            self._cached = cached
            return cached.access_token

    def _usable(self, state: TokenState, refused: str | None) -> bool:
        """Fresh, not the one the API just refused, and from the configured authorisation."""
        return (state.access_token != refused and state.fresh(time.time())
                and state.knows(self._seed))

    async def _refresh(self, locked: LockedEntry, stored: TokenState | None) -> TokenState:
        """Spend the newest refresh token; save and commit its successor before anything else.

        The caller holds the store's lock, so no other process spends the same token.
        """
        if stored is not None and stored.knows(self._seed):
            from_store, refresh_token, seeds = True, stored.refresh_token, stored.seeds
        else:  # first run, or a re-authorisation: the configured token takes over
            previous = stored.seeds if stored else ()
            from_store, refresh_token = False, self._seed
            seeds = (*previous, fingerprint(self._seed))
        self.refreshes += 1
        try:
            response = await self._http.post(
                str(self._token_url),
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=httpx.BasicAuth(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise ProcessorUnavailable(
                f"could not complete the token refresh with Fortnox ({type(exc).__name__}); if "
                "the next run says the refresh token was refused, re-authorise Fortnox") from exc
        if not response.is_success:
            _raise_refresh_error(response, from_store)
        new = _token_state(read_json(response, "Fortnox"), refresh_token,
                           seeds[-REMEMBERED_SEEDS:])
        locked.set(new.dump())
        locked.commit()  # durable now: the old refresh token no longer works
        register_secret(new.access_token, "fortnox-access-token")
        register_secret(new.refresh_token, "fortnox-refresh-token")
        return new


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


def _token_state(body: Any, spent: str, seeds: tuple[str, ...]) -> TokenState:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ProtocolError("Fortnox's token endpoint answered without an access_token")
    lifetime = float(as_int(body.get("expires_in")) or 3600)
    return TokenState(
        refresh_token=str(body.get("refresh_token") or spent),  # RFC 6749 §6: may be kept
        access_token=body["access_token"],
        expires_at=time.time() + lifetime,
        lifetime=lifetime,
        seeds=seeds,
    )


def _raise_refresh_error(response: httpx.Response, from_store: bool) -> NoReturn:
    """RFC 6749 §5.2 errors of the token endpoint, in words the user can act on."""
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = response.status_code
    if error == "invalid_grant":
        message = STORED_GRANT_REFUSED if from_store else CONFIGURED_GRANT_REFUSED
        raise CredentialsRejected(message, status_code=code)
    if error == "invalid_client" or code == 401:
        raise CredentialsRejected(
            f"Fortnox's token endpoint rejected the client (HTTP {code}: "
            f"{error_detail(body) or 'no detail'}); check DSAR_FORTNOX__CLIENT_ID and "
            "DSAR_FORTNOX__CLIENT_SECRET", status_code=code)
    raise_for_response(response, "Fortnox's token endpoint", error_detail)
    raise ProtocolError(f"Fortnox's token endpoint answered HTTP {code}", status_code=code)
