"""The restriction (GDPR Art. 18) without the CLI: its input checks, the plan of markers,
Stripe's metadata marker and the declared REST call (respx: the documented requests, nothing
on the network), the erasure refused while restricted, and the answer letters in Swedish and
English (rendered in headless Chromium when one is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import respx
from pydantic import SecretStr, ValidationError

from connectors.rest.spec import ResourceSpec
from connectors.sdk.base import ErasureState
from connectors.stripe import StripeConnector, StripeSettings
from connectors.stripe_restriction import MARKER
from hub.core.errors import InvalidInput
from hub.core.inventory import Controller
from hub.core.languages import LANGUAGES
from hub.core.models import Record
from hub.core.subject import MatchStrength
from hub.http import HttpPolicy
from hub.reports.restriction import RestrictionFacts, render_restriction_letters
from hub.requests.erasure.stores import ErasureStores, refuse_if_restricted
from hub.requests.restriction import check_input
from hub.requests.restriction.plan import build_plan
from hub.store.db import open_database
from hub.store.erasure_actions import ErasureLedger
from hub.store.keyed import secret_path
from hub.store.ledger import Ledger
from hub.store.restrictions import RestrictionRegister
from tests.test_erasure_plan import found, rec, report

TODAY = date(2026, 11, 29)
CONTROLLER = Controller(name="Självkraft <AB>", contact_email="kontakt@example.se")


@pytest.mark.parametrize("kwargs, said", [
    ({"lift": False, "reason": None, "notified_on": None}, "--reason is required"),
    ({"lift": False, "reason": " ", "notified_on": None}, "--reason is required"),
    ({"lift": False, "reason": "x", "notified_on": TODAY}, "belongs to --lift"),
    ({"lift": True, "reason": None, "notified_on": None}, "--notified-on"),
    ({"lift": True, "reason": None, "notified_on": date(2026, 11, 30)}, "in the future"),
    ({"lift": True, "reason": "x", "notified_on": TODAY}, "--reason belongs"),
])
def test_bad_input_is_refused_before_anything_else(kwargs: dict, said: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(said)):
        check_input(today=TODAY, **kwargs)
    check_input(lift=True, reason=None, notified_on=TODAY, today=TODAY)  # the day itself: ok


def test_plan_marks_what_can_carry_a_marker_and_leaves_the_rest() -> None:
    stripe = StripeConnector(StripeSettings(api_key=SecretStr("sk_test_x")))
    lookup = report(found(
        "stripe", rec("customer", "cus_1"), rec("customer", "cus_3", MatchStrength.PLUS_ADDRESS),
        rec("invoice", "in_1"), rec("charge", "ch_1")))
    lines = {line.record_id: line for line in build_plan(lookup, {"stripe": stripe},
                                                         lift=False)}
    assert lines["cus_1"].action == "mark"
    assert lines["cus_3"].action == "unchanged" and "weak match" in lines["cus_3"].reason
    assert lines["in_1"].action == lines["ch_1"].action == "unchanged"
    lifted = build_plan(lookup, {"stripe": stripe}, lift=True)
    assert [line.action for line in lifted if line.record_id == "cus_1"] == ["unmark"]
    row = lines["cus_1"].action_row(lift=False)
    assert (row.action, row.legal_basis) == ("mark", "GDPR Art. 18 (restriction of processing)")


async def test_stripe_marker_is_set_and_removed_with_idempotency_keys(
        fast_policy: HttpPolicy) -> None:
    connector = StripeConnector(StripeSettings(api_key=SecretStr("sk_test_x"), http=fast_policy))
    customer = Record(type="customer", id="cus_1", matched_on="email")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.stripe.com/v1/customers/cus_1").respond(
            200, json={"id": "cus_1", "object": "customer", "metadata": {}})
        async with connector:
            marked = await connector.mark_restricted(customer, True, idempotency_key="res-1:m")
            unmarked = await connector.mark_restricted(customer, False,
                                                       idempotency_key="res-2:u")
            refused = await connector.mark_restricted(
                Record(type="invoice", id="in_1", matched_on="email"), True)
    assert marked.state is unmarked.state is ErasureState.DONE
    first, second = (call.request for call in route.calls)
    assert dict(parse_qsl(first.content.decode())) == {f"metadata[{MARKER}]": "true"}
    # an empty value is how Stripe deletes a metadata key (docs.stripe.com/api/metadata)
    assert dict(parse_qsl(second.content.decode(), keep_blank_values=True)) == {
        f"metadata[{MARKER}]": ""}
    assert (first.headers["Idempotency-Key"], second.headers["Idempotency-Key"]) == (
        "res-1:m", "res-2:u")
    assert refused.state is ErasureState.REFUSED and route.call_count == 2


async def test_stripe_marker_failure_is_failed(fast_policy: HttpPolicy) -> None:
    connector = StripeConnector(StripeSettings(api_key=SecretStr("sk_test_x"), http=fast_policy))
    with respx.mock() as mock:
        mock.post("https://api.stripe.com/v1/customers/cus_9").respond(404, json={"error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": "No such customer: 'cus_9'"}})
        async with connector:
            outcome = await connector.mark_restricted(
                Record(type="customer", id="cus_9", matched_on="email"), True)
    assert outcome.state is ErasureState.FAILED


def test_declared_restrict_call_uses_the_record_id_only() -> None:
    base = {"name": "customer", "path": "/customers", "personal_fields": ["Email"],
            "search": {"email": "Search"}, "identifiers": {"email": "Email"}}
    call = {"path": "/customers/{customer.Id}", "mark": {"Restricted": True},
            "unmark": {"Restricted": False}}
    spec = ResourceSpec.model_validate({**base, "restrict": {**call, "method": "patch"}})
    assert spec.restrict is not None and spec.restrict.method == "PATCH"
    with pytest.raises(ValidationError, match="record's id"):
        ResourceSpec.model_validate({**base, "restrict": {
            **call, "path": "/customers/{customer.Email}"}})
    with pytest.raises(ValidationError):
        ResourceSpec.model_validate({**base, "restrict": {**call, "mark": {}}})


def test_an_erasure_of_a_restricted_subject_is_refused(database_url: str,
                                                       tmp_path: Path) -> None:
    engine = open_database(database_url)
    secret = secret_path(tmp_path)
    stores = ErasureStores(Ledger(engine), ErasureLedger(engine, secret), secret)
    refuse_if_restricted(stores, "anna@example.se")  # not restricted: nothing happens
    register = RestrictionRegister(engine, secret)
    register.restrict("anna@example.se", "accuracy contested", request_id="res-1")
    with pytest.raises(InvalidInput, match=r"restricted \(GDPR Art. 18\).*--lift"):
        refuse_if_restricted(stores, "Anna@Example.se")
    register.lift("anna@example.se", notified_on=TODAY, request_id="res-2")
    refuse_if_restricted(stores, "anna@example.se")


def _facts(*, lift: bool, pending: bool = False) -> RestrictionFacts:
    return RestrictionFacts(lift=lift, marked=("Stripe", "Bokningssystemet <x>"),
                            pending=pending, since=date(2026, 11, 2),
                            notified_on=date(2026, 11, 20) if lift else None,
                            request_id="res-20261129-1", controller=CONTROLLER)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("lift", [False, True])
def test_letters_are_human_text_without_placeholders_or_api_names(lang: str,
                                                                  lift: bool) -> None:
    letters = render_restriction_letters(_facts(lift=lift, pending=True), lang=lang)
    text, html = letters["restriction-letter.txt"], letters["restriction-letter.html"]
    for body in (text, html.partition("<body>")[2]):  # the page's style has braces
        assert "{" not in body and "}" not in body  # no unfilled field
        assert not re.search(r"gdpr_restricted|CustomFields|metadata|mark_restricted", body)
        assert "res-20261129-1" in body
    assert "Bokningssystemet <x>" in text and "Bokningssystemet &lt;x&gt;" in html
    assert "Självkraft &lt;AB&gt;" in html
    if lift:
        assert "20 november 2026" in text.lower() and ("hävt" in text if lang == "sv"
                                                 else "lifted" in text)
    else:
        assert ("artikel 18" in text) if lang == "sv" else ("Article 18" in text)
        assert ("innan begränsningen hävs" in text.lower() if lang == "sv"
                else "before the restriction is lifted" in text)


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


@pytest.mark.parametrize("lift", [False, True])
def test_letters_render_in_headless_chromium(tmp_path: Path, lift: bool) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    for lang in LANGUAGES:
        page = tmp_path / f"{lang}.html"
        page.write_text(render_restriction_letters(_facts(lift=lift), lang=lang)[
            "restriction-letter.html"], encoding="utf-8")
        shot = tmp_path / f"{lang}.png"
        subprocess.run(  # noqa: S603 - a local browser on a local file
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=900,1200", page.as_uri()],
            check=True, capture_output=True, timeout=120)
        assert shot.stat().st_size > 10_000 and shot.read_bytes().startswith(b"\x89PNG")
        dumped = subprocess.run(  # noqa: S603 - the rendered text, as the browser laid it out
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             page.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout
        assert "res-20261129-1" in dumped and "<script" not in dumped
    print(f"screenshots: {tmp_path} ({datetime.now(UTC):%H:%M})")  # shown with pytest -s
