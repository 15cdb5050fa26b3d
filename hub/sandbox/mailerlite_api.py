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
"""

from __future__ import annotations

import threading
import time
from collections import deque
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
        return subscriber is not None


def _id_key(subscriber: Obj) -> int:
    return int(subscriber["id"])


class SlidingWindow:
    """Requests counted over the last minute, like MailerLite's per-account limiter."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._hits and now - self._hits[0] >= self.seconds:
            self._hits.popleft()

    def usage(self) -> tuple[int, float]:
        """(requests in the window, seconds until the oldest one leaves it)."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            oldest = self._hits[0] if self._hits else now
            return len(self._hits), self.seconds - (now - oldest)

    def hit(self) -> int:
        """Count one request; return how many remain in the window."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._hits.append(now)
            return max(self.limit - len(self._hits), 0)


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
    ) -> None:
        self.api_token = api_token
        self.enforce_rate_limit = enforce_rate_limit
        self.window = SlidingWindow(RATE_LIMIT_PER_MINUTE)
        self.state = MailerLiteState(seed if seed is not None else load_fixture("mailerlite.json"))
        super().__init__(latency=latency, fail_mode=fail_mode)

    # ----------------------------------------------------------------- hooks
    def register_routes(self, router: Router) -> None:
        ref = r"(?P<ref>[^/]+)"
        router.add("GET", r"/api/subscribers", self._list)
        router.add("GET", rf"/api/subscribers/{ref}", self._get)
        router.add("DELETE", rf"/api/subscribers/{ref}", self._delete)
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
        items = self.state.listed(status)
        if limit == 0:
            return json_response(200, {"total": len(items)})
        cursor = decode_cursor(request.arg("cursor"))
        after = cursor[0] if cursor and cursor[1] else None
        before = cursor[0] if cursor and not cursor[1] else None
        page, has_more = slice_page(items, _id_key, limit=limit, after=after, before=before)
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
