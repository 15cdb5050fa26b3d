"""The sandbox's fake Stripe and MailerLite servers behave like the documented real APIs.

Everything runs over real HTTP on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe

from hub.sandbox import Sandbox
from hub.sandbox.fixtures import fixtures_dir, load_fixture
from hub.sandbox.mailerlite_api import (
    MailerLiteServer,
    SlidingWindow,
    decode_cursor,
    encode_cursor,
)

ANNA = "anna.svensson@example.se"
ANNA_UPPER = "Anna.Svensson@Example.se"
ERIK = "erik.guest@example.com"


def _stripe_client(sb: Sandbox, key: str | None = None) -> httpx.Client:
    key = key or sb.credentials["stripe"]["api_key"]
    return httpx.Client(
        base_url=sb.base_urls["stripe"],
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
    )


def _ml_client(sb: Sandbox) -> httpx.Client:
    token = sb.credentials["mailerlite"]["api_token"]
    return httpx.Client(
        base_url=sb.base_urls["mailerlite"],
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        trust_env=False,
    )


def _no_internal_errors(sb: Sandbox) -> None:
    for name, server in sb.servers.items():
        assert server.internal_errors == [], f"{name} fake crashed: {server.internal_errors}"


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    """A sandbox for read-only tests."""
    with Sandbox() as sb:
        yield sb
        _no_internal_errors(sb)


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that change state."""
    with Sandbox() as sb:
        yield sb
        _no_internal_errors(sb)


@pytest.fixture(scope="module")
def api(shared: Sandbox) -> Iterator[httpx.Client]:
    with _stripe_client(shared) as client:
        yield client


@pytest.fixture(scope="module")
def ml(shared: Sandbox) -> Iterator[httpx.Client]:
    with _ml_client(shared) as client:
        yield client


def _customer_ids(api: httpx.Client, **params: str) -> list[str]:
    response = api.get("/v1/customers", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["data"]]


def _anna_ids(api: httpx.Client) -> tuple[str, str]:
    (exact,) = _customer_ids(api, email=ANNA)
    (upper,) = _customer_ids(api, email=ANNA_UPPER)
    return exact, upper


# --------------------------------------------------------------------------- the Sandbox object
def test_sandbox_public_surface(shared: Sandbox) -> None:
    assert {"stripe", "mailerlite"} <= set(shared.base_urls) == set(shared.credentials)
    for url in shared.base_urls.values():
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith("/")
    assert shared.credentials["stripe"] == {"api_key": "sk_test_sandbox"}
    assert shared.credentials["mailerlite"] == {"api_token": "sandbox-mailerlite-token"}
    assert fixtures_dir().joinpath("stripe.json").is_file()


def test_sandbox_rejects_unknown_fail_settings() -> None:
    with pytest.raises(ValueError, match="unknown processor"):
        Sandbox(fail={"no-such-processor": "500"})
    with pytest.raises(ValueError, match="must be one of"):
        Sandbox(fail={"stripe": "503"})


def test_each_sandbox_has_its_own_state() -> None:
    with Sandbox() as one, Sandbox() as two, _stripe_client(one) as a, _stripe_client(two) as b:
        exact, _ = _anna_ids(a)
        assert a.delete(f"/v1/customers/{exact}").status_code == 200
        assert _customer_ids(a, email=ANNA) == []
        assert _customer_ids(b, email=ANNA) == [exact]
    assert load_fixture("stripe.json")["customers"][0]["id"] == exact


def test_request_counter_and_log(fresh: Sandbox) -> None:
    server = fresh.servers["stripe"]
    with _stripe_client(fresh) as api:
        api.get("/v1/customers", params={"email": ANNA})
        api.get("/v1/charges", params={"limit": "3"})
    assert server.request_count == 2
    assert server.request_log == [
        ("GET", "/v1/customers?email=anna.svensson%40example.se"),
        ("GET", "/v1/charges?limit=3"),
    ]


