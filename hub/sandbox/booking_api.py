"""A stateful fake booking system shaped like BokaMera's API, for the sandbox.

Why: the booking connector is declared in TOML (``booking-declaration.toml`` beside this
module) and must be run over real HTTP without a real account. Shapes follow BokaMera's
ServiceStack metadata (https://api.bokamera.se/metadata, operations CreateCustomer,
UpdateCustomer, DeleteCustomer, GDPRCustomerQuery) and the ``bokamera/api-examples`` repository:

* ``x-api-key`` header; a missing or wrong key answers ``401`` with ServiceStack's error
  envelope ``{"ResponseStatus": {"ErrorCode", "Message", "StackTrace", "Errors"}}``;
* ``GET /customers?Search=&Skip=&Take=`` → ``{"Offset", "Total", "Results": [...]}``. Query
  names are case-insensitive, as in ServiceStack. ``Search`` is deliberately loose (every word
  of it, split at spaces and punctuation, must occur somewhere in the name, e-mail, phone or
  personnummer), so a connector that trusts it would report the wrong people. Comments and
  the invoice address are included only with ``IncludeComments`` / ``IncludeInvoiceAddress``;
* ``GET``/``PUT``/``DELETE /customers/{Id}``; deleting a customer deletes its bookings ("All
  connected information to the customer will be deleted", DeleteCustomer);
* ``GET /bookings?CustomerId=&Skip=&Take=``, each booking carrying a copy of its customer;
* a documented-style limit of 10 requests per second, enforced with ``429`` and
  ``Retry-After`` (the sandbox declaration's ``[booking.http]`` uses the same numbers).

Seed: ``tests/fixtures/sandbox/booking.json`` (invented people at example.se / example.com).
"""

from __future__ import annotations

import json
import math
import re
import threading
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    SlidingWindow,
    json_response,
)

API_KEY = "sandbox-booking-api-key"
RATE_LIMIT_PER_SECOND = 10
DEFAULT_TAKE = 100
MAX_TAKE = 100  # not documented by BokaMera; conservative so the connector pages for real
SEARCHED = ("Firstname", "Lastname", "Email", "Phone", "PersonalIdentityNumber")
UPDATABLE = ("Firstname", "Lastname", "Email", "Phone", "PersonalIdentityNumber",
             "SubscribedToNewsletter", "InvoiceAddress", "CustomFields")
_WORDS = re.compile(r"[^\s@.+\-()/,;]+")

Obj = dict[str, Any]


def error(status: int, code: str, message: str, field: str | None = None) -> HttpError:
    """ServiceStack's error envelope, as BokaMera sends it."""
    errors = [{"ErrorCode": code, "FieldName": field, "Message": message}] if field else []
    return HttpError(json_response(status, _status_body(code, message, errors)))


def _status_body(code: str, message: str, errors: list[Obj] | None = None) -> Obj:
    return {"ResponseStatus": {"ErrorCode": code, "Message": message, "StackTrace": None,
                               "Errors": errors or []}}


def _arg(request: Request, name: str) -> str | None:
    """A query parameter, its name compared case-insensitively (ServiceStack binding)."""
    wanted = name.casefold()
    for key, values in request.query.items():
        if key.casefold() == wanted and values:
            return values[-1]
    return None


def _flag(request: Request, name: str) -> bool:
    return (_arg(request, name) or "").lower() == "true"


