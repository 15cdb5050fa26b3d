"""Stripe's official SDK wired to the hub: its requests go through our ``httpx`` client (and so
through the shared rate limits and retries), and its exceptions become ours.

Why a module of its own: this is glue between two libraries, independent of what the
connector (:mod:`connectors.stripe`) asks Stripe for. The SDK is imported lazily: ``dsar --help``
must not pay for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from hub.core.errors import ConnectorError, CredentialsRejected, ProcessorUnavailable, ProtocolError

if TYPE_CHECKING:
    import stripe


def policy_http_client(client: httpx.AsyncClient) -> stripe.HTTPClient:
    """An SDK HTTP client that sends through ``client`` (and so through the shared policy)."""
    import stripe

    class _PolicyHTTPClient(stripe.HTTPClient):
        name = "dsar-httpx"

        async def request_async(
            self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
        ) -> tuple[bytes, int, Mapping[str, str]]:
            try:
                response = await client.request(method, url, headers=dict(headers),
                                                 content=post_data or None)
            except httpx.HTTPError as exc:
                raise stripe.APIConnectionError(
                    f"could not reach Stripe ({type(exc).__name__})", should_retry=False
                ) from exc
            return response.content, response.status_code, response.headers

        def sleep_async(self, secs: float) -> Awaitable[None]:
            return asyncio.sleep(secs)

        async def close_async(self) -> None:
            await client.aclose()

        def close(self) -> None:  # the sync API is never used
            pass

    return _PolicyHTTPClient()


def translate(exc: Exception) -> ConnectorError:
    """Map the SDK's exceptions onto ours (docs.stripe.com/error-handling)."""
    import stripe

    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return CredentialsRejected(
            f"Stripe rejected the API key (HTTP {status}); check DSAR_STRIPE__API_KEY and, for a "
            "restricted key, its read permissions", status_code=status)
    if isinstance(exc, stripe.RateLimitError):
        return ProcessorUnavailable(
            "Stripe kept rate-limiting us (HTTP 429) beyond the retry budget; re-run later",
            status_code=status)
    if isinstance(exc, stripe.APIConnectionError):
        return ProcessorUnavailable("could not reach Stripe (network error after retries)")
    if isinstance(exc, stripe.APIError) and status is not None and status < 500:
        return ProtocolError(f"Stripe answered HTTP {status} with a body that is not valid JSON",
                             status_code=status)
    if isinstance(exc, stripe.APIError):
        return ProcessorUnavailable(
            f"Stripe is failing (HTTP {status}) after retries; re-run later", status_code=status)
    message = getattr(exc, "user_message", None) or type(exc).__name__
    return ProtocolError(f"Stripe refused a request (HTTP {status}): {message}", status_code=status)
