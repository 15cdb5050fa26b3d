"""Stripe erasure (official SDK, async) against respx-mocked documented responses.

Documented shapes: customer deletion (docs.stripe.com/api/customers/delete), payment-method
detach, subscription cancel, idempotent requests (docs.stripe.com/api/idempotent_requests) and
the privacy redaction-job API (docs.stripe.com/api/privacy/redaction-job, public preview).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.sdk.base import ErasureAction, ErasureState
from connectors.stripe import REDACTION_API_VERSION, StripeConnector, StripeSettings
from hub.core.models import Record
from hub.http import HttpPolicy

KEY = "sk_test_unit_0123456789"
IDEM = "dsar-req-7:stripe:customer:cus_A"

Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, message: str, code: str | None = None) -> httpx.Response:
    body: dict = {"message": message, "type": "invalid_request_error"}
    if code:
        body["code"] = code
    return httpx.Response(status, json={"error": body})


def missing(noun: str, oid: str) -> httpx.Response:
    return error(404, f"No such {noun}: '{oid}'", code="resource_missing")


def unrecognized(request: httpx.Request) -> httpx.Response:
    return error(404, f"Unrecognized request URL ({request.method}: {request.url.path}).")


def server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"error": {"type": "api_error",
                                               "message": "An unknown error occurred"}})


def sequence(*answers: Handler | httpx.Response) -> Handler:
    """Answer the calls in turn; the last answer repeats."""
    calls = iter(answers)
    last: list[Handler | httpx.Response] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(calls, None)
        if answer is None:
            answer = last[0]
        else:
            last[:] = [answer]
        return answer(request) if callable(answer) else answer

    return handler


class FakeStripe:
    """Routes (method, path) to handlers; anything unrouted is Stripe's 404 for unknown URLs."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Handler] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, handler: Handler | httpx.Response) -> None:
        self.handlers[(method, path)] = (
            handler if callable(handler) else (lambda _r, answer=handler: answer))

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.handlers.get((request.method, request.url.path), unrecognized)
        return handler(request)


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="api.stripe.com").mock(side_effect=fake)
        yield fake


@pytest.fixture
def connector(fast_policy: HttpPolicy) -> StripeConnector:
    return StripeConnector(StripeSettings(api_key=SecretStr(KEY), http=fast_policy,
                                          redaction_poll_seconds=0, redaction_wait_seconds=5))


def record(kind: str, oid: str) -> Record:
    return Record(type=kind, id=oid, matched_on="email")


def deleted_stub(cid: str) -> httpx.Response:
    return httpx.Response(200, json={"id": cid, "object": "customer", "deleted": True})


async def erase(connector: StripeConnector, kind: str, oid: str,
                action: ErasureAction = ErasureAction.DELETE, key: str = IDEM, **kw):
    async with connector:
        return await connector.erase(record(kind, oid), action, idempotency_key=key, **kw)


# -- customers ---------------------------------------------------------------------------------

async def test_customer_deleted_with_idempotency_key(stripe_api: FakeStripe,
                                                     connector: StripeConnector) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A", deleted_stub("cus_A"))
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.DONE
    assert "cus_A" in outcome.detail and "subscriptions" in outcome.detail
    [call] = stripe_api.calls("DELETE", "/v1/customers/cus_A")
    assert call.headers["Idempotency-Key"] == IDEM
    assert call.headers["Authorization"] == f"Bearer {KEY}"


async def test_customer_already_deleted_is_already_gone(stripe_api: FakeStripe,
                                                        connector: StripeConnector) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A", missing("customer", "cus_A"))
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.ALREADY_GONE
    assert len(stripe_api.requests) == 1  # a 404 is an answer, never retried


@pytest.mark.parametrize("first", [
    lambda r: error(429, "Request rate limit exceeded.", code="rate_limit"),
    server_error,
], ids=["429", "500"])
async def test_429_and_5xx_are_retried_then_deleted(stripe_api: FakeStripe,
                                                    connector: StripeConnector, first) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A", sequence(first, deleted_stub("cus_A")))
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.DONE
    calls = stripe_api.calls("DELETE", "/v1/customers/cus_A")
    assert len(calls) == 2
    assert {c.headers["Idempotency-Key"] for c in calls} == {IDEM}  # the same key each time


async def test_5xx_beyond_the_budget_fails_with_reason(stripe_api: FakeStripe,
                                                       connector: StripeConnector) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A", server_error)
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.FAILED
    assert "HTTP 500" in outcome.detail and "re-run later" in outcome.detail
    assert len(stripe_api.requests) == 3  # fast_policy: three attempts


async def test_rejected_key_fails_naming_the_credentials(stripe_api: FakeStripe,
                                                         connector: StripeConnector) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A",
                  error(401, "Invalid API Key provided: sk_test_****6789"))
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.FAILED
    assert "credentials" in outcome.detail and "HTTP 401" in outcome.detail
    assert KEY not in outcome.detail
    assert len(stripe_api.requests) == 1


