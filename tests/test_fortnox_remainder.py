"""An anonymised Fortnox customer keeps its name, address and personnummer only as long as the
invoices that name it: the plan gives that remainder the latest invoice's end date, ``dsar
retention due`` lists it once the date has passed and finishes it (delete, or blank the kept
fields while Fortnox refuses to delete a customer with invoices)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest

from connectors.fortnox import ANONYMISABLE_FIELDS, FortnoxConnector
from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
)
from hub.config.settings import HubSettings, settings_class
from hub.core.retention import default_policy
from hub.core.subject import MatchStrength, Subject
from hub.http import HttpPolicy
from hub.requests.access.lookup import look_up
from hub.requests.context import RequestContext
from hub.requests.erasure import build_plan, erasure_report, execute
from hub.requests.erasure.remainder import HELD_BY
from hub.requests.erasure.retention import erase_due, retention_due
from hub.requests.fanout import open_connectors
from hub.sandbox import Sandbox
from hub.sandbox.fortnox_api import FortnoxServer
from hub.store.db import open_database
from hub.store.erasure_actions import ErasureLedger
from hub.store.ledger import Ledger
from hub.store.state import StateStore
from tests.test_erasure_plan import EMAIL, TODAY, found, rec, report

REMAINDER = ("fortnox", "customer-remainder", "10")


def invoice(number: str, customer: str, day: str) -> object:
    return rec("invoice", number, CustomerNumber=customer, InvoiceDate=day)


def fortnox_lookup(*invoices: object, strength: MatchStrength = MatchStrength.EXACT):
    customer = rec("customer", "10", strength, Name="Anna Svensson", Email=EMAIL,
                   Address1="Storgatan 1", OrganisationNumber="19850101-1234")
    return report(found("fortnox", customer, *invoices))  # type: ignore[arg-type]


def test_remainder_is_kept_until_the_latest_invoice_of_the_customer_is() -> None:
    lookup = fortnox_lookup(invoice("1", "10", "2019-03-14"), invoice("2", "10", "2023-05-02"),
                            invoice("3", "11", "2025-01-10"))  # another customer's invoice
    actions = {a.key: a for a in build_plan(lookup, default_policy(), [], TODAY).actions}
    customer = actions["fortnox", "customer", "10"]
    kept = actions[REMAINDER]
    assert (customer.action, customer.state, customer.retained_until) == (
        "anonymise", "planned", None)
    # 2023 invoice: kept through the seventh year after 2023 (Bokföringslagen 7 kap. 2 §)
    assert (kept.action, kept.state, kept.retained_until) == (
        "retain", "retained", date(2030, 12, 31))
    assert {"Name", "OrganisationNumber", "Address1"} <= set(kept.fields)
    assert not set(kept.fields) & set(customer.fields)  # what is blanked now is not kept
    assert "Bokföringslagen" in kept.legal_basis and "invoices 1, 2" in (kept.detail or "")


def test_no_remainder_without_a_retained_invoice_naming_the_customer() -> None:
    lookup = fortnox_lookup(invoice("3", "11", "2025-01-10"))
    keys = {a.key for a in build_plan(lookup, default_policy(), [], TODAY).actions}
    assert ("fortnox", "customer", "10") in keys and REMAINDER not in keys


def test_an_unreadable_invoice_date_makes_the_remainder_a_manual_task() -> None:
    lookup = fortnox_lookup(invoice("1", "10", "2019-03-14"), invoice("2", "10", "soon"))
    kept = {a.key: a for a in build_plan(lookup, default_policy(), [], TODAY).actions}[REMAINDER]
    assert (kept.action, kept.state, kept.retained_until) == ("manual", "manual-open", None)
    assert "invoice 2" in (kept.instructions or "") and "never before" in (kept.instructions or "")


def test_a_weak_match_gets_its_remainder_only_once_approved() -> None:
    lookup = fortnox_lookup(invoice("1", "10", "2022-03-14"), strength=MatchStrength.PLUS_ADDRESS)
    keys = {a.key for a in build_plan(lookup, default_policy(), [], TODAY).actions}
    assert REMAINDER not in keys
    approved = build_plan(lookup, default_policy(), [], TODAY, approved={"fortnox:customer:10"})
    assert {a.key: a for a in approved.actions}[REMAINDER].retained_until == date(2029, 12, 31)


def test_kept_fields_are_writable_fortnox_fields() -> None:
    assert set(HELD_BY["fortnox", "customer"].kept) <= ANONYMISABLE_FIELDS


class FakeFortnox(Connector):
    """Refuses to delete a customer with invoices, as Fortnox does, and anonymises instead."""

    name = "fortnox"
    title = "Fake Fortnox"
    docs_url = "https://example.invalid"
    capabilities = frozenset({Capability.ACCESS, Capability.ERASURE})
    settings_model = ConnectorSettings

    def __init__(self, *, has_invoices: bool = True) -> None:
        super().__init__(ConnectorSettings(base_url="http://fake.invalid"))
        self.has_invoices = has_invoices
        self.calls: list[tuple[str, str, str, tuple[str, ...]]] = []

    async def find_subject(self, subject):  # type: ignore[no-untyped-def]  # pragma: no cover
        return Findings()

    async def check_credentials(self) -> str:  # pragma: no cover - not used
        return "ok"

    async def erase(self, record, action, *, idempotency_key, fields=()):  # type: ignore[no-untyped-def]
        self.calls.append((record.type, record.id, action.value, tuple(fields)))
        if action is ErasureAction.DELETE and self.has_invoices:
            return ErasureOutcome(state=ErasureState.REFUSED, detail="used in invoices",
                                  fallback=ErasureAction.ANONYMISE)
        return ErasureOutcome(state=ErasureState.DONE, detail=f"{action.value}d")


@pytest.fixture
def planned(database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    ledger = Ledger.open(database_url)
    request = ledger.open_request(EMAIL, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=EMAIL)
    lookup = fortnox_lookup(invoice("1", "10", "2019-03-14"), invoice("2", "10", "2023-05-02"))
    plan = elog.save_plan(request.id, build_plan(lookup, default_policy(), [], TODAY).actions)
    ctx = RequestContext(HubSettings(state_dir=tmp_path, retention=default_policy(),
                                     database_url=database_url), {})
    return ctx, elog, plan, lookup


@pytest.mark.parametrize(("has_invoices", "calls"), [
    (True, [("delete", ()), ("anonymise", "kept")]),
    (False, [("delete", ())]),
])
def test_retention_due_lists_the_remainder_after_its_date_and_finishes_it(
        planned, has_invoices: bool, calls: list) -> None:  # type: ignore[no-untyped-def,type-arg]
    ctx, elog, _, _ = planned
    assert REMAINDER not in {a.key for a in elog.due(date(2030, 12, 31))}  # last day kept
    [due] = [a for a in elog.due(date(2031, 1, 1)) if a.key == REMAINDER]
    fake = FakeFortnox(has_invoices=has_invoices)
    [finished] = asyncio.run(erase_due(ctx, [due], {"fortnox": fake}, elog))
    assert finished.state == "done"
    assert [(t, i, a) for t, i, a, _ in fake.calls] == [
        ("customer", "10", action) for action, _ in calls]
    if has_invoices:
        assert set(fake.calls[1][3]) == set(due.fields) and "Name" in fake.calls[1][3]
        assert "instead" in (finished.detail or "")
    assert REMAINDER not in {a.key for a in elog.due(date(2031, 1, 1))}


def test_a_failed_remainder_is_due_again(planned) -> None:  # type: ignore[no-untyped-def]
    ctx, elog, _, _ = planned
    [due] = [a for a in elog.due(date(2031, 1, 1)) if a.key == REMAINDER]
    [failed] = asyncio.run(erase_due(ctx, [due], {}, elog))  # Fortnox not enabled
    assert failed.state == "failed" and "not enabled" in (failed.detail or "")
    assert REMAINDER in {a.key for a in elog.due(date(2031, 1, 1))}


def test_the_erasure_report_tells_how_long_the_remainder_is_kept(planned) -> None:  # type: ignore[no-untyped-def]
    _, _, plan, lookup = planned
    erased = erasure_report(lookup, plan, request_id="era-1", verification=None,
                            suppressed=False, today=TODAY)
    records = {(r.type, r.id): r for p in erased.processors for r in p.records}
    kept = records["customer-remainder", "10"]
    assert kept.action is not None and kept.action.value == "retained"
    assert kept.retained_until == date(2030, 12, 31) and not kept.data


# ------------------------------------------------- the real connector against the sandbox
@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        running.servers["fortnox"].rate_limit_requests = 10_000  # type: ignore[attr-defined]
        yield running
        for server in running.servers.values():
            assert server.internal_errors == []


def test_sandbox_anonymise_now_then_the_rest_when_the_last_invoice_hold_ends(
        sandbox: Sandbox, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = sandbox.servers["fortnox"]
    assert isinstance(server, FortnoxServer)
    fortnox = {"enabled": True, "base_url": sandbox.base_urls["fortnox"],
               **sandbox.credentials["fortnox"], "invoice_details": False,
               "http": HttpPolicy(max_attempts=2, backoff_max_seconds=0.05)}
    settings = settings_class({"fortnox": FortnoxConnector}, None)(
        state_dir=tmp_path, database_url=database_url, retention=default_policy(),
        fortnox=fortnox)
    ctx = RequestContext(settings, {"fortnox": FortnoxConnector},
                         {"state": StateStore(open_database(database_url))})
    anna = Subject.from_email("anna.svensson@example.se")
    invoices = {number: dict(i) for number, i in server.state.invoices.items()}
    ledger = Ledger.open(database_url)
    request = ledger.open_request(anna.email, "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email=anna.email)

    async def erase_now() -> None:
        lookup = await look_up(anna, ctx.settings, ctx.connectors, **ctx.connector_options)
        plan = elog.save_plan(request.id, build_plan(lookup, settings.retention, [],
                                                     date(2026, 6, 1)).actions)
        async with open_connectors(settings, ctx.connectors, **ctx.connector_options) as (
                opened, _):
            await execute(plan, lookup, opened, elog)

    asyncio.run(erase_now())
    actions = {a.key: a for a in elog.plan(request.id)}
    assert actions["fortnox", "customer", "1"].state == "done"
    kept = actions["fortnox", "customer-remainder", "1"]
    assert (kept.state, kept.retained_until) == ("retained", date(2033, 12, 31))  # 2026-01-20
    customer = server.state.customers["1"]
    assert customer["Email"] == "" and customer["Name"] == "Anna Svensson"

    listed = asyncio.run(retention_due(ctx, today=date(2033, 12, 31))).actions
    assert listed and kept.key not in {a.key for a in listed}  # older invoices only
    run = asyncio.run(retention_due(ctx, execute=True, today=date(2034, 1, 1)))
    after = {a.key: a for a in run.actions}
    finished = after[kept.key]
    assert finished.state == "done", finished.detail
    # the invoices themselves: Fortnox support removes them (a manual task each)
    assert {a.state for k, a in after.items() if k[1] == "invoice"} == {"manual-open"}
    assert [m for m, t in server.request_log if m in ("PUT", "DELETE")][-2:] == ["DELETE", "PUT"]
    assert all(customer[name] == "" for name in kept.fields)  # name, address, personnummer
    assert customer["CustomerNumber"] == "1"  # Fortnox keeps it for its invoices
    assert dict(server.state.invoices) == invoices  # never touched