def _int_arg(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = _arg(request, name)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise error(400, "ArgumentException", f"{name} must be a non-negative integer", name)
    value = int(raw)
    if maximum is not None and value > maximum:
        raise error(400, "ArgumentException", f"{name} must be at most {maximum}", name)
    return value


def _matches_search(customer: Obj, search: str) -> bool:
    text = " ".join(str(customer.get(k) or "") for k in SEARCHED).casefold()
    return all(word in text for word in _WORDS.findall(search.casefold()))


def _page(items: list[Obj], request: Request) -> Obj:
    skip = _int_arg(request, "Skip", 0)
    take = _int_arg(request, "Take", DEFAULT_TAKE, MAX_TAKE)
    return {"Offset": skip, "Total": len(items), "Results": items[skip:skip + take]}


class BookingState:
    """Customers and bookings of one company."""

    def __init__(self, seed: Mapping[str, Any]) -> None:
        self.company_id: str = seed["company_id"]
        self.customers: dict[str, Obj] = {c["Id"]: c for c in seed.get("customers", [])}
        self.bookings: dict[int, Obj] = {b["Id"]: b for b in seed.get("bookings", [])}

    def customer(self, customer_id: str) -> Obj:
        found = self.customers.get(customer_id.lower())
        if found is None:
            raise error(404, "NotFound", "Customer not found")
        return found

    def delete(self, customer_id: str) -> Obj:
        customer = self.customer(customer_id)
        del self.customers[customer["Id"]]
        self.bookings = {k: v for k, v in self.bookings.items()
                         if v["CustomerId"] != customer["Id"]}
        return customer


class BookingServer(FakeAPIServer):
    """Fake ``https://api.bokamera.se`` at ``http://127.0.0.1:PORT``."""

    name = "booking"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_mode: FailMode | None = None,
        api_key: str = API_KEY,
        enforce_rate_limit: bool = True,
        seed: Mapping[str, Any] | None = None,
    ) -> None:
        self.api_key = api_key
        self.enforce_rate_limit = enforce_rate_limit
        self.window = SlidingWindow(RATE_LIMIT_PER_SECOND, seconds=1.0)
        self._rate_lock = threading.Lock()
        self.rate_limited_count = 0
        self.state = BookingState(seed if seed is not None else load_fixture("booking.json"))
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        ref = r"(?P<ref>[^/]+)"
        router.add("GET", r"/customers", self._list_customers)
        router.add("GET", rf"/customers/{ref}", self._get_customer)
        router.add("PUT", rf"/customers/{ref}", self._update_customer)
        router.add("DELETE", rf"/customers/{ref}", self._delete_customer)
        router.add("GET", r"/bookings", self._list_bookings)

    def admit(self, request: Request) -> Response | None:
        if not self.enforce_rate_limit:
            return None
        with self._rate_lock:
            used, retry_after = self.window.usage()
            if used < self.window.limit:
                self.window.hit()
                return None
            self.rate_limited_count += 1
        response = self.rate_limited()
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("x-api-key", "").strip() != self.api_key:
            return json_response(401, _status_body("Unauthorized",
                                                   "Invalid or missing x-api-key header"))
        return None

    def not_found(self, request: Request) -> Response:
        return json_response(404, _status_body(
            "NotFound", f"Handler for Request not found: {request.method} {request.path}"))

    def server_error(self) -> Response:
        return json_response(500, _status_body("InternalServerError", "An error occurred"))

    def refused(self, message: str) -> Response:
        return json_response(400, _status_body("ArgumentException", message))

    def rate_limited(self) -> Response:
        return json_response(429, _status_body(
            "TooManyRequests", f"Rate limit exceeded: {RATE_LIMIT_PER_SECOND} requests per second"))

    # ----------------------------------------------------------------- endpoints
    def _company(self, request: Request) -> None:
        company = _arg(request, "CompanyId")
        if company and company.lower() != self.state.company_id:
            raise error(403, "Forbidden", "You are not allowed to access this company")

    def _customer_view(self, customer: Obj, request: Request) -> Obj:
        view = dict(customer)
        if not _flag(request, "IncludeComments"):
            view["Comments"] = []
        if not _flag(request, "IncludeInvoiceAddress"):
            view["InvoiceAddress"] = None
        return view

    def _list_customers(self, request: Request) -> Response:
        self._company(request)
        search = _arg(request, "Search") or ""
        found = [c for c in self.state.customers.values() if _matches_search(c, search)]
        page = _page(found, request)
        page["Results"] = [self._customer_view(c, request) for c in page["Results"]]
        return json_response(200, page)

    def _get_customer(self, request: Request) -> Response:
        self._company(request)
        return json_response(200, self._customer_view(
            self.state.customer(request.params["ref"]), request))

    def _update_customer(self, request: Request) -> Response:
        self._company(request)
        customer = self.state.customer(request.params["ref"])
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise error(400, "SerializationException", "The request body is not JSON") from None
        if not isinstance(body, dict):
            raise error(400, "SerializationException", "The request body must be an object")
        customer.update({k: v for k, v in body.items() if k in UPDATABLE})
        customer["Updated"] = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return json_response(200, self._customer_view(customer, request))

    def _delete_customer(self, request: Request) -> Response:
        self._company(request)
        return json_response(200, self._customer_view(
            self.state.delete(request.params["ref"]), request))

    def _list_bookings(self, request: Request) -> Response:
        self._company(request)
        customer_id = (_arg(request, "CustomerId") or "").lower()
        bookings = [b for b in self.state.bookings.values()
                    if not customer_id or b["CustomerId"] == customer_id]
        page = _page(sorted(bookings, key=lambda b: b["From"]), request)
        page["Results"] = [self._booking_view(b) for b in page["Results"]]
        return json_response(200, page)

    def _booking_view(self, booking: Obj) -> Obj:
        customer = self.state.customers[booking["CustomerId"]]
        view = {k: v for k, v in booking.items() if k != "CustomerId"}
        view["Customer"] = {k: customer.get(k) for k in ("Id", "Firstname", "Lastname", "Email",
                                                          "Phone")}
        return view


def build(options: SandboxOptions) -> BookingServer:
    return BookingServer(latency=options.latency, fail_mode=options.fail_mode)


# ``mode`` is not a secret: the sandbox is an API, so a --sandbox run switches the connector to
# api mode even when the configuration reads an export (the first customer's Qlickboka).
def _sandbox_settings() -> dict[str, Any]:
    """What ``--sandbox`` injects: the key plus the declaration of this fake system
    (booking-declaration.toml beside this module), so the user's own [booking] setup,
    e.g. export mode for a system without an API, does not matter in a sandbox run."""
    declared = tomllib.loads(DECLARATION.read_text(encoding="utf-8"))["booking"]
    keep = ("mode", "system", "http", "api")
    return {"api_key": API_KEY, **{key: declared[key] for key in keep if key in declared}}


DECLARATION = Path(__file__).with_name("booking-declaration.toml")
SPEC = ProcessorSpec(name="booking", credentials=_sandbox_settings(), build=build)
