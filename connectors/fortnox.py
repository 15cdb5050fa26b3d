"""Fortnox (API v3): the customer register and the invoices that copy its personal data.

Fortnox keeps the controller's accounting (processing-inventory.md, row 3: legal obligation under
Bokföringslagen 1999:1078), so an access request must show every customer object of the subject
and every invoice addressed to them; ``InvoiceDate`` is kept because the erasure issue computes
the 7 kap. 2 § retention end from it.

Documentation relied on:

- https://www.fortnox.se/developer/authorization/get-refresh-token and
  https://www.fortnox.se/developer/authorization/migrate-legacy-token-to-jwt — ``POST
  https://apps.fortnox.se/oauth-v1/token``, form-encoded, ``Authorization: Basic
  base64(ClientId:ClientSecret)``, ``grant_type=refresh_token&refresh_token=…``; the answer holds
  ``access_token`` (1 hour), a new ``refresh_token`` (45 days, **single use**), ``scope``,
  ``expires_in``, ``token_type``. "If multiple instances of your integration attempt to refresh
  the token simultaneously, it could result in token invalidation": use a lock in a database.
- https://www.fortnox.se/developer/guides-and-good-to-know/rate-limits-for-fortnox-api — 25
  requests per 5 seconds per access token, a sliding window; 429 beyond (body not documented).
- https://www.fortnox.se/developer/guides-and-good-to-know/parameters — a search parameter is
  matched with ``ILIKE '%value%'``: **partial and case-insensitive**, so ``email=anna@example.se``
  also returns ``joanna@example.se``; only one resource-specific search parameter per request.
- https://www.fortnox.se/developer/guides-and-good-to-know/errors and …/responses — errors are
  ``{"ErrorInformation": {"error": 1, "message": "…", "code": 2000310}}`` (some answers capitalise
  the keys); 403 is documented as "failed authentication", 2000310/2000311 as a missing or wrong
  access token.
- https://api.fortnox.se/apidocs#tag/fortnox_Customers and the list examples at
  https://developer.fortnox.se/documentation/resources/customers/ and …/invoices/ — lists answer
  ``{"Customers": [...], "MetaInformation": {"@TotalResources", "@TotalPages", "@CurrentPage"}}``
  with ``page`` (from 1) and ``limit`` (1–500, default 100). A customer *list item* carries only
  ``CustomerNumber, Name, Email, OrganisationNumber, Phone, Address1, Address2, ZipCode, City``;
  the full record (``GET /3/customers/{CustomerNumber}``: ``Type`` PRIVATE/COMPANY, ``Phone1``,
  ``Phone2``, ``EmailInvoice``, delivery address, ``Comments``…) is fetched for each match. An
  invoice list item has ``DocumentNumber, CustomerNumber, CustomerName, InvoiceDate, DueDate,
  Total, Currency…``; the copies of address, phone and ``EmailInformation.EmailAddressTo`` are
  only in ``GET /3/invoices/{DocumentNumber}``.

**Erasure** (:meth:`FortnoxConnector.erase`; issue 5):

- Invoices and vouchers are accounting records (räkenskapsinformation): kept under Bokföringslagen
  (SFS 1999:1078) 7 kap. 2 § and exempt from erasure (GDPR Art. 17(3)(b)). Any erase of one is
  ``REFUSED`` naming the law; the hub plans them as retained anyway.
- ``DELETE /3/customers/{CustomerNumber}`` (apidocs, Customers). The product refuses to delete a
  customer that invoices refer to; the answer is an ``ErrorInformation`` 400 whose code and
  wording are not documented publicly (the sandbox's are invented). So the connector reacts to
  the status and the envelope, never to a code: a 400 with ``ErrorInformation`` that is not one
  of the documented codes meaning something else (:data:`ERROR_CODES`) is that refusal, answered
  ``REFUSED`` with ``fallback = anonymise`` and Fortnox's own words quoted. A 4xx is never retried
  (:mod:`hub.http`), and the connector does not repeat the call either.
- Anonymising is ``PUT /3/customers/{CustomerNumber}`` with ``{"Customer": {...}}`` (only the
  fields sent change): the fields to blank and ``"Active": false``. Which fields are writable:
  the Customer model of the API documentation as the client libraries transcribe it
  (softwerkab/fortnox-csharp-api-sdk ``Entities/Customer.cs`` marks only ``@url``, ``Country``,
  ``DeliveryCountry``, ``VisitingCountry``, ``VisitingCountryCode`` and ``Currency`` read-only;
  accodeing/fortnox-api ``models/customer.rb`` agrees for the countries), so every contact field
  is writable (:data:`ANONYMISABLE_FIELDS`). An empty value is written as ``""``: Fortnox answers
  unset text fields as ``""`` (the customer list example at developer.fortnox.se:
  ``"Address2": ""``, ``"OrganisationNumber": ""``; its 2015 data-type notice: "an empty string
  will be used"), and the client libraries drop ``null`` values from request bodies rather than
  send them (accodeing ``mappers/base/to_json.rb``), so ``null`` is no documented way to clear a
  field. The answer (the full customer) must show every blanked field empty (``""``, or ``null``
  which some answers use) and ``Active`` false, or the outcome is ``FAILED``.
- 404 on either call is ``ALREADY_GONE``. Fortnox documents no ``Idempotency-Key``; PUT and
  DELETE are idempotent by nature (a repeated DELETE answers 404 = already gone), so the key is
  not sent.

**Tokens.** :class:`FortnoxAuth` is an ``httpx.Auth`` whose ``async_auth_flow`` owns the refresh:
the newest refresh token lives in the hub's :class:`~hub.store.state.StateStore` and is saved and
committed inside the store's lock straight after the token answer, before the new access token is
used, so a crash can lose a token only in the instant between the answer and the commit (and the
next run then says to re-authorise). The configured ``DSAR_FORTNOX__REFRESH_TOKEN`` only seeds the
store; a configured token the store has never seen (a re-authorisation) takes over.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sys
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import httpx
import phonenumbers
from pydantic import Field, SecretStr
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

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
from hub.core.errors import (
    ConnectorError,
    CredentialsRejected,
    ProcessorUnavailable,
    ProtocolError,
    as_connector_error,
)
from hub.core.logs import register_secret
from hub.core.models import Record
from hub.core.retention import BOKFORINGSLAGEN_BASIS, default_policy
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy, raise_for_response, read_json
from hub.store.db import Base
from hub.store.state import LockedValue, StateStore

T = TypeVar("T")

OAUTH_ENDPOINT = "https://apps.fortnox.se/oauth-v1/token"
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

# What the documented error codes mean, in English (guides-and-good-to-know/errors).
ERROR_CODES: dict[int, str] = {
    1000003: "system exception at Fortnox",
    2000310: "the access token is missing or incorrect",
    2000311: "the access token is missing or incorrect",
    2000588: "a parameter is invalid",
    2001101: "no active licence for the requested scope",
    2001103: "the Fortnox account has no API licence",
}
INVALID_LOGIN_CODES = frozenset({2000310, 2000311})

# The personal-data fields of the full objects (apidocs: Customer, Invoice).
CUSTOMER_FIELDS = (
    "CustomerNumber", "Type", "Name", "OrganisationNumber", "Email", "EmailInvoice",
    "EmailInvoiceCC", "EmailInvoiceBCC", "EmailOrder", "EmailOffer", "Phone1", "Phone2", "Fax",
    "Address1", "Address2", "ZipCode", "City", "Country", "CountryCode", "DeliveryName",
    "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity", "DeliveryCountry",
    "DeliveryPhone1", "DeliveryPhone2", "VisitingAddress", "VisitingZipCode", "VisitingCity",
    "YourReference", "OurReference", "ExternalReference", "WWW", "Comments", "Active",
)
INVOICE_FIELDS = (
    "DocumentNumber", "CustomerNumber", "CustomerName", "InvoiceDate", "DueDate", "Total",
    "Currency", "Balance", "Cancelled", "Booked", "OrganisationNumber", "Address1", "Address2",
    "ZipCode", "City", "Country", "Phone1", "Phone2", "YourReference", "DeliveryName",
    "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity", "DeliveryCountry",
    "EmailInformation", "Remarks", "Comments", "InvoiceRows",
)
EMAIL_INFORMATION_FIELDS = ("EmailAddressTo", "EmailAddressCC", "EmailAddressBCC")
INVOICE_ROW_FIELDS = ("Description", "DeliveredQuantity", "Price", "Total")

#: Accounting records (räkenskapsinformation): never deleted or anonymised through the API.
ACCOUNTING_RECORD_TYPES = frozenset({"invoice", "voucher"})
#: Writable free-text Customer fields that may hold personal data, i.e. what an anonymising PUT
#: may blank (apidocs Customer; read-only per the client libraries: @url, Country,
#: DeliveryCountry, VisitingCountry, VisitingCountryCode, Currency). CustomerNumber (the key),
#: Type, Active, codes and the country fields are not free text and are never blanked.
ANONYMISABLE_FIELDS = frozenset({
    "Name", "OrganisationNumber", "Email", "EmailInvoice", "EmailInvoiceCC", "EmailInvoiceBCC",
    "EmailOrder", "EmailOrderCC", "EmailOrderBCC", "EmailOffer", "EmailOfferCC",
    "EmailOfferBCC", "Phone1", "Phone2", "Fax", "Address1", "Address2", "ZipCode", "City",
    "DeliveryName", "DeliveryAddress1", "DeliveryAddress2", "DeliveryZipCode", "DeliveryCity",
    "DeliveryPhone1", "DeliveryPhone2", "DeliveryFax", "VisitingAddress", "VisitingZipCode",
    "VisitingCity", "YourReference", "OurReference", "ExternalReference", "WWW", "Comments",
    "InvoiceRemark", "GLN", "GLNDelivery", "VATNumber",
})


@functools.cache
def default_anonymise_fields() -> tuple[str, ...]:
    """The customer fields the shipped retention policy blanks (hub/retention.py,
    ``[retention.processors.fortnox.customer] anonymise_fields``): e-mail, phone, fax, web and
    comment fields; name, address and organisation number stay for the retained invoices."""
    entry = default_policy().for_record("fortnox", "customer")
    return entry.anonymise_fields if entry is not None else ()


class FortnoxSettings(ConnectorSettings):
    base_url: str = "https://api.fortnox.se/3"
    token_url: str = Field(
        OAUTH_ENDPOINT,
        description="The OAuth token endpoint: an absolute URL, or a path on base_url's host "
        "(the sandbox serves both on one address).",
    )
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = Field(
        None, description="Seeds the state store once; a new value (re-authorisation) takes over."
    )
    page_size: int = Field(500, ge=1, le=500, description="Items per list page (Fortnox: ≤ 500).")
    invoice_details: bool = Field(
        True,
        description="Fetch each invoice in full: its copies of address, phone and e-mail are "
        "personal data (GDPR Art. 15). Off: the list fields only, one request per page.",
    )
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=25, rate_limit_seconds=5.0)
    )
    required_credentials = ("client_id", "client_secret", "refresh_token")


# --------------------------------------------------------------------------- errors
def _error_information(body: Any) -> dict[str, Any] | None:
    """The ``ErrorInformation`` object with lower-cased keys (Fortnox sends either case)."""
    if not isinstance(body, dict):
        return None
    info = next((v for k, v in body.items() if str(k).lower() == "errorinformation"), None)
    return {str(k).lower(): v for k, v in info.items()} if isinstance(info, dict) else None


def error_detail(body: Any) -> str | None:
    """Fortnox's own words from an ``ErrorInformation`` body, or an OAuth ``error`` /
    ``error_description`` pair from the token endpoint (RFC 6749 §5.2)."""
    info = _error_information(body)
    if info is not None:
        message, code = info.get("message"), _int(info.get("code"))
        if code is None:
            return str(message) if message else None
        meaning = ERROR_CODES.get(code)
        return f"{message} (code {code}{': ' + meaning if meaning else ''})"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return ": ".join(str(p) for p in (body["error"], body.get("error_description")) if p)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _deletion_refusal(response: httpx.Response) -> str | None:
    """Fortnox's words when it refuses to delete a customer that records refer to, else None.

    The refusal's code and wording are undocumented, so it is recognised by what it is: a 400 with
    an ``ErrorInformation`` body whose code is not a documented one meaning something else
    (an invalid parameter, a licence or token problem)."""
    if response.status_code != 400:
        return None
    body = _json_or_none(response)
    info = _error_information(body)
    if info is None or _int(info.get("code")) in ERROR_CODES:
        return None
    return error_detail(body) or "no detail"


def _token_refused(response: httpx.Response) -> bool:
    """A 401, or the documented 403 "failed authentication" with an invalid-login code."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    info = _error_information(_json_or_none(response)) or {}
    return _int(info.get("code")) in INVALID_LOGIN_CODES


