"""A stateful fake of the Fortnox API v3 and its OAuth token endpoint, on one loopback server.

Why: the Fortnox connector's hard parts — the single-use, rotating refresh token, the per-token
rate limit and the partial search filters — must be exercised over real HTTP without a Fortnox
account. The rules follow the public documentation (see the docstrings of the modules in
connectors/fortnox/ for the URLs) and are never more generous than it:

* ``POST /oauth-v1/token`` — form ``grant_type=refresh_token&refresh_token=…`` with
  ``Authorization: Basic base64(client_id:client_secret)``; answers ``access_token``, a **new**
  ``refresh_token``, ``scope``, ``expires_in`` (``access_token_ttl``), ``token_type``. The spent
  refresh token is dead at once: ``400 {"error": "invalid_grant", ...}``. Bad client → 401
  ``invalid_client`` (RFC 6749 §5.2).
* ``GET /oauth-v1/auth`` — the authorisation page (https://www.fortnox.se/developer/authorization:
  ``client_id``, ``redirect_uri``, ``scope``, ``state``, ``access_type=offline``,
  ``response_type=code``) with an "Allow" and a "Deny" button; they send the browser back to
  ``redirect_uri`` with ``code`` and ``state``, or ``error=access_denied`` and ``state``. An
  unknown client or a missing ``redirect_uri`` gets an error page and no redirect (RFC 6749
  §4.1.2.1). The same token endpoint then takes ``grant_type=authorization_code&code=…&
  redirect_uri=…``: a code works once, within ten minutes, and only with the ``redirect_uri``
  it was issued for (§4.1.3); it replaces the live refresh token, as a re-authorisation does.
* ``/3/...`` needs ``Authorization: Bearer <access token>``; a missing, unknown or expired token
  answers 401 with an ``ErrorInformation`` body (capitalised keys, as some Fortnox answers have).
* 25 requests per 5 seconds per access token, a sliding window (``rate_limit_requests`` /
  ``rate_limit_seconds``, shrinkable for tests); beyond that 429 (no ``Retry-After``: its headers
  are undocumented, so a client must not depend on them).
* ``GET /3/customers`` — search parameters ``customernumber, name, email, phone,
  organisationnumber, zipcode, city`` matched like ``ILIKE '%value%'`` (partial, case-insensitive;
  only one per request), ``filter=active|inactive``; ``page`` (from 1), ``limit`` (1–500, default
  100); list items carry only the documented list fields (``Phone`` is ``Phone1``).
  ``GET|PUT|DELETE /3/customers/{CustomerNumber}``; deleting a customer that has invoices is
  refused (the product keeps bookkeeping records; the exact error is undocumented, the code here
  is invented).
* ``GET /3/invoices`` — ``customernumber`` / ``customername`` / ``documentnumber`` (partial),
  ``fromdate`` / ``todate`` on ``InvoiceDate`` (inclusive), ``filter=cancelled|fullypaid|unpaid|
  unpaidoverdue|unbooked``, paging as above; ``GET /3/invoices/{DocumentNumber}``.
* Lists answer ``{"Customers"|"Invoices": [...], "MetaInformation": {"@TotalResources",
  "@TotalPages", "@CurrentPage"}}``; errors ``{"ErrorInformation": {"error", "message", "code"}}``.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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

CLIENT_ID = "sandbox-fortnox-client"
CLIENT_SECRET = "sandbox-fortnox-secret"
INITIAL_REFRESH_TOKEN = "sandbox-fortnox-refresh-0"
TOKEN_PATH = "/oauth-v1/token"
AUTH_PATH = "/oauth-v1/auth"
#: the web inbox's callback, the one redirect address the sandbox's app has "registered"
CALLBACK_PATH = "/oauth/fortnox/callback"
#: how long an authorisation code may wait for its exchange (RFC 6749 §4.1.2: "10 minutes")
CODE_LIFETIME_SECONDS = 600.0
SCOPE = "customer invoice"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Obj = dict[str, Any]

CUSTOMER_DEFAULTS: Obj = {
    "Active": True, "Address1": "", "Address2": "", "City": "", "Comments": "", "Country": "",
    "CountryCode": "", "Currency": "SEK", "CustomerNumber": "", "DeliveryAddress1": "",
    "DeliveryAddress2": "", "DeliveryCity": "", "DeliveryCountry": "", "DeliveryName": "",
    "DeliveryPhone1": "", "DeliveryPhone2": "", "DeliveryZipCode": "", "Email": "",
    "EmailInvoice": "", "EmailInvoiceBCC": "", "EmailInvoiceCC": "", "EmailOffer": "",
    "EmailOrder": "", "ExternalReference": "", "Fax": "", "Name": "", "OrganisationNumber": "",
    "OurReference": "", "Phone1": "", "Phone2": "", "TermsOfPayment": "30", "Type": "PRIVATE",
    "VATType": "SEVAT", "VisitingAddress": "", "VisitingCity": "", "VisitingZipCode": "",
    "WWW": "", "YourReference": "", "ZipCode": "",
}
CUSTOMER_LIST_FIELDS = ("@url", "Address1", "Address2", "City", "CustomerNumber", "Email", "Name",
                        "OrganisationNumber", "Phone", "ZipCode")
CUSTOMER_SEARCH = {"customernumber": ("CustomerNumber",), "name": ("Name",),
                   "email": ("Email",), "phone": ("Phone1", "Phone2"),
                   "organisationnumber": ("OrganisationNumber",), "zipcode": ("ZipCode",),
                   "city": ("City",)}
INVOICE_LIST_FIELDS = ("@url", "Balance", "Booked", "Cancelled", "Currency", "CurrencyRate",
                       "CurrencyUnit", "CustomerName", "CustomerNumber", "DocumentNumber",
                       "DueDate", "ExternalInvoiceReference1", "ExternalInvoiceReference2",
                       "InvoiceDate", "OCR", "Project", "Sent", "TermsOfPayment", "Total",
                       "WayOfDelivery")
INVOICE_SEARCH = {"customernumber": ("CustomerNumber",), "customername": ("CustomerName",),
                  "documentnumber": ("DocumentNumber",)}
INVOICE_FILTERS: dict[str, Callable[[Obj], bool]] = {
    "cancelled": lambda i: bool(i.get("Cancelled")),
    "fullypaid": lambda i: not i.get("Cancelled") and i.get("Balance") == 0,
    "unpaid": lambda i: not i.get("Cancelled") and i.get("Balance", 0) != 0,
    "unpaidoverdue": lambda i: (not i.get("Cancelled") and i.get("Balance", 0) != 0
                                and str(i.get("DueDate")) < date.today().isoformat()),
    "unbooked": lambda i: not i.get("Booked"),
}


# --------------------------------------------------------------------------- error bodies
def error_information(status: int, message: str, code: int, *, capitalised: bool = False
                      ) -> HttpError:
    keys = ("Error", "Message", "Code") if capitalised else ("error", "message", "code")
    body = {"ErrorInformation": dict(zip(keys, (1, message, code), strict=True))}
    return HttpError(json_response(status, body))


def invalid_parameter() -> HttpError:
    return error_information(400, "Ogiltig parameter i anropet.", 2000588)


def oauth_error(status: int, error: str, description: str) -> HttpError:
    return HttpError(json_response(status, {"error": error, "error_description": description}))


# --------------------------------------------------------------------------- helpers
def ilike(value: Any, needle: str) -> bool:
    """Fortnox's documented search: ``ILIKE '%needle%'``."""
    return needle.casefold() in str(value or "").casefold()


