"""A stateful fake of the Stripe API (read endpoints + customer deletion) for the sandbox.

Why: the Stripe connector runs the official ``stripe`` SDK (v16, async over httpx) and must be
exercised over real HTTP without touching Stripe. The fake follows Stripe's documented
behaviour closely enough that code passing here is not relying on anything Stripe lacks:

* form-style query parameters (``created[gte]=``, ``customer_details[email]=``), unknown
  parameters rejected with ``parameter_unknown`` like Stripe does;
* list envelopes with newest-first cursor paging (``limit`` 1–100, ``starting_after`` /
  ``ending_before``) and search envelopes with ``page`` / ``next_page``;
* ``GET /v1/customers?email=`` is exact and case-sensitive, while search (``email:'…'``) is
  case-insensitive (https://docs.stripe.com/search), so both lookups must be done;
* ``DELETE /v1/customers/{id}`` leaves a ``{"deleted": true}`` stub, cancels subscriptions and
  detaches payment methods, while charges, payment intents, invoices and checkout sessions keep
  their copies of the personal data;
* ``POST /v1/payment_methods/{id}/detach`` (400 when the method is attached to no customer, as
  Stripe answers) and ``DELETE /v1/subscriptions/{id}`` (cancel now) for erasure; there is no
  privacy redaction-job API (a public preview): its paths answer 404 like an account without it;
* Stripe's error envelope ``{"error": {"type", "message", ...}}`` and status codes.

Where the sandbox does not implement a real parameter (``expand``, some filters) it answers 400
with a message starting "Sandbox limitation" instead of silently ignoring it.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from hub.sandbox.fixtures import load_fixture
from hub.sandbox.server import (
    FailMode,
    FakeAPIServer,
    HttpError,
    ProcessorSpec,
    Request,
    Response,
    Router,
    SandboxOptions,
    decode_token,
    encode_token,
    json_response,
    newest_first,
    slice_page,
)
from hub.sandbox.stripe_search import SearchQueryError, search_predicate

API_KEY = "sk_test_sandbox"
API_VERSION = "2026-10-28.endive"  # the version stripe-python 16.1 pins
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."

Obj = dict[str, Any]
Params = dict[str, str]
Predicate = Callable[[Obj], bool]

COLLECTIONS = (
    "customers",
    "payment_methods",
    "charges",
    "payment_intents",
    "invoices",
    "subscriptions",
    "checkout_sessions",
)
# The nouns Stripe uses in "No such …: 'id'" messages.
NOUNS = {
    "customers": "customer",
    "payment_methods": "PaymentMethod",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "invoices": "invoice",
    "subscriptions": "subscription",
    "checkout_sessions": "checkout.session",
}


def stripe_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    error_type: str = "invalid_request_error",
) -> Response:
    """Stripe's error envelope."""
    error: dict[str, str] = {"message": message, "type": error_type}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return json_response(status, {"error": error})


def _fail(status: int, message: str, **kwargs: str) -> HttpError:
    return HttpError(stripe_error(status, message, **kwargs))


def _missing(collection: str, object_id: str, param: str = "id") -> HttpError:
    noun = NOUNS[collection]
    return _fail(404, f"No such {noun}: '{object_id}'", code="resource_missing", param=param)


def _limitation(what: str) -> HttpError:
    return _fail(400, f"Sandbox limitation: {what} is not implemented by the fake Stripe API.")


# --------------------------------------------------------------------------- state
class StripeState:
    """All objects by collection, plus which customers were deleted (their data stays here)."""

    def __init__(self, seed: Mapping[str, list[Obj]]) -> None:
        self.collections: dict[str, dict[str, Obj]] = {
            name: {obj["id"]: obj for obj in seed.get(name, [])} for name in COLLECTIONS
        }
        # Ties in `created` are broken by seed order, like Stripe's stable internal order.
        self._seq = {
            obj_id: i for objects in self.collections.values() for i, obj_id in enumerate(objects)
        }
        self.deleted_customers: set[str] = set()

    def sort_key(self, obj: Obj) -> tuple[int, int]:
        return int(obj["created"]), self._seq.get(obj["id"], 0)

    def get(self, collection: str, object_id: str) -> Obj | None:
        return self.collections[collection].get(object_id)

    def newest_first(self, collection: str) -> list[Obj]:
        return newest_first(list(self.collections[collection].values()), self.sort_key)

    def live_customer(self, customer_id: str) -> Obj | None:
        if customer_id in self.deleted_customers:
            return None
        return self.get("customers", customer_id)

    def delete_customer(self, customer_id: str, now: int) -> None:
        """Stripe's documented side effects of deleting a customer."""
        self.deleted_customers.add(customer_id)
        for sub in self.collections["subscriptions"].values():
            if sub["customer"] == customer_id and sub["status"] not in (
                "canceled",
                "incomplete_expired",
            ):
                sub.update(status="canceled", canceled_at=now, ended_at=now)
                sub["cancellation_details"] = {
                    "comment": None,
                    "feedback": None,
                    "reason": "cancellation_requested",
                }
        for pm in self.collections["payment_methods"].values():
            if pm.get("customer") == customer_id:
                pm["customer"] = None


