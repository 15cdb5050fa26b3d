"""A stateful fake of MailerLite's "new" API (connect.mailerlite.com/api) for the sandbox.

Why: the MailerLite connector is plain httpx and must be run over real HTTP without touching a
real account. Shapes follow https://developers.mailerlite.com/docs/subscribers and the recorded
responses in the official ``mailerlite-python`` test cassettes:

* ``GET /api/subscribers/{id_or_email}`` → ``{"data": {...}}``; e-mail compared
  case-insensitively; unknown → ``404 {"message": "Resource not found."}``;
* ``GET /api/subscribers`` with ``filter[status]``, ``limit`` (default 25), ``cursor`` and
  ``include=groups`` (groups are left out of list items otherwise); Laravel-style cursor paging,
  newest first, with ``links`` / ``meta``. ``limit=0`` answers ``{"total": N}``;
* ``DELETE /api/subscribers/{id}`` → 204, the subscriber disappears but is *kept* ("in case they
  re-subscribe") — it is not erasure; ``POST /api/subscribers/{id}/forget`` → 200 with the
  subscriber (now carrying ``deleted_at`` / ``forget_at``) and the 30-day notice;
* every answer carries ``x-ratelimit-limit: 120`` and ``x-ratelimit-remaining`` (a sliding
  one-minute window); the 120/min limit itself is enforced only with ``enforce_rate_limit``.

The cursor is Laravel's: URL-safe base64 of ``{"id": <int>, "_pointsToNextItems": bool}``.

For consent-sync tests and the scale benchmark the server also offers state changes as a
subscriber would make them (``unsubscribe``, ``resubscribe``, ``set_status``, ``add``;
``generate`` creates N synthetic subscribers without a fixture file) and a webhook sender
(:func:`send_webhook`) that signs a payload as MailerLite does: header ``Signature`` = hex
HMAC-SHA256 of the raw JSON body under the webhook's secret
(https://developers.mailerlite.com/docs/webhooks). Change state through these helpers so the
cached list order stays right.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
    decode_token,
    encode_token,
    json_response,
    newest_first,
    slice_page,
)

API_TOKEN = "sandbox-mailerlite-token"
RATE_LIMIT_PER_MINUTE = 120
DEFAULT_LIMIT = 25
# The docs give only the default (25); no maximum is documented. Be conservative so a connector
# that works here does not depend on huge pages the real API may refuse.
MAX_LIMIT = 100
STATUSES = ("active", "unsubscribed", "unconfirmed", "bounced", "junk")
FORGET_NOTICE = "Subscriber data will be completely deleted and forgotten within 30 days."
NOT_FOUND = {"message": "Resource not found."}

Obj = dict[str, Any]


def ml_time(moment: datetime) -> str:
    """MailerLite's timestamp format: UTC, 'YYYY-MM-DD HH:MM:SS'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def validation_error(attribute: str, message: str) -> HttpError:
    """Laravel's 422 body, as MailerLite sends it."""
    return HttpError(json_response(422, {"message": message, "errors": {attribute: [message]}}))


def not_found() -> HttpError:
    return HttpError(json_response(404, NOT_FOUND))


# --------------------------------------------------------------------------- cursors
def encode_cursor(subscriber_id: str, points_to_next: bool) -> str:
    return encode_token({"id": int(subscriber_id), "_pointsToNextItems": points_to_next})


def decode_cursor(raw: str | None) -> tuple[int, bool] | None:
    """(id, points_to_next) or None; like Laravel, an unreadable cursor means the first page."""
    if not raw:
        return None
    try:
        data = decode_token(raw)
        return int(data["id"]), bool(data["_pointsToNextItems"])
    except (ValueError, KeyError, TypeError):
        return None