# --------------------------------------------------------------------------- Stripe: auth, errors
def test_stripe_without_key_is_401(shared: Sandbox) -> None:
    with httpx.Client(base_url=shared.base_urls["stripe"], trust_env=False) as anon:
        response = anon.get("/v1/customers")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key.")


def test_stripe_with_wrong_key_is_401_and_masks_it(shared: Sandbox) -> None:
    with _stripe_client(shared, key="sk_test_wrongwrongwrong1234") as bad:
        response = bad.get("/v1/customers")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error == {"message": error["message"], "type": "invalid_request_error"}
    assert error["message"].startswith("Invalid API Key provided: sk_test_****")
    assert "wrongwrong" not in error["message"]
    assert error["message"].endswith("1234")


def test_stripe_accepts_basic_auth_with_key_as_user(shared: Sandbox) -> None:
    basic = base64.b64encode(b"sk_test_sandbox:").decode()
    with httpx.Client(base_url=shared.base_urls["stripe"], trust_env=False) as client:
        response = client.get("/v1/customers", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200


def test_stripe_unknown_path_is_404_in_error_envelope(api: httpx.Client) -> None:
    response = api.get("/v1/nonsense")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "Unrecognized request URL (GET: /v1/nonsense). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            "type": "invalid_request_error",
        }
    }
    assert response.headers["request-id"].startswith("req_")