# --------------------------------------------------------------------------- list parameters
COMMON_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
RANGE_OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
CREATED_PARAMS = frozenset({"created", *(f"created[{op}]" for op in RANGE_OPS)})


def subscription_status(params: Params) -> Predicate:
    """Stripe's default hides canceled subscriptions; `all` and `ended` are pseudo-statuses."""
    status = params.get("status")
    if status is None:
        return lambda sub: sub["status"] != "canceled"
    if status == "all":
        return lambda sub: True
    if status == "ended":
        return lambda sub: sub["status"] in ("canceled", "incomplete_expired")
    return lambda sub: sub["status"] == status


@dataclass(frozen=True)
class Listing:
    """What one list endpoint accepts and how its equality filters map onto object fields."""

    collection: str
    equals: Mapping[str, str] = field(default_factory=dict)  # query param → dotted field path
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # parameters with their own semantics: name → predicate factory (called even when absent)
    special: Mapping[str, Callable[[Params], Predicate]] = field(default_factory=dict)
    unsupported: frozenset[str] = frozenset()  # real parameters the sandbox does not filter on

    def accepts(self, key: str) -> bool:
        return (
            key in COMMON_LIST_PARAMS
            or key in CREATED_PARAMS
            or key in self.equals
            or key in self.special
        )


SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

LISTINGS: dict[str, Listing] = {
    "customers": Listing(
        "customers", equals={"email": "email"}, unsupported=frozenset({"test_clock"})
    ),
    "charges": Listing(
        "charges",
        equals={
            "customer": "customer",
            "payment_intent": "payment_intent",
            "transfer_group": "transfer_group",
        },
    ),
    "payment_intents": Listing(
        "payment_intents", equals={"customer": "customer", "customer_account": "customer_account"}
    ),
    "invoices": Listing(
        "invoices",
        equals={
            "customer": "customer",
            "customer_account": "customer_account",
            "status": "status",
            "collection_method": "collection_method",
            "subscription": "parent.subscription_details.subscription",
        },
        enums={
            "status": ("draft", "open", "paid", "uncollectible", "void"),
            "collection_method": ("charge_automatically", "send_invoice"),
        },
        unsupported=frozenset({"due_date"}),
    ),
    "subscriptions": Listing(
        "subscriptions",
        equals={
            "customer": "customer",
            "customer_account": "customer_account",
            "collection_method": "collection_method",
        },
        enums={
            "status": SUBSCRIPTION_STATUSES,
            "collection_method": ("charge_automatically", "send_invoice"),
        },
        special={"status": subscription_status},
        unsupported=frozenset(
            {
                "automatic_tax",
                "current_period_end",
                "current_period_start",
                "plan",
                "price",
                "test_clock",
            }
        ),
    ),
    "payment_methods": Listing(
        "payment_methods",
        equals={
            "customer": "customer",
            "customer_account": "customer_account",
            "type": "type",
            "allow_redisplay": "allow_redisplay",
        },
    ),
    "customer_payment_methods": Listing(
        "payment_methods", equals={"type": "type", "allow_redisplay": "allow_redisplay"}
    ),
    "checkout_sessions": Listing(
        "checkout_sessions",
        equals={
            "customer": "customer",
            "customer_account": "customer_account",
            "customer_details[email]": "customer_details.email",
            "payment_intent": "payment_intent",
            "payment_link": "payment_link",
            "status": "status",
            "subscription": "subscription",
        },
        enums={"status": ("complete", "expired", "open")},
    ),
}


def _base(key: str) -> str:
    return key.split("[", 1)[0]