def page_cursors(
    page: list[Obj], cursor: tuple[int, bool] | None, has_more: bool
) -> tuple[str | None, str | None]:
    """Laravel CursorPaginator's nextCursor() / previousCursor() rules."""
    if not page:
        return None, None
    forwards = cursor is None or cursor[1]
    next_cursor = None if forwards and not has_more else encode_cursor(page[-1]["id"], True)
    prev_cursor = (
        None
        if cursor is None or (not forwards and not has_more)
        else encode_cursor(page[0]["id"], False)
    )
    return next_cursor, prev_cursor


# --------------------------------------------------------------------------- state
class MailerLiteState:
    """Live subscribers, plus the deleted and forgotten ones the account still holds."""

    def __init__(self, seed: Mapping[str, list[Obj]]) -> None:
        self.subscribers: dict[str, Obj] = {sub["id"]: sub for sub in seed.get("subscribers", [])}
        self.deleted: dict[str, Obj] = {}
        self.forgotten: dict[str, Obj] = {}
        self._version = 0
        self._order: list[int] = []  # negated ids, ascending (= ids newest first)
        self._order_key: tuple[int, int] | None = None

    # ------------------------------------------------------------- listing (fast at 100k)
    def _negated_ids(self) -> list[int]:
        key = (self._version, len(self.subscribers))
        if self._order_key != key:
            self._order = sorted(-int(sid) for sid in self.subscribers)
            self._order_key = key
        return self._order

    def page_after(self, status: str | None, limit: int,
                   after: int | None) -> tuple[list[Obj], bool]:
        """The same slice as ``slice_page(listed(status), after=...)`` without sorting the
        whole account per request (the benchmark lists 100,000 subscribers)."""
        order = self._negated_ids()
        start = 0 if after is None else bisect.bisect_right(order, -after)
        page: list[Obj] = []
        for negated in order[start:]:
            subscriber = self.subscribers[str(-negated)]
            if status is None or subscriber["status"] == status:
                if len(page) == limit:
                    return page, True
                page.append(subscriber)
        return page, False

    def count(self, status: str | None) -> int:
        if status is None:
            return len(self.subscribers)
        return sum(1 for s in self.subscribers.values() if s["status"] == status)

    # ------------------------------------------------------------- changes, as people make them
    def _require(self, id_or_email: str) -> Obj:
        subscriber = self.find(id_or_email)
        if subscriber is None:
            raise KeyError(f"no live sandbox subscriber {id_or_email!r}")
        return subscriber

    def set_status(self, id_or_email: str, status: str, at: datetime | None = None) -> Obj:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        subscriber = self._require(id_or_email)
        stamp = ml_time(at or datetime.now(UTC))
        subscriber.update(status=status, updated_at=stamp)
        if status == "unsubscribed":
            subscriber["unsubscribed_at"] = stamp
        return subscriber

    def unsubscribe(self, id_or_email: str, at: datetime | None = None) -> Obj:
        """The subscriber clicks "unsubscribe": status, ``unsubscribed_at`` and ``updated_at``."""
        return self.set_status(id_or_email, "unsubscribed", at)

    def resubscribe(self, id_or_email: str, at: datetime | None = None,
                    optin_ip: str = "192.0.2.200") -> Obj:
        """The subscriber signs up again through a double opt-in form: fresh opt-in evidence."""
        subscriber = self._require(id_or_email)
        stamp = ml_time(at or datetime.now(UTC))
        subscriber.update(status="active", unsubscribed_at=None, opted_in_at=stamp,
                          optin_ip=optin_ip, ip_address=optin_ip, subscribed_at=stamp,
                          updated_at=stamp)
        return subscriber

    def add(self, email: str, status: str = "active", at: datetime | None = None,
            **fields: Any) -> Obj:
        """A new subscriber (ids grow, so it is listed first)."""
        stamp = ml_time(at or datetime.now(UTC))
        new_id = str(max((int(i) for i in (*self.subscribers, *self.deleted, *self.forgotten)),
                         default=100_000_000_000_000_000) + 1)
        subscriber: Obj = {
            "id": new_id, "email": email, "status": status, "source": "api", "sent": 0,
            "opens_count": 0, "clicks_count": 0, "open_rate": 0, "click_rate": 0,
            "ip_address": "192.0.2.10", "subscribed_at": stamp,
            "unsubscribed_at": stamp if status == "unsubscribed" else None,
            "created_at": stamp, "updated_at": stamp,
            "fields": {"name": fields.pop("name", None), "last_name": None, "company": None,
                       "country": None, "city": None, "phone": None, "state": None,
                       "z_i_p": None},
            "groups": [], "opted_in_at": stamp if status == "active" else None,
            "optin_ip": "192.0.2.10" if status == "active" else None, **fields,
        }
        self.subscribers[new_id] = subscriber
        self._version += 1
        return subscriber

    def generate(self, count: int, *, first_id: int = 200_000_000_000_000_000,
                 mix: Mapping[str, float] | None = None) -> None:
        """``count`` synthetic subscribers (``subscriber-<n>@example.test``), deterministic:
        statuses follow ``mix`` (default 90 % active, 5 % unsubscribed, 2 % unconfirmed,
        2 % bounced, 1 % junk) in a fixed interleaving."""
        mix = mix or {"active": 0.90, "unsubscribed": 0.05, "unconfirmed": 0.02,
                      "bounced": 0.02, "junk": 0.01}
        pattern: list[str] = []
        for status, share in mix.items():
            pattern += [status] * round(share * 100)
        pattern = [pattern[(i * 37) % len(pattern)] for i in range(len(pattern))]
        for n in range(count):
            status = pattern[n % len(pattern)]
            stamp = f"2023-{1 + n % 12:02d}-{1 + n % 28:02d} 10:{n % 60:02d}:00"
            sid = str(first_id + n)
            self.subscribers[sid] = {
                "id": sid, "email": f"subscriber-{n}@example.test", "status": status,
                "source": "import", "ip_address": None, "subscribed_at": stamp,
                "unsubscribed_at": stamp if status == "unsubscribed" else None,
                "created_at": stamp, "updated_at": stamp, "fields": {"name": f"Person {n}"},
                "opted_in_at": stamp if status == "active" else None,
                "optin_ip": None,
            }
        self._version += 1

    def find(self, id_or_email: str) -> Obj | None:
        if id_or_email.isdigit():
            return self.subscribers.get(id_or_email)
        wanted = id_or_email.casefold()
        return next((s for s in self.subscribers.values() if s["email"].casefold() == wanted), None)

    def listed(self, status: str | None) -> list[Obj]:
        items = [s for s in self.subscribers.values() if status is None or s["status"] == status]
        return newest_first(items, _id_key)

    def forget(self, subscriber_id: str, now: datetime) -> Obj | None:
        subscriber = self.subscribers.pop(subscriber_id, None) or self.deleted.pop(
            subscriber_id, None
        )
        if subscriber is None:
            return None
        self._version += 1
        stamp = ml_time(now)
        subscriber.update(
            updated_at=stamp, deleted_at=stamp, forget_at=ml_time(now + timedelta(days=30))
        )
        self.forgotten[subscriber_id] = subscriber
        return subscriber

    def delete(self, subscriber_id: str) -> bool:
        subscriber = self.subscribers.pop(subscriber_id, None)
        if subscriber is not None:
            self.deleted[subscriber_id] = subscriber
            self._version += 1
        return subscriber is not None