async def test_deletion_without_deleted_flag_fails(stripe_api: FakeStripe,
                                                   connector: StripeConnector) -> None:
    stripe_api.on("DELETE", "/v1/customers/cus_A",
                  httpx.Response(200, json={"id": "cus_A", "object": "customer"}))
    outcome = await erase(connector, "customer", "cus_A")
    assert outcome.state == ErasureState.FAILED
    assert "deleted" in outcome.detail


# -- payment methods and subscriptions ---------------------------------------------------------

def payment_method(customer: str | None) -> httpx.Response:
    return httpx.Response(200, json={"id": "pm_1", "object": "payment_method", "type": "card",
                                     "customer": customer, "billing_details": {}})


async def test_detached_payment_method_is_already_gone_without_a_call(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/payment_methods/pm_1", payment_method(None))
    outcome = await erase(connector, "payment_method", "pm_1")
    assert outcome.state == ErasureState.ALREADY_GONE
    assert [r.method for r in stripe_api.requests] == ["GET"]


async def test_attached_payment_method_is_detached_with_key(stripe_api: FakeStripe,
                                                            connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/payment_methods/pm_1", payment_method("cus_A"))
    stripe_api.on("POST", "/v1/payment_methods/pm_1/detach", payment_method(None))
    outcome = await erase(connector, "payment_method", "pm_1", key="k-pm")
    assert outcome.state == ErasureState.DONE and "cus_A" in outcome.detail
    [detach] = stripe_api.calls("POST", "/v1/payment_methods/pm_1/detach")
    assert detach.headers["Idempotency-Key"] == "k-pm"


async def test_detach_race_with_customer_deletion_is_already_gone(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/payment_methods/pm_1",
                  sequence(payment_method("cus_A"), payment_method(None)))
    stripe_api.on("POST", "/v1/payment_methods/pm_1/detach", error(
        400, "The payment method you provided is not attached to a customer so detachment is "
        "impossible."))
    outcome = await erase(connector, "payment_method", "pm_1")
    assert outcome.state == ErasureState.ALREADY_GONE


async def test_unknown_payment_method_is_already_gone(stripe_api: FakeStripe,
                                                      connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/payment_methods/pm_1", missing("PaymentMethod", "pm_1"))
    outcome = await erase(connector, "payment_method", "pm_1")
    assert outcome.state == ErasureState.ALREADY_GONE


def subscription(status: str) -> httpx.Response:
    return httpx.Response(200, json={"id": "sub_1", "object": "subscription", "status": status,
                                     "customer": "cus_A"})


async def test_ended_subscription_is_already_gone(stripe_api: FakeStripe,
                                                  connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/subscriptions/sub_1", subscription("canceled"))
    outcome = await erase(connector, "subscription", "sub_1")
    assert outcome.state == ErasureState.ALREADY_GONE
    assert [r.method for r in stripe_api.requests] == ["GET"]


async def test_active_subscription_is_cancelled_with_key(stripe_api: FakeStripe,
                                                         connector: StripeConnector) -> None:
    stripe_api.on("GET", "/v1/subscriptions/sub_1", subscription("active"))
    stripe_api.on("DELETE", "/v1/subscriptions/sub_1", subscription("canceled"))
    outcome = await erase(connector, "subscription", "sub_1", key="k-sub")
    assert outcome.state == ErasureState.DONE
    [cancel] = stripe_api.calls("DELETE", "/v1/subscriptions/sub_1")
    assert cancel.headers["Idempotency-Key"] == "k-sub"


# -- actions Stripe does not offer -------------------------------------------------------------

async def test_deleting_a_charge_is_refused_with_anonymise_instead(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    outcome = await erase(connector, "charge", "ch_1")
    assert outcome.state == ErasureState.REFUSED
    assert outcome.fallback == ErasureAction.ANONYMISE
    assert stripe_api.requests == []


async def test_anonymising_a_customer_is_refused_with_delete_instead(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    outcome = await erase(connector, "customer", "cus_A", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.REFUSED
    assert outcome.fallback == ErasureAction.DELETE
    assert stripe_api.requests == []


async def test_unknown_record_type_is_a_programming_error(connector: StripeConnector) -> None:
    with pytest.raises(ValueError, match="no type"):
        await erase(connector, "refund", "re_1")


# -- redaction jobs ----------------------------------------------------------------------------

def job(status: str, **extra: object) -> httpx.Response:
    return httpx.Response(200, json={"id": "prj_1", "object": "privacy.redaction_job",
                                     "created": 1_700_000_000, "livemode": False,
                                     "status": status, "validation_behavior": "error", **extra})


JOBS = "/v1/privacy/redaction_jobs"


async def test_charge_redacted_through_a_redaction_job(stripe_api: FakeStripe,
                                                       connector: StripeConnector) -> None:
    stripe_api.on("POST", JOBS, job("validating"))
    stripe_api.on("GET", f"{JOBS}/prj_1", sequence(job("validating"), job("ready"),
                                                    job("redacting"), job("succeeded")))
    stripe_api.on("POST", f"{JOBS}/prj_1/run", job("redacting"))
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE, key="k-ch")
    assert outcome.state == ErasureState.DONE
    assert "prj_1" in outcome.detail and "ch_1" in outcome.detail
    [create] = stripe_api.calls("POST", JOBS)
    assert parse_qs(create.content.decode()) == {"objects[charges][0]": ["ch_1"]}
    assert create.headers["Idempotency-Key"] == "k-ch"
    assert create.headers["Stripe-Version"] == REDACTION_API_VERSION
    [run] = stripe_api.calls("POST", f"{JOBS}/prj_1/run")
    assert run.headers["Idempotency-Key"] == "k-ch:run"  # Stripe refuses one key on two requests
    assert all(r.headers["Stripe-Version"] == REDACTION_API_VERSION
               for r in stripe_api.requests)


@pytest.mark.parametrize(("kind", "objects"), [
    ("payment_intent", "payment_intents"), ("invoice", "invoices"),
    ("checkout_session", "checkout_sessions"),
])
async def test_each_payment_record_type_names_its_objects_key(
        stripe_api: FakeStripe, connector: StripeConnector, kind: str, objects: str) -> None:
    stripe_api.on("POST", JOBS, job("succeeded"))
    outcome = await erase(connector, kind, "x_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.DONE
    [create] = stripe_api.calls("POST", JOBS)
    assert parse_qs(create.content.decode()) == {f"objects[{objects}][0]": ["x_1"]}


async def test_redaction_still_running_is_done_naming_the_job(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    connector.settings.redaction_wait_seconds = 0
    stripe_api.on("POST", JOBS, job("ready"))
    stripe_api.on("POST", f"{JOBS}/prj_1/run", job("redacting"))
    outcome = await erase(connector, "invoice", "in_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.DONE
    assert "prj_1" in outcome.detail and "irreversible" in outcome.detail


async def test_redaction_still_validating_fails_and_resumes_the_same_job(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    connector.settings.redaction_wait_seconds = 0
    stripe_api.on("POST", JOBS, job("validating"))
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.FAILED
    assert "prj_1" in outcome.detail and "idempotency key" in outcome.detail
    assert stripe_api.calls("POST", f"{JOBS}/prj_1/run") == []


async def test_redaction_validation_errors_are_refused_for_a_person(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    errors = {"object": "list", "has_more": False, "url": f"{JOBS}/prj_1/validation_errors",
              "data": [{"id": "prjve_1", "object": "privacy.redaction_job_validation_error",
                        "code": "invalid_state",
                        "erroring_object": {"id": "pi_1", "object_type": "payment_intent"},
                        "message": "PaymentIntent is not finalized."}]}
    stripe_api.on("POST", JOBS, job("validating"))
    stripe_api.on("GET", f"{JOBS}/prj_1", job("failed", validation_errors=errors))
    outcome = await erase(connector, "payment_intent", "pi_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.REFUSED
    assert "prj_1" in outcome.detail
    assert "invalid_state: PaymentIntent is not finalized. (payment_intent pi_1)" in outcome.detail
    assert stripe_api.calls("POST", f"{JOBS}/prj_1/run") == []


async def test_validation_errors_read_from_their_list_when_not_inline(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("POST", JOBS, job("failed"))
    stripe_api.on("GET", f"{JOBS}/prj_1/validation_errors", httpx.Response(200, json={
        "object": "list", "has_more": False, "data": [
            {"id": "prjve_1", "code": "locked_by_other_job", "erroring_object": None,
             "message": "The object is used in another redaction job."}]}))
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.REFUSED
    assert "locked_by_other_job" in outcome.detail


async def test_missing_redaction_api_is_refused_as_a_manual_task(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.REFUSED
    assert outcome.fallback is None
    assert "Stripe support" in outcome.detail and "ch_1" in outcome.detail
    assert len(stripe_api.requests) == 1


async def test_redaction_create_retried_after_5xx_with_the_same_key(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("POST", JOBS, sequence(server_error, job("succeeded")))
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE, key="k-ch")
    assert outcome.state == ErasureState.DONE
    creates = stripe_api.calls("POST", JOBS)
    assert [c.headers["Idempotency-Key"] for c in creates] == ["k-ch", "k-ch"]


async def test_redaction_rejected_key_fails_naming_the_credentials(
        stripe_api: FakeStripe, connector: StripeConnector) -> None:
    stripe_api.on("POST", JOBS, error(403, "The provided key does not have the required "
                                           "permissions for this endpoint."))
    outcome = await erase(connector, "charge", "ch_1", ErasureAction.ANONYMISE)
    assert outcome.state == ErasureState.FAILED
    assert "credentials" in outcome.detail
