"""The one HTTP policy every connector shares: timeouts, rate limits and retries.

Everything lives in :class:`PoliteTransport`, an ``httpx`` transport wrapped around the real one,
so the same rules apply whether a connector calls httpx itself or goes through a vendor SDK (the
``stripe`` SDK sends through our ``httpx.AsyncClient``, see connectors/stripe.py), and tests can
swap the inner transport without monkeypatching (the seam ``httpx/_transports/mock.py`` shows).

What happens on a 429? The request waits for the processor's ``Retry-After`` (or rate-limit
reset header), plus a little jitter, and is sent again; without such a header it backs off
exponentially with full jitter. 5xx answers and transport errors are retried the same way. The
retry budget is bounded in attempts *and* in total seconds (a wait that would overrun the budget
is not started). When the budget is spent the last answer is handed back unchanged for the
connector to turn into a typed error. Other 4xx answers are never retried. A POST is only retried
when it cannot have been applied (429, connection refused) or carries an ``Idempotency-Key``.

Client-side limits (:class:`SlidingWindowLimiter`) keep us under each processor's documented
rate so that a batch of lookups normally never sees a 429 at all. They count per process; when
several processes or machines share one processor credential, a :class:`RateBudget` (the
database's, :mod:`hub.store.rate_budget`) is asked as well, after the process's own limiter:
this module cannot reach the database, so the caller installs one for a run with
:func:`shared_rate_budget`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from hub import __version__
from hub.core.errors import CredentialsRejected, ProcessorUnavailable, ProtocolError

log = logging.getLogger(__name__)

USER_AGENT = f"dsar-hub/{__version__} (+https://github.com/dsar-hub/dsar-hub)"
RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class HttpPolicy(BaseModel):
    """Per-processor HTTP settings; each connector sets defaults from its API's documentation."""

    timeout_seconds: float = Field(30.0, gt=0, description="Connect/read timeout per request.")
    max_attempts: int = Field(5, ge=1, description="Attempts per request, the first included.")
    max_retry_seconds: float = Field(
        120.0, gt=0, description="Upper bound on the time one request may spend retrying."
    )
    backoff_max_seconds: float = Field(30.0, gt=0, description="Longest single backoff wait.")
    rate_limit_requests: int = Field(10, ge=1, description="Requests allowed per window...")
    rate_limit_seconds: float = Field(1.0, gt=0, description="...of this many seconds.")


@dataclass(frozen=True)
class RateLimit:
    """An extra documented limit on part of an API (e.g. Stripe's 20/s for search)."""

    requests: int
    per_seconds: float
    path_contains: str


class SlidingWindowLimiter:
    """At most ``requests`` starts in any window of ``per_seconds``.

    A token bucket (e.g. ``aiolimiter``) lets a full burst through at each side of a window
    boundary, up to twice the limit in one window; processors that count per window (Fortnox:
    25 per 5 s) would answer that with 429. This keeps the exact start times instead, and
    widens the window by ``MARGIN``: the server counts arrivals, which trail our starts by a
    varying network delay, so an exact window still drew an occasional 429.
    """

    MARGIN = 0.10

    def __init__(self, requests: int, per_seconds: float) -> None:
        self.requests = requests
        self.per_seconds = per_seconds * (1 + self.MARGIN)
        self._starts: deque[float] = deque()
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.per_seconds:
                    self._starts.popleft()
                if len(self._starts) < self.requests:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self.per_seconds - (now - self._starts[0]))


_shared_limiters: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int, float], SlidingWindowLimiter]
] = weakref.WeakKeyDictionary()


def shared_limiter(key: str, requests: int, per_seconds: float) -> SlidingWindowLimiter:
    """The limiter for ``key`` shared by every client in this event loop.

    A batch of lookups creates one connector per subject; the processor's limit is per account
    or token, so all of them must draw from the same window.
    """
    per_loop = _shared_limiters.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault((key, requests, per_seconds),
                               SlidingWindowLimiter(requests, per_seconds))


class RateBudget(Protocol):
    """A rate budget shared beyond this process: every worker that sends with one processor
    credential draws from it, so together they stay within the processor's limit."""

    async def acquire(self, key: str, requests: int, per_seconds: float) -> None:
        """Return once one more request may start under ``key`` (the transport's limit key:
        the connector's name and address) without exceeding ``requests`` starts in any
        ``per_seconds``."""


_rate_budget: ContextVar[RateBudget | None] = ContextVar("dsar_rate_budget", default=None)


@contextmanager
def shared_rate_budget(budget: RateBudget | None) -> Iterator[None]:
    """Every transport created inside the block (also in tasks and event loops started in
    it, which copy the context) asks ``budget`` before each request; None: none is asked."""
    token = _rate_budget.set(budget)
    try:
        yield
    finally:
        _rate_budget.reset(token)


class _RetriableResponse(Exception):
    """Internal: carries a retriable answer through tenacity."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``Retry-After`` or a rate-limit reset header.

    ``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). The
    ``X-RateLimit-Reset``/``RateLimit-Reset`` family is either seconds to wait or, when the value
    is large, a Unix timestamp.
    """
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
            except (ValueError, TypeError):
                pass  # unreadable: fall back to the reset headers or our own backoff
    for name in ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"):
        value = headers.get(name)
        if value:
            try:
                reset = float(value)
            except ValueError:
                continue
            return max(0.0, reset - now) if reset > 1e9 else max(0.0, reset)
    return None


#: set ``extensions={REPLAYABLE: True}`` on a POST that is safe to repeat (e.g. a token grant
#: that issues a fresh token each time); never on one that consumes a one-time value
REPLAYABLE = "dsar_replayable"


