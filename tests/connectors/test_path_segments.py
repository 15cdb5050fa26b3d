"""Record ids from a processor in URL paths: percent-encoded, dot segments refused.

An id that is ``.`` or ``..`` is removed by URL normalisation before the request is sent
(``DELETE customers/..`` went to the collection's parent); an id holding ``/``, ``?`` or ``#``
addresses another resource. Every connector that builds a path from processor data goes through
:mod:`connectors.sdk.paths`: the action fails with a clear reason and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.fortnox import FortnoxConnector, FortnoxSettings
from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.sdk.base import ErasureAction, ErasureState
from connectors.sdk.fields import render_path
from connectors.sdk.paths import UnsafePathSegment, checked_segment, path_segment
from connectors.stripe import StripeConnector, StripeSettings
from hub.core.errors import ProtocolError
from hub.core.models import Record
from hub.core.subject import Subject
from hub.http import HttpPolicy
from tests.connectors import test_booking_erase as booking

DOT_IDS = [".", "..", "", "%2e%2e", "．．", "a/../b", "..\\x"]
ANNA = "anna.svensson@example.se"


@pytest.fixture
def sent() -> Iterator[list[httpx.Request]]:
    """Every request that would leave the process (answered 500 so nothing looks done)."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500, json={})

    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=record)
        yield requests


# ------------------------------------------------------------------------------ the helper
@pytest.mark.parametrize("value", DOT_IDS)
def test_dot_and_empty_segments_are_refused(value: str) -> None:
    with pytest.raises(UnsafePathSegment) as refused:
        path_segment(value, what="customer id")
    assert isinstance(refused.value, ProtocolError)
    assert "customer id" in str(refused.value) and "nothing was sent" in str(refused.value)
    with pytest.raises(UnsafePathSegment):
        checked_segment(value)


@pytest.mark.parametrize(("value", "encoded"), [
    ("cus_A", "cus_A"), ("A/B", "A%2FB"), ("a?b", "a%3Fb"), ("x#y", "x%23y"),
    ("50%", "50%25"), ("c/1 a", "c%2F1%20a"), ("v1.2", "v1.2"), ("...", "..."), (42, "42"),
])
def test_other_ids_are_percent_encoded(value: object, encoded: str) -> None:
    assert path_segment(value) == encoded


def test_a_path_segment_never_keeps_a_separator() -> None:
    with pytest.raises(ValueError):
        path_segment("a", safe="/")
    assert path_segment(ANNA, safe="@") == ANNA


def test_declared_paths_refuse_dot_ids_but_query_values_are_only_quoted() -> None:
    assert render_path("/customers/{c.Id}/x?Id={c.Id}", {"c": {"Id": "a/b"}}) == \
        "/customers/a%2Fb/x?Id=a%2Fb"
    assert render_path("/bookings?CustomerId={c.Id}", {"c": {"Id": ".."}}) == \
        "/bookings?CustomerId=.."
    with pytest.raises(UnsafePathSegment, match="Id of a c record"):
        render_path("/customers/{c.Id}", {"c": {"Id": ".."}})


