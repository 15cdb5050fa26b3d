"""Shared machinery for the fake processor APIs ("the sandbox").

Why this exists: the connectors are tested end to end by letting the *real* client code (the
official Stripe SDK, plain httpx for MailerLite) talk real HTTP to stateful fakes on loopback.
A fake must answer with the shapes, status codes and paging rules the real API documents and
nothing more generous, so every fake shares one small base here:

* a threaded stdlib HTTP server on 127.0.0.1 with an OS-assigned port, run in a daemon thread;
* a tiny router (method + regular expression on the path);
* per-request latency, injected *outside* the state lock so concurrent requests overlap the way
  they do against a remote API, while handlers themselves run one at a time on the shared state;
* a thread-safe request counter and log for tests and benchmarks;
* failure injection (``fail_mode``) for retry/back-off tests;
* the newest-first cursor slicing both Stripe and MailerLite use.

Each processor module subclasses :class:`FakeAPIServer` and exposes a :class:`ProcessorSpec`
so :class:`hub.sandbox.Sandbox` can start it alongside the others.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

FailMode = Literal["500", "429", "garbage", "hostile"]
FAIL_MODES: frozenset[str] = frozenset({"500", "429", "garbage", "hostile"})

# A body that is certainly not JSON, as a misbehaving proxy or maintenance page would send.
GARBAGE_BODY = b"<html><body><h1>502 Bad Gateway</h1>upstream hiccup</body></html>"

# An error message a processor (or a proxy in front of it) may well send and that must stay
# text wherever the hub prints it: a stray closing tag and a link in terminal markup syntax.
HOSTILE_MESSAGE = "[/] Bad request: see [link=https://x.example.com]the status page[/link]"


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as handed to route handlers."""

    method: str
    target: str  # path plus query string, exactly as received
    path: str  # URL path without the query string, still percent-encoded
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # percent-decoded route groups

    def arg(self, name: str) -> str | None:
        """The last value of query parameter ``name`` (None if absent)."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Response:
    """What a handler returns; ``body`` is JSON-encoded unless ``raw`` is given."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")

    def render(self) -> Response:
        """Serialise now, so later changes to shared state cannot race the write."""
        self.raw = self.encode()
        return self


class HttpError(Exception):
    """Raised inside a handler to answer with ``response`` straight away."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status=status, body=body, headers=dict(headers or {}))


Handler = Callable[[Request], Response]


class Router:
    """Method + anchored regular expression → handler; the first registered match wins."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if route_method == method and match:
                return handler, {k: unquote(v) for k, v in match.groupdict().items()}
        return None


@dataclass(frozen=True)
class SandboxOptions:
    """Knobs shared by every fake; each server reads the ones that concern it."""

    latency: float = 0.0
    fail_mode: FailMode | None = None
    search_available: bool = True


@dataclass(frozen=True)
class ProcessorSpec:
    """How :class:`hub.sandbox.Sandbox` builds one fake processor and which credentials it takes."""

    name: str
    credentials: Mapping[str, str]
    build: Callable[[SandboxOptions], FakeAPIServer]