def _replayable(request: httpx.Request) -> bool:
    return (request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers
            or bool(request.extensions.get(REPLAYABLE)))


def _should_retry(request: httpx.Request, response: httpx.Response) -> bool:
    advice = response.headers.get("stripe-should-retry")
    if advice is not None:  # Stripe's explicit advice wins (docs.stripe.com/error-low-level)
        return advice.lower() == "true"
    if response.status_code == 429:
        return True  # rejected before processing: safe even for POST
    return response.status_code in RETRIABLE_STATUS and _replayable(request)


def _retriable_transport_error(request: httpx.Request, exc: httpx.TransportError) -> bool:
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return never_sent or _replayable(request)


class _WaitForServer:
    """Wait as the server asked (plus jitter), else exponential backoff with full jitter."""

    def __init__(self, backoff_max: float) -> None:
        self._fallback = wait_random_exponential(multiplier=0.5, max=backoff_max)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetriableResponse):
            asked = retry_after_seconds(exc.response.headers)
            if asked is not None:
                return asked + 0.1 * self._fallback(state) / max(self._fallback.max, 1)
        return self._fallback(state)


@cache
def tls_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context for every connection of this process: building
    one loads the CA bundle (a third of a second per lookup when each transport built its
    own). It verifies exactly as httpx's default does (``verify=True``, honouring
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``); verification is never turned off."""
    return httpx.create_ssl_context(verify=True)


class PoliteTransport(httpx.AsyncBaseTransport):
    """Rate-limits and retries requests before handing them to the real transport."""

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        processor: str,
        limit_key: str | None = None,
        extra_limits: Sequence[RateLimit] = (),
        inner: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rate_budget: RateBudget | None = None,
    ) -> None:
        self.policy = policy
        self.processor = processor
        self._limit_key = limit_key or processor
        #: the shared budget: given, else the one installed for this run (shared_rate_budget)
        self._budget = rate_budget if rate_budget is not None else _rate_budget.get()
        self._inner = inner or httpx.AsyncHTTPTransport(verify=tls_context(), retries=0)
        self._extra = extra_limits
        self._sleep = sleep
        self.attempts = 0  # requests actually sent, for benchmarks and tests

    async def _throttle(self, request: httpx.Request) -> None:
        """The process's own limiters first (cheap, and they keep this process's requests
        from crowding the shared budget), then the shared budget for each of them."""
        policy = self.policy
        limits = [(self._limit_key, policy.rate_limit_requests, policy.rate_limit_seconds)]
        limits += [(f"{self._limit_key}{rule.path_contains}", rule.requests, rule.per_seconds)
                   for rule in self._extra if rule.path_contains in request.url.path]
        for key, requests, per_seconds in limits:
            await shared_limiter(key, requests, per_seconds).acquire()
        if self._budget is not None:
            for key, requests, per_seconds in limits:
                await self._budget.acquire(key, requests, per_seconds)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        retrying = AsyncRetrying(
            stop=(
                stop_after_attempt(policy.max_attempts)
                | stop_before_delay(policy.max_retry_seconds)
            ),
            wait=_WaitForServer(policy.backoff_max_seconds),
            retry=retry_if_exception_type((_RetriableResponse, httpx.TransportError)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._throttle(request)
                    self.attempts += 1
                    try:
                        response = await self._inner.handle_async_request(request)
                    except httpx.TransportError as exc:
                        if not _retriable_transport_error(request, exc):
                            raise _Fatal(exc) from exc
                        raise
                    if _should_retry(request, response):
                        await response.aread()
                        raise _RetriableResponse(response)
                    return response
        except _RetriableResponse as exc:
            return exc.response
        except _Fatal as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = str(exc) if isinstance(exc, _RetriableResponse) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("%s: attempt %d failed (%s); retrying in %.1fs",
                 self.processor, state.attempt_number, reason, wait)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Fatal(Exception):
    """Internal: a transport error that must not be retried (a POST that may have been applied)."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def build_client(
    transport: PoliteTransport,
    *,
    base_url: str,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """One ``httpx.AsyncClient`` per processor, with the shared policy. TLS is always verified."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        auth=auth,
        timeout=httpx.Timeout(transport.policy.timeout_seconds),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
    )

def read_json(response: httpx.Response, processor: str) -> Any:
    """The JSON body, or a :class:`ProtocolError` naming the processor when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(
            f"{processor} answered HTTP {response.status_code} with a body that is not JSON",
            status_code=response.status_code,
        ) from None


def raise_for_response(
    response: httpx.Response,
    processor: str,
    detail: Callable[[Any], str | None] = lambda body: None,
) -> None:
    """Turn an unsuccessful answer (after the retry budget) into a typed :class:`ConnectorError`.

    ``detail`` pulls the processor's own message out of its error body (each API has its own
    envelope); it is quoted so the user sees what the processor said.
    """
    if response.is_success:
        return
    code = response.status_code
    said = None
    try:
        said = detail(response.json())
    except (ValueError, TypeError, AttributeError, KeyError):
        said = None
    suffix = f": {said}" if said else ""
    if code in (401, 403):
        raise CredentialsRejected(
            f"{processor} rejected the credentials (HTTP {code}{suffix}); check its API key/token",
            status_code=code,
        )
    if code == 429:
        raise ProcessorUnavailable(
            f"{processor} kept rate-limiting us (HTTP 429) beyond the retry budget; re-run later",
            status_code=code,
        )
    if code >= 500:
        raise ProcessorUnavailable(
            f"{processor} is failing (HTTP {code}{suffix}) after retries; re-run later",
            status_code=code,
        )
    raise ProtocolError(f"{processor} refused the request (HTTP {code}{suffix})", status_code=code)