def query_params(
    request: Request, accepts: Callable[[str], bool], unsupported: Iterable[str] = ()
) -> Params:
    """Flatten the query string and reject what Stripe would reject (or we cannot honour)."""
    params: Params = {}
    unsupported = frozenset(unsupported)
    for key, values in request.query.items():
        if _base(key) == "expand":
            raise _limitation("`expand`")
        if _base(key) in unsupported:
            raise _limitation(f"the `{_base(key)}` filter")
        if not accepts(key):
            raise _fail(
                400, f"Received unknown parameter: {key}", code="parameter_unknown", param=key
            )
        value = values[-1]
        if value == "":
            raise _fail(
                400,
                f"You passed an empty string for '{key}'. We assume empty values are an attempt to "
                f"unset a parameter; however '{key}' cannot be unset. You should remove '{key}' "
                "from your request or supply a non-empty value.",
                param=key,
            )
        params[key] = value
    return params


def _int_param(params: Params, key: str) -> int:
    try:
        return int(params[key])
    except ValueError:
        raise _fail(
            400, f"Invalid integer: {params[key]}", code="parameter_invalid_integer", param=key
        ) from None


def parse_limit(params: Params) -> int:
    if "limit" not in params:
        return 10
    limit = _int_param(params, "limit")
    if not 1 <= limit <= 100:
        raise _fail(400, "Invalid limit: must be between 1 and 100", param="limit")
    return limit


def _check_enums(params: Params, enums: Mapping[str, tuple[str, ...]]) -> None:
    for key, allowed in enums.items():
        if key in params and params[key] not in allowed:
            choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}"
            raise _fail(400, f"Invalid {key}: must be one of {choices}", param=key)


