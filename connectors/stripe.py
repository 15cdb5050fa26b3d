"""Stripe: customers and the payment records that keep copies of their personal data.

Documentation relied on: https://docs.stripe.com/api (objects, list filters, pagination),
https://docs.stripe.com/search (Search query language, consistency, limits),
https://docs.stripe.com/rate-limits, https://docs.stripe.com/privacy/deletion-requests.

**Finding the customers.** Stripe allows several Customer objects with one address, and offers
two ways to find them, each incomplete on its own:

- ``GET /v1/customers?email=`` is strongly consistent but an exact, case-sensitive match; we ask
  for the address as given and in lower case.
- ``GET /v1/customers/search?query=email:'…'`` also finds other spellings, but is eventually
  consistent (a customer created in the last minute may be missing), has its own limit of 20
  reads/s, and does not exist for merchants in India nor on most Stripe-compatible test servers
  (404). We use it *in addition* and, when it is unavailable, say in the report that customers
  stored with a different spelling could not be searched rather than failing the lookup.

Every candidate is checked against the subject locally (:meth:`Subject.match_email`), so a loose
search match never reaches the report.

**What else holds the subject's data.** Per customer: payment methods (``billing_details``, card
metadata), charges, payment intents, invoices (``customer_*`` snapshots frozen at finalisation),
subscriptions and Checkout Sessions. Guest payments have no Customer at all: Checkout Sessions are
listed by ``customer_details[email]``, and charges and payment intents, which have no e-mail
filter in either the list or the search API, are scanned newest first (bounded by
``guest_scan_max_objects``) comparing ``billing_details.email`` and ``receipt_email``.

**HTTP.** The official SDK runs in async mode but sends through this project's ``httpx`` client
(:class:`_PolicyHTTPClient`), so Stripe gets the shared rate limiter and retries: the SDK itself
never retries a 429. The SDK is imported lazily: ``dsar --help`` must not pay for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import Field, SecretStr

from connectors.base import Capability, Connector, ConnectorSettings, Findings, personal_fields
from hub.errors import ConnectorError, CredentialsRejected, ProcessorUnavailable, ProtocolError
from hub.http import HttpPolicy, RateLimit
from hub.models import Record
from hub.subject import Identifier, MatchStrength, Subject

if TYPE_CHECKING:
    import stripe

SEARCH_LIMIT = RateLimit(requests=20, per_seconds=1.0, path_contains="/search")

# The personal-data fields of each object type (docs.stripe.com/api, privacy/deletion-requests).
FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("email", "name", "phone", "address", "shipping", "description", "metadata",
                 "preferred_locales", "created"),
    "payment_method": ("type", "billing_details", "card", "created"),
    "charge": ("amount", "currency", "status", "description", "billing_details", "receipt_email",
               "shipping", "payment_method_details", "created", "customer"),
    "payment_intent": ("amount", "currency", "status", "description", "receipt_email", "shipping",
                       "created", "customer"),
    "invoice": ("number", "status", "total", "currency", "customer_email", "customer_name",
                "customer_address", "customer_phone", "customer_shipping", "created",
                "status_transitions", "customer"),
    "subscription": ("status", "created", "start_date", "canceled_at", "cancel_at", "customer"),
    "checkout_session": ("customer_details", "shipping_details", "amount_total", "currency",
                         "payment_status", "created", "customer"),
}


class StripeSettings(ConnectorSettings):
    base_url: str = "https://api.stripe.com"
    api_key: SecretStr | None = Field(None, description="A restricted key with read access.")
    api_version: str | None = Field(None, description="Stripe-Version; default: the SDK's own.")
    use_search: bool = Field(True, description="Also use the Search API for other spellings.")
    guest_scan_max_objects: int = Field(
        10_000, ge=0, description="Newest charges and payment intents scanned for guest payments."
    )
    # Test mode allows 25 operations/s and live mode 100/s; 25 is safe for both.
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=25, rate_limit_seconds=1.0)
    )
    required_credentials = ("api_key",)


def escape_search_value(value: str) -> str:
    """Quote a value for Stripe's Search query language.

    Values are quoted; a quote inside is escaped with a backslash (docs.stripe.com/search,
    "Quotes"), so a backslash itself must be escaped first.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _timestamps_to_iso(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("created", "start_date", "canceled_at", "cancel_at"):
        if isinstance(data.get(key), int):
            data[key] = datetime.fromtimestamp(data[key], tz=UTC).isoformat()
    return data


def _record(kind: str, obj: Mapping[str, Any], matched_on: str, strength: MatchStrength) -> Record:
    data = personal_fields(dict(obj), FIELDS[kind])
    if kind == "charge" and isinstance(data.get("payment_method_details"), dict):
        card = data["payment_method_details"].get("card") or {}
        data["payment_method_details"] = {
            "type": data["payment_method_details"].get("type"),
            **{k: card[k] for k in ("brand", "last4", "exp_month", "exp_year") if k in card},
        }
    return Record(type=kind, id=str(obj["id"]), matched_on=matched_on, match_strength=strength,
                  data=_timestamps_to_iso(data))


def _payer_addresses(obj: Mapping[str, Any]) -> list[str]:
    """Addresses a payment object holds for its payer (guest payments have only these)."""
    found = [obj.get("receipt_email")]
    for key in ("billing_details", "customer_details"):
        details = obj.get(key)
        if isinstance(details, Mapping):
            found.append(details.get("email"))
    return [a for a in found if isinstance(a, str) and a]


def _best_match(subject: Subject, addresses: list[str]) -> MatchStrength | None:
    order = list(MatchStrength)
    matches = [m for a in addresses if (m := subject.match_email(a)) is not None]
    return min(matches, key=order.index) if matches else None


def _identifiers(records: Any) -> list[Identifier]:
    """Stored address spellings and phone numbers in the records, for identity widening."""
    found: list[Identifier | None] = []
    for record in records:
        data = record.data
        for key in ("email", "receipt_email", "customer_email"):
            found.append(Identifier.found("email", data.get(key), "stripe"))
        found.append(Identifier.found("phone", data.get("phone"), "stripe"))
        for key in ("billing_details", "customer_details"):
            if isinstance(data.get(key), dict):
                found.append(Identifier.found("email", data[key].get("email"), "stripe"))
                found.append(Identifier.found("phone", data[key].get("phone"), "stripe"))
        found.append(Identifier.found("phone", data.get("customer_phone"), "stripe"))
    return list(dict.fromkeys(i for i in found if i is not None))


def _policy_http_client(client: httpx.AsyncClient) -> stripe.HTTPClient:
    """An SDK HTTP client that sends through ``client`` (and so through the shared policy)."""
    import stripe

    class _PolicyHTTPClient(stripe.HTTPClient):
        name = "dsar-httpx"

        async def request_async(
            self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
        ) -> tuple[bytes, int, Mapping[str, str]]:
            try:
                response = await client.request(method, url, headers=dict(headers),
                                                 content=post_data or None)
            except httpx.HTTPError as exc:
                raise stripe.APIConnectionError(
                    f"could not reach Stripe ({type(exc).__name__})", should_retry=False
                ) from exc
            return response.content, response.status_code, response.headers

        def sleep_async(self, secs: float) -> Awaitable[None]:
            return asyncio.sleep(secs)

        async def close_async(self) -> None:
            await client.aclose()

        def close(self) -> None:  # the sync API is never used
            pass

    return _PolicyHTTPClient()


def _translate(exc: Exception) -> ConnectorError:
    """Map the SDK's exceptions onto ours (docs.stripe.com/error-handling)."""
    import stripe

    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return CredentialsRejected(
            f"Stripe rejected the API key (HTTP {status}); check DSAR_STRIPE__API_KEY and, for a "
            "restricted key, its read permissions", status_code=status)
    if isinstance(exc, stripe.RateLimitError):
        return ProcessorUnavailable(
            "Stripe kept rate-limiting us (HTTP 429) beyond the retry budget; re-run later",
            status_code=status)
    if isinstance(exc, stripe.APIConnectionError):
        return ProcessorUnavailable("could not reach Stripe (network error after retries)")
    if isinstance(exc, stripe.APIError) and status is not None and status < 500:
        return ProtocolError(f"Stripe answered HTTP {status} with a body that is not valid JSON",
                             status_code=status)
    if isinstance(exc, stripe.APIError):
        return ProcessorUnavailable(
            f"Stripe is failing (HTTP {status}) after retries; re-run later", status_code=status)
    message = getattr(exc, "user_message", None) or type(exc).__name__
    return ProtocolError(f"Stripe refused a request (HTTP {status}): {message}", status_code=status)


class StripeConnector(Connector):
    name = "stripe"
    title = "Stripe"
    docs_url = "https://docs.stripe.com/api"
    capabilities = frozenset({Capability.ACCESS})
    settings_model = StripeSettings

    def __init__(
        self, settings: StripeSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self.settings: StripeSettings = settings
        self._http = self.http_client(settings.base_url, extra_limits=[SEARCH_LIMIT])
        self._sdk: stripe.StripeClient | None = None
        self._seen_customers: set[str] = set()

    @property
    def sdk(self) -> stripe.StripeClient:
        if self._sdk is None:
            import stripe

            key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
            self._sdk = stripe.StripeClient(
                key,
                base_addresses={"api": self.settings.base_url.rstrip("/").removesuffix("/v1")},
                http_client=_policy_http_client(self._http),
                max_network_retries=0,  # our transport retries, honouring Retry-After
                stripe_version=self.settings.api_version,
            )
        return self._sdk

    async def _call(self, coro: Awaitable[Any]) -> Any:
        import stripe

        try:
            return await coro
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    async def _iterate(self, first_page: Awaitable[Any], limit: int | None = None
                       ) -> AsyncIterator[dict[str, Any]]:
        """Every object of a list or search result, following pages (auto-pagination)."""
        import stripe

        count = 0
        try:
            page = await first_page
            async for obj in page.auto_paging_iter():
                if limit is not None and count >= limit:
                    return
                count += 1
                yield obj.to_dict()
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    async def _collect(self, first_page: Awaitable[Any]) -> list[dict[str, Any]]:
        return [obj async for obj in self._iterate(first_page)]

    # -- customers ---------------------------------------------------------------------------

    async def _customers(self, subject: Subject, notes: list[str],
                         addresses: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Customers whose address is the subject's: exact-match lists, plus Search."""
        v1 = self.sdk.v1
        lists = [self._collect(v1.customers.list_async({"email": address, "limit": 100}))
                 for address in (addresses if addresses is not None else subject.email_variants())]
        searching = addresses is None and self.settings.use_search
        batches = await asyncio.gather(
            *lists, *([self._search_customers(subject, notes)] if searching else []))
        if addresses is None and not self.settings.use_search:
            notes.append("Stripe's Search API is switched off in the settings: customers stored "
                         "with another letter case were not searched for.")
        found = {c["id"]: c for batch in batches for c in batch}
        return {cid: c for cid, c in found.items() if subject.match_email(c.get("email"))}

    async def _search_customers(self, subject: Subject, notes: list[str]) -> list[dict[str, Any]]:
        query = f"email:{escape_search_value(subject.email)}"
        try:
            return await self._collect(
                self.sdk.v1.customers.search_async({"query": query, "limit": 100})
            )
        except ProtocolError as exc:
            if exc.status_code not in (400, 404):
                raise
        notes.append("Stripe's Search API is not available here (it is missing for some accounts "
                     "and on Stripe-compatible test servers): only exact-case matches of the "
                     "address were found; customers stored with other letter case may be missing.")
        return []

    # -- records linked to a customer ---------------------------------------------------------

    def _linked_lists(self, customer_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
        v1 = self.sdk.v1
        by_customer = {"customer": customer_id, "limit": 100}
        return {
            "payment_method": lambda: v1.customers.payment_methods.list_async(
                customer_id, {"limit": 100}),
            "charge": lambda: v1.charges.list_async(by_customer),
            "payment_intent": lambda: v1.payment_intents.list_async(by_customer),
            "invoice": lambda: v1.invoices.list_async(by_customer),
            "subscription": lambda: v1.subscriptions.list_async({**by_customer, "status": "all"}),
            "checkout_session": lambda: v1.checkout.sessions.list_async(by_customer),
        }

    async def _linked_records(self, customer: dict[str, Any], strength: MatchStrength
                              ) -> list[Record]:
        lists = self._linked_lists(customer["id"])
        results = await asyncio.gather(*(self._collect(make()) for make in lists.values()))
        return [
            _record(kind, obj, "email", strength)
            for kind, objects in zip(lists, results, strict=True)
            for obj in objects
        ]

    # -- guest payments -----------------------------------------------------------------------

    async def _guest_records(self, subject: Subject, notes: list[str]) -> list[Record]:
        v1 = self.sdk.v1
        records: list[Record] = []
        sessions = await asyncio.gather(*(
            self._collect(v1.checkout.sessions.list_async(
                {"customer_details": {"email": address}, "limit": 100}))
            for address in subject.email_variants()
        ))
        for session in (s for batch in sessions for s in batch):
            strength = _best_match(subject, _payer_addresses(session))
            if strength:
                records.append(_record("checkout_session", session, "email", strength))

        cap = self.settings.guest_scan_max_objects
        scans = {"charge": v1.charges.list_async, "payment_intent": v1.payment_intents.list_async}
        for kind, list_call in scans.items():
            seen = 0
            async for obj in self._iterate(list_call({"limit": 100}), limit=cap):
                seen += 1
                strength = _best_match(subject, _payer_addresses(obj))
                if strength:
                    records.append(_record(kind, obj, "email", strength))
            if seen >= cap:
                notes.append(f"Only the newest {cap} {kind.replace('_', ' ')}s were scanned for "
                             "guest payments (guest_scan_max_objects); older ones were not.")
        return records

    # -- the contract ---------------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        notes: list[str] = []
        customers, guest = await asyncio.gather(
            self._customers(subject, notes), self._guest_records(subject, notes)
        )
        self._seen_customers = set(customers)
        return await self._findings(subject, customers, guest, notes)

    async def find_by_identifiers(self, subject: Subject, identifiers: list[Identifier]
                                  ) -> Findings:
        """Other spellings of the address seen at other processors: the exact-match list
        filter finds customers stored that way even where Search is unavailable."""
        spellings = [i.value for i in identifiers if i.kind == "email"]
        customers = await self._customers(subject, [], addresses=spellings)
        new = {cid: c for cid, c in customers.items() if cid not in self._seen_customers}
        return await self._findings(subject, new, [], [])

    async def _findings(self, subject: Subject, customers: dict[str, dict[str, Any]],
                        extra: list[Record], notes: list[str]) -> Findings:
        records: dict[tuple[str, str], Record] = {}
        strengths = {cid: subject.match_email(c.get("email")) or MatchStrength.EXACT
                     for cid, c in customers.items()}
        linked = await asyncio.gather(*(
            self._linked_records(c, strengths[cid]) for cid, c in customers.items()))
        for cid, customer in customers.items():
            records[("customer", cid)] = _record("customer", customer, "email", strengths[cid])
        for record in [r for batch in linked for r in batch] + extra:
            records.setdefault((record.type, record.id), record)
        return Findings(records=list(records.values()), notes=notes,
                        identifiers=_identifiers(records.values()))

    async def check_credentials(self) -> str:
        await self._call(self.sdk.v1.customers.list_async({"limit": 1}))
        return "API key accepted (listed customers)"
