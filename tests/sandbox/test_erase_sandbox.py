"""The real Stripe and MailerLite connectors erase against the sandbox's fakes over loopback:
erase, then look the subject up again and find nothing erasable left. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.sdk.base import ErasureAction, ErasureState
from connectors.stripe import StripeConnector, StripeSettings
from hub.core.subject import Subject
from hub.http import HttpPolicy
from hub.sandbox import Sandbox

ANNA = Subject.from_email("anna.svensson@example.se")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb
        for name, server in sb.servers.items():
            assert server.internal_errors == [], f"{name} fake crashed: {server.internal_errors}"


def stripe_connector(sb: Sandbox, policy: HttpPolicy) -> StripeConnector:
    return StripeConnector(StripeSettings(base_url=sb.base_urls["stripe"], http=policy,
                                          **sb.credentials["stripe"]))


def mailerlite_connector(sb: Sandbox, policy: HttpPolicy) -> MailerLiteConnector:
    return MailerLiteConnector(MailerLiteSettings(base_url=sb.base_urls["mailerlite"],
                                                  http=policy, **sb.credentials["mailerlite"]))


def mutating(sb: Sandbox, name: str) -> list[tuple[str, str]]:
    return [(m, t) for m, t in sb.servers[name].request_log if m in ("POST", "DELETE")]


async def test_stripe_erase_then_lookup_finds_no_customer(sandbox: Sandbox,
                                                          fast_policy: HttpPolicy) -> None:
    async with stripe_connector(sandbox, fast_policy) as stripe:
        before = (await stripe.find_subject(ANNA)).records
        by_type = {kind: [r for r in before if r.type == kind]
                   for kind in ("customer", "payment_method", "subscription", "charge")}
        assert len(by_type["customer"]) == 2  # both spellings of the address
        assert by_type["payment_method"] and by_type["charge"]
        assert any(r.data.get("status") == "active" for r in by_type["subscription"])

        def key(r) -> str:
            return f"req-1:stripe:{r.type}:{r.id}"

        # One payment method explicitly before its customer goes, the rest after: either order
        # ends with nothing attached.
        first_pm = by_type["payment_method"][0]
        outcome = await stripe.erase(first_pm, ErasureAction.DELETE, idempotency_key=key(first_pm))
        assert outcome.state == ErasureState.DONE, outcome.detail
        active = [r for r in by_type["subscription"] if r.data.get("status") == "active"]
        for sub in active:
            outcome = await stripe.erase(sub, ErasureAction.DELETE, idempotency_key=key(sub))
            assert outcome.state == ErasureState.DONE, outcome.detail

        for customer in by_type["customer"]:
            outcome = await stripe.erase(customer, ErasureAction.DELETE,
                                         idempotency_key=key(customer))
            assert outcome.state == ErasureState.DONE, outcome.detail
        for record in by_type["payment_method"][1:] + by_type["subscription"]:
            outcome = await stripe.erase(record, ErasureAction.DELETE, idempotency_key=key(record))
            assert outcome.state == ErasureState.ALREADY_GONE, outcome.detail

        # The sandbox has no redaction-job API (a public preview): a manual task, never a loss.
        charge = by_type["charge"][0]
        outcome = await stripe.erase(charge, ErasureAction.ANONYMISE, idempotency_key=key(charge))
        assert outcome.state == ErasureState.REFUSED
        assert "Stripe support" in outcome.detail

        # A resumed request repeating the deletion is harmless.
        again = await stripe.erase(by_type["customer"][0], ErasureAction.DELETE,
                                   idempotency_key=key(by_type["customer"][0]))
        assert again.state in (ErasureState.DONE, ErasureState.ALREADY_GONE)

        after = (await stripe.find_subject(ANNA)).records

    assert not [r for r in after if r.type in ("customer", "payment_method", "subscription")]
    # Payment records keep their copies (retained as accounting records until redacted).
    assert {r.id for r in after if r.type == "charge"} >= {r.id for r in by_type["charge"]
                                                          if r.data.get("receipt_email")}
    erasing = mutating(sandbox, "stripe")
    assert sum(1 for m, t in erasing if t.startswith("/v1/customers/")) == 3  # 2 + the repeat
    assert sum(1 for m, t in erasing if t.endswith("/detach")) == 1


async def test_mailerlite_forget_then_lookup_finds_nothing(sandbox: Sandbox,
                                                           fast_policy: HttpPolicy) -> None:
    async with mailerlite_connector(sandbox, fast_policy) as mailerlite:
        [subscriber] = (await mailerlite.find_subject(ANNA)).records
        outcome = await mailerlite.erase(subscriber, ErasureAction.DELETE,
                                         idempotency_key=f"req-1:mailerlite:{subscriber.id}")
        assert outcome.state == ErasureState.DONE, outcome.detail
        assert outcome.completes_by == datetime.now(UTC).date() + timedelta(days=30)

        assert (await mailerlite.find_subject(ANNA)).records == []

        again = await mailerlite.erase(subscriber, ErasureAction.DELETE,
                                       idempotency_key=f"req-1:mailerlite:{subscriber.id}")
        assert again.state == ErasureState.ALREADY_GONE

    assert mutating(sandbox, "mailerlite") == [
        ("POST", f"/api/subscribers/{subscriber.id}/forget")] * 2  # never the plain DELETE
    assert subscriber.id in sandbox.servers["mailerlite"].state.forgotten
