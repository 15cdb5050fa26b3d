"""The shared HTTP policy: retries, Retry-After, budgets, idempotency and the rate limiter."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from hub.http import HttpPolicy, PoliteTransport, SlidingWindowLimiter, retry_after_seconds


class Script:
    """An inner transport answering from a list of responses (or exceptions), in order."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script: Script, **policy: float) -> tuple[httpx.AsyncClient, list[float]]:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = PoliteTransport(
        HttpPolicy(**{"rate_limit_requests": 1000, **policy}),
        processor="Test",
        inner=httpx.MockTransport(script),
        sleep=fake_sleep,
    )
    return httpx.AsyncClient(transport=transport, base_url="https://api.example.com"), slept


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={}))
    client, slept = make_client(script)
    response = await client.get("/x")
    assert response.status_code == 200
    assert len(script.requests) == 2
    assert 7 <= slept[0] < 7.2


async def test_500_exhausts_attempts_and_returns_last_answer() -> None:
    script = Script(httpx.Response(500, json={"message": "boom"}))
    client, slept = make_client(script, max_attempts=3)
    response = await client.get("/x")
    assert response.status_code == 500
    assert response.json() == {"message": "boom"}
    assert len(script.requests) == 3
    assert len(slept) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_are_not_retried(status: int) -> None:
    script = Script(httpx.Response(status))
    client, _ = make_client(script)
    assert (await client.get("/x")).status_code == status
    assert len(script.requests) == 1


async def test_wait_longer_than_budget_is_not_started() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    client, slept = make_client(script, max_retry_seconds=60)
    assert (await client.get("/x")).status_code == 429
    assert len(script.requests) == 1
    assert slept == []


async def test_post_without_idempotency_key_is_not_retried_on_500() -> None:
    script = Script(httpx.Response(500), httpx.Response(200))
    client, _ = make_client(script)
    assert (await client.post("/x", json={})).status_code == 500
    assert len(script.requests) == 1


async def test_post_with_idempotency_key_is_retried_and_429_always_is() -> None:
    script = Script(httpx.Response(500), httpx.Response(200))
    client, _ = make_client(script)
    response = await client.post("/x", headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
    script = Script(httpx.Response(429), httpx.Response(200))
    client, _ = make_client(script)
    assert (await client.post("/x")).status_code == 200


async def test_stripe_should_retry_header_is_obeyed() -> None:
    script = Script(httpx.Response(500, headers={"Stripe-Should-Retry": "false"}))
    client, _ = make_client(script)
    assert (await client.get("/x")).status_code == 500
    assert len(script.requests) == 1
    script = Script(httpx.Response(409, headers={"Stripe-Should-Retry": "true"}),
                    httpx.Response(200))
    client, _ = make_client(script)
    assert (await client.get("/x")).status_code == 200


async def test_transport_errors_are_retried_then_raised() -> None:
    script = Script(httpx.ConnectError("refused"))
    client, _ = make_client(script, max_attempts=3)
    with pytest.raises(httpx.ConnectError):
        await client.get("/x")
    assert len(script.requests) == 3


async def test_read_timeout_on_plain_post_is_not_retried() -> None:
    script = Script(httpx.ReadTimeout("slow"))
    client, _ = make_client(script)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/x")
    assert len(script.requests) == 1


def test_retry_after_forms() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "12"}), now) == 12
    date = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), now) == pytest.approx(30)
    assert retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": "5"}), now) == 5
    assert retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": str(now + 9)}), now) == 9
    assert retry_after_seconds(httpx.Headers({}), now) is None
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"}), now) is None


async def test_sliding_window_never_exceeds_limit_in_any_window() -> None:
    limiter = SlidingWindowLimiter(5, 0.2)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(12)))
    starts.sort()
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 0.2 - 1e-3
    assert starts[-1] - starts[0] >= 0.4 - 1e-3


def test_every_transport_shares_one_verifying_tls_context() -> None:
    """Building a TLS context loads the CA bundle: one per process, and it verifies."""
    import ssl

    from hub.http import tls_context

    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
