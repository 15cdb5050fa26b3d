"""A stateful fake of Zettle's OAuth and Purchase API v2 for the sandbox.

Why: the Zettle connector must run over real HTTP, through its token flow and hash paging,
without a Zettle account. Zettle uses two hosts (``oauth.zettle.com`` and
``purchase.izettle.com``); the fake serves both paths from one loopback address, and the sandbox
credentials set the connector's ``oauth_url`` to ``"/"`` (resolved against ``base_url``).

Behaviour follows the public documentation (iZettle/api-documentation ``authorization.md``,
``purchase.adoc``; https://developer.zettle.com/docs/api/purchase/api-reference-md):

* ``POST /token`` takes exactly the self-hosted app's assertion grant, form-encoded:
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, ``client_id``, ``assertion`` (the
  API key, a JWT) → ``{"access_token", "expires_in": 7200}``, no refresh token. Errors use the
  RFC 6749 §5.2 body: a wrong or revoked key → ``400 invalid_grant``, another grant type →
  ``400 unsupported_grant_type``, a missing field → ``400 invalid_request``, an unknown client →
  ``401 invalid_client``.
* ``GET /purchases/v2`` needs ``Authorization: Bearer``; an unknown token answers 401 and an
  expired one 401 with ``WWW-Authenticate: Bearer error="invalid_request",
  error_description="ACCESS_TOKEN_EXPIRED"``. ``startDate`` (UTC, inclusive; default three years
  back), ``endDate`` (UTC, exclusive), ``limit`` 1–1000 (absent: everything, which the docs warn
  against), ``descending`` (default false, oldest first) and ``lastPurchaseHash``; the answer
  holds ``purchases``, ``firstPurchaseHash``, ``lastPurchaseHash`` and ``linkUrls``, and paging
  ends with an empty page. A hash is the purchase's epoch milliseconds followed by its
  ``purchaseUUID``, as in the documented examples. Older purchases asked for explicitly are
  served (the docs say only that three years are "available"); no rate limit is enforced (none
  is published). Bodies of 400/404/5xx answers are not documented; the fake uses
  ``{"developerMessage", "errorType"}``.

The receipts are generated deterministically (seeded ``random``) from the small seed file
``zettle.json``: its ``notable`` receipts are the ones tests look for, everything else mentions
nobody, like most real receipts. Its ``linked`` receipts name nobody either: they are the
subject's card payments that only their day, amount and card tie to her; they are built after
the rest (so adding one leaves every other receipt's generated ids unchanged) and numbered on
after the last receipt.

Card payments carry a ``panHash`` among their attributes. Zettle's reference does not document
it; some answers carry it, and the connector uses it only when present. A sale may name its
card (``"card": "..."``): the same name gives the same ``panHash`` and masked number, as one
card does; every other card payment gets a ``panHash`` of its own.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import random
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlencode

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
    json_response,
)

Obj = dict[str, Any]

CLIENT_ID = "6adde977-c34d-4de1-99b2-f6ed3e65431a"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_SECONDS = 7200
DEFAULT_HISTORY_YEARS = 3
MAX_LIMIT = 1000
_HASH = re.compile(r"(?P<ms>\d{13})(?P<uuid>[A-Za-z0-9_-]+)")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _fake_jwt(claims: Obj) -> str:
    """A JWT-shaped API key (header.claims.signature) like the keys my.zettle.com issues."""
    header = {"kid": "0", "typ": "JWT", "alg": "RS256"}
    return ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                     _b64url(b"sandbox-signature-not-verified")))


API_KEY = _fake_jwt({"iss": "iZettle", "client_id": CLIENT_ID, "scopes": ["READ:PURCHASE"],
                     "sub": "sandbox-merchant"})


def zettle_time(moment: datetime) -> str:
    """Zettle's timestamp format: ``2020-12-02T17:16:20.028+0000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_zettle_time(text: str) -> datetime:
    """Reads :func:`zettle_time`'s format; ``fromisoformat`` (Python 3.11+) reads it a hundred
    times faster than ``strptime``, which matters for thousands of receipts per sandbox."""
    return datetime.fromisoformat(text)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --------------------------------------------------------------------------- generated receipts
