"""Zettle (formerly iZettle, PayPal): card, Swish and cash receipts from the point of sale.

API facts this module relies on:

- OAuth for a self-hosted app, the assertion grant (iZettle/api-documentation ``authorization.md``
  and ``oauth-api/user-guides/set-up-app-authorisation/set-up-authorisation-assertion-grant.md``;
  https://developer.zettle.com/docs/api/oauth): ``POST https://oauth.zettle.com/token`` with the
  form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=<uuid>&assertion=<API
  key>`` answers ``{"access_token", "expires_in": 7200}``. There is no refresh token: the grant is
  simply repeated. An invalid or revoked API key answers ``400 {"error": "invalid_grant"}`` (RFC
  6749 §5.2 body); an expired or unknown access token makes the resource API answer 401 with
  ``WWW-Authenticate: Bearer error=..., error_description="ACCESS_TOKEN_EXPIRED"``.
- Purchase API v2 (https://developer.zettle.com/docs/api/purchase/api-reference-md,
  https://developer.zettle.com/docs/api/purchase/user-guides/fetch-purchases/fetch-a-list-of-purchases,
  iZettle/api-documentation ``purchase.adoc``): ``GET https://purchase.izettle.com/purchases/v2``
  with ``startDate`` (UTC, inclusive), ``endDate`` (UTC, exclusive), ``limit`` (1–1000),
  ``descending`` and ``lastPurchaseHash``; the answer holds ``purchases``, ``firstPurchaseHash``,
  ``lastPurchaseHash`` and ``linkUrls``. The next page repeats the same parameters plus the
  previous ``lastPurchaseHash``, "until the response is empty". Only "purchases up to three years
  old are available" (the documented default ``startDate`` is three years back): we still ask for
  the whole bookkeeping window and, when nothing older comes back, say which years must be
  checked by hand (``api_history_years``).
- A purchase is an immutable receipt: amounts in minor units, ``timestamp``, ``purchaseNumber``,
  ``products`` (``name``, ``variantName``, ``comment``, ``description``, ...), ``payments``
  (``type``, ``attributes`` such as ``maskedPan``, ``referenceNumber``, ``invoiceNr``,
  ``references``), purchase-level ``references`` and refund links. ``purchaseUUID`` is deprecated
  in favour of ``purchaseUUID1``. There is no customer field at all: no name, e-mail or phone.
- Rate limits: none are published; the FAQ says only that "some resources might have rate
  limiting enabled", and the endpoints document ``429 Too Many Requests``. We default to a
  conservative 10 requests per second (overridable in ``[zettle.http]``) and honour Retry-After.

**Why an index and not a search.** Receipts cannot be searched by person. The hub keeps an
index of the receipts of the bookkeeping window (Bokföringslagen 7 kap. 2 §: the current calendar
year and the seven before it, ``scan_years = 8``; :mod:`connectors.zettle_history`) and passes
it as the option ``history_index``: a lookup brings it up to date (the purchases after the last
``lastPurchaseHash`` read: usually one request, once per batch), asks it which receipts hold one
of the subject's identifiers, and reads only the days of those receipts, confirming each with
the same rules as a scan (:mod:`connectors.zettle_matching`). Without the hub the connector
reads every receipt of the window once per request (once per batch when the lookups share a
:class:`~connectors.sdk.history.HistoryCache`). Either way it looks for the subject's
identifiers only in the free-text and reference fields the documentation shows
(:data:`~connectors.zettle_matching.FREE_TEXT_PATHS`). Most receipts mention nobody, so
"nothing matched" is reported as a *manual* step with concrete instructions, never as "not
found": the subject may well have paid. Identifiers appearing next to a match are not offered
for widening: a free-text comment may name someone else.

**Receipts that name nobody.** After the other rounds the hub hands over the subject's payments
found at other processors (Fortnox invoices, Stripe charges: day, amount, currency;
:meth:`ZettleConnector.find_by_payments`). A receipt paid on the same local day (``timezone``)
for the same amount in the same currency is a *derived* match; so is a receipt paid with the
same card as a receipt already tied to the subject, when the answer carries a card fingerprint
(``panHash`` among the payment's attributes: not in the reference, so used only when present;
a shared ``maskedPan`` is too common to tie anything). The reason goes to the notes, and the
erasure plan treats every derived match as one to review.

**Erasure.** The Purchase API is read-only (GET only; no delete or anonymise endpoint in the API
reference), and a receipt is an accounting record kept under Bokföringslagen (SFS 1999:1078)
7 kap. 2 §. :meth:`ZettleConnector.erase` therefore sends nothing and answers ``REFUSED`` with
the manual step: once the hold has ended, ask Zettle (PayPal) support to erase the receipt's
personal data, naming its purchase number and date. The connector does **not** declare
``Capability.ERASURE``: the capability tells the hub (and ``dsar connectors``) that a connector
carries out erasure through the processor's API, and this one never can. ``erase`` exists so
that a hub calling it anyway gets a lawful refusal with instructions rather than
``NotImplementedError``, which the hub records as a failure to retry on every resume.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, SecretStr, model_validator

from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    PaymentHint,
    api_root,
)
from connectors.sdk.history import (
    HistoryCache,
    HistoryLookup,
    PaymentQuery,
    history_sources_of,
    subject_terms,
)
from connectors.sdk.paginators import CursorOptions, CursorPaginator, Page, PageRequest, walk
from connectors.zettle_labels import LABELS
from connectors.zettle_matching import (
    Purchase,
    PurchaseSource,
    card_hashes,
    card_terms,
    derived_record,
    find_mentions,
    free_texts,
    hint_day,
    matching_hint,
    purchase_id,
    purchase_record,
    receipt_label,
    strongest,
)
from hub.core.errors import CredentialsRejected, ProtocolError
from hub.core.logs import register_secret
from hub.core.models import Record
from hub.core.subject import Identifier, Subject
from hub.http import REPLAYABLE, HttpPolicy, raise_for_response, read_json

PURCHASE_HOST = "https://purchase.izettle.com"
OAUTH_HOST = "https://oauth.zettle.com"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DOCUMENTED_TOKEN_SECONDS = 7200
#: re-grant this long before the token expires, so a request never carries a dying token
REGRANT_MARGIN_SECONDS = 60.0
KEY_HELP = ("check DSAR_ZETTLE__API_KEY and DSAR_ZETTLE__CLIENT_ID (my.zettle.com → Integrations "
            "→ API keys; the key needs the READ:PURCHASE scope and may have been revoked)")

#: an invoice of the subject (e.g. from Fortnox): date, amount in major units, ISO currency
InvoiceHint = tuple[date, Decimal | int | float, str]


class ZettleSettings(ConnectorSettings):
    """Settings of a self-hosted Zettle app (``DSAR_ZETTLE__...``).

    ``base_url`` is the Purchase API host; ``purchase_url`` is accepted as an alias and wins when
    both are given (only a deliberate setting carries that name). ``oauth_url`` may be a relative
    reference (``"/"``), resolved against ``base_url`` (RFC 3986): the sandbox serves both hosts
    at one address whose port is only known once it runs.
    """

    base_url: str = Field(PURCHASE_HOST, description="Purchase API host (alias: purchase_url).")
    oauth_url: str = Field(OAUTH_HOST, description="OAuth host; relative = against base_url.")
    client_id: str | None = Field(
        None, description="The self-hosted app's client ID (a UUID shown with the API key).")
    api_key: SecretStr | None = Field(
        None, description="The API key (a JWT) from my.zettle.com, used as the grant assertion.")
    scan_years: int = Field(
        8, ge=1, le=30, description="Calendar years of receipts scanned, the current one included "
        "(Bokföringslagen: 7 years after the end of the fiscal year).")
    api_history_years: int = Field(
        3, ge=1, description="How far back Zettle documents purchases to be available.")
    limit: int = Field(1000, ge=1, le=1000, description="Purchases per page (documented 1–1000).")
    timezone: str = Field(
        "Europe/Stockholm", description="The till's time zone: receipts (UTC) are compared with "
        "invoices and charges by the local day they were paid on.")
    http: HttpPolicy = Field(  # no published limit: a conservative 10/s
        default_factory=lambda: HttpPolicy(rate_limit_requests=10, rate_limit_seconds=1.0))
    required_credentials = ("client_id", "api_key")

    @model_validator(mode="before")
    @classmethod
    def _purchase_url_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "purchase_url" in data:
            data = dict(data)
            alias = data.pop("purchase_url")
            if alias:
                data["base_url"] = alias
        return data

    @property
    def purchases_endpoint(self) -> str:
        return api_root(self.base_url, "/purchases/v2")

    @property
    def token_endpoint(self) -> str:
        return api_root(str(httpx.URL(self.base_url).join(self.oauth_url)), "/token")


def _error_detail(body: Any) -> str | None:
    """The message of an OAuth (RFC 6749 §5.2) or Zettle error body."""
    if not isinstance(body, dict):
        return None
    said = [body.get(k) for k in ("error", "error_description", "developerMessage", "message")]
    return ": ".join(str(s) for s in said if s) or None


def _said(response: httpx.Response) -> str:
    """``": <what the processor said>"`` for an error message, or nothing."""
    try:
        detail = _error_detail(response.json())
    except ValueError:
        detail = None
    return f": {detail}" if detail else ""


# ------------------------------------------------------------------------------ authentication
@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # on the auth's clock


class AssertionGrantAuth(httpx.Auth):
    """Owns the access token of a self-hosted app: grants it, re-grants it shortly before it
    expires, and once more when the API answers 401 (the token may have been revoked early).

    The grant goes through its own client (another host, the same shared HTTP policy); a lock
    keeps concurrent requests from granting twice.
    """

    def __init__(
        self,
        token_client: httpx.AsyncClient,
        settings: ZettleSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = token_client
        self._url = settings.token_endpoint
        self._form = {
            "grant_type": JWT_BEARER_GRANT,
            "client_id": settings.client_id or "",
            "assertion": settings.api_key.get_secret_value() if settings.api_key else "",
        }
        self.clock = clock  # test seam: monotonic seconds
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.grants = 0

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("the Zettle connector is async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.access_token(rejected=token)}"
            yield request

    async def access_token(self, *, rejected: str | None = None) -> str:
        """A token valid for a while yet; a new one if ``rejected`` is still the current one."""
        async with self._lock:
            token = self._token
            if token is None or token.value == rejected or self.clock() >= token.expires_at:
                token = self._token = await self._grant()
            return token.value

    async def _grant(self) -> AccessToken:
        # A grant issues a fresh token each time, so repeating it after a 5xx is safe.
        response = await self._client.post(self._url, data=self._form,
                                           extensions={REPLAYABLE: True})
        if response.status_code in (400, 401, 403):  # invalid_grant, invalid_client, ...
            raise CredentialsRejected(
                f"Zettle refused the API key (HTTP {response.status_code}{_said(response)}); "
                f"{KEY_HELP}", status_code=response.status_code)
        raise_for_response(response, "Zettle", _error_detail)
        body = read_json(response, "Zettle")
        body = body if isinstance(body, dict) else {}
        value = body.get("access_token")
        lifetime = body.get("expires_in", DOCUMENTED_TOKEN_SECONDS)
        if not (isinstance(value, str) and value and isinstance(lifetime, int | float)
                and lifetime > 0):
            raise ProtocolError("Zettle's token endpoint answered without a usable access_token "
                                "and expires_in")
        register_secret(value, "zettle-access-token")
        self.grants += 1
        margin = min(REGRANT_MARGIN_SECONDS, lifetime / 2)
        return AccessToken(value, self.clock() + lifetime - margin)


# ------------------------------------------------------------------------------ paging
class PurchaseHashPaginator(CursorPaginator):
    """The next page of ``/purchases/v2`` repeats the parameters plus the previous answer's
    ``lastPurchaseHash``, "until the response is empty" (see the module docstring): so an empty
    page ends the listing, and a page with purchases but no hash is an error, not an end."""

    def __init__(self) -> None:
        options = CursorOptions(cursor_path="lastPurchaseHash", cursor_param="lastPurchaseHash",
                                stop_on_empty=True, max_pages=None)  # the window's length
        super().__init__(options, "Zettle", loop_message=(
            "Zettle answered the same lastPurchaseHash twice; stopped rather than reading the "
            "same purchases forever"))

    def next_token(self, response: httpx.Response, body: Any, count: int) -> Hashable | None:
        if count == 0:
            return None
        last_hash = body.get("lastPurchaseHash") if isinstance(body, dict) else None
        if not isinstance(last_hash, str) or not last_hash:
            raise ProtocolError("Zettle answered a page of purchases without lastPurchaseHash; "
                                "the rest of the window cannot be read")
        return last_hash


def _purchases_of(body: Any) -> list[Purchase]:
    purchases = body.get("purchases") if isinstance(body, dict) else None
    if not isinstance(purchases, list) or not all(
        isinstance(p, dict) and purchase_id(p) for p in purchases
    ):
        raise ProtocolError("Zettle answered without a list of purchases with purchaseUUID1")
    return purchases


# ------------------------------------------------------------------------------ manual step
def erasure_instructions(record: Record) -> str:
    """The manual erasure request for one receipt found by :meth:`ZettleConnector.find_subject`:
    its purchase number and date, so Zettle's support can find it."""
    data = record.data
    number = data.get("purchaseNumber")
    global_number = data.get("globalPurchaseNumber")
    day = str(data.get("timestamp") or "")[:10] or "unknown date"
    receipt = f"receipt #{number}" if number is not None else "the receipt"
    also = f", global purchase number {global_number}" if global_number is not None else ""
    return (f"Zettle's Purchase API is read-only (no delete or anonymise endpoint) and the "
            f"receipt is an accounting record kept under Bokföringslagen (SFS 1999:1078) "
            f"7 kap. 2 §: after the hold has ended, ask Zettle (PayPal) support to erase the "
            f"personal data of {receipt} of {day} (purchase UUID {record.id}{also}), and record "
            "their answer")