def _id_key(subscriber: Obj) -> int:
    return int(subscriber["id"])


# --------------------------------------------------------------------------- the server
class MailerLiteServer(FakeAPIServer):
    """Fake ``https://connect.mailerlite.com`` at ``http://127.0.0.1:PORT`` (paths start /api)."""

    name = "mailerlite"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_mode: FailMode | None = None,
        api_token: str = API_TOKEN,
        enforce_rate_limit: bool = False,
        seed: Mapping[str, list[Obj]] | None = None,
        rate_limit_seconds: float = 60.0,
    ) -> None:
        self.api_token = api_token
        self.enforce_rate_limit = enforce_rate_limit
        self.window = SlidingWindow(RATE_LIMIT_PER_MINUTE, rate_limit_seconds)
        self.state = MailerLiteState(seed if seed is not None else load_fixture("mailerlite.json"))
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        ref = r"(?P<ref>[^/]+)"
        router.add("GET", r"/api/subscribers", self._list)
        router.add("GET", rf"/api/subscribers/{ref}", self._get)
        router.add("DELETE", rf"/api/subscribers/{ref}", self._delete)
        router.add("PUT", rf"/api/subscribers/{ref}", self._update)
        router.add("POST", rf"/api/subscribers/{ref}/forget", self._forget)

    def admit(self, request: Request) -> Response | None:
        if not self.enforce_rate_limit:
            return None
        used, retry_after = self.window.usage()
        if used < self.window.limit:
            return None
        response = self.rate_limited()
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        remaining = 0 if response.status == 429 else self.window.hit()
        return {
            "x-ratelimit-limit": str(self.window.limit),
            "x-ratelimit-remaining": str(remaining),
        }

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("Authorization", "").strip() != f"Bearer {self.api_token}":
            return json_response(401, {"message": "Unauthenticated."})
        return None

    def not_found(self, request: Request) -> Response:
        return json_response(
            404, {"message": f"The route {request.path.lstrip('/')} could not be found."}
        )

    def server_error(self) -> Response:
        return json_response(500, {"message": "Server Error"})

    def rate_limited(self) -> Response:
        return json_response(429, {"message": "Too Many Attempts."})

    # ----------------------------------------------------------------- endpoints
    def _get(self, request: Request) -> Response:
        subscriber = self.state.find(request.params["ref"])
        if subscriber is None:
            raise not_found()
        return json_response(200, {"data": subscriber})

    def _list(self, request: Request) -> Response:
        status = request.arg("filter[status]")
        if status is not None and status not in STATUSES:
            raise validation_error("filter.status", "The selected filter.status is invalid.")
        limit = _parse_limit(request.arg("limit"))
        if limit == 0:
            return json_response(200, {"total": self.state.count(status)})
        cursor = decode_cursor(request.arg("cursor"))
        after = cursor[0] if cursor and cursor[1] else None
        before = cursor[0] if cursor and not cursor[1] else None
        if before is None:
            page, has_more = self.state.page_after(status, limit, after)
        else:
            page, has_more = slice_page(self.state.listed(status), _id_key, limit=limit,
                                        after=after, before=before)
        next_cursor, prev_cursor = page_cursors(page, cursor, has_more)
        with_groups = "groups" in (request.arg("include") or "").split(",")
        path = f"{self.base_url}/api/subscribers"
        return json_response(
            200,
            {
                "data": [s if with_groups else _without_groups(s) for s in page],
                "links": {
                    "first": None,
                    "last": None,
                    "prev": f"{path}?cursor={prev_cursor}" if prev_cursor else None,
                    "next": f"{path}?cursor={next_cursor}" if next_cursor else None,
                },
                "meta": {
                    "path": path,
                    "per_page": limit,
                    "next_cursor": next_cursor,
                    "prev_cursor": prev_cursor,
                },
            },
        )

    def _update(self, request: Request) -> Response:
        """``PUT /api/subscribers/{id}``: ``fields`` and ``status`` change
        (https://developers.mailerlite.com/docs/subscribers#update-a-subscriber); unknown
        field names answer 422 as MailerLite validates them."""
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise validation_error("body", "The body must be JSON.") from None
        if not isinstance(body, dict):
            raise validation_error("body", "The body must be an object.")
        with self.state_lock:
            subscriber = self.state.find(request.params["ref"])
            if subscriber is None:
                raise not_found()
            fields = body.get("fields") or {}
            if not isinstance(fields, dict):
                raise validation_error("fields", "The fields must be an object.")
            for name in fields:
                if name not in CUSTOM_FIELDS:
                    raise validation_error(f"fields.{name}", f"The field {name} does not exist.")
            subscriber["fields"] = {**(subscriber.get("fields") or {}), **fields}
            if body.get("status") in STATUSES and body["status"] != subscriber["status"]:
                # as an unsubscribe in MailerLite: the status and when it happened
                self.state.set_status(str(subscriber["id"]), body["status"])
            subscriber["updated_at"] = ml_time(datetime.now(UTC))
            return json_response(200, {"data": subscriber})

    def _delete(self, request: Request) -> Response:
        ref = request.params["ref"]
        if not ref.isdigit() or not self.state.delete(ref):
            raise not_found()
        return Response(status=204)

    def _forget(self, request: Request) -> Response:
        ref = request.params["ref"]
        subscriber = self.state.forget(ref, datetime.now(UTC)) if ref.isdigit() else None
        if subscriber is None:
            raise not_found()
        return json_response(200, {"data": subscriber, "message": FORGET_NOTICE})


    # ----------------------------------------------------------------- test and bench helpers
    def unsubscribe(self, id_or_email: str, at: datetime | None = None) -> Obj:
        with self.state_lock:
            return dict(self.state.unsubscribe(id_or_email, at))

    def resubscribe(self, id_or_email: str, at: datetime | None = None) -> Obj:
        with self.state_lock:
            return dict(self.state.resubscribe(id_or_email, at))

    def set_status(self, id_or_email: str, status: str, at: datetime | None = None) -> Obj:
        with self.state_lock:
            return dict(self.state.set_status(id_or_email, status, at))

    def add(self, email: str, status: str = "active", at: datetime | None = None) -> Obj:
        with self.state_lock:
            return dict(self.state.add(email, status, at))

    def generate(self, count: int, **options: Any) -> None:
        with self.state_lock:
            self.state.generate(count, **options)


