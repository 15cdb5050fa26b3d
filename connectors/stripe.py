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
filter in either the list or the search API, are found through the hub's index of them
(the connector option ``history_index``: only new objects are read, the matching ones are
retrieved by id) or, without the hub, scanned newest first (bounded by
``guest_scan_max_objects``), comparing ``billing_details.email`` and ``receipt_email`` either
way (:mod:`connectors.stripe_guests`).

**HTTP.** The official SDK runs in async mode but sends through this project's ``httpx`` client
(:mod:`connectors.stripe_sdk`), so Stripe gets the shared rate limiter and retries: the SDK itself
never retries a 429. The SDK is imported lazily: ``dsar --help`` must not pay for it.

**Erasure** (:meth:`StripeConnector.erase`; https://docs.stripe.com/privacy/deletion-requests):

- ``customer`` + delete: ``DELETE /v1/customers/{id}`` (https://docs.stripe.com/api/customers/delete)
  is permanent, answers ``{"deleted": true}``, cancels the customer's subscriptions and removes its
  saved payment methods. A 404 ``resource_missing`` means it is already gone.
- ``payment_method`` / ``subscription`` + delete: the object is read first. A payment method
  whose ``customer`` is null is already detached and a subscription that is ``canceled`` (or
  ``incomplete_expired``) already ended, so nothing is sent; otherwise it is detached
  (``POST /v1/payment_methods/{id}/detach``) or cancelled (``DELETE /v1/subscriptions/{id}``).
  This gives the same result whatever order the hub erases a customer's records in, and sends no
  mutating call for what the customer's deletion already did. A 400 from the call (the customer
  was deleted in between) is resolved by reading the object again.
- ``charge``, ``payment_intent``, ``invoice``, ``checkout_session`` + anonymise (after their
  bookkeeping hold): a privacy redaction job (public preview, not in stripe-python 16's typed
  surface, so sent with :meth:`stripe.StripeClient.raw_request_async` and the preview
  ``Stripe-Version`` in ``redaction_api_version``; https://docs.stripe.com/privacy/redaction,
  https://docs.stripe.com/api/privacy/redaction-job). ``POST /v1/privacy/redaction_jobs`` with
  ``objects[charges][]=ch_…`` creates the job (status ``created``/``validating``), which becomes
  ``ready`` or ``failed`` (validation errors); ``POST /v1/privacy/redaction_jobs/{id}/run``
  starts the irreversible redaction (``redacting`` → ``succeeded``). Redacting an object also
  redacts its related objects, which is why customers are never redacted here: that would reach
  payment records still under their hold. Where the endpoint does not exist (404 without
  ``resource_missing``: an account without the preview, or a Stripe-compatible test server) the
  outcome is REFUSED, asking for a manual redaction request to Stripe support.

Every mutating call carries the idempotency key the hub derived from the request and record
(https://docs.stripe.com/api/idempotent_requests); a second call of one erasure gets a key derived
from it (``…:run``), because Stripe refuses one key on two different requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, cast

import httpx
from pydantic import Field, SecretStr

from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    PaymentFields,
)
from connectors.sdk.history import HistoryCache, HistoryLookup, history_sources_of
from connectors.sdk.paths import UnsafePathSegment, checked_segment, path_segment
from connectors.sdk.rectify import address_of
from connectors.stripe_guests import ObjectSource, guest_payment_records
from connectors.stripe_labels import LABELS
from connectors.stripe_records import (
    FIELDS,
    best_match,
    identifiers_of,
    payer_addresses,
    stripe_record,
)
from connectors.stripe_sdk import policy_http_client, translate
from hub.core.errors import ConnectorError, CredentialsRejected, ProtocolError
from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject
from hub.http import HttpPolicy, RateLimit

if TYPE_CHECKING:
    import stripe

SEARCH_LIMIT = RateLimit(requests=20, per_seconds=1.0, path_contains="/search")

#: the preview version of the redaction-job API (its changelog entry "Adds validation errors
#: property to the Redaction Job object", docs.stripe.com/changelog/dahlia/2026-04-22)
REDACTION_API_VERSION = "2026-04-22.preview"
#: record type → the key of the redaction job's ``objects`` (docs.stripe.com/api/privacy/
#: redaction-job/object); customers are left out on purpose, see the module docstring
REDACTION_OBJECTS = {
    "charge": "charges",
    "payment_intent": "payment_intents",
    "invoice": "invoices",
    "checkout_session": "checkout_sessions",
}



class StripeSettings(ConnectorSettings):
    base_url: str = "https://api.stripe.com"
    api_key: SecretStr | None = Field(
        None, description="A restricted key with read access; erasure also needs write access to "
        "Customers, PaymentMethods, Subscriptions and (for redaction) Privacy.")
    api_version: str | None = Field(None, description="Stripe-Version; default: the SDK's own.")
    use_search: bool = Field(True, description="Also use the Search API for other spellings.")
    guest_scan_max_objects: int = Field(
        10_000, ge=0, description="Newest charges and payment intents scanned for guest payments."
    )
    # Test mode allows 25 operations/s and live mode 100/s; 25 is safe for both.
    http: HttpPolicy = Field(
        default_factory=lambda: HttpPolicy(rate_limit_requests=25, rate_limit_seconds=1.0)
    )
    redaction_api_version: str = Field(
        REDACTION_API_VERSION,
        description="Stripe-Version sent with the redaction-job calls only (a public preview "
        "feature needs a preview API version); all other calls keep api_version.")
    redaction_wait_seconds: float = Field(
        60.0, ge=0, description="How long one erasure waits for a redaction job to validate and "
        "to finish redacting; a job still validating is continued on the next run.")
    redaction_poll_seconds: float = Field(
        2.0, ge=0, description="Pause between two reads of a redaction job's status.")
    required_credentials = ("api_key",)


def escape_search_value(value: str) -> str:
    """Quote a value for Stripe's Search query language.

    Values are quoted; a quote inside is escaped with a backslash (docs.stripe.com/search,
    "Quotes"), so a backslash itself must be escaped first.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StripeConnector(Connector):
    name = "stripe"
    title = "Stripe"
    docs_url = "https://docs.stripe.com/api"
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE, Capability.RECTIFY,
                              Capability.RESTRICT})
    settings_model = StripeSettings
    labels = LABELS
    #: a charge's creation time and amount (in öre/cents, docs.stripe.com/api/charges/object)
    #: tell a till receipt paid on the same day
    payment_records: ClassVar[Mapping[str, PaymentFields]] = {
        "charge": PaymentFields("created", "amount", "currency", "charge", minor_units=True)}
    init_options: ClassVar[frozenset[str]] = frozenset({"history_cache", "history_index"})
    #: charges and payment intents read incrementally into the hub's index (connectors.sdk.history)
    history_source: ClassVar[str] = "connectors.stripe_history:stripe_histories"
    rectifiable_records = frozenset({"customer"})
    restrictable_records = frozenset({"customer"})
    booked_records = frozenset({"invoice", "charge", "payment_intent"})
    rectify_fields: Mapping[str, str] = MappingProxyType({
        "name": "name", "email": "email", "phone": "phone", "address.street": "address.line1",
        "address.postal_code": "address.postal_code", "address.city": "address.city",
        "address.country": "address.country"})

    def __init__(
        self, settings: StripeSettings, *, transport: httpx.AsyncBaseTransport | None = None,
        history_cache: HistoryCache | None = None, history_index: HistoryLookup | None = None,
    ) -> None:
        super().__init__(settings, transport=transport)
        self.settings: StripeSettings = settings
        #: the newest charges and payment intents, read once for every lookup of a batch
        self.history = history_cache or HistoryCache()
        #: the hub's index of guest payments: then only new and matching objects are read
        self.index = history_index
        self._http = self.http_client(settings.base_url, extra_limits=[SEARCH_LIMIT])
        self._sdk: stripe.StripeClient | None = None
        self._seen_customers: set[str] = set()

    @property
    def sdk(self) -> stripe.StripeClient:
        if self._sdk is None:
            import stripe

            # Telemetry would write a lasting id into ~/.config/stripe and send it, with our
            # request timings, in every request's headers: nothing a data-protection tool needs.
            stripe.enable_telemetry = False
            key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
            self._sdk = stripe.StripeClient(
                key,
                base_addresses={"api": self.settings.base_url.rstrip("/").removesuffix("/v1")},
                http_client=policy_http_client(self._http),
                max_network_retries=0,  # our transport retries, honouring Retry-After
                stripe_version=self.settings.api_version,
            )
        return self._sdk

    async def _call(self, coro: Awaitable[Any]) -> Any:
        import stripe

        try:
            return await coro
        except stripe.StripeError as exc:
            raise translate(exc) from None

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
            raise translate(exc) from None

    async def _collect(self, first_page: Awaitable[Any]) -> list[dict[str, Any]]:
        return [obj async for obj in self._iterate(first_page)]

    async def _collect_or_note(self, first_page: Awaitable[Any], what: str, limits: Findings
                               ) -> list[dict[str, Any]]:
        """Like :meth:`_collect`, but a list this server does not offer (404, or 400 for a
        filter it does not know) becomes a note on the result instead of failing the whole
        lookup: the customers and the other lists found are still reported."""
        try:
            return await self._collect(first_page)
        except ProtocolError as exc:
            if exc.status_code not in (400, 404):
                raise
            limits.note(f"Stripe could not list {what} here ({exc}); they were not searched.",
                        "stripe.list_unavailable", incomplete=True)
            return []

    # -- customers ---------------------------------------------------------------------------

    async def _customers(self, subject: Subject, limits: Findings,
                         addresses: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Customers whose address is the subject's: exact-match lists, plus Search."""
        v1 = self.sdk.v1
        lists = [self._collect(v1.customers.list_async({"email": address, "limit": 100}))
                 for address in (addresses if addresses is not None else subject.email_variants())]
        searching = addresses is None and self.settings.use_search
        batches = await asyncio.gather(
            *lists, *([self._search_customers(subject, limits)] if searching else []))
        if addresses is None and not self.settings.use_search:
            limits.note("Stripe's Search API is switched off in the settings: customers stored "
                        "with another letter case were not searched for.",
                        "stripe.address_spellings_unsearched", incomplete=True)
        found = {c["id"]: c for batch in batches for c in batch}
        return {cid: c for cid, c in found.items() if subject.match_email(c.get("email"))}

    async def _search_customers(self, subject: Subject, limits: Findings
                                ) -> list[dict[str, Any]]:
        query = f"email:{escape_search_value(subject.email)}"
        try:
            return await self._collect(
                self.sdk.v1.customers.search_async({"query": query, "limit": 100})
            )
        except ProtocolError as exc:
            if exc.status_code not in (400, 404):
                raise
        limits.note("Stripe's Search API is not available here (it is missing for some accounts "
                    "and on Stripe-compatible test servers): only exact-case matches of the "
                    "address were found; customers stored with other letter case may be missing.",
                    "stripe.address_spellings_unsearched", incomplete=True)
        return []

    # -- records linked to a customer ---------------------------------------------------------

    def _linked_lists(self, customer_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
        v1 = self.sdk.v1
        checked_segment(customer_id, what="customer id")  # a path segment of the first list
        # literal parameters: each list has its own typed parameter set in the SDK
        return {
            "payment_method": lambda: v1.customers.payment_methods.list_async(
                customer_id, {"limit": 100}),
            "charge": lambda: v1.charges.list_async({"customer": customer_id, "limit": 100}),
            "payment_intent": lambda: v1.payment_intents.list_async(
                {"customer": customer_id, "limit": 100}),
            "invoice": lambda: v1.invoices.list_async({"customer": customer_id, "limit": 100}),
            "subscription": lambda: v1.subscriptions.list_async(
                {"customer": customer_id, "limit": 100, "status": "all"}),
            "checkout_session": lambda: v1.checkout.sessions.list_async(
                {"customer": customer_id, "limit": 100}),
        }

    async def _linked_records(self, customer: dict[str, Any], strength: MatchStrength,
                              limits: Findings) -> list[Record]:
        try:
            lists = self._linked_lists(customer["id"])
        except UnsafePathSegment as exc:
            # One unusable id must not cost the subject the rest of the answer: this customer
            # is still reported, only what hangs off it cannot be listed.
            limits.note(f"{exc}; the records linked to that customer were not listed.",
                        "stripe.linked_records_unlisted", incomplete=True)
            return []
        results = await asyncio.gather(*(
            self._collect_or_note(make(), f"a customer's {kind.replace('_', ' ')}s", limits)
            for kind, make in lists.items()))
        return [
            stripe_record(kind, obj, "email", strength)
            for kind, objects in zip(lists, results, strict=True)
            for obj in objects
        ]

    # -- guest payments -----------------------------------------------------------------------

    async def _guest_records(self, subject: Subject, limits: Findings,
                             known: Collection[str] = ()) -> list[Record]:
        v1 = self.sdk.v1
        records: list[Record] = []
        sessions = await asyncio.gather(*(
            self._collect_or_note(v1.checkout.sessions.list_async(
                {"customer_details": {"email": address}, "limit": 100}),
                "Checkout Sessions by customer e-mail (guest checkouts)", limits)
            for address in subject.email_variants()
        ))
        for session in (s for batch in sessions for s in batch):
            strength = best_match(subject, payer_addresses(session))
            if strength:
                records.append(stripe_record("checkout_session", session, "email", strength))

        return records + await guest_payment_records(
            subject, limits, cap=self.settings.guest_scan_max_objects, scan=self._newest,
            index=self.index, sources=cast(list[ObjectSource], history_sources_of(self))
            if self.index is not None else [], known=known)

    async def _newest(self, kind: str) -> list[dict[str, Any]]:
        """The newest ``guest_scan_max_objects`` charges or payment intents; the same for
        every lookup of a batch, so read once (:class:`HistoryCache`)."""
        cap = self.settings.guest_scan_max_objects
        v1 = self.sdk.v1
        lists = {"charge": v1.charges.list_async, "payment_intent": v1.payment_intents.list_async}

        async def read() -> list[dict[str, Any]]:
            return [obj async for obj in self._iterate(lists[kind]({"limit": 100}), limit=cap)]

        key = (self.name, self.settings.base_url, kind, cap)
        objects: list[dict[str, Any]] = await self.history.read_once(key, read)
        return objects

    # -- the contract ---------------------------------------------------------------------------

    async def find_subject(self, subject: Subject) -> Findings:
        """The subject's customers and what hangs off them first, then their guest payments:
        a payment of a customer already listed is not retrieved again by id through the
        index (a regular customer's history would otherwise cost one call per payment)."""
        limits = Findings()
        customers = await self._customers(subject, limits)
        self._seen_customers = set(customers)
        linked = await self._customer_records(subject, customers, limits)
        known = {r.id for r in linked if r.type in ("charge", "payment_intent")}
        guest = await self._guest_records(subject, limits, known=known)
        return self._findings(linked, guest, limits)

    async def find_by_identifiers(self, subject: Subject, identifiers: list[Identifier]
                                  ) -> Findings:
        """Other spellings of the address seen at other processors: the exact-match list
        filter finds customers stored that way even where Search is unavailable."""
        spellings = [i.value for i in identifiers if i.kind == "email"]
        limits = Findings()
        customers = await self._customers(subject, limits, addresses=spellings)
        new = {cid: c for cid, c in customers.items() if cid not in self._seen_customers}
        return self._findings(await self._customer_records(subject, new, limits), [], limits)

    async def _customer_records(self, subject: Subject, customers: dict[str, dict[str, Any]],
                                limits: Findings) -> list[Record]:
        """The records of ``customers`` and what hangs off them."""
        strengths = {cid: subject.match_email(c.get("email")) or MatchStrength.EXACT
                     for cid, c in customers.items()}
        linked = await asyncio.gather(*(
            self._linked_records(c, strengths[cid], limits) for cid, c in customers.items()))
        return [*(stripe_record("customer", customer, "email", strengths[cid])
                  for cid, customer in customers.items()),
                *(r for batch in linked for r in batch)]

    @staticmethod
    def _findings(records: list[Record], extra: list[Record], limits: Findings) -> Findings:
        """``records`` plus those of ``extra`` not among them, with the limits met on the
        way."""
        found: dict[tuple[str, str], Record] = {}
        for record in [*records, *extra]:
            found.setdefault((record.type, record.id), record)
        return limits.model_copy(update={"records": list(found.values()),
                                         "identifiers": identifiers_of(found.values())})

    async def check_credentials(self) -> str:
        await self._call(self.sdk.v1.customers.list_async({"limit": 1}))
        return "API key accepted (listed customers)"

    # -- erasure ----------------------------------------------------------------------------------

    async def erase(
        self,
        record: Record,
        action: ErasureAction,
        *,
        idempotency_key: str,
        fields: Sequence[str] = (),
    ) -> ErasureOutcome:
        """Delete or redact one Stripe object (see the module docstring for what each does)."""
        import stripe

        kind = record.type
        if kind not in FIELDS:
            raise ValueError(f"Stripe records have no type {kind!r}")
        noun = kind.replace("_", " ")
        try:
            checked_segment(record.id, what=f"{noun} id")  # the SDK escapes, but keeps dots
            if action is ErasureAction.DELETE:
                if kind == "customer":
                    return await self._delete_customer(record.id, idempotency_key)
                if kind == "payment_method":
                    return await self._detach_payment_method(record.id, idempotency_key)
                if kind == "subscription":
                    return await self._cancel_subscription(record.id, idempotency_key)
                return ErasureOutcome(
                    state=ErasureState.REFUSED, fallback=ErasureAction.ANONYMISE,
                    detail=f"Stripe cannot delete a {noun} ({record.id}): payment records stay "
                    "at Stripe; redact (anonymise) it once its bookkeeping hold has ended.")
            if kind in REDACTION_OBJECTS:
                return await self._redact(kind, record.id, idempotency_key, fields)
            return ErasureOutcome(
                state=ErasureState.REFUSED, fallback=ErasureAction.DELETE,
                detail=f"A {noun} ({record.id}) is erased by deleting it, not by anonymising: a "
                "redaction job would also redact the payment records linked to it.")
        except stripe.StripeError as exc:
            if _resource_missing(exc):
                return ErasureOutcome(
                    state=ErasureState.ALREADY_GONE,
                    detail=f"Stripe has no {noun} {record.id} any more (404 resource_missing).")
            return _erasure_failed(translate(exc))
        except ConnectorError as exc:
            return _erasure_failed(exc)

    async def _delete_customer(self, customer_id: str, key: str) -> ErasureOutcome:
        deleted = await self.sdk.v1.customers.delete_async(
            customer_id, options={"idempotency_key": key})
        if deleted.to_dict().get("deleted") is not True:
            raise ProtocolError(f"Stripe answered the deletion of customer {customer_id} without "
                                "\"deleted\": true")
        return ErasureOutcome(
            state=ErasureState.DONE,
            detail=f"Stripe deleted customer {customer_id} permanently; Stripe cancels its "
            "subscriptions and removes its saved payment methods. Charges, payment intents, "
            "invoices and Checkout Sessions keep their own copies of the personal data.")

    async def _detach_payment_method(self, pm_id: str, key: str) -> ErasureOutcome:
        import stripe

        v1 = self.sdk.v1
        method = (await v1.payment_methods.retrieve_async(pm_id)).to_dict()
        if not method.get("customer"):
            return _detached(pm_id)
        try:
            await v1.payment_methods.detach_async(pm_id, options={"idempotency_key": key})
        except stripe.InvalidRequestError as exc:
            # "not attached to a customer so detachment is impossible": the customer was
            # deleted (or the method detached) since we read it
            if exc.http_status != 400:
                raise
            if (await v1.payment_methods.retrieve_async(pm_id)).to_dict().get("customer"):
                raise
            return _detached(pm_id)
        return ErasureOutcome(
            state=ErasureState.DONE,
            detail=f"Stripe detached payment method {pm_id} from customer {method['customer']}; "
            "a detached payment method can no longer be used or attached again.")

    async def _cancel_subscription(self, sub_id: str, key: str) -> ErasureOutcome:
        import stripe

        v1 = self.sdk.v1
        subscription = (await v1.subscriptions.retrieve_async(sub_id)).to_dict()
        if subscription.get("status") in ENDED_SUBSCRIPTION:
            return _ended(sub_id, subscription["status"])
        try:
            subscription = (await v1.subscriptions.cancel_async(
                sub_id, options={"idempotency_key": key})).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 400:
                raise
            subscription = (await v1.subscriptions.retrieve_async(sub_id)).to_dict()
            if subscription.get("status") not in ENDED_SUBSCRIPTION:
                raise
            return _ended(sub_id, subscription["status"])
        if subscription.get("status") != "canceled":
            raise ProtocolError(f"Stripe answered the cancellation of subscription {sub_id} with "
                                f"status {subscription.get('status')!r}, not 'canceled'")
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"Stripe cancelled subscription {sub_id}.")

    # -- redaction jobs (public preview; raw requests) --------------------------------------------

    async def _redaction_call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        """One redaction-job request through the SDK's raw request support, with the preview
        ``Stripe-Version``; answers the job object."""
        response = await self.sdk.raw_request_async(
            method, path, stripe_version=self.settings.redaction_api_version, **params)
        job = response.data
        if not isinstance(job, dict) or not isinstance(job.get("id"), str):
            raise ProtocolError(f"Stripe answered {method.upper()} {path} without a redaction job")
        return job

    async def _redaction_job_after(self, job: dict[str, Any], waiting: frozenset[str]
                                   ) -> dict[str, Any]:
        """The job, read again until its status leaves ``waiting`` or the wait budget is spent."""
        deadline = time.monotonic() + self.settings.redaction_wait_seconds
        while job.get("status") in waiting and time.monotonic() < deadline:
            await asyncio.sleep(self.settings.redaction_poll_seconds)
            job = await self._redaction_call(
                "get", f"/v1/privacy/redaction_jobs/{path_segment(job['id'], what='job id')}")
        return job

    async def _redaction_errors(self, job: dict[str, Any]) -> list[str]:
        """The job's validation errors: inline (preview 2026-04-22) or from their list."""
        import stripe

        listed = job.get("validation_errors")
        if not isinstance(listed, dict):
            try:
                listed = (await self.sdk.raw_request_async(
                    "get", f"/v1/privacy/redaction_jobs/{path_segment(job['id'], what='job id')}"
                    "/validation_errors",
                    limit=10, stripe_version=self.settings.redaction_api_version)).data
            except stripe.StripeError:
                return []  # the outcome still names the job, where a person can read them
        errors = []
        for error in (listed or {}).get("data") or []:
            if not isinstance(error, dict):
                continue
            culprit = error.get("erroring_object") or {}
            where = f" ({culprit.get('object_type')} {culprit.get('id')})" if culprit else ""
            errors.append(f"{error.get('code')}: {error.get('message')}{where}")
        return errors

    async def _redact(self, kind: str, object_id: str, key: str, fields: Sequence[str]
                      ) -> ErasureOutcome:
        import stripe

        noun = kind.replace("_", " ")
        try:
            job = await self._redaction_call(
                "post", "/v1/privacy/redaction_jobs",
                objects={REDACTION_OBJECTS[kind]: [object_id]}, idempotency_key=key)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 and not _resource_missing(exc):
                return ErasureOutcome(
                    state=ErasureState.REFUSED,
                    detail=f"Stripe's redaction-job API (public preview) is not available for "
                    f"this account (HTTP 404 on POST /v1/privacy/redaction_jobs), so {noun} "
                    f"{object_id} could not be redacted through the API: ask Stripe support "
                    "for a manual redaction of it (https://support.stripe.com/; "
                    "https://docs.stripe.com/privacy/redaction).")
            raise
        job_id = job["id"]
        job = await self._redaction_job_after(job, VALIDATING)
        if job.get("status") == "ready":
            job = await self._redaction_call(
                "post", f"/v1/privacy/redaction_jobs/{path_segment(job_id, what='job id')}/run",
                idempotency_key=_derived_key(key, "run"))
            job = await self._redaction_job_after(job, REDACTING)
        status = job.get("status")
        scope = (" Stripe redacts every personal-data field of the object, not only the fields "
                 "the retention policy names." if fields else "")
        if status == "succeeded":
            return ErasureOutcome(
                state=ErasureState.DONE,
                detail=f"Stripe redaction job {job_id} redacted {noun} {object_id} and its "
                f"related objects (irreversible).{scope}")
        if status == "redacting":
            return ErasureOutcome(
                state=ErasureState.DONE,
                detail=f"Stripe redaction job {job_id} is redacting {noun} {object_id} and its "
                "related objects; the run is irreversible and Stripe finishes it on its own "
                f"(check the job's status in the Dashboard).{scope}")
        if status in VALIDATING:
            return ErasureOutcome(
                state=ErasureState.FAILED,
                detail=f"Stripe redaction job {job_id} for {noun} {object_id} was still "
                f"validating after {self.settings.redaction_wait_seconds:g} s; re-running the "
                "request continues the same job (same idempotency key, valid for 24 hours).")
        if status == "failed":
            errors = await self._redaction_errors(job)
            listed = "; ".join(errors) if errors else "see the job's validation errors"
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"Stripe redaction job {job_id} for {noun} {object_id} failed validation "
                f"({listed}). A person must resolve this in the Stripe Dashboard and validate "
                "the job again, or ask Stripe support for a manual redaction.")
        if status in ("canceled", "canceling"):
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"Stripe redaction job {job_id} for {noun} {object_id} was cancelled at "
                "Stripe; nothing was redacted. A person must decide how to redact it.")
        raise ProtocolError(f"Stripe redaction job {job_id} has an unknown status {status!r}")

    async def update(self, record_type: str, record_id: str, changes: Mapping[str, Any], *,
                     idempotency_key: str = "") -> ErasureOutcome:
        """Correct a customer: ``POST /v1/customers/{id}`` with ``name``, ``email``, ``phone``
        and ``address[line1|postal_code|city|country]``
        (https://docs.stripe.com/api/customers/update), sent with the idempotency key
        (https://docs.stripe.com/api/idempotent_requests). Other objects are refused: invoices
        and charges are booked records (Bokföringslagen) whose copies of the data stay."""
        import stripe

        if record_type != "customer":
            return ErasureOutcome(
                state=ErasureState.REFUSED,
                detail=f"Stripe {record_type.replace('_', ' ')} {record_id} is not changed: "
                "only the customer is corrected; payment records keep the data as booked.")
        params: dict[str, Any] = {k: changes[k] for k in ("name", "email", "phone") if k in changes}
        parts = {"street": "line1", "postal_code": "postal_code", "city": "city",
                 "country": "country"}
        address = {parts[k]: v for k, v in address_of(changes).items()}
        if address:
            params["address"] = address
        try:
            checked_segment(record_id, what="customer id")
            await self.sdk.v1.customers.update_async(
                record_id, params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key} if idempotency_key else {})
        except stripe.StripeError as exc:
            return _erasure_failed(translate(exc))
        except ConnectorError as exc:
            return _erasure_failed(exc)
        return ErasureOutcome(state=ErasureState.DONE,
                              detail=f"Stripe updated customer {record_id} ({', '.join(params)})")

    async def mark_restricted(self, record: Record, restricted: bool, *,
                              idempotency_key: str = "") -> ErasureOutcome:
        """Customer metadata ``gdpr_restricted`` (:mod:`connectors.stripe_restriction`)."""
        from connectors.stripe_restriction import mark_customer

        return await mark_customer(self.sdk, record, restricted, idempotency_key)