class ReceiptFactory:
    """Builds documented purchase objects from small sale descriptions, deterministically."""

    def __init__(self, seed: Mapping[str, Any]) -> None:
        self.merchant: Obj = dict(seed["merchant"])
        self.catalogue: dict[str, Obj] = {p["name"]: p for p in seed["catalogue"]}
        self.plan: Obj = dict(seed["generated"])
        self.notable: list[Obj] = list(seed.get("notable", []))
        self.linked: list[Obj] = list(seed.get("linked", []))
        self.rng = random.Random(self.plan["seed"])

    # -- ids ---------------------------------------------------------------------------------
    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=1)

    def _reference(self, length: int = 10) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(length))

    # -- sales -------------------------------------------------------------------------------
    def sales(self) -> list[Obj]:
        """Generated and notable sales plus refunds of a few, in time order."""
        sales = [self._random_sale() for _ in range(int(self.plan["count"]))]
        sales += [{**n, "moment": parse_zettle_time(n["timestamp"])} for n in self.notable]
        refunds = [self._refund_of(s) for s in sales
                   if "timestamp" not in s and self.rng.random() < self.plan["refund_rate"]]
        return sorted(sales + refunds, key=lambda s: s["moment"])

    def _random_moment(self) -> datetime:
        first = date.fromisoformat(self.plan["from"])
        days = (date.fromisoformat(self.plan["until"]) - first).days
        day = first + timedelta(days=self.rng.randrange(days + 1))
        if day.weekday() == 6:  # closed on Sundays
            day -= timedelta(days=1)
        seconds = self.rng.randrange(7 * 3600, 17 * 3600)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=seconds, milliseconds=self.rng.randrange(1000))

    def _random_sale(self) -> Obj:
        names = list(self.catalogue)
        weights = [self.catalogue[n].get("weight", 1) for n in names]
        items = [{"product": name} for name in
                 dict.fromkeys(self.rng.choices(names, weights, k=self.rng.choice((1, 1, 1, 2))))]
        pay = self.plan["payment_weights"]
        return {"moment": self._random_moment(), "items": items,
                "payment": self.rng.choices(list(pay), list(pay.values()))[0]}

    def _refund_of(self, sale: Obj) -> Obj:
        later = sale["moment"] + timedelta(days=self.rng.randrange(0, 14),
                                           minutes=self.rng.randrange(5, 600))
        return {"moment": later, "items": sale["items"], "payment": sale["payment"],
                "refunds": sale}

    # -- purchases ---------------------------------------------------------------------------
    def purchases(self) -> list[Obj]:
        built: dict[int, Obj] = {}
        purchases = []
        for number, sale in enumerate(self.sales(), start=1):
            original = built.get(id(sale["refunds"])) if "refunds" in sale else None
            purchase = self._purchase(sale, number, original)
            built[id(sale)] = purchase
            purchases.append(purchase)
        for number, sale in enumerate(self.linked, start=len(purchases) + 1):
            purchases.append(self._purchase(
                {**sale, "moment": parse_zettle_time(sale["timestamp"])}, number, None))
        return purchases

    def _row(self, index: int, item: Obj, sign: int) -> Obj:
        if "product" in item:
            entry = self.catalogue[item["product"]]
            row = {"quantity": str(sign), "productUuid": entry["productUuid"],
                   "variantUuid": entry["variantUuid"], "vatPercentage": entry["vatPercentage"],
                   "unitPrice": entry["unitPrice"], "name": entry["name"],
                   "variantName": entry["variantName"], "autoGenerated": False, "id": str(index),
                   "type": entry.get("type", "PRODUCT"), "libraryProduct": True}
        else:
            row = {"quantity": str(sign), "vatPercentage": item["vatPercentage"],
                   "unitPrice": item["unitPrice"], "name": item["custom"],
                   "variantName": item["custom"], "autoGenerated": False,
                   "id": f"{item['custom']}_{item['unitPrice']}", "type": "CUSTOM_AMOUNT",
                   "libraryProduct": False}
        gross = sign * row["unitPrice"]
        vat = round(gross * row["vatPercentage"] / (100 + row["vatPercentage"]))
        row["rowTaxableAmount"] = gross - vat
        if item.get("comment"):
            row["comment"] = item["comment"]
        return row

    def _payment(self, kind: str, amount: int, moment: datetime, original: Obj | None,
                 card_name: str | None = None) -> Obj:
        payment: Obj = {"uuid": str(self._uuid()), "amount": amount, "type": kind,
                        "createdAt": zettle_time(moment)}
        card = {"cardType": self.rng.choice(("VISA", "MASTERCARD")),
                "maskedPan": f"{self.rng.choice(('535583', '476173', '517036'))}******"
                             f"{self.rng.randrange(10000):04d}",
                "referenceNumber": self._reference()}
        # derived from a name, never drawn: the other receipts' random values stay as they were
        digest = hashlib.sha256((card_name or payment["uuid"]).encode()).hexdigest()
        card["panHash"] = digest[:40]
        if card_name:
            card["cardType"] = "VISA"
            card["maskedPan"] = f"476173******{int(digest[:8], 16) % 10000:04d}"
        if kind == "IZETTLE_CARD":
            payment["attributes"] = {
                **card, "cardHolderVerificationMethod": self.rng.choice(("PIN", "None")),
                "cardPaymentEntryMode": self.rng.choice(("CONTACTLESS_EMV", "EMV")),
                "authorizationCode": f"{self.rng.randrange(1000000):06d}",
                "terminalVerificationResults": "0000008000",
                "applicationIdentifier": "A0000000041010", "applicationName": card["cardType"]}
        elif kind == "IZETTLE_CARD_ONLINE":
            payment["attributes"] = {**card, "cardPaymentEntryMode": "ECOMMERCE",
                                     "paymentlinkOrderUuid": str(self._uuid())}
        elif kind == "IZETTLE_CASH":
            handed = math.ceil(abs(amount) / 10000) * 10000 * (1 if amount >= 0 else -1)
            payment["attributes"] = {"handedAmount": handed, "changeAmount": handed - amount}
        elif kind == "IZETTLE_INVOICE":
            payment["attributes"] = {"orderUUID": str(self._uuid()),
                                     "invoiceNr": f"iz{self.rng.randrange(10, 9999)}",
                                     "dueDate": (moment + timedelta(days=30)).date().isoformat()}
        else:  # SWISH and the other alternative methods carry no attributes
            payment["attributes"] = {}
        if original is not None:
            payment["references"] = {"refundsPayment": original["payments"][0]["uuid"]}
        return payment

    def _purchase(self, sale: Obj, number: int, original: Obj | None) -> Obj:
        sign = -1 if original is not None else 1
        rows = [self._row(i, item, sign) for i, item in enumerate(sale["items"])]
        amount = sum(sign * row["unitPrice"] for row in rows)
        grouped: dict[str, int] = {}
        for row in rows:
            key = f"{float(row['vatPercentage']):.1f}"
            grouped[key] = grouped.get(key, 0) + sign * row["unitPrice"]
        moment: datetime = sale["moment"]
        uuid1 = self._uuid()
        seller = self.rng.choice(self.merchant["sellers"])
        purchase: Obj = {
            "source": "POS", "purchaseUUID": _b64url(uuid1.bytes), "amount": amount,
            "vatAmount": sum(sign * row["unitPrice"] - row["rowTaxableAmount"] for row in rows),
            "country": self.merchant["country"], "currency": self.merchant["currency"],
            "timestamp": zettle_time(moment), "gpsCoordinates": self.merchant["gpsCoordinates"],
            "purchaseNumber": number, "globalPurchaseNumber": number,
            "userDisplayName": seller["userDisplayName"], "userId": seller["userId"],
            "organizationId": self.merchant["organizationId"], "products": rows,
            "discounts": [],
            "payments": [self._payment(sale["payment"], amount, moment, original,
                                       sale.get("card"))],
            "cashRegister": self.merchant["cashRegister"], "receiptCopyAllowed": True,
            "references": {"checkoutUUID": str(self._uuid())}, "created": zettle_time(moment),
            "refunded": False, "purchaseUUID1": str(uuid1), "groupedVatAmounts": grouped,
            "refund": original is not None,
        }
        if original is not None:
            purchase["refundsPurchaseUUID"] = original["purchaseUUID"]
            purchase["refundsPurchaseUUID1"] = original["purchaseUUID1"]
            original["refunded"] = True
            original["refundedByPurchaseUUIDs"] = [purchase["purchaseUUID"]]
            original["refundedByPurchaseUUIDs1"] = [purchase["purchaseUUID1"]]
        return purchase


