"""Rectification (GDPR Art. 16) below the CLI: parsing ``--set``, the plan, the connectors'
update calls (respx: the documented requests, nothing on the network), the declared REST update
and the suppression list and consent register following a corrected address."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.rest.spec import ResourceSpec
from connectors.rest.update import update_body
from connectors.sdk.base import ErasureState
from connectors.stripe import StripeConnector, StripeSettings
from hub.core.errors import InvalidInput
from hub.core.subject import MatchStrength
from hub.http import HttpPolicy
from hub.requests.rectification import mask, parse_changes
from hub.requests.rectification.plan import build_plan
from hub.store.db import open_database
from hub.store.suppression import SuppressionList
from tests.test_erasure_plan import found, rec, report

ML = "https://connect.mailerlite.com/api"


def test_parse_changes_normalises_and_refuses_bad_input() -> None:
    changes = parse_changes(["phone=070-999 88 77", "email=Anna.Ny@Example.se",
                             "address.country=se", "name=Anna  Maria Svensson"])
    assert changes.values["phone"] == "+46709998877"
    assert changes.values["address.country"] == "SE"
    assert changes.fields == ("name", "email", "phone", "address.country")
    assert changes.for_connector()["address"] == {"country": "SE"}
    assert changes.wanted("first_name") == "Anna"
    assert changes.wanted("last_name") == "Maria Svensson"
    for bad in (["nickname=x"], ["phone=0"], ["email=nope"], ["name"], []):
        with pytest.raises(InvalidInput):
            parse_changes(bad)


def test_mask_keeps_too_little_to_copy() -> None:
    assert mask("+46701234567") == "+4…67"
    assert mask("anna.svensson@example.se") == "a…@example.se"
    assert mask("Anna") == "…" and mask(None) is None


def test_plan_rectifies_registers_keeps_booked_and_skips_weak_matches() -> None:
    stripe = StripeConnector(StripeSettings(api_key=SecretStr("sk_test_x")))
    lookup = report(found(
        "stripe", rec("customer", "cus_1", phone="+46701234567"),
        rec("customer", "cus_2", phone="+46709998877"),
        rec("customer", "cus_3", MatchStrength.PLUS_ADDRESS, phone="+46701234567"),
        rec("invoice", "in_1", customer_phone="+46701234567"), rec("subscription", "sub_1")))
    lines = {line.record_id: line for line in build_plan(
        lookup, {"stripe": stripe}, parse_changes(["phone=+46709998877"]))}
    assert lines["cus_1"].action == "rectify"
    assert [c.as_dict() for c in lines["cus_1"].changes] == [
        {"field": "phone", "from": "+4…67", "to": "+46709998877"}]
    assert lines["cus_2"].action == "correct"  # already holds the new value
    assert lines["cus_3"].action == "unchanged" and "weak match" in lines["cus_3"].reason
    assert lines["in_1"].action == "kept" and "Bokföringslagen" in lines["in_1"].reason
    assert lines["sub_1"].action == "unchanged"
    assert lines["cus_1"].action_row().fields == ("phone",)


async def test_stripe_update_sends_the_documented_form_with_an_idempotency_key(
        fast_policy: HttpPolicy) -> None:
    connector = StripeConnector(StripeSettings(api_key=SecretStr("sk_test_x"), http=fast_policy))
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.stripe.com/v1/customers/cus_1").respond(
            200, json={"id": "cus_1", "object": "customer", "phone": "+46709998877"})
        async with connector:
            outcome = await connector.update(
                "customer", "cus_1", {"phone": "+46709998877", "address": {"city": "Lund"}},
                idempotency_key="rec-1:stripe:customer:cus_1:rectify:abc")
            refused = await connector.update("invoice", "in_1", {"phone": "+46709998877"})
    assert outcome.state is ErasureState.DONE
    request = route.calls.last.request
    assert dict(parse_qsl(request.content.decode())) == {"phone": "+46709998877",
                                                         "address[city]": "Lund"}
    assert request.headers["Idempotency-Key"] == "rec-1:stripe:customer:cus_1:rectify:abc"
    assert refused.state is ErasureState.REFUSED and route.call_count == 1


async def test_mailerlite_update_puts_fields_and_leaves_a_new_address_to_a_person(
        fast_policy: HttpPolicy) -> None:
    connector = MailerLiteConnector(MailerLiteSettings(api_token=SecretStr("t"),
                                                       http=fast_policy))
    with respx.mock(assert_all_called=True) as mock:
        route = mock.put(f"{ML}/subscribers/42").respond(200, json={"data": {"id": "42"}})
        async with connector:
            done = await connector.update("subscriber", "42",
                                          {"name": "Anna Svensson", "phone": "+46709998877"})
            manual = await connector.update("subscriber", "42", {"email": "ny@example.se",
                                                                 "phone": "+46709998877"})
    assert done.state is ErasureState.DONE
    assert json.loads(route.calls[0].request.content) == {"fields": {
        "name": "Anna", "last_name": "Svensson", "phone": "+46709998877"}}
    assert manual.state is ErasureState.REFUSED and "manual task" in manual.detail
    assert "email" not in json.loads(route.calls[1].request.content)


async def test_mailerlite_update_failure_is_failed(fast_policy: HttpPolicy) -> None:
    connector = MailerLiteConnector(MailerLiteSettings(api_token=SecretStr("t"),
                                                       http=fast_policy))
    with respx.mock() as mock:
        mock.put(f"{ML}/subscribers/42").mock(return_value=httpx.Response(
            422, json={"message": "The given data was invalid.", "errors": {}}))
        async with connector:
            outcome = await connector.update("subscriber", "42", {"phone": "+46709998877"})
    assert outcome.state is ErasureState.FAILED


def test_declared_update_body_and_its_placeholders() -> None:
    fields = {"first_name": "Firstname", "last_name": "Lastname", "phone": "Phone"}
    assert update_body(fields, {"name": "Anna Svensson", "phone": "+4670", "email": "x@y.se"}) \
        == {"Firstname": "Anna", "Lastname": "Svensson", "Phone": "+4670"}
    base = {"name": "customer", "path": "/customers", "personal_fields": ["Email"],
            "search": {"email": "Search"}, "identifiers": {"email": "Email"}}
    spec = ResourceSpec.model_validate({**base, "update": {
        "path": "/customers/{customer.Id}", "fields": fields}})
    assert spec.update is not None and spec.update.method == "PUT"
    with pytest.raises(ValidationError, match="record's id"):
        ResourceSpec.model_validate({**base, "update": {
            "path": "/customers/{customer.Email}", "fields": fields}})
    with pytest.raises(ValidationError, match="unknown field"):
        ResourceSpec.model_validate({**base, "update": {
            "path": "/customers/{customer.Id}", "fields": {"shoe": "Size"}}})


def test_suppression_follows_a_corrected_address(database_url: str, tmp_path) -> None:
    suppression = SuppressionList(open_database(database_url), tmp_path / "secret")
    assert not suppression.follow("anna@example.se", "ny@example.se", "r")
    suppression.add("anna@example.se", "erasure")
    assert suppression.follow("anna@example.se", "ny@example.se", "rectification")
    assert suppression.is_suppressed("ny@example.se")


def test_consent_register_follows_a_corrected_address(database_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from hub.store.consent_register import ConsentRegister, email_key
    from hub.store.tables import ConsentSubscriber

    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        session.add(ConsentSubscriber(
            system="mailerlite", subscriber_id="42", email="Anna@example.se",
            email_key=email_key("Anna@example.se"), status="active", evidence={},
            fingerprint="f", source_updated_at=datetime.now(UTC),
            first_seen_at=datetime.now(UTC), changed_at=datetime.now(UTC)))
    register = ConsentRegister(engine)
    assert register.follow_address("anna@example.se", "ny@example.se") == 1
    assert [s.subscriber_id for s in register.history("ny@example.se")["subscribers"]] == ["42"]
    assert register.history("anna@example.se")["subscribers"] == []


async def test_a_restriction_in_force_is_shown_with_the_plan(database_url: str,
                                                            tmp_path) -> None:
    """A correction of a restricted subject still runs (it is often how an Art. 18(1)(a)
    restriction ends), but the plan says the restriction is in force."""
    from hub.config.settings import HubSettings
    from hub.core.subject import Subject
    from hub.requests.context import RequestContext
    from hub.requests.erasure.stores import open_stores
    from hub.requests.rectification import propose_rectification
    from hub.store.restrictions import RestrictionRegister

    ctx = RequestContext(HubSettings(state_dir=tmp_path / "state", database_url=database_url),
                         {}, out_dir=tmp_path / "reports")
    changes = parse_changes(["name=Anna Ek"])
    free = await propose_rectification(ctx, Subject.from_email("anna@example.se"), changes)
    assert free.restricted_since is None and free.as_dict()["restricted_since"] is None
    stores = open_stores(ctx.settings, sandbox=False)
    RestrictionRegister(stores.ledger.engine, stores.secret).restrict(
        "anna@example.se", "accuracy contested", request_id="res-1")
    held = await propose_rectification(ctx, Subject.from_email("Anna@example.se"), changes)
    assert held.restricted_since is not None
    assert held.as_dict()["restricted_since"] == held.restricted_since.isoformat()
