"""The visible restriction marker on a Stripe customer (GDPR Art. 18).

While a subject's processing is restricted, whoever opens the customer in Stripe's dashboard
must see it: the customer carries the metadata key ``gdpr_restricted`` (value ``true``).
Lifting the restriction sets the key to an empty string, which is how Stripe deletes a metadata
key (https://docs.stripe.com/api/metadata); the update is ``POST /v1/customers/{id}``
(https://docs.stripe.com/api/customers/update) through the official SDK, with the hub's
idempotency key, so a repeated call is the same request to Stripe. Kept apart from
:mod:`connectors.stripe`, which only delegates to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.sdk.base import ErasureOutcome, ErasureState
from connectors.sdk.paths import checked_segment
from connectors.stripe_sdk import translate
from hub.core.errors import ConnectorError
from hub.core.models import Record

if TYPE_CHECKING:
    import stripe

#: the metadata key that marks a restricted customer
MARKER = "gdpr_restricted"


async def mark_customer(sdk: stripe.StripeClient, record: Record, restricted: bool,
                        idempotency_key: str) -> ErasureOutcome:
    """Set or remove the marker on one customer; other objects are left to the customer's
    marker (a charge or invoice belongs to it)."""
    import stripe

    if record.type != "customer":
        return ErasureOutcome(
            state=ErasureState.REFUSED,
            detail=f"Stripe {record.type.replace('_', ' ')} {record.id} carries no marker of "
            "its own: its customer is marked")
    params: dict[str, Any] = {"metadata": {MARKER: "true" if restricted else ""}}
    try:
        checked_segment(record.id, what="customer id")
        await sdk.v1.customers.update_async(
            record.id, params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key} if idempotency_key else {})
    except stripe.StripeError as exc:
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(translate(exc)))
    except ConnectorError as exc:
        return ErasureOutcome(state=ErasureState.FAILED, detail=str(exc))
    done = "set" if restricted else "removed"
    return ErasureOutcome(state=ErasureState.DONE,
                          detail=f"Stripe customer {record.id}: metadata {MARKER} {done}")