class FakeAPIServer:
    """Base class: HTTP plumbing, logging, latency and failure injection.

    Subclasses implement :meth:`register_routes`, :meth:`authenticate`, :meth:`not_found` and the
    two failure bodies; they may refuse requests early via :meth:`admit` and add headers to every
    answer via :meth:`extra_headers`.
    """

    name = "fake"
    state: Any  # the fake's mutable data, for tests to inspect

    def __init__(self, *, latency: float = 0.0, fail_mode: FailMode | None = None) -> None:
        if fail_mode is not None and fail_mode not in FAIL_MODES:
            raise ValueError(
                f"fail_mode must be one of {sorted(FAIL_MODES)} or None, not {fail_mode!r}"
            )
        self.latency = latency
        self.fail_mode: FailMode | None = fail_mode
        self.request_count = 0
        # (method, request target): the path *with* its query string, as sent by the client
        self.request_log: list[tuple[str, str]] = []
        self.internal_errors: list[Exception] = []
        self._log_lock = threading.Lock()
        self.state_lock = threading.RLock()
        self.router = Router()
        self.register_routes(self.router)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} sandbox server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAPIServer:
        if self._httpd is not None:
            return self
        httpd = _QuietHTTPServer(("127.0.0.1", 0), _RequestHandler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns promptly
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- subclass hooks
    def register_routes(self, router: Router) -> None:
        raise NotImplementedError

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response when the credentials are missing or wrong."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        raise NotImplementedError

    def server_error(self) -> Response:
        raise NotImplementedError

    def rate_limited(self) -> Response:
        raise NotImplementedError

    def refused(self, message: str) -> Response:
        """A 400 in the processor's own error envelope quoting ``message`` (fail mode
        ``hostile``): the processor's words reach the hub's output as they are."""
        return json_response(400, {"message": message})

    def admit(self, request: Request) -> Response | None:
        """Refuse a request before authentication (e.g. a rate limiter); None lets it through."""
        return None

    def extra_headers(self, request: Request, response: Response) -> dict[str, str]:
        """Headers the real API sends on every answer (request ids, rate-limit counters...)."""
        return {}

    # ----------------------------------------------------------------- dispatch
    def handle(self, request: Request) -> Response:
        with self._log_lock:
            self.request_count += 1
            self.request_log.append((request.method, request.target))
        if self.latency > 0:
            time.sleep(self.latency)
        response = self._respond(request)
        response.headers = {**self.extra_headers(request, response), **response.headers}
        return response

    def _respond(self, request: Request) -> Response:
        if self.fail_mode is not None:
            return self._injected_failure(self.fail_mode)
        refused = self.admit(request)
        if refused is not None:
            return refused
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        resolved = self.router.resolve(request.method, request.path)
        if resolved is None:
            return self.not_found(request)
        handler, params = resolved
        routed = replace(request, params=params)
        try:
            with self.state_lock:
                return handler(routed).render()
        except HttpError as error:
            return error.response
        except Exception as error:  # a bug in the fake itself: answer, but keep it inspectable
            self.internal_errors.append(error)
            response = self.server_error()
            response.headers["X-Sandbox-Internal-Error"] = ascii(error)[:200]
            return response

    def _injected_failure(self, mode: FailMode) -> Response:
        if mode == "500":
            return self.server_error()
        if mode == "429":
            response = self.rate_limited()
            response.headers.setdefault("Retry-After", "1")
            return response
        if mode == "hostile":
            return self.refused(HOSTILE_MESSAGE)
        return Response(status=200, raw=GARBAGE_BODY, content_type="text/html; charset=utf-8")


class _QuietHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of concurrent connections must not stall in accept()

    daemon_threads = True
    app: FakeAPIServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-response are normal in tests; stay silent."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out separately; avoid 40 ms stalls
    server: _QuietHTTPServer
    timeout = 30  # idle keep-alive connections are dropped eventually

    def log_message(self, format: str, *args: Any) -> None:
        """The sandbox is quiet: no access log on stderr."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            target=self.path,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        response = self.server.app.handle(request)
        self._write(response)

    def _write(self, response: Response) -> None:
        payload = b"" if response.status == 204 else response.encode()
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch


# --------------------------------------------------------------------------- paging
T = TypeVar("T")


def newest_first(items: Sequence[T], key: Callable[[T], Any]) -> list[T]:
    return sorted(items, key=key, reverse=True)


def slice_page(
    items: Sequence[T],
    key: Callable[[T], Any],
    *,
    limit: int,
    after: Any = None,
    before: Any = None,
) -> tuple[list[T], bool]:
    """Cut one page out of ``items`` (sorted newest first, i.e. descending ``key``).

    ``after`` is the sort key of the cursor object when paging towards older items (Stripe's
    ``starting_after``, a MailerLite "next" cursor); ``before`` when paging back towards newer
    ones (``ending_before``, a "prev" cursor). Backwards pages hold the ``limit`` items closest
    to the cursor, still newest first. The flag says whether more items lie further in the
    direction of travel.
    """
    if after is not None:
        rest = [item for item in items if key(item) < after]
        return rest[:limit], len(rest) > limit
    if before is not None:
        rest = [item for item in items if key(item) > before]
        return (rest[-limit:] if limit else []), len(rest) > limit
    return list(items[:limit]), len(items) > limit


def encode_token(payload: Any) -> str:
    """An opaque paging token: unpadded URL-safe base64 of compact JSON, as Laravel does."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> Any:
    """Inverse of :func:`encode_token`; raises ValueError for anything unreadable."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"unreadable token: {token!r}") from error


class SlidingWindow:
    """Requests counted over a sliding window (MailerLite per account, Fortnox per token,
    the booking fake per second), shared by the fake servers that enforce a limit."""

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