def _number_key(item: Obj, field: str) -> tuple[int, int, str]:
    """Fortnox lists sort by number: numeric ones first, in numeric order."""
    raw = str(item.get(field, ""))
    return (0, int(raw), "") if raw.isdigit() else (1, 0, raw)


def page_of(request: Request, key: str, items: list[Obj]) -> Response:
    """One page with ``MetaInformation``; ``page`` and ``limit`` as the parameters guide says."""
    limit = _positive(request.arg("limit"), DEFAULT_LIMIT)
    page = _positive(request.arg("page"), 1)
    if limit > MAX_LIMIT:
        raise invalid_parameter()
    pages = math.ceil(len(items) / limit)
    chunk = items[(page - 1) * limit: page * limit]
    return json_response(200, {key: chunk, "MetaInformation": {
        "@TotalResources": len(items), "@TotalPages": pages, "@CurrentPage": page}})


def _positive(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter()
    return int(raw)


def _one_search(request: Request, names: Mapping[str, tuple[str, ...]]
                ) -> tuple[tuple[str, ...], str] | None:
    """The resource-specific search of a request; the guide allows only one at a time."""
    given = [(fields, value) for name, fields in names.items()
             if (value := request.arg(name)) is not None]
    if len(given) > 1:
        raise invalid_parameter()
    return given[0] if given else None


def _date_arg(request: Request, name: str) -> str | None:
    raw = request.arg(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise invalid_parameter() from None


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body or b"")
    except ValueError:
        raise error_information(400, "Error deserializing JSON: JSON_ERROR_SYNTAX",
                                2002115) from None


# --------------------------------------------------------------------------- tokens
class TokenIssuer:
    """The authorisation server: one live refresh token, access tokens with an expiry."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str, ttl: float
                 ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token = refresh_token
        self.access_token_ttl = ttl
        self.access_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.refreshes = 0
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (redirect_uri, expiry)
        self.authorisations = 0  # codes exchanged

    def client_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and decoded == f"{self.client_id}:{self.client_secret}"

    def refresh(self, presented: str) -> Obj:
        if not presented or not secrets.compare_digest(presented, self.refresh_token):
            raise oauth_error(400, "invalid_grant", "Invalid refresh token")
        self.refreshes += 1
        self.refresh_token = str(uuid.uuid4())  # the spent one is dead from now on
        access = f"sandbox-fortnox-access-{secrets.token_urlsafe(16)}"
        self.access_tokens[access] = time.monotonic() + self.access_token_ttl
        return {"access_token": access, "refresh_token": self.refresh_token, "scope": SCOPE,
                "expires_in": math.ceil(self.access_token_ttl), "token_type": "bearer"}

    def issue_code(self, redirect_uri: str) -> str:
        code = f"sandbox-fortnox-code-{secrets.token_urlsafe(12)}"
        self.codes[code] = (redirect_uri, time.monotonic() + CODE_LIFETIME_SECONDS)
        return code

    def exchange(self, code: str, redirect_uri: str) -> Obj:
        """The authorization-code grant: the code is spent whatever the outcome (§4.1.2)."""
        issued = self.codes.pop(code, None)
        if issued is None or time.monotonic() > issued[1]:
            raise oauth_error(400, "invalid_grant", "Invalid or expired authorization code")
        if redirect_uri != issued[0]:
            raise oauth_error(400, "invalid_grant", "redirect_uri does not match")
        self.authorisations += 1
        self.refresh_token = str(uuid.uuid4())  # a re-authorisation: the old one is dead
        access = f"sandbox-fortnox-access-{secrets.token_urlsafe(16)}"
        self.access_tokens[access] = time.monotonic() + self.access_token_ttl
        return {"access_token": access, "refresh_token": self.refresh_token, "scope": SCOPE,
                "expires_in": math.ceil(self.access_token_ttl), "token_type": "bearer"}

    def valid(self, access: str) -> bool:
        expiry = self.access_tokens.get(access)
        return expiry is not None and time.monotonic() < expiry

    def revoke_access_tokens(self) -> None:
        """Every access token stops working (as if it expired), refresh token unchanged."""
        self.access_tokens.clear()


# --------------------------------------------------------------------------- the server
class FortnoxState:
    """The register: full customers (documented defaults filled in) and invoices, by number."""

    def __init__(self, seed: Mapping[str, list[Obj]]) -> None:
        self.customers: dict[str, Obj] = {
            c["CustomerNumber"]: {**CUSTOMER_DEFAULTS, **c} for c in seed.get("customers", [])}
        self.invoices: dict[str, Obj] = {i["DocumentNumber"]: i for i in seed.get("invoices", [])}


class FortnoxServer(FakeAPIServer):
    """Fake ``https://api.fortnox.se`` and ``https://apps.fortnox.se`` at one loopback address."""

    name = "fortnox"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_mode: FailMode | None = None,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        refresh_token: str = INITIAL_REFRESH_TOKEN,
        access_token_ttl: float = 3600.0,
        rate_limit_requests: int = 25,
        rate_limit_seconds: float = 5.0,
        seed: Mapping[str, list[Obj]] | None = None,
    ) -> None:
        self.tokens = TokenIssuer(client_id, client_secret, refresh_token, access_token_ttl)
        self.rate_limit_requests = rate_limit_requests
        self.rate_limit_seconds = rate_limit_seconds
        self.rate_limited_count = 0
        self._windows: dict[str, SlidingWindow] = {}
        self._rate_lock = threading.Lock()
        self.state = FortnoxState(seed if seed is not None else load_fixture("fortnox.json"))
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        ref = r"(?P<ref>[^/]+)"
        router.add("POST", TOKEN_PATH, self._token)
        router.add("GET", AUTH_PATH, self._authorize_page)
        router.add("POST", AUTH_PATH, self._authorize_decision)
        router.add("GET", r"/3/customers/?", self._list_customers)
        router.add("GET", rf"/3/customers/{ref}", self._get_customer)
        router.add("PUT", rf"/3/customers/{ref}", self._put_customer)
        router.add("DELETE", rf"/3/customers/{ref}", self._delete_customer)
        router.add("GET", r"/3/invoices/?", self._list_invoices)
        router.add("GET", rf"/3/invoices/{ref}", self._get_invoice)

    def admit(self, request: Request) -> Response | None:
        """25 per 5 s per access token, sliding; refused requests do not count."""
        token = _bearer(request)
        if not request.path.startswith("/3/") or token is None:
            return None
        with self._rate_lock:
            window = self._windows.get(token)
            if window is None or (window.limit, window.seconds) != (
                    self.rate_limit_requests, self.rate_limit_seconds):
                window = self._windows[token] = SlidingWindow(
                    self.rate_limit_requests, self.rate_limit_seconds)
            used, _ = window.usage()
            if used >= window.limit:
                self.rate_limited_count += 1
                return self.rate_limited()
            window.hit()
        return None

    def authenticate(self, request: Request) -> Response | None:
        if request.path in (TOKEN_PATH, AUTH_PATH):
            return None  # the token endpoint authenticates the client; the page, the person
        token = _bearer(request)
        with self.state_lock:
            ok = token is not None and self.tokens.valid(token)
        if ok:
            return None
        return error_information(401, "Ogiltig inloggning", 2000310, capitalised=True).response

    def not_found(self, request: Request) -> Response:
        return error_information(404, "Resursen kunde inte hittas.", 2000000).response  # invented

    def server_error(self) -> Response:
        return error_information(500, "System exception", 1000003).response

    def rate_limited(self) -> Response:
        return json_response(429, {"message": "Too Many Requests"})

    def refused(self, message: str) -> Response:
        return error_information(400, message, 2000588).response

    # ----------------------------------------------------------------- OAuth
    def _token(self, request: Request) -> Response:
        if not self.tokens.client_ok(request.headers.get("Authorization", "")):
            raise oauth_error(401, "invalid_client", "Invalid client credentials")
        form = _form(request)
        if form.get("grant_type") == "authorization_code":
            return json_response(200, self.tokens.exchange(form.get("code", ""),
                                                           form.get("redirect_uri", "")))
        if form.get("grant_type") != "refresh_token":
            raise oauth_error(400, "unsupported_grant_type",
                              "Only authorization_code and refresh_token are supported here")
        return json_response(200, self.tokens.refresh(form.get("refresh_token", "")))

    def _authorisation(self, params: Mapping[str, str]) -> tuple[str, str]:
        """The checked ``redirect_uri`` and ``state`` of an authorisation request; an unknown
        client or a bad ``redirect_uri`` is answered here, never by a redirect (§4.1.2.1)."""
        redirect_uri = params.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if params.get("client_id") != self.tokens.client_id:
            raise _page(400, "Okänd integration (client_id).")
        if target.scheme not in ("http", "https") or not target.netloc or target.fragment:
            raise _page(400, "redirect_uri saknas eller är ogiltig.")
        # Fortnox sends the browser only to the app's registered address; the sandbox's app
        # is a web inbox on whatever address it was reached at, so its path is what counts
        if target.path != CALLBACK_PATH:
            raise _page(400, "redirect_uri är inte registrerad för integrationen.")
        if params.get("response_type") != "code":
            raise _page(400, "response_type måste vara code.")
        return redirect_uri, params.get("state", "")

    def _authorize_page(self, request: Request) -> Response:
        params = {name: values[-1] for name, values in request.query.items()}
        self._authorisation(params)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in params.items() if name != "decision")
        scope = html.escape(params.get("scope", ""))
        body = (
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Fortnox (sandbox): authorise</title>"
            '<link rel="icon" href="data:,"></head><body>'  # no favicon request (it needs a token)
            "<h1>Fortnox (sandbox)</h1>"
            f"<p>The integration asks for access to: <strong>{scope}</strong>.</p>"
            f'<form method="post" action="{AUTH_PATH}">{hidden}'
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form></body></html>")
        return Response(status=200, raw=body.encode(), content_type="text/html; charset=utf-8")

    def _authorize_decision(self, request: Request) -> Response:
        params = _form(request)
        redirect_uri, state = self._authorisation(params)
        if params.get("decision") == "allow":
            answer = {"code": self.tokens.issue_code(redirect_uri), "state": state}
        else:
            answer = {"error": "access_denied", "error_description": "The user denied access",
                      "state": state}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return Response(status=302, headers={"Location": redirect_uri + separator +
                                             urlencode(answer)})

    def revoke_access_tokens(self) -> None:
        with self.state_lock:
            self.tokens.revoke_access_tokens()

    # ----------------------------------------------------------------- customers
    def _customer_or_404(self, number: str) -> Obj:
        customer = self.state.customers.get(number)
        if customer is None:
            raise error_information(404, "Kan inte hitta kunden.", 2000433)
        return customer

    def _full_customer(self, customer: Obj) -> Obj:
        return {"@url": f"{self.base_url}/3/customers/{customer['CustomerNumber']}", **customer}

    def _list_customers(self, request: Request) -> Response:
        items = sorted(self.state.customers.values(),
                       key=lambda c: _number_key(c, "CustomerNumber"))
        search = _one_search(request, CUSTOMER_SEARCH)
        if search is not None:
            fields, needle = search
            items = [c for c in items if any(ilike(c.get(f), needle) for f in fields)]
        active = request.arg("filter")
        if active not in (None, "active", "inactive"):
            raise invalid_parameter()
        if active is not None:
            items = [c for c in items if bool(c.get("Active")) == (active == "active")]
        listed = [self._customer_list_item(c) for c in items]
        return page_of(request, "Customers", listed)

    def _customer_list_item(self, customer: Obj) -> Obj:
        full = {**self._full_customer(customer), "Phone": customer.get("Phone1", "")}
        return {field: full.get(field, "") for field in CUSTOMER_LIST_FIELDS}

    def _get_customer(self, request: Request) -> Response:
        customer = self._customer_or_404(request.params["ref"])
        return json_response(200, {"Customer": self._full_customer(customer)})

    def _put_customer(self, request: Request) -> Response:
        customer = self._customer_or_404(request.params["ref"])
        body = _json_body(request)
        changes = body.get("Customer") if isinstance(body, dict) else None
        if not isinstance(changes, dict):
            raise error_information(400, "Ingen eller felaktig typ av data.", 2001392)
        changes = {k: v for k, v in changes.items() if k != "@url"}
        if any(key not in CUSTOMER_DEFAULTS for key in changes):
            raise error_information(400, "Felaktigt fältnamn", 2001399)
        if changes.get("CustomerNumber", customer["CustomerNumber"]) != customer["CustomerNumber"]:
            raise invalid_parameter()
        customer.update(changes)
        return json_response(200, {"Customer": self._full_customer(customer)})

    def _delete_customer(self, request: Request) -> Response:
        number = request.params["ref"]
        self._customer_or_404(number)
        if any(i["CustomerNumber"] == number for i in self.state.invoices.values()):
            raise error_information(  # the real wording and code are undocumented
                400, "Kunden kan inte tas bort eftersom den används i fakturor.", 2000999)
        del self.state.customers[number]
        return Response(status=204)

    # ----------------------------------------------------------------- invoices
    def _list_invoices(self, request: Request) -> Response:
        items = sorted(self.state.invoices.values(),
                       key=lambda i: _number_key(i, "DocumentNumber"))
        search = _one_search(request, INVOICE_SEARCH)
        if search is not None:
            fields, needle = search
            items = [i for i in items if any(ilike(i.get(f), needle) for f in fields)]
        start, end = _date_arg(request, "fromdate"), _date_arg(request, "todate")
        items = [i for i in items if (start is None or i["InvoiceDate"] >= start)
                 and (end is None or i["InvoiceDate"] <= end)]
        chosen = request.arg("filter")
        if chosen is not None:
            if chosen not in INVOICE_FILTERS:
                raise invalid_parameter()
            items = [i for i in items if INVOICE_FILTERS[chosen](i)]
        listed = [{field: self._full_invoice(i).get(field, "") for field in INVOICE_LIST_FIELDS}
                  for i in items]
        return page_of(request, "Invoices", listed)

    def _full_invoice(self, invoice: Obj) -> Obj:
        return {"@url": f"{self.base_url}/3/invoices/{invoice['DocumentNumber']}",
                "CurrencyRate": 1, "CurrencyUnit": 1, "ExternalInvoiceReference1": "",
                "ExternalInvoiceReference2": "", **invoice}

    def _get_invoice(self, request: Request) -> Response:
        invoice = self.state.invoices.get(request.params["ref"])
        if invoice is None:
            raise error_information(404, "Kan inte hitta fakturan.", 2000434)
        return json_response(200, {"Invoice": self._full_invoice(invoice)})


def _form(request: Request) -> dict[str, str]:
    body = request.body.decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _page(status: int, message: str) -> HttpError:
    body = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Fortnox (sandbox)</title>"
            f"</head><body><p>{html.escape(message)}</p></body></html>")
    return HttpError(Response(status=status, raw=body.encode(),
                              content_type="text/html; charset=utf-8"))


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def build(options: SandboxOptions) -> FortnoxServer:
    return FortnoxServer(latency=options.latency, fail_mode=options.fail_mode)


#: ``token_url`` is a path: the connector resolves it against ``base_url``'s host.
SPEC = ProcessorSpec(
    name="fortnox",
    credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                 "refresh_token": INITIAL_REFRESH_TOKEN, "token_url": TOKEN_PATH,
                 "auth_url": AUTH_PATH},
    build=build,
)