def test_stripe_missing_object_is_resource_missing(api: httpx.Client) -> None:
    response = api.get("/v1/customers/cus_doesnotexist")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "resource_missing"
    assert error["message"] == "No such customer: 'cus_doesnotexist'"


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/charges", {"email": ANNA}, "parameter_unknown"),  # charges have no e-mail filter
        ("/v1/customers", {"customer_details[email]": ANNA}, "parameter_unknown"),
        ("/v1/customers", {"created[since]": "1"}, "parameter_unknown"),
        ("/v1/customers", {"limit": "101"}, None),
        ("/v1/customers", {"limit": "0"}, None),
        ("/v1/customers", {"email": ""}, None),
        ("/v1/invoices", {"status": "unpaid"}, None),
        ("/v1/charges", {"expand[]": "data.customer"}, None),
    ],
)
def test_stripe_rejects_what_it_should(
    api: httpx.Client, path: str, params: dict[str, str], code: str | None
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("code") == code


# --------------------------------------------------------------------------- Stripe: lists
def test_customer_list_email_is_exact_and_case_sensitive(api: httpx.Client) -> None:
    exact, upper = _anna_ids(api)
    assert exact != upper
    assert _customer_ids(api, email="ANNA.SVENSSON@EXAMPLE.SE") == []
    assert _customer_ids(api, email="svensson@example.se") == []
    assert _customer_ids(api, email=ERIK) == []  # Erik only ever paid as a guest


def test_customer_list_envelope_and_default_limit(api: httpx.Client) -> None:
    body = api.get("/v1/customers").json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/customers"
    assert len(body["data"]) == 10
    assert body["has_more"] is True
    created = [c["created"] for c in body["data"]]
    assert created == sorted(created, reverse=True)


def test_charge_pagination_across_pages(api: httpx.Client) -> None:
    exact, _ = _anna_ids(api)
    first = api.get("/v1/charges", params={"customer": exact, "limit": "100"}).json()
    assert len(first["data"]) == 100
    assert first["has_more"] is True
    last_id = first["data"][-1]["id"]
    second = api.get(
        "/v1/charges", params={"customer": exact, "limit": "100", "starting_after": last_id}
    ).json()
    assert len(second["data"]) == 20
    assert second["has_more"] is False
    charges = first["data"] + second["data"]
    assert len({c["id"] for c in charges}) == 120
    assert all(c["customer"] == exact for c in charges)
    created = [c["created"] for c in charges]
    assert created == sorted(created, reverse=True)

    back = api.get(
        "/v1/charges",
        params={"customer": exact, "limit": "100", "ending_before": second["data"][0]["id"]},
    ).json()
    assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"]]
    assert back["has_more"] is False


def test_created_range_filter(api: httpx.Client) -> None:
    lo, hi = 1577836800, 1609459199  # calendar year 2020
    body = api.get(
        "/v1/charges", params={"created[gte]": str(lo), "created[lte]": str(hi), "limit": "100"}
    ).json()
    assert body["data"]
    assert all(lo <= c["created"] <= hi for c in body["data"])


def test_unknown_cursor_is_resource_missing(api: httpx.Client) -> None:
    response = api.get("/v1/charges", params={"starting_after": "ch_nope"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "starting_after"


def test_payment_methods_and_subscriptions(api: httpx.Client) -> None:
    exact, upper = _anna_ids(api)
    pms = api.get(f"/v1/customers/{exact}/payment_methods").json()
    assert pms["url"] == f"/v1/customers/{exact}/payment_methods"
    assert {pm["card"]["last4"] for pm in pms["data"]} == {"4242", "4444"}
    assert all(pm["customer"] == exact for pm in pms["data"])
    same = api.get("/v1/payment_methods", params={"customer": exact}).json()
    assert [pm["id"] for pm in same["data"]] == [pm["id"] for pm in pms["data"]]

    # Anna's old tea subscription is canceled: hidden unless asked for.
    assert api.get("/v1/subscriptions", params={"customer": exact}).json()["data"] == []
    everything = api.get("/v1/subscriptions", params={"customer": exact, "status": "all"}).json()
    assert [s["status"] for s in everything["data"]] == ["canceled"]
    active = api.get("/v1/subscriptions", params={"customer": upper}).json()["data"]
    assert [s["status"] for s in active] == ["active"]


def test_invoices_carry_snapshots(api: httpx.Client) -> None:
    _, upper = _anna_ids(api)
    invoices = api.get("/v1/invoices", params={"customer": upper, "status": "paid"}).json()["data"]
    assert len(invoices) >= 2
    for invoice in invoices:
        assert invoice["customer_email"] == ANNA_UPPER
        assert invoice["customer_address"]["city"] == "Uppsala"
        assert invoice["status_transitions"]["finalized_at"] is not None


def test_guest_checkout_found_by_customer_details_email(api: httpx.Client) -> None:
    sessions = api.get("/v1/checkout/sessions", params={"customer_details[email]": ERIK}).json()
    assert sessions["url"] == "/v1/checkout/sessions"
    (session,) = sessions["data"]
    assert session["object"] == "checkout.session"
    assert session["customer"] is None
    assert session["status"] == "complete"
    assert session["customer_details"]["email"] == ERIK
    # exact match: a different spelling finds nothing
    other = api.get(
        "/v1/checkout/sessions", params={"customer_details[email]": "Erik.Guest@example.com"}
    )
    assert other.json()["data"] == []

    pi = api.get(f"/v1/payment_intents/{session['payment_intent']}").json()
    assert pi["customer"] is None
    assert pi["receipt_email"] == ERIK
    (charge,) = api.get("/v1/charges", params={"payment_intent": pi["id"]}).json()["data"]
    assert charge["id"] == pi["latest_charge"]
    assert charge["customer"] is None
    assert charge["billing_details"]["email"] == "Erik.Guest@example.com"
    assert charge["receipt_email"] == ERIK


def test_asa_has_non_ascii_name_and_stockholm_address(api: httpx.Client) -> None:
    (asa,) = api.get("/v1/customers", params={"email": "asa.oberg@example.se"}).json()["data"]
    assert asa["name"] == "Åsa Öberg"
    assert asa["address"]["city"] == "Stockholm"


# --------------------------------------------------------------------------- Stripe: deletion
def test_delete_customer_leaves_stub_and_copies(fresh: Sandbox) -> None:
    with _stripe_client(fresh) as api:
        _, upper = _anna_ids(api)
        deleted = api.delete(f"/v1/customers/{upper}")
        assert deleted.status_code == 200
        stub = {"id": upper, "object": "customer", "deleted": True}
        assert deleted.json() == stub
        assert api.get(f"/v1/customers/{upper}").json() == stub
        assert _customer_ids(api, email=ANNA_UPPER) == []
        assert api.delete(f"/v1/customers/{upper}").status_code == 404

        subs = api.get("/v1/subscriptions", params={"customer": upper, "status": "all"}).json()
        assert [s["status"] for s in subs["data"]] == ["canceled"]
        assert api.get(f"/v1/customers/{upper}/payment_methods").status_code == 404
        pm_id = subs["data"][0]["default_payment_method"]
        assert api.get(f"/v1/payment_methods/{pm_id}").json()["customer"] is None
        # copies of personal data survive on charges, invoices and checkout sessions
        charges = api.get("/v1/charges", params={"customer": upper}).json()["data"]
        assert charges
        assert all(c["billing_details"]["email"] == ANNA_UPPER for c in charges)
        invoices = api.get("/v1/invoices", params={"customer": upper}).json()["data"]
        assert all(i["customer_email"] == ANNA_UPPER for i in invoices)
        sessions = api.get("/v1/checkout/sessions", params={"customer": upper}).json()["data"]
        assert sessions


# --------------------------------------------------------------------------- Stripe: search
def _search(api: httpx.Client, query: str, **extra: str) -> httpx.Response:
    return api.get("/v1/customers/search", params={"query": query, **extra})


def test_search_email_is_case_insensitive_and_finds_both_annas(api: httpx.Client) -> None:
    exact, upper = _anna_ids(api)
    body = _search(api, "email:'ANNA.svensson@example.se'").json()
    assert body["object"] == "search_result"
    assert body["url"] == "/v1/customers/search"
    assert body["next_page"] is None
    assert {c["id"] for c in body["data"]} == {exact, upper}


def test_search_values_with_escaped_quotes(api: httpx.Client) -> None:
    for query in (
        "name:'Karin O\\'Neill'",
        'name:"Karin O\'Neill"',
        "email:'karin.oneill@example.com' OR name:'nobody'",
    ):
        response = _search(api, query)
        assert response.status_code == 200, (query, response.text)
        assert [c["name"] for c in response.json()["data"]] == ["Karin O'Neill"], query
    assert _search(api, "name:'O\\\\Neill'").json()["data"] == []  # \\ is a literal backslash


def test_search_metadata_phone_and_and(api: httpx.Client) -> None:
    (asa,) = _search(api, "metadata['kundnummer']:'10442'").json()["data"]
    assert asa["email"] == "asa.oberg@example.se"
    both = _search(api, f"email:'asa.oberg@example.se' AND phone:'{asa['phone']}'").json()
    assert [c["id"] for c in both["data"]] == [asa["id"]]
    assert _search(api, "email:'asa.oberg@example.se' name:'Anna'").json()["data"] == []


@pytest.mark.parametrize(
    "query",
    [
        "email:'unterminated",
        "email:anna.svensson@example.se",  # strings must be quoted
        "email",
        "",
        "address:'Stockholm'",  # not a searchable customer field
        "email:'a@example.se' AND name:'x' OR name:'y'",  # AND and OR cannot be mixed
        "name~'ab'",  # substring needs 3 characters
    ],
)
def test_search_bad_queries_are_400(api: httpx.Client, query: str) -> None:
    response = _search(api, query)
    assert response.status_code == 400, query
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]


def test_search_pages_with_next_page(api: httpx.Client) -> None:
    seen: list[str] = []
    params = {"query": "email~'example.com'", "limit": "7"}
    while True:
        body = api.get("/v1/customers/search", params=params).json()
        seen += [c["id"] for c in body["data"]]
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        params["page"] = body["next_page"]
    assert len(seen) == len(set(seen)) > 7
    assert all(c.endswith("@example.com") for c in _emails(api, seen))


def _emails(api: httpx.Client, ids: list[str]) -> list[str]:
    return [api.get(f"/v1/customers/{i}").json()["email"] for i in ids]


def test_search_unavailable_is_404() -> None:
    with Sandbox(search_available=False) as sb, _stripe_client(sb) as api:
        response = _search(api, f"email:'{ANNA}'")
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith("Unrecognized request URL (GET: /v1/customers/search).")
        assert api.get("/v1/charges/search", params={"query": "x"}).status_code == 404
        assert _customer_ids(api, email=ANNA)  # plain lists still work


# --------------------------------------------------------------------------- Stripe: official SDK
def test_official_sdk_lists_and_auto_pages(shared: Sandbox) -> None:
    async def run() -> tuple[list[str], int, set[str]]:
        client = stripe.StripeClient(
            shared.credentials["stripe"]["api_key"],
            base_addresses={"api": shared.base_urls["stripe"]},
            http_client=stripe.HTTPXClient(),
        )
        customers = await client.v1.customers.list_async({"email": ANNA})
        emails = [c.email for c in customers.data]
        charges = await client.v1.charges.list_async(
            {"customer": customers.data[0].id, "limit": 100}
        )
        count = 0
        async for _charge in charges.auto_paging_iter():
            count += 1
        found = set()
        result = await client.v1.customers.search_async({"query": f"email:'{ANNA}'", "limit": 1})
        async for customer in result.auto_paging_iter():
            found.add(customer.id)
        return emails, count, found

    emails, count, found = asyncio.run(run())
    assert emails == [ANNA]
    assert count == 120
    assert len(found) == 2


def test_official_sdk_raises_typed_errors(shared: Sandbox) -> None:
    async def run() -> None:
        client = stripe.StripeClient(
            "sk_test_not_the_key",
            base_addresses={"api": shared.base_urls["stripe"]},
            http_client=stripe.HTTPXClient(),
        )
        await client.v1.customers.list_async({"email": ANNA})

    with pytest.raises(stripe.AuthenticationError):
        asyncio.run(run())


# --------------------------------------------------------------------------- MailerLite
def test_mailerlite_without_token_is_401(shared: Sandbox) -> None:
    with httpx.Client(base_url=shared.base_urls["mailerlite"], trust_env=False) as anon:
        response = anon.get("/api/subscribers")
        wrong = anon.get("/api/subscribers", headers={"Authorization": "Bearer nope"})
    assert response.status_code == wrong.status_code == 401
    assert response.json() == wrong.json() == {"message": "Unauthenticated."}


def test_mailerlite_get_by_email_is_case_insensitive(ml: httpx.Client) -> None:
    for spelling in (ANNA, "ANNA.SVENSSON@EXAMPLE.SE", "ANNA.SVENSSON@example.se"):
        response = ml.get(f"/api/subscribers/{spelling}")
        assert response.status_code == 200, spelling
        data = response.json()["data"]
        assert data["email"] == "ANNA.SVENSSON@example.se"
    assert data["status"] == "active"
    assert data["id"].isdigit()
    assert {g["name"] for g in data["groups"]} >= {"Nyhetsbrev", "Kunder"}
    assert data["opted_in_at"] and data["optin_ip"]
    assert set(data["fields"]) == {
        "name", "last_name", "company", "country", "city", "phone", "state", "z_i_p",
    }  # fmt: skip
    by_id = ml.get(f"/api/subscribers/{data['id']}").json()["data"]
    assert by_id == data
    assert response.headers["x-ratelimit-limit"] == "120"
    assert int(response.headers["x-ratelimit-remaining"]) < 120


def test_mailerlite_plus_address(ml: httpx.Client) -> None:
    raw = ml.get("/api/subscribers/nils+nyhetsbrev@example.com")
    encoded = ml.get("/api/subscribers/nils%2Bnyhetsbrev%40example.com")
    assert raw.status_code == encoded.status_code == 200
    assert raw.json() == encoded.json()
    assert raw.json()["data"]["email"] == "nils+nyhetsbrev@example.com"


def test_mailerlite_unknown_subscriber_is_404(ml: httpx.Client) -> None:
    for ref in (ERIK, "maria.berg@example.se", "123123"):
        response = ml.get(f"/api/subscribers/{ref}")
        assert response.status_code == 404
        assert response.json() == {"message": "Resource not found."}


def test_mailerlite_unsubscribed_subject(ml: httpx.Client) -> None:
    lars = ml.get("/api/subscribers/lars.lindqvist@example.com").json()["data"]
    assert lars["status"] == "unsubscribed"
    assert lars["unsubscribed_at"]
    listed = ml.get("/api/subscribers", params={"filter[status]": "unsubscribed"}).json()["data"]
    assert lars["id"] in {s["id"] for s in listed}
    assert all(s["status"] == "unsubscribed" for s in listed)


def test_mailerlite_cursor_paging(ml: httpx.Client) -> None:
    total = ml.get("/api/subscribers", params={"limit": "0"}).json()["total"]
    pages: list[dict] = []
    params = {"limit": "10"}
    while True:
        body = ml.get("/api/subscribers", params=params).json()
        pages.append(body)
        assert body["meta"]["per_page"] == 10
        assert body["links"]["first"] is None and body["links"]["last"] is None
        if body["meta"]["next_cursor"] is None:
            assert body["links"]["next"] is None
            break
        assert body["links"]["next"].endswith(f"?cursor={body['meta']['next_cursor']}")
        params = {"limit": "10", "cursor": body["meta"]["next_cursor"]}
    ids = [int(s["id"]) for page in pages for s in page["data"]]
    assert len(ids) == len(set(ids)) == total >= 30
    assert ids == sorted(ids, reverse=True)  # newest first
    assert pages[0]["meta"]["prev_cursor"] is None
    assert "groups" not in pages[0]["data"][0]  # only with include=groups

    back = ml.get(
        "/api/subscribers", params={"limit": "10", "cursor": pages[1]["meta"]["prev_cursor"]}
    ).json()
    assert [s["id"] for s in back["data"]] == [s["id"] for s in pages[0]["data"]]
    assert back["meta"]["prev_cursor"] is None

    with_groups = ml.get("/api/subscribers", params={"limit": "5", "include": "groups"}).json()
    assert all("groups" in s for s in with_groups["data"])


def test_mailerlite_validation_errors(ml: httpx.Client) -> None:
    bad_status = ml.get("/api/subscribers", params={"filter[status]": "gone"})
    assert bad_status.status_code == 422
    assert "filter.status" in bad_status.json()["errors"]
    assert ml.get("/api/subscribers", params={"limit": "lots"}).status_code == 422


def test_mailerlite_forget_removes_subscriber(fresh: Sandbox) -> None:
    with _ml_client(fresh) as ml:
        anna = ml.get(f"/api/subscribers/{ANNA}").json()["data"]
        forgotten = ml.post(f"/api/subscribers/{anna['id']}/forget")
        assert forgotten.status_code == 200
        body = forgotten.json()
        assert body["data"]["id"] == anna["id"]
        assert body["data"]["forget_at"] and body["data"]["deleted_at"]
        assert "30 days" in body["message"]
        assert ml.get(f"/api/subscribers/{ANNA}").status_code == 404
        assert ml.get(f"/api/subscribers/{anna['id']}").status_code == 404
        listed = ml.get("/api/subscribers", params={"limit": "100"}).json()["data"]
        assert anna["id"] not in {s["id"] for s in listed}
        assert ml.post(f"/api/subscribers/{anna['id']}/forget").status_code == 404
    assert anna["id"] in fresh.servers["mailerlite"].state.forgotten


def test_mailerlite_delete_is_not_erasure(fresh: Sandbox) -> None:
    with _ml_client(fresh) as ml:
        asa = ml.get("/api/subscribers/asa.oberg@example.se").json()["data"]
        response = ml.delete(f"/api/subscribers/{asa['id']}")
        assert response.status_code == 204
        assert response.content == b""
        assert ml.get(f"/api/subscribers/{asa['id']}").status_code == 404
        assert ml.delete(f"/api/subscribers/{asa['id']}").status_code == 404
        # the account still holds the data; forgetting it is still possible
        assert asa["id"] in fresh.servers["mailerlite"].state.deleted
        assert ml.post(f"/api/subscribers/{asa['id']}/forget").status_code == 200


def test_mailerlite_unknown_route_is_404(ml: httpx.Client) -> None:
    response = ml.get("/api/subscriber/whatever")
    assert response.status_code == 404
    assert "could not be found" in response.json()["message"]


# --------------------------------------------------------------------------- latency, failures
def test_latency_is_injected_and_requests_overlap() -> None:
    latency = 0.2
    with Sandbox(latency=latency) as sb:
        with _ml_client(sb) as client:
            started = time.perf_counter()
            assert client.get(f"/api/subscribers/{ANNA}").status_code == 200
            assert time.perf_counter() - started >= latency

        def one(_: int) -> int:
            with _stripe_client(sb) as api:
                return api.get("/v1/customers", params={"limit": "1"}).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(one, range(5)))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 5
    assert latency <= elapsed < 5 * latency


@pytest.mark.parametrize("processor", ["stripe", "mailerlite"])
def test_fail_mode_500(processor: str) -> None:
    with Sandbox(fail={processor: "500"}) as sb, httpx.Client(trust_env=False) as client:
        path = "/v1/customers" if processor == "stripe" else "/api/subscribers"
        response = client.get(sb.base_urls[processor] + path)
        assert response.status_code == 500
        assert response.json()  # still a JSON error body
        other = "mailerlite" if processor == "stripe" else "stripe"
        assert sb.servers[other].fail_mode is None


def test_fail_mode_429_stripe() -> None:
    with Sandbox(fail={"stripe": "429"}) as sb, _stripe_client(sb) as api:
        response = api.get("/v1/customers")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limit"


def test_fail_mode_429_mailerlite() -> None:
    with Sandbox(fail={"mailerlite": "429"}) as sb, _ml_client(sb) as ml:
        response = ml.get("/api/subscribers")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.json() == {"message": "Too Many Attempts."}


@pytest.mark.parametrize("processor", ["stripe", "mailerlite"])
def test_fail_mode_garbage(processor: str) -> None:
    with Sandbox(fail={processor: "garbage"}) as sb, httpx.Client(trust_env=False) as client:
        response = client.get(sb.base_urls[processor] + "/anything")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_mailerlite_rate_limit_can_be_enforced() -> None:
    with MailerLiteServer(enforce_rate_limit=True) as server:
        server.window = SlidingWindow(limit=3)
        headers = {"Authorization": "Bearer sandbox-mailerlite-token"}
        with httpx.Client(base_url=server.base_url, headers=headers, trust_env=False) as ml:
            answers = [ml.get(f"/api/subscribers/{ANNA}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[-1].json() == {"message": "Too Many Attempts."}
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_a_crashing_handler_answers_500_and_is_recorded() -> None:
    with Sandbox() as sb:
        server = sb.servers["mailerlite"]
        server.router.add("GET", "/api/boom", lambda request: 1 // 0)
        with _ml_client(sb) as ml:
            response = ml.get("/api/boom")
        assert response.status_code == 500
        assert "ZeroDivisionError" in response.headers["x-sandbox-internal-error"]
        assert [type(e) for e in server.internal_errors] == [ZeroDivisionError]


def test_mailerlite_cursor_format_matches_the_documented_example() -> None:
    documented = "eyJpZCI6NzI1ODIxNjQ2NDY5ODcxMzYsIl9wb2ludHNUb05leHRJdGVtcyI6dHJ1ZX0"
    assert decode_cursor(documented) == (72582164646987136, True)
    assert encode_cursor("72582164646987136", True) == documented
    assert decode_cursor("not a cursor!") is None  # Laravel falls back to the first page