def manual_instructions(invoice_hints: Sequence[InvoiceHint] = ()) -> str:
    """What a person must do in Zettle when receipts cannot be tied to the subject.

    ``invoice_hints`` are the subject's invoices found elsewhere (Fortnox): the date and amount a
    payment of theirs would carry, which is how Zettle's sales history can be searched.
    """
    text = ("Zettle receipts carry no customer e-mail, phone or name, so the subject's card, "
            "Swish and cash payments cannot be found automatically: in Zettle Go or at "
            "my.zettle.com open Sales history (Försäljningshistorik / Reports), look up the "
            "subject's payments by date and amount, and add those receipts to the access report. "
            "For card payments, ask the subject for the card's last four digits and compare them "
            "with the masked card number on the receipt.")
    if not invoice_hints:
        return text + (" Take the dates and amounts from the subject's invoices and bookings "
                       "(e.g. in Fortnox or the booking system).")
    wanted = "; ".join(
        f"{day.isoformat()} {Decimal(str(amount)):.2f} {currency}"
        for day, amount, currency in sorted(invoice_hints, key=lambda hint: hint[0])
    )
    return text + f" Payments to look for (the subject's invoices): {wanted}."


def _years_back(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


# ------------------------------------------------------------------------------ the connector
class ZettleConnector(Connector):
    name = "zettle"
    title = "Zettle"
    docs_url = "https://developer.zettle.com/docs/api/purchase/api-reference-md"
    capabilities = frozenset({Capability.ACCESS})
    settings_model = ZettleSettings
    searchable_identifiers = frozenset({"email", "phone", "personnummer"})
    init_options: ClassVar[frozenset[str]] = frozenset(
        {"invoice_hints", "history_cache", "history_index"})
    uses_payment_hints: ClassVar[bool] = True
    #: the receipts read incrementally into the hub's index (connectors.sdk.history)
    history_source: ClassVar[str] = "connectors.zettle_history:ZettleHistory"
    labels = LABELS
    #: the cashier who rang the receipt up (purchase.adoc): a staff member, not the subject
    third_party_fields: ClassVar[frozenset[str]] = frozenset({"userDisplayName", "userId"})

    def __init__(
        self,
        settings: ZettleSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        invoice_hints: Sequence[InvoiceHint] | None = None,
        history_cache: HistoryCache | None = None,
        history_index: HistoryLookup | None = None,
    ) -> None:
        super().__init__(settings, transport=transport)
        self.settings: ZettleSettings = settings
        #: the receipts read once for every lookup of a batch (a private one otherwise)
        self.history = history_cache or HistoryCache()
        #: the hub's index of the receipts: with it a lookup reads only what is new and the
        #: receipts that match; without it (no hub) the whole window is read as a scan
        self.index = history_index
        self._source: PurchaseSource | None = None
        #: the subject's invoices from other processors, rendered into the manual step
        self.invoice_hints: list[InvoiceHint] = list(invoice_hints or [])
        #: test seam: the UTC date the bookkeeping window ends on
        self.today: Callable[[], date] = lambda: datetime.now(UTC).date()
        token_client = self.http_client(settings.token_endpoint)
        self.auth = AssertionGrantAuth(token_client, settings)
        self._client = self.http_client(settings.purchases_endpoint, auth=self.auth)
        self._receipts: list[tuple[Purchase, list[tuple[str, str]]]] | None = None
        self._scan_lock = asyncio.Lock()
        self._window: tuple[date, date] | None = None
        #: receipts already tied to the subject in this request, by purchase id
        self._tied: dict[str, Purchase] = {}

    # -- reading the receipts ----------------------------------------------------------------

    def window(self) -> tuple[date, date]:
        """[first day, day after today): the current year and ``scan_years - 1`` before it."""
        today = self.today()
        first = date(today.year - self.settings.scan_years + 1, 1, 1)
        return first, today + timedelta(days=1)

    async def _get(self, params: dict[str, str]) -> Any:
        return self._body(await self._client.get(self.settings.purchases_endpoint,
                                                 params=params))

    def _body(self, response: httpx.Response) -> Any:
        if response.status_code in (401, 403):
            said = response.headers.get("www-authenticate") or ""
            raise CredentialsRejected(
                f"Zettle rejected a freshly granted access token (HTTP {response.status_code}"
                f"{': ' + said if said else ''}); {KEY_HELP}", status_code=response.status_code)
        raise_for_response(response, self.title, _error_detail)
        return read_json(response, self.title)

    async def _scan(self) -> list[tuple[Purchase, list[tuple[str, str]]]]:
        """Every receipt of the window with its free texts; read once per connector instance,
        and once per batch when the hub shares a :class:`HistoryCache` between the lookups."""
        async with self._scan_lock:
            if self._receipts is None:
                self._window = start, end = self.window()
                params = {"startDate": start.isoformat(), "endDate": end.isoformat(),
                          "limit": str(self.settings.limit), "descending": "true"}

                async def fetch(request: PageRequest) -> Page[Purchase]:
                    response = await self._client.get(self.settings.purchases_endpoint,
                                                      params={**params, **request.params})
                    body = self._body(response)
                    return Page(request, response, body, _purchases_of(body))

                async def read() -> list[tuple[Purchase, list[tuple[str, str]]]]:
                    return [(p, free_texts(p))
                            async for page in walk(PurchaseHashPaginator(), fetch)
                            for p in page.items]

                key = (self.name, self.settings.purchases_endpoint, start, end,
                       self.settings.limit)
                self._receipts = await self.history.read_once(key, read)
            return self._receipts

    # -- reading through the hub's index ---------------------------------------------------------

    async def _indexed(self) -> tuple[HistoryLookup, PurchaseSource] | None:
        """The index and the receipts' source, the index brought up to date first (once per
        connector; the hub makes it once per batch), or None when there is no index."""
        if self.index is None:
            return None
        async with self._scan_lock:
            if self._source is None:
                [source] = history_sources_of(self)
                await self.index.refresh(source)
                self._window = self.window()
                self._source = cast(PurchaseSource, source)
        return self.index, self._source

    async def _fetch(self, ids: Sequence[str], *, untied: bool = True) -> list[Purchase]:
        """The receipts with these ids (``untied``: only those not yet tied to the subject),
        read by their days."""
        index, source = await self._indexed() or (None, None)
        wanted = [i for i in dict.fromkeys(ids) if not (untied and i in self._tied)]
        if index is None or source is None or not wanted:
            return []
        return await source.fetch_purchases(await index.objects(source.history_name, wanted))

    async def _candidates(self, wanted: Sequence[Identifier]
                          ) -> list[tuple[Purchase, list[tuple[str, str]]]]:
        """The receipts that may mention ``wanted``: those the index finds their terms in
        (each still confirmed by :func:`find_mentions`), or every receipt of the scan."""
        if (indexed := await self._indexed()) is None:
            return await self._scan()
        index, source = indexed
        ids = await index.matching(source.history_name, subject_terms(wanted))
        return [(p, free_texts(p)) for p in await self._fetch(ids, untied=False)]

    async def _compared(self) -> tuple[int, str]:
        """How many receipts a lookup compared, and the oldest receipt's day."""
        if (indexed := await self._indexed()) is None:
            receipts = await self._scan()
            return len(receipts), min((str(p.get("timestamp") or "")[:10]
                                       for p, _ in receipts), default="")
        index, source = indexed
        oldest = await index.oldest_day(source.history_name)
        return await index.count(source.history_name), oldest.isoformat() if oldest else ""

    # -- matching ------------------------------------------------------------------------------

    async def _matches(self, subject: Subject, wanted: Sequence[Identifier]
                       ) -> tuple[list[Record], list[str]]:
        records: list[Record] = []
        notes: list[str] = []
        for purchase, texts in await self._candidates(wanted):
            region = str(purchase.get("country") or "SE")
            mentions = find_mentions(subject, texts, wanted, region)
            if not mentions:
                continue
            best = strongest(mentions)
            records.append(purchase_record(purchase, best))
            self._tied[purchase_id(purchase) or ""] = purchase
            places = ", ".join(dict.fromkeys(m.where for m in mentions))
            notes.append(f"Zettle {receipt_label(purchase)} mentions the subject's "
                         f"{best.kind} in {places} (free text, not a customer field).")
        return records, notes

    def _scope(self, kinds: set[str], count: int) -> str:
        start, end = self._window or self.window()
        how = ("Compared the hub's index of" if self.index is not None else "Scanned")
        return (f"{how} {count} Zettle receipts from {start} to {end - timedelta(days=1)} for "
                f"the subject's {', '.join(sorted(kinds))} in product texts and payment "
                "references")

    def _history_note(self, oldest: str) -> list[str]:
        """Zettle documents only three years of purchases; say so unless older ones came back."""
        start, _ = self._window or self.window()
        cut = _years_back(self.today(), self.settings.api_history_years)
        if start >= cut or (oldest and oldest < cut.isoformat()):
            return []
        return [f"Zettle returned no receipt older than {cut}: its Purchase API documents that "
                f"only purchases up to {self.settings.api_history_years} years old are "
                f"available, so receipts from {start} to {cut}, which bookkeeping keeps, must be "
                "checked in my.zettle.com (Reports) if the subject may have paid then."]

    # -- the contract ----------------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        wanted = list(subject.identifiers) or [Identifier(kind="email", value=subject.email)]
        records, mentions = await self._matches(subject, wanted)
        count, oldest = await self._compared()
        scope = self._scope({i.kind for i in wanted}, count)
        # Receipts name nobody, so the subject's payments are never all found: a person must
        # look in the sales history whether or not a free text mentioned them.
        found = Findings(records=records, manual=not records)
        found.note(f"{scope}." if records else f"{scope}; none mentions them.")
        for text in mentions:
            found.note(text)
        found.note(("Only receipts whose free text mentions the subject could be matched; "
                    "receipts without identifiers cannot be matched automatically. "
                    if records else "") + manual_instructions(self.invoice_hints),
                   "zettle.card_payments_unlinkable", incomplete=True)
        for text in self._history_note(oldest):
            found.note(text, "zettle.history_limited", incomplete=True)
        return found

    async def find_by_identifiers(
        self, subject: Subject, identifiers: list[Identifier]
    ) -> Findings:
        """Re-match the receipts against the new identifiers: those already read in round one,
        or those the index finds them in."""
        wanted = [i for i in identifiers if i.kind in self.searchable_identifiers]
        records, notes = await self._matches(subject, wanted)
        return Findings(records=records, notes=notes)

    async def find_by_payments(self, subject: Subject, hints: list[PaymentHint]) -> Findings:
        """Receipts paid on the day and for the amount of one of the subject's payments found
        at another processor, then receipts paid with the same card (``panHash``) as a receipt
        already tied to them: derived matches, each with the reason in the notes, for the
        operator's review (the erasure plan never erases a derived match unapproved)."""
        zone = ZoneInfo(self.settings.timezone)
        receipts, paid = await self._paid_candidates(hints, zone)
        found = Findings()
        for purchase in paid:
            key = purchase_id(purchase) or ""
            hint = None if key in self._tied else matching_hint(purchase, hints, zone)
            if hint is not None:
                self._tied[key] = purchase
                found.records.append(derived_record(purchase, "payment"))
                found.note(f"Zettle {receipt_label(purchase)}: same day and amount as "
                           f"{hint.source} (a derived match: check it before using it).")
        cards = {card: tied for tied in list(self._tied.values()) for card in card_hashes(tied)}
        for purchase in await self._card_candidates(receipts):
            key = purchase_id(purchase) or ""
            shared = [cards[card] for card in card_hashes(purchase) if card in cards]
            if key in self._tied or not shared:
                continue
            self._tied[key] = purchase
            found.records.append(derived_record(purchase, "card"))
            number = shared[0].get("purchaseNumber")
            found.note(f"Zettle {receipt_label(purchase)}: paid with the same card as receipt "
                       f"{number if number is not None else purchase_id(shared[0])} "
                       "(a derived match: check it before using it).")
        sources = ", ".join(sorted({h.source.rsplit(" ", 1)[0] + "s" for h in hints}))
        count = len(receipts) if receipts is not None else (await self._compared())[0]
        found.note(f"Compared {count} Zettle receipts with {len(hints)} payments of the "
                   f"subject found at other processors ({sources}) by day and amount; a receipt "
                   "of the same amount on the same day may still be someone else's.")
        return found

    async def _paid_candidates(self, hints: Sequence[PaymentHint], zone: ZoneInfo
                               ) -> tuple[list[Purchase] | None, list[Purchase]]:
        """(every receipt of the scan, or None with an index; the receipts that may be one of
        the payments: the index's answer by day ± 1, amount and currency, confirmed later by
        :func:`matching_hint` on the receipt itself)."""
        if (indexed := await self._indexed()) is None:
            receipts = [purchase for purchase, _ in await self._scan()]
            return receipts, receipts
        index, source = indexed
        queries = [PaymentQuery(hint_day(h, zone), int(minor), h.currency.upper())
                   for h in hints if (minor := h.amount.scaleb(2)) == minor.to_integral_value()
                   and minor > 0]
        entries = await index.paid(source.history_name, queries) if queries else []
        return None, await self._fetch([e.object_id for e in entries])

    async def _card_candidates(self, receipts: list[Purchase] | None) -> list[Purchase]:
        """The receipts that may share a card with one tied to the subject: every receipt of
        the scan, or those the index holds one of the tied receipts' card terms for."""
        if receipts is not None or (indexed := await self._indexed()) is None:
            return receipts or []
        index, source = indexed
        terms = set().union(*(card_terms(p) for p in self._tied.values()))
        return await self._fetch(await index.matching(source.history_name, terms) if terms else [])

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Always ``REFUSED`` with the manual request to Zettle/PayPal; nothing is sent."""
        if record.type != "purchase":
            raise ValueError(f"the Zettle connector reports no {record.type!r} records to erase")
        return ErasureOutcome(state=ErasureState.REFUSED, detail=erasure_instructions(record))

    async def check_credentials(self) -> str:
        await self._get({"limit": "1"})
        return "API key accepted (access token granted, purchases readable)"