# --------------------------------------------------------------------------- token state
def fingerprint(token: str) -> str:
    """Remembers which configured refresh tokens seeded the store without storing them again."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenState:
    """What the state store holds for one Fortnox integration (JSON under :func:`state_key`)."""

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


def memory_store() -> StateStore:
    """A private in-memory store, for a connector the hub gave no store (tests, one-offs).

    One connection (``StaticPool``) so the worker thread that takes the lock and the event loop
    that writes see the same database.
    """
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    return StateStore(engine)


_refresh_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _refresh_lock(key: str) -> asyncio.Lock:
    """One lock per state key in this event loop: a batch of lookups opens one connector per
    subject, and only one of them may wait for (and take) the database lock."""
    per_loop = _refresh_locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())


@asynccontextmanager
async def _locked(store: StateStore, key: str) -> AsyncIterator[LockedValue]:
    """``store.locked(key)`` entered in a worker thread, so waiting while another process
    refreshes does not freeze this event loop. A cancelled wait still lets the thread finish
    taking the lock and gives it back before the cancellation goes on: a lock left to a thread
    would block every other user of the database."""
    manager = store.locked(key)
    entering = asyncio.ensure_future(asyncio.to_thread(manager.__enter__))
    try:
        locked = await asyncio.shield(entering)
    except asyncio.CancelledError:
        await asyncio.wait([entering])
        if not entering.cancelled() and entering.exception() is None:
            manager.__exit__(None, None, None)
        raise
    try:
        yield locked
    except BaseException:
        if not manager.__exit__(*sys.exc_info()):
            raise
    else:
        manager.__exit__(None, None, None)


# --------------------------------------------------------------------------- authentication
class FortnoxAuth(httpx.Auth):
    """Bearer authentication with Fortnox's rotating refresh token, refreshed in one place.

    The flow (after ``httpx/_auth.py``): attach a valid access token; on a 401 (or a 403 with an
    invalid-login code) get a new one once and send the request again.
    """

    def __init__(self, settings: FortnoxSettings, token_url: httpx.URL,
                 token_client: httpx.AsyncClient, store: StateStore) -> None:
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
        if _token_refused(response):
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
            async with _locked(self._store, self.key) as locked:
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

    async def _refresh(self, locked: LockedValue, stored: TokenState | None) -> TokenState:
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
    lifetime = float(_int(body.get("expires_in")) or 3600)
    return TokenState(
        refresh_token=str(body.get("refresh_token") or spent),  # RFC 6749 §6: may be kept
        access_token=body["access_token"],
        expires_at=time.time() + lifetime,
        lifetime=lifetime,
        seeds=seeds,
    )


def _raise_refresh_error(response: httpx.Response, from_store: bool) -> NoReturn:
    """RFC 6749 §5.2 errors of the token endpoint, in words the user can act on."""
    body = _json_or_none(response)
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


# --------------------------------------------------------------------------- searching
def email_spellings(address: str) -> list[str]:
    """The address, its untagged form, and ``local+`` (finds every +tag under the partial
    match Fortnox documents)."""
    local, _, domain = address.rpartition("@")
    untagged = local.split("+", 1)[0]
    return [address, f"{untagged}@{domain}", f"{untagged}+"]


def personnummer_spellings(value: str) -> list[str]:
    """``YYMMDD-NNNC`` and ``YYMMDDNNNC``: as substrings they also find the 12-digit forms."""
    short = value[2:] if len(value) == 13 else value
    return [short, short.replace("-", "")]


def phone_spellings(value: str) -> list[str]:
    """Fortnox compares phone numbers as text: the spellings Swedish registers commonly hold."""
    try:
        number = phonenumbers.parse(value, "SE")
    except phonenumbers.NumberParseException:
        return [value]
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return [
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        national,
        "".join(c for c in national if c.isdigit()),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    ]


@dataclass(frozen=True)
class Search:
    """How one identifier kind is searched: the list filter, and the list-item fields compared
    locally (the filter is partial, so every candidate is checked)."""

    parameter: str
    fields: tuple[str, ...]
    spellings: Callable[[str], list[str]]


SEARCHES: dict[str, Search] = {
    "email": Search("email", ("Email",), email_spellings),
    "personnummer": Search("organisationnumber", ("OrganisationNumber",), personnummer_spellings),
    "phone": Search("phone", ("Phone", "Phone1", "Phone2"), phone_spellings),
}
PHONE_NOTE = ("Fortnox compares phone numbers as text: customers were searched for the common "
              "spellings of the number; one stored in an unusual spelling may have been missed.")


@dataclass(frozen=True)
class Match:
    matched_on: str
    strength: MatchStrength


def match_customer(subject: Subject, kind: str, item: dict[str, Any]) -> Match | None:
    """Whether a listed customer really is the subject's: never a merely similar value."""
    fields = [item.get(name) for name in SEARCHES[kind].fields]
    if kind == "email":
        order = list(MatchStrength)
        found = [s for value in fields if (s := subject.match_email(value)) is not None]
        return Match(kind, min(found, key=order.index)) if found else None
    for value in fields:
        identifier = subject.match_identifier(kind, value)
        if identifier is not None:
            strength = MatchStrength.EXACT if identifier.verified else MatchStrength.DERIVED
            return Match(kind, strength)
    return None