# --------------------------------------------------------------------------- webhooks
def webhook_payload(subscriber: Obj, event: str, account_id: int = 1) -> Obj:
    """A non-batched webhook body: the subscriber's fields with ``event`` and ``account_id``
    beside them (the shape of ``subscriber.unsubscribed`` and the other subscriber events)."""
    return {**_without_groups(subscriber), "event": event, "account_id": account_id}


def sign_webhook(body: bytes, secret: str) -> str:
    """MailerLite's ``Signature`` header: hex HMAC-SHA256 of the raw body (PHP ``hash_hmac``)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(url: str, secret: str, payload: Obj | bytes, *,
                 signature: str | None = None, timeout: float = 5.0) -> tuple[int, Obj]:
    """POST ``payload`` to ``url`` signed with ``secret`` (or the given ``signature``, to test
    a forged one). Returns (status, parsed JSON body or {})."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URLs in tests and demos
        url, data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Signature": signature if signature is not None else sign_webhook(body, secret),
                 "User-Agent": "MailerLite-Webhooks (sandbox)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"raw": raw.decode(errors="replace")}
    return status, parsed if isinstance(parsed, dict) else {"data": parsed}


#: the default subscriber fields of a MailerLite account (developers.mailerlite.com/docs/fields)
CUSTOM_FIELDS = frozenset({"name", "last_name", "company", "country", "city", "phone", "state",
                           "z_i_p"})


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit():
        raise validation_error("limit", "The limit field must be an integer.")
    limit = int(raw)
    if limit > MAX_LIMIT:
        raise validation_error("limit", f"The limit field must not be greater than {MAX_LIMIT}.")
    return limit


def _without_groups(subscriber: Obj) -> Obj:
    return {key: value for key, value in subscriber.items() if key != "groups"}


def build(options: SandboxOptions) -> MailerLiteServer:
    return MailerLiteServer(latency=options.latency, fail_mode=options.fail_mode)


SPEC = ProcessorSpec(name="mailerlite", credentials={"api_token": API_TOKEN}, build=build)