ENDED_SUBSCRIPTION = frozenset({"canceled", "incomplete_expired"})
VALIDATING = frozenset({"created", "validating"})
REDACTING = frozenset({"redacting"})


def _resource_missing(exc: Exception) -> bool:
    return getattr(exc, "http_status", None) == 404 and getattr(exc, "code", None) == (
        "resource_missing")


def _derived_key(key: str, step: str) -> str:
    """The idempotency key of a further call in one erasure (Stripe keys: at most 255 chars)."""
    derived = f"{key}:{step}"
    return derived if len(derived) <= 255 else hashlib.sha256(derived.encode()).hexdigest()


def _detached(pm_id: str) -> ErasureOutcome:
    return ErasureOutcome(
        state=ErasureState.ALREADY_GONE,
        detail=f"Payment method {pm_id} is attached to no customer (detached, e.g. when its "
        "customer was deleted); it can no longer be used.")


def _ended(sub_id: str, status: str) -> ErasureOutcome:
    return ErasureOutcome(state=ErasureState.ALREADY_GONE,
                          detail=f"Subscription {sub_id} has already ended (status {status}).")


def _erasure_failed(error: ConnectorError) -> ErasureOutcome:
    if isinstance(error, CredentialsRejected):
        return ErasureOutcome(
            state=ErasureState.FAILED,
            detail=f"Stripe rejected the credentials (HTTP {error.status_code}): check "
            "DSAR_STRIPE__API_KEY and, for a restricted key, its write permissions; nothing "
            "was erased.")
    return ErasureOutcome(state=ErasureState.FAILED, detail=str(error))