def customer_identifiers(customer: dict[str, Any]) -> list[Identifier]:
    """Identifiers in a customer record, for widening the lookup at other processors."""
    found = [Identifier.found("email", customer.get(name), "fortnox")
             for name in ("Email", "EmailInvoice")]
    found += [Identifier.found("phone", customer.get(name), "fortnox")
              for name in ("Phone1", "Phone2")]
    if customer.get("Type") != "COMPANY":  # a company's organisation number is no person's
        found.append(Identifier.found("personnummer", customer.get("OrganisationNumber"),
                                      "fortnox"))
    return list(dict.fromkeys(identifier for identifier in found if identifier is not None))


async def gather_all(*steps: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` that cancels (and waits for) the other steps when one fails, so no
    request outlives the failed lookup holding a token lock; the first error is raised as is."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _unique(values: Iterable[str]) -> list[str]:
    """Drop spellings that differ only in case: Fortnox's search ignores case."""
    seen: set[str] = set()
    return [v for v in values if not (v.casefold() in seen or seen.add(v.casefold()))]


# --------------------------------------------------------------------------- records
def customer_record(customer: dict[str, Any], match: Match) -> Record:
    return Record(type="customer", id=str(customer["CustomerNumber"]),
                  matched_on=match.matched_on, match_strength=match.strength,
                  data=personal_fields(customer, CUSTOMER_FIELDS))


def invoice_record(invoice: dict[str, Any], match: Match) -> Record:
    data = personal_fields(invoice, INVOICE_FIELDS)
    if isinstance(data.get("EmailInformation"), dict):
        data["EmailInformation"] = personal_fields(data["EmailInformation"],
                                                   EMAIL_INFORMATION_FIELDS)
    if isinstance(data.get("InvoiceRows"), list):
        data["InvoiceRows"] = [personal_fields(row, INVOICE_ROW_FIELDS)
                               for row in data["InvoiceRows"] if isinstance(row, dict)]
    data = {key: value for key, value in data.items() if value not in ({}, [])}
    return Record(type="invoice", id=str(invoice["DocumentNumber"]),
                  matched_on=match.matched_on, match_strength=match.strength, data=data)


# --------------------------------------------------------------------------- the connector
class FortnoxConnector(Connector):
    name = "fortnox"
    title = "Fortnox"
    docs_url = "https://api.fortnox.se/apidocs"
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE})
    settings_model = FortnoxSettings
    searchable_identifiers = frozenset({"email", "personnummer", "phone"})
    init_options = frozenset({"state"})

    def __init__(
        self,
        settings: FortnoxSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        state: StateStore | None = None,
    ) -> None:
        super().__init__(settings, transport=transport)
        self.settings: FortnoxSettings = settings
        api = api_root(settings.base_url, "/3")
        token_url = httpx.URL(api).join(settings.token_url)
        token_client = self.http_client(str(token_url.copy_with(path="/", query=None)))
        self.auth = FortnoxAuth(settings, token_url, token_client, state or memory_store())
        self._api = self.http_client(api, auth=self.auth)
        self._reported: set[str] = set()  # customer numbers already reported in this request

    # -- HTTP ------------------------------------------------------------------------------

    def _raise(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise CredentialsRejected(
                f"Fortnox refused a freshly issued access token (HTTP {response.status_code}: "
                f"{error_detail(_json_or_none(response)) or 'no detail'}); check that the "
                "integration has the customer and invoice scopes and an API licence, or "
                "re-authorise Fortnox", status_code=response.status_code)
        raise_for_response(response, self.title, error_detail)

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._api.get(path, params=params)
        self._raise(response)
        body = read_json(response, self.title)
        if not isinstance(body, dict):
            raise ProtocolError(f"Fortnox answered {path} with JSON that is not an object")
        return body

    async def _get_object(self, path: str, key: str) -> dict[str, Any] | None:
        """One object (``{"Customer": {...}}``), or None when it no longer exists."""
        response = await self._api.get(path)
        if response.status_code == 404:
            return None
        self._raise(response)
        body = read_json(response, self.title)
        obj = body.get(key) if isinstance(body, dict) else None
        if not isinstance(obj, dict):
            raise ProtocolError(f"Fortnox answered {path} without a {key} object")
        return obj

    async def _pages(self, path: str, key: str, params: dict[str, str]
                     ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list, following ``MetaInformation`` pages; refuses to loop."""
        page = 1
        while True:
            body = await self._get(path, {**params, "limit": self.settings.page_size,
                                          "page": page})
            items = body.get(key)
            if not isinstance(items, list):
                raise ProtocolError(f"Fortnox answered {path} without a {key} list")
            for item in items:
                if isinstance(item, dict):
                    yield item
            if not self._more_pages(body.get("MetaInformation"), page, len(items)):
                return
            page += 1

    def _more_pages(self, meta: Any, page: int, count: int) -> bool:
        meta = meta if isinstance(meta, dict) else {}
        total, current = _int(meta.get("@TotalPages")), _int(meta.get("@CurrentPage"))
        if total is None or current is None:
            if count < self.settings.page_size:
                return False
            raise ProtocolError("Fortnox answered a full page without MetaInformation; "
                                "cannot tell whether more pages follow")
        if current != page:
            raise ProtocolError(f"Fortnox answered page {current} when asked for page {page}; "
                                "stopping rather than looping")
        return current < total

    # -- customers and their invoices -------------------------------------------------------

    async def _search(self, subject: Subject, kind: str, values: list[str]) -> dict[str, Match]:
        search = SEARCHES[kind]
        spellings = _unique(s for value in values for s in search.spellings(value))
        if kind != "email":
            for spelling in spellings:
                register_secret(spelling, kind)  # keep it out of logged URLs
        listed = await gather_all(*(
            self._collect("customers", "Customers", {search.parameter: spelling})
            for spelling in spellings))
        matches: dict[str, Match] = {}
        for item in (item for batch in listed for item in batch):
            number = str(item.get("CustomerNumber") or "")
            if number and number not in self._reported and number not in matches:
                match = match_customer(subject, kind, item)
                if match is not None:
                    matches[number] = match
        return matches

    async def _collect(self, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [item async for item in self._pages(path, key, params)]

    async def _invoices(self, number: str) -> list[dict[str, Any]]:
        """The customer's invoices; the filter is partial (``1`` also lists ``10``'s)."""
        listed = [invoice for invoice in await self._collect(
                      "invoices", "Invoices", {"customernumber": number})
                  if str(invoice.get("CustomerNumber")) == number and "DocumentNumber" in invoice]
        if not self.settings.invoice_details:
            return listed
        full = await gather_all(*(
            self._get_object(f"invoices/{quote(str(i['DocumentNumber']), safe='')}", "Invoice")
            for i in listed))
        return [detail or summary for detail, summary in zip(full, listed, strict=True)]

    async def _customer_findings(self, number: str, match: Match) -> Findings:
        customer = await self._get_object(f"customers/{quote(number, safe='')}", "Customer")
        if customer is None:  # deleted since it was listed
            return Findings()
        customer.setdefault("CustomerNumber", number)
        invoices = await self._invoices(number)
        return Findings(
            records=[customer_record(customer, match)]
            + [invoice_record(invoice, match) for invoice in invoices],
            identifiers=customer_identifiers(customer))

    async def _findings(self, matches: dict[str, Match], notes: list[str]) -> Findings:
        self._reported.update(matches)
        parts = await gather_all(*(
            self._customer_findings(number, match) for number, match in matches.items()))
        return Findings(records=[r for part in parts for r in part.records],
                        identifiers=list(dict.fromkeys(
                            i for part in parts for i in part.identifiers)),
                        notes=notes)

    # -- the contract ----------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        matches = await self._search(subject, "email", subject.email_variants())
        return await self._findings(matches, [])

    async def find_by_identifiers(
        self, subject: Subject, identifiers: list[Identifier]
    ) -> Findings:
        matches: dict[str, Match] = {}
        notes: list[str] = []
        for kind in SEARCHES:
            values = [i.value for i in identifiers if i.kind == kind]
            if values:
                found = await self._search(subject, kind, values)
                matches.update({n: m for n, m in found.items() if n not in matches})
                if kind == "phone":
                    notes.append(PHONE_NOTE)
        return await self._findings(matches, notes)

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Delete or anonymise a customer; refuse invoices and vouchers (see the module
        docstring). ``idempotency_key`` is not sent: Fortnox documents none, and PUT and DELETE
        are idempotent. ``fields`` defaults to :func:`default_anonymise_fields`."""
        if record.type in ACCOUNTING_RECORD_TYPES:
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"Fortnox {record.type} {record.id} is an accounting record and is not "
                       f"{'deleted' if action is ErasureAction.DELETE else 'anonymised'}: "
                       f"{BOKFORINGSLAGEN_BASIS}")
        if record.type != "customer":
            raise ValueError(f"the Fortnox connector reports no {record.type!r} records to erase")
        try:
            if action is ErasureAction.DELETE:
                return await self._delete_customer(record.id)
            return await self._anonymise_customer(record.id, tuple(fields)
                                                  or default_anonymise_fields())
        except (ConnectorError, httpx.TransportError) as exc:
            error = as_connector_error(exc, self.title)
            assert error is not None  # both kinds are connector errors
            return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))

    async def _delete_customer(self, number: str) -> ErasureOutcome:
        response = await self._api.delete(f"customers/{quote(number, safe='')}")
        if response.status_code == 404:
            return ErasureOutcome(state=ErasureState.ALREADY_GONE,
                                  detail=f"Fortnox has no customer {number} any more (HTTP 404)")
        if response.is_success:
            return ErasureOutcome(state=ErasureState.DONE,
                                  detail=f"Fortnox deleted customer {number}")
        refusal = _deletion_refusal(response)
        if refusal is not None:
            return ErasureOutcome(
                state=ErasureState.REFUSED, fallback=ErasureAction.ANONYMISE,
                detail=f"Fortnox refused to delete customer {number} (HTTP 400: {refusal}): a "
                       "customer that invoices refer to cannot be deleted, the invoices being "
                       "accounting records (Bokföringslagen SFS 1999:1078 7 kap. 2 §); "
                       "anonymise the customer instead")
        self._raise(response)
        raise ProtocolError(f"Fortnox answered the deletion of customer {number} with HTTP "
                            f"{response.status_code}", status_code=response.status_code)

    async def _anonymise_customer(self, number: str, fields: tuple[str, ...]) -> ErasureOutcome:
        unknown = sorted(set(fields) - ANONYMISABLE_FIELDS)
        if unknown:
            return ErasureOutcome(
                state=ErasureState.FAILED,
                detail=f"cannot blank {', '.join(unknown)} of Fortnox customer {number}: not "
                       "writable free-text fields of a Fortnox customer; correct anonymise_fields "
                       "in [retention.processors.fortnox.customer] and resume the request")
        fields = tuple(dict.fromkeys(fields))
        body = {"Customer": {**dict.fromkeys(fields, ""), "Active": False}}
        response = await self._api.put(f"customers/{quote(number, safe='')}", json=body)
        if response.status_code == 404:
            return ErasureOutcome(state=ErasureState.ALREADY_GONE,
                                  detail=f"Fortnox has no customer {number} any more (HTTP 404)")
        self._raise(response)
        answer = read_json(response, self.title)
        customer = answer.get("Customer") if isinstance(answer, dict) else None
        if not isinstance(customer, dict):
            raise ProtocolError(f"Fortnox answered the update of customer {number} without a "
                                "Customer object")
        shown = [name for name in fields
                 if name not in customer or customer[name] not in ("", None)]
        if customer.get("Active") is not False:
            shown.append("Active (not false)")
        if shown:
            return ErasureOutcome(
                state=ErasureState.FAILED,
                detail=f"Fortnox accepted the update of customer {number}, but its answer does "
                       f"not show these fields blanked: {', '.join(shown)}")
        blanked = ", ".join(fields) or "no fields"
        return ErasureOutcome(
            state=ErasureState.DONE,
            detail=f"Fortnox customer {number} anonymised: {blanked} blanked and set inactive; "
                   "the fields the retained invoices need are kept (Bokföringslagen SFS "
                   "1999:1078 7 kap. 2 §)")

    async def check_credentials(self) -> str:
        await self._get("customers", {"limit": 1})
        return "OAuth client and refresh token accepted (access token valid; listed customers)"