# ------------------------------------------------------------------------------ MailerLite
@pytest.mark.parametrize("sid", [".", "..", ""])
async def test_mailerlite_forget_refuses_a_dot_id(sid: str, sent, fast_policy) -> None:
    settings = MailerLiteSettings(api_token=SecretStr("ml-test-token-123456"), http=fast_policy)
    async with MailerLiteConnector(settings) as connector:
        outcome = await connector.erase(Record(type="subscriber", id=sid, matched_on="email"),
                                        ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state == ErasureState.FAILED and "URL path" in outcome.detail
    assert sent == []


async def test_mailerlite_forget_encodes_the_id(fast_policy: HttpPolicy) -> None:
    settings = MailerLiteSettings(api_token=SecretStr("ml-test-token-123456"), http=fast_policy)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url__regex=r".*/forget$").respond(200, json={"data": {}})
        async with MailerLiteConnector(settings) as connector:
            outcome = await connector.erase(
                Record(type="subscriber", id="7/../8?x#y", matched_on="email"),
                ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state == ErasureState.FAILED  # a '..' segment once '/' is decoded
    assert not route.called
    with respx.mock() as mock:
        route = mock.post(url__regex=r".*/forget$").respond(200, json={"data": {}})
        async with MailerLiteConnector(settings) as connector:
            outcome = await connector.erase(
                Record(type="subscriber", id="7/8?x#y", matched_on="email"),
                ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state == ErasureState.DONE
    assert route.calls.last.request.url.raw_path == b"/api/subscribers/7%2F8%3Fx%23y/forget"


async def test_mailerlite_lookup_skips_a_spelling_that_cannot_be_a_path(
        sent, fast_policy: HttpPolicy) -> None:
    from hub.core.subject import Identifier

    settings = MailerLiteSettings(api_token=SecretStr("ml-test-token-123456"), http=fast_policy)
    async with MailerLiteConnector(settings) as connector:
        subject = Subject.from_email(ANNA)
        findings = await connector.find_by_identifiers(
            subject, [Identifier(kind="email", value="..", source="booking")])
    assert findings.records == [] and sent == []


# ------------------------------------------------------------------------------ Fortnox
def fortnox(policy: HttpPolicy) -> FortnoxConnector:
    return FortnoxConnector(FortnoxSettings(
        client_id=SecretStr("client-abc"), client_secret=SecretStr("secret-xyz"),
        refresh_token=SecretStr("seed-refresh-token"), http=policy))


@pytest.mark.parametrize("action", [ErasureAction.DELETE, ErasureAction.ANONYMISE])
@pytest.mark.parametrize("number", [".", ".."])
async def test_fortnox_refuses_a_dot_customer_number(number: str, action: ErasureAction, sent,
                                                     fast_policy: HttpPolicy) -> None:
    async with fortnox(fast_policy) as connector:
        outcome = await connector.erase(Record(type="customer", id=number, matched_on="email"),
                                        action, idempotency_key="k", fields=("Email",))
    assert outcome.state == ErasureState.FAILED and "customer number" in outcome.detail
    assert sent == []  # not even a token grant


async def test_fortnox_encodes_a_customer_number(fast_policy: HttpPolicy) -> None:
    from tests.connectors.test_fortnox_erase import TOKEN_URL, Tokens

    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=Tokens())
        route = mock.delete(url__regex=r"https://api\.fortnox\.se/3/customers/.+").respond(
            204)
        async with fortnox(fast_policy) as connector:
            outcome = await connector.erase(
                Record(type="customer", id="A/B?c#d", matched_on="email"),
                ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state == ErasureState.DONE
    assert route.calls.last.request.url.raw_path == b"/3/customers/A%2FB%3Fc%23d"


# ------------------------------------------------------------------------------ Stripe
def stripe(policy: HttpPolicy) -> StripeConnector:
    return StripeConnector(StripeSettings(api_key=SecretStr("sk_test_unit_0123456789"),
                                          http=policy, redaction_poll_seconds=0,
                                          redaction_wait_seconds=5))


@pytest.mark.parametrize("kind", ["customer", "payment_method", "subscription", "charge"])
@pytest.mark.parametrize("oid", [".", ".."])
async def test_stripe_refuses_a_dot_id_before_the_sdk_sees_it(
        kind: str, oid: str, sent, fast_policy: HttpPolicy) -> None:
    """The SDK escapes ids with ``quote_plus``, which keeps dots: ``DELETE /v1/customers/..``
    would be normalised to ``DELETE /v1``."""
    action = ErasureAction.ANONYMISE if kind == "charge" else ErasureAction.DELETE
    async with stripe(fast_policy) as connector:
        outcome = await connector.erase(Record(type=kind, id=oid, matched_on="email"), action,
                                        idempotency_key="k")
    assert outcome.state == ErasureState.FAILED and "URL path" in outcome.detail
    assert sent == []


async def test_stripe_sdk_encodes_slash_query_and_fragment(fast_policy: HttpPolicy) -> None:
    with respx.mock() as mock:
        route = mock.delete(url__regex=r"https://api\.stripe\.com/v1/customers/.+").respond(
            200, json={"id": "x", "object": "customer", "deleted": True})
        async with stripe(fast_policy) as connector:
            outcome = await connector.erase(
                Record(type="customer", id="cus_A/b?c#d", matched_on="email"),
                ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state == ErasureState.DONE
    assert route.calls.last.request.url.raw_path == b"/v1/customers/cus_A%2Fb%3Fc%23d"


async def test_stripe_lookup_skips_the_lists_of_a_customer_whose_id_is_a_dot_segment(
        fast_policy: HttpPolicy) -> None:
    """Its payment methods are listed at ``/v1/customers/{id}/payment_methods``: with ``..``
    that would be every payment method of the account. That one customer's lists are left
    out with a note; the subject's other customers and their records are still found."""
    with respx.mock(assert_all_called=False) as mock:
        listed = mock.get("https://api.stripe.com/v1/customers").respond(200, json={
            "object": "list", "has_more": False, "url": "/v1/customers",
            "data": [{"id": "..", "object": "customer", "email": ANNA},
                     {"id": "cus_ok", "object": "customer", "email": ANNA}]})
        others = mock.get(url__regex=r"https://api\.stripe\.com/v1/(?!customers$).*").respond(
            200, json={"object": "list", "has_more": False, "data": []})
        async with stripe(fast_policy) as connector:
            findings = await connector.find_subject(Subject.from_email(ANNA))
    assert listed.called
    assert not any(b"/v1/customers/../" in c.request.url.raw_path or
                   c.request.url.raw_path == b"/v1/payment_methods" for c in others.calls)
    assert any(b"/v1/customers/cus_ok/payment_methods" in c.request.url.raw_path
               for c in others.calls)
    assert {r.id for r in findings.records if r.type == "customer"} == {"..", "cus_ok"}
    assert any("dot segment" in note or "URL path" in note for note in findings.notes)
    assert "stripe.linked_records_unlisted" in findings.note_codes and findings.incomplete


# ------------------------------------------------------------------------------ REST engine
@pytest.mark.parametrize("cid", [".", "..", ""])
async def test_declared_erase_call_refuses_a_dot_id(cid: str, sent,
                                                     fast_policy: HttpPolicy) -> None:
    async with booking.connector(fast_policy) as connector:
        outcome = await connector.erase(booking.customer(cid), ErasureAction.DELETE,
                                        idempotency_key="k")
    assert outcome.state == ErasureState.FAILED and "URL path" in outcome.detail
    assert sent == []


async def test_declared_erase_call_encodes_the_id(fast_policy: HttpPolicy) -> None:
    with respx.mock() as mock:
        route = mock.delete(url__regex=rf"{booking.BASE}/customers/.+").respond(204)
        async with booking.connector(fast_policy) as connector:
            outcome = await connector.erase(booking.customer("c1?x#y"), ErasureAction.DELETE,
                                            idempotency_key="k")
    assert outcome.state == ErasureState.DONE
    assert route.calls.last.request.url.raw_path.split(b"?")[0] == b"/customers/c1%3Fx%23y"


async def test_declared_child_listing_refuses_a_parent_with_a_dot_id(
        fast_policy: HttpPolicy) -> None:
    api = booking.declaration()
    api["resources"][1].update(path="/customers/{customer.Id}/bookings", params={})
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{booking.BASE}/customers").respond(200, json={"Results": [
            {"Id": "..", "Firstname": "Anna", "Email": ANNA}]})
        children = mock.route(url__regex=rf"{booking.BASE}/(?!customers$).*").respond(
            200, json={"Results": []})
        async with booking.connector(fast_policy, api) as connector:
            with pytest.raises(UnsafePathSegment, match="BokaMera, resource 'booking'"):
                await connector.find_subject(Subject.from_email(ANNA))
    assert not children.called