def dotted(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def created_predicates(params: Params) -> list[Predicate]:
    checks: list[Predicate] = []
    if "created" in params:
        exact = _int_param(params, "created")
        checks.append(lambda obj: obj["created"] == exact)
    for op, compare in RANGE_OPS.items():
        key = f"created[{op}]"
        if key in params:
            bound = _int_param(params, key)
            checks.append(partial(_created_compares, compare, bound))
    return checks


def equality_predicates(params: Params, equals: Mapping[str, str]) -> list[Predicate]:
    return [partial(_field_equals, path, params[key]) for key, path in equals.items()
            if key in params]


def _created_compares(compare: Callable[[int, int], bool], bound: int, obj: Obj) -> bool:
    return compare(obj["created"], bound)


def _field_equals(path: str, wanted: str, obj: Obj) -> bool:
    return dotted(obj, path) == wanted


def decode_page_token(token: str) -> str:
    try:
        return str(decode_token(token)["after"])
    except (ValueError, KeyError, TypeError):
        raise _fail(400, f"Invalid page: {token}", param="page") from None


# --------------------------------------------------------------------------- the server
class StripeServer(FakeAPIServer):
    """Fake ``https://api.stripe.com`` at ``http://127.0.0.1:PORT`` (paths start with /v1)."""

    name = "stripe"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_mode: FailMode | None = None,
        search_available: bool = True,
        api_key: str = API_KEY,
        seed: Mapping[str, list[Obj]] | None = None,
    ) -> None:
        self.api_key = api_key
        self.search_available = search_available
        self.state = StripeState(seed if seed is not None else load_fixture("stripe.json"))
        #: answers by Idempotency-Key, replayed for a repeated customer update
        self.idempotent: dict[str, Obj] = {}
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        obj_id = r"(?P<id>[^/]+)"
        router.add("GET", r"/v1/customers/search", self._search_customers)
        router.add("GET", r"/v1/(?P<resource>[a-z_/]+)/search", self._search_unimplemented)
        router.add("GET", r"/v1/customers", self._list_customers)
        router.add("GET", rf"/v1/customers/{obj_id}", self._retrieve_customer)
        router.add("DELETE", rf"/v1/customers/{obj_id}", self._delete_customer)
        router.add("POST", rf"/v1/customers/{obj_id}", self._update_customer)
        router.add("POST", rf"/v1/payment_methods/{obj_id}/detach", self._detach_payment_method)
        router.add("DELETE", rf"/v1/subscriptions/{obj_id}", self._cancel_subscription)
        router.add(
            "GET", rf"/v1/customers/{obj_id}/payment_methods", self._customer_payment_methods
        )
        for path, collection in (
            ("payment_methods", "payment_methods"),
            ("charges", "charges"),
            ("payment_intents", "payment_intents"),
            ("invoices", "invoices"),
            ("subscriptions", "subscriptions"),
            ("checkout/sessions", "checkout_sessions"),
        ):
            router.add("GET", f"/v1/{path}", partial(self._list, listing=LISTINGS[collection]))
            router.add("GET", f"/v1/{path}/{obj_id}",
                       partial(self._retrieve, collection=collection))

    def authenticate(self, request: Request) -> Response | None:
        key = _presented_key(request.headers.get("Authorization"))
        if key is None:
            return stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
            )
        if key != self.api_key:
            return stripe_error(401, f"Invalid API Key provided: {_mask(key)}")
        return None

    def not_found(self, request: Request) -> Response:
        return stripe_error(
            404, f"Unrecognized request URL ({request.method}: {request.path}). {SUPPORT}"
        )

    def server_error(self) -> Response:
        return stripe_error(500, "An unknown error occurred", error_type="api_error")

    def refused(self, message: str) -> Response:
        return stripe_error(400, message)

    def rate_limited(self) -> Response:
        return stripe_error(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        return {
            "Request-Id": f"req_{secrets.token_hex(7)}",
            "Stripe-Version": request.headers.get("Stripe-Version") or API_VERSION,
        }

    # ----------------------------------------------------------------- lists
    def _list(self, request: Request, listing: Listing, scope: Predicate | None = None) -> Response:
        params = query_params(request, listing.accepts, listing.unsupported)
        _check_enums(params, listing.enums)
        limit = parse_limit(params)
        checks = [
            *created_predicates(params),
            *equality_predicates(params, listing.equals),
            *(factory(params) for factory in listing.special.values()),
        ]
        if scope is not None:
            checks.append(scope)
        after, before = self._cursor_keys(listing.collection, params)
        items = [
            obj
            for obj in self.state.newest_first(listing.collection)
            if all(c(obj) for c in checks)
        ]
        page, has_more = slice_page(
            items, self.state.sort_key, limit=limit, after=after, before=before
        )
        return json_response(
            200, {"object": "list", "data": page, "has_more": has_more, "url": request.path}
        )

    def _cursor_keys(self, collection: str, params: Params) -> tuple[Any, Any]:
        if "starting_after" in params and "ending_before" in params:
            raise _fail(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )
        keys = []
        for name in ("starting_after", "ending_before"):
            cursor = params.get(name)
            obj = self.state.get(collection, cursor) if cursor else None
            if cursor and obj is None:
                raise _missing(collection, cursor, param=name)
            keys.append(self.state.sort_key(obj) if obj else None)
        return keys[0], keys[1]

    def _list_customers(self, request: Request) -> Response:
        deleted = self.state.deleted_customers
        return self._list(request, LISTINGS["customers"], lambda c: c["id"] not in deleted)

    def _customer_payment_methods(self, request: Request) -> Response:
        customer_id = request.params["id"]
        if self.state.live_customer(customer_id) is None:
            raise _missing("customers", customer_id)
        listing = LISTINGS["customer_payment_methods"]
        return self._list(request, listing, lambda pm: pm.get("customer") == customer_id)

    # ----------------------------------------------------------------- single objects
    def _retrieve(self, request: Request, collection: str) -> Response:
        query_params(request, lambda key: False)
        obj = self.state.get(collection, request.params["id"])
        if obj is None:
            raise _missing(collection, request.params["id"])
        return json_response(200, obj)

    def _retrieve_customer(self, request: Request) -> Response:
        customer_id = request.params["id"]
        if customer_id in self.state.deleted_customers:
            query_params(request, lambda key: False)
            return json_response(200, _deleted_stub(customer_id))
        return self._retrieve(request, "customers")

    def _update_customer(self, request: Request) -> Response:
        """``POST /v1/customers/{id}`` (https://docs.stripe.com/api/customers/update) for the
        fields rectification sends and the restriction's metadata key; a repeated
        ``Idempotency-Key`` gets the first answer back
        (https://docs.stripe.com/api/idempotent_requests), as at Stripe."""
        customer_id = request.params["id"]
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotent:
            return json_response(200, self.idempotent[key])
        customer = self.state.live_customer(customer_id)
        if customer is None:
            raise _missing("customers", customer_id)
        form = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        address_parts = ("line1", "line2", "postal_code", "city", "state", "country")
        changes: Obj = {}
        for name, value in form:
            if name in ("name", "email", "phone"):
                changes[name] = value
            elif (part := re.fullmatch(r"address\[(\w+)\]", name)) and \
                    part[1] in address_parts:
                address = changes.setdefault("address", dict(customer.get("address") or {}))
                address[part[1]] = value
            elif key_name := re.fullmatch(r"metadata\[(\w+)\]", name):
                # an empty value deletes the key (https://docs.stripe.com/api/metadata)
                metadata = changes.setdefault("metadata", dict(customer.get("metadata") or {}))
                if value:
                    metadata[key_name[1]] = value
                else:
                    metadata.pop(key_name[1], None)
            else:
                raise _fail(400, f"Received unknown parameter: {name}", code="parameter_unknown",
                            param=name)
        customer.update(changes)
        if key:
            self.idempotent[key] = customer
        return json_response(200, customer)

    def _delete_customer(self, request: Request) -> Response:
        customer_id = request.params["id"]
        if self.state.live_customer(customer_id) is None:
            raise _missing("customers", customer_id)
        self.state.delete_customer(customer_id, now=int(time.time()))
        return json_response(200, _deleted_stub(customer_id))

    def _detach_payment_method(self, request: Request) -> Response:
        method = self.state.get("payment_methods", request.params["id"])
        if method is None:
            raise _missing("payment_methods", request.params["id"])
        if not method.get("customer"):
            raise _fail(400, "The payment method you provided is not attached to a customer so "
                             "detachment is impossible.")
        method["customer"] = None
        return json_response(200, method)

    def _cancel_subscription(self, request: Request) -> Response:
        sub = self.state.get("subscriptions", request.params["id"])
        if sub is None:
            raise _missing("subscriptions", request.params["id"])
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise _limitation("cancelling a subscription that has already ended")
        now = int(time.time())
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"] = {
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested",
        }
        return json_response(200, sub)

    # ----------------------------------------------------------------- search
    def _search_customers(self, request: Request) -> Response:
        if not self.search_available:
            return self.not_found(request)
        params = query_params(request, lambda key: key in {"query", "limit", "page"})
        if "query" not in params:
            raise _fail(
                400, "Missing required param: query.", code="parameter_missing", param="query"
            )
        limit = parse_limit(params)
        try:
            matches = search_predicate(params["query"], "customers")
        except SearchQueryError as error:
            raise _fail(400, str(error)) from None
        after = None
        if "page" in params:
            cursor = self.state.get("customers", decode_page_token(params["page"]))
            if cursor is None:
                raise _fail(400, f"Invalid page: {params['page']}", param="page")
            after = self.state.sort_key(cursor)
        items = [
            obj
            for obj in self.state.newest_first("customers")
            if obj["id"] not in self.state.deleted_customers and matches(obj)
        ]
        page, has_more = slice_page(items, self.state.sort_key, limit=limit, after=after)
        return json_response(
            200,
            {
                "object": "search_result",
                "data": page,
                "has_more": has_more,
                "next_page": encode_token({"after": page[-1]["id"]}) if has_more and page else None,
                "url": "/v1/customers/search",
            },
        )

    def _search_unimplemented(self, request: Request) -> Response:
        if not self.search_available:
            return self.not_found(request)
        raise _limitation(f"search on /v1/{request.params['resource']}")


def _deleted_stub(customer_id: str) -> Obj:
    return {"id": customer_id, "object": "customer", "deleted": True}


def _presented_key(header: str | None) -> str | None:
    """The secret key from Bearer auth, or from Basic auth with the key as user name."""
    if not header or " " not in header:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer":
        return credential or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credential, validate=True).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def _mask(key: str) -> str:
    """Stripe echoes only the key's prefix and last four characters."""
    prefix = re.match(r"^(sk|rk|pk)_(test|live)_", key)
    head = prefix.group() if prefix else ""
    return f"{head}{'*' * max(len(key) - len(head) - 4, 4)}{key[-4:]}"


def build(options: SandboxOptions) -> StripeServer:
    return StripeServer(
        latency=options.latency,
        fail_mode=options.fail_mode,
        search_available=options.search_available,
    )


SPEC = ProcessorSpec(name="stripe", credentials={"api_key": API_KEY}, build=build)