# --------------------------------------------------------------------------- request parsing
def _bad_request(message: str) -> HttpError:
    return HttpError(json_response(400, {"developerMessage": message,
                                         "errorType": "INVALID_PARAMETER"}))


def _oauth_error(status: int, error: str, description: str) -> HttpError:
    return HttpError(json_response(status, {"error": error, "error_description": description}))


def parse_instant(raw: str, name: str) -> datetime:
    """``2020-01-01``, ``2020-01-01T17:00`` or ``2021-01-01T00:00:00.000Z``, read as UTC."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_request(f"{name} must be an ISO 8601 date or date-time (UTC)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _bad_request(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return int(raw)


def parse_descending(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise _bad_request("descending must be true or false")
    return raw.lower() == "true"


def purchase_key(purchase: Obj) -> tuple[int, str]:
    return epoch_ms(parse_zettle_time(purchase["timestamp"])), purchase["purchaseUUID"]


def purchase_hash(purchase: Obj) -> str:
    ms, short_uuid = purchase_key(purchase)
    return f"{ms}{short_uuid}"


def parse_hash(raw: str) -> tuple[int, str]:
    match = _HASH.fullmatch(raw)
    if match is None:
        raise _bad_request("lastPurchaseHash is not a purchase hash")
    return int(match["ms"]), match["uuid"]


# --------------------------------------------------------------------------- the server
class ZettleServer(FakeAPIServer):
    """Fake ``oauth.zettle.com`` and ``purchase.izettle.com`` at one ``http://127.0.0.1:PORT``."""

    name = "zettle"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_mode: FailMode | None = None,
        client_id: str = CLIENT_ID,
        api_key: str = API_KEY,
        token_seconds: int = TOKEN_SECONDS,
        seed: Mapping[str, Any] | None = None,
    ) -> None:
        self.client_id = client_id
        self.api_key = api_key
        self.token_seconds = token_seconds
        self.tokens: dict[str, float] = {}  # access token → monotonic expiry
        self.grants = 0
        if seed is None:
            text, moments, keys = _seeded_receipts()
            self.state: list[Obj] = json.loads(text)
            self._moments, self._keys = list(moments), list(keys)
        else:
            self.state = sorted(ReceiptFactory(seed).purchases(), key=purchase_key)
            self._index()
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        router.add("POST", r"/token", self._token)
        router.add("GET", r"/purchases/v2/?", self._purchases)

    def authenticate(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return self._unauthorized("Bearer")
        with self.state_lock:
            expiry = self.tokens.get(header.removeprefix("Bearer ").strip())
        if expiry is None:
            return self._unauthorized(
                'Bearer error="invalid_token", error_description="INVALID_ACCESS_TOKEN"')
        if time.monotonic() >= expiry:
            return self._unauthorized(
                'Bearer error="invalid_request", error_description="ACCESS_TOKEN_EXPIRED"')
        return None

    @staticmethod
    def _unauthorized(challenge: str) -> Response:
        return json_response(401, {"developerMessage": "Unauthorized", "errorType": "UNAUTHORIZED"},
                             {"WWW-Authenticate": challenge})

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"developerMessage": f"No resource at {request.path}",
                                   "errorType": "NOT_FOUND"})

    def server_error(self) -> Response:
        return json_response(500, {"developerMessage": "Internal error",
                                   "errorType": "INTERNAL_ERROR"})

    def rate_limited(self) -> Response:
        return json_response(429, {"developerMessage": "Too many requests",
                                   "errorType": "TOO_MANY_REQUESTS"})

    def refused(self, message: str) -> Response:
        return json_response(400, {"developerMessage": message, "errorType": "BAD_REQUEST"})

    def expire_tokens(self) -> None:
        """Let every issued access token run out now (tests of the re-grant)."""
        with self.state_lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    # ----------------------------------------------------------------- endpoints
    def _token(self, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise _oauth_error(400, "invalid_request",
                               "the body must be application/x-www-form-urlencoded")
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        if any(len(values) > 1 for values in form.values()):
            raise _oauth_error(400, "invalid_request", "a parameter was given more than once")
        field = {key: values[0] for key, values in form.items()}
        grant = field.get("grant_type")
        if not grant or not field.get("client_id") or not field.get("assertion"):
            raise _oauth_error(400, "invalid_request",
                               "grant_type, client_id and assertion are required")
        if grant != JWT_BEARER_GRANT:
            raise _oauth_error(400, "unsupported_grant_type", f"unsupported grant type {grant}")
        if field["client_id"] != self.client_id:
            raise _oauth_error(401, "invalid_client", "unknown client_id")
        if field["assertion"] != self.api_key:
            raise _oauth_error(400, "invalid_grant", "invalid assertion")
        token = f"sandbox-at-{secrets.token_urlsafe(24)}"
        self.tokens[token] = time.monotonic() + self.token_seconds
        self.grants += 1
        return json_response(200, {"access_token": token, "expires_in": self.token_seconds})

    def ring_up(self, purchase: Obj) -> None:
        """A new sale arrives (tests and benchmarks of incremental reading): kept in order."""
        with self.state_lock:
            self.state = sorted([*self.state, purchase], key=purchase_key)
            self._index()

    def _index(self) -> None:
        """The sort keys of :attr:`state`, for finding pages by bisection."""
        self._keys = [purchase_key(p) for p in self.state]
        self._moments = [parse_zettle_time(p["timestamp"]) for p in self.state]

    def _purchases(self, request: Request) -> Response:
        now = datetime.now(UTC)
        raw_start, raw_end = request.arg("startDate"), request.arg("endDate")
        start = (parse_instant(raw_start, "startDate") if raw_start
                 else now - timedelta(days=365 * DEFAULT_HISTORY_YEARS))
        end = parse_instant(raw_end, "endDate") if raw_end else None
        limit = parse_limit(request.arg("limit"))
        descending = parse_descending(request.arg("descending"))
        cursor = parse_hash(raw) if (raw := request.arg("lastPurchaseHash")) else None

        # the state is kept in purchase_key order (time first), so a page is found by bisection:
        # a benchmark's 150,000 receipts cost the fake server no more per page than 1,000
        with self.state_lock:
            state, moments, keys = self.state, self._moments, self._keys
        first = bisect.bisect_left(moments, start)
        after = len(state) if end is None else bisect.bisect_left(moments, end)
        if cursor is not None and descending:
            after = max(first, min(after, bisect.bisect_left(keys, cursor, first, after)))
        elif cursor is not None:
            first = min(after, max(first, bisect.bisect_right(keys, cursor, first, after)))
        if descending:
            page = state[first if limit is None else max(first, after - limit):after][::-1]
        else:
            page = state[first:after if limit is None else min(after, first + limit)]
        return json_response(200, {
            "purchases": page,
            "firstPurchaseHash": purchase_hash(page[0]) if page else None,
            "lastPurchaseHash": purchase_hash(page[-1]) if page else None,
            "linkUrls": [self._next_link(request, purchase_hash(page[-1]))] if page else [],
        })

    def _next_link(self, request: Request, last_hash: str) -> str:
        params = {key: values[-1] for key, values in request.query.items()}
        params["lastPurchaseHash"] = last_hash
        return f'<{self.base_url}/purchases/v2?{urlencode(params)}>; rel="next"'


@cache
def _seeded_receipts() -> tuple[str, tuple[datetime, ...], tuple[tuple[int, str], ...]]:
    """The receipts of the shipped seed file, in order, as JSON text with their sort keys:
    generated once per process (they are the same every time, and generating them costs a
    test or a demo run more than parsing them), then parsed afresh by each server so no two
    servers share a mutable receipt."""
    purchases = sorted(ReceiptFactory(load_fixture("zettle.json")).purchases(), key=purchase_key)
    keys = tuple(purchase_key(p) for p in purchases)
    moments = tuple(parse_zettle_time(p["timestamp"]) for p in purchases)
    return json.dumps(purchases, ensure_ascii=False), moments, keys


def build(options: SandboxOptions) -> ZettleServer:
    return ZettleServer(latency=options.latency, fail_mode=options.fail_mode)


#: ``oauth_url = "/"`` sends the token grant to the same loopback server as ``base_url``
SPEC = ProcessorSpec(
    name="zettle",
    credentials={"client_id": CLIENT_ID, "api_key": API_KEY, "oauth_url": "/"},
    build=build,
)
