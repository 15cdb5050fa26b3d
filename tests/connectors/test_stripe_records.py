"""Stripe objects as records: one field no calendar holds does not lose the object."""

from __future__ import annotations

from connectors.stripe_records import stripe_record
from hub.core.subject import MatchStrength


def test_a_millisecond_timestamp_stays_as_sent_and_the_record_is_kept() -> None:
    customer = {"id": "cus_X", "object": "customer", "email": "anna.svensson@example.se",
                "created": 1_700_000_000_000, "name": "Anna Svensson"}
    record = stripe_record("customer", customer, "email", MatchStrength.EXACT)
    assert record.data["created"] == 1_700_000_000_000
    assert record.data["email"] == "anna.svensson@example.se"
    normal = stripe_record("customer", {**customer, "created": 1_700_000_000}, "email",
                           MatchStrength.EXACT)
    assert normal.data["created"] == "2023-11-14T22:13:20+00:00"
