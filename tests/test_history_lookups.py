"""Lookups through the hub's history index (both databases): Zettle's receipts and Stripe's
guest payments are brought up to date (only what is new), matched locally and fetched one by
one, with the same records and reasons as the full scan; a batch refreshes each history once;
an index hit the fetched object does not bear out is dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import respx
from sqlalchemy import insert

from connectors.sdk.base import PaymentHint
from connectors.sdk.history import HistorySource, subject_terms
from connectors.zettle import ZettleConnector, ZettleSettings
from hub.config.settings import HubSettings
from hub.core.models import Report
from hub.core.subject import Subject
from hub.requests.access import look_up, look_up_many
from hub.sandbox import Sandbox
from hub.sandbox.server import SandboxOptions
from hub.sandbox.zettle_api import SPEC, ZettleServer
from hub.store.db import open_database
from hub.store.history_index import BatchIndex, HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path
from hub.store.state import connector_state
from hub.store.tables import HistoryTerm
from tests.connectors.test_zettle import (
    ANNA_PHONE,
    PURCHASES,
    anna_with,
    connector,  # noqa: F401  (fixture)
    serve,
    token_route,  # noqa: F401  (fixture)
)
from tests.connectors.test_zettle_payments import INVOICE_16, card_receipt, matched
from tests.test_history_sharing import SUBJECTS, history_reads
from tests.test_lookup_widening import sandbox_settings
from tests.test_zettle_history_index import MARIA, new_sale_like

ANNA = "anna.svensson@example.se"


class CountingIndex(HistoryIndex):
    """The index, counting how often each history is actually refreshed."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.refreshes: dict[str, int] = {}

    async def refresh(self, source: HistorySource) -> int:
        self.refreshes[source.history_name] = self.refreshes.get(source.history_name, 0) + 1
        return await super().refresh(source)


@pytest.fixture
def index(database_url: str, tmp_path: Path) -> CountingIndex:
    engine = open_database(database_url)
    return CountingIndex(engine, Pseudonymiser(engine, secret_path(tmp_path / "state")))


def options(index: HistoryIndex | None, tmp_path: Path) -> dict[str, Any]:
    """What the hub passes its connectors; the token store lets Fortnox's single-use refresh
    token rotate across several lookups in one sandbox."""
    state = connector_state(open_database(f"sqlite:///{tmp_path / 'tokens.sqlite3'}"),
                            tmp_path / "tokens")
    return {"state": state, **({"history_index": index} if index is not None else {})}


def ids(report: Report) -> set[tuple[str, str, str, str]]:
    return {(p.name, r.type, r.id, r.matched_on) for p in report.processors for r in p.records}


def reason_notes(report: Report, processor: str) -> list[str]:
    """The notes that give a record's reason (not the scope notes, which say how it was read)."""
    [result] = [p for p in report.processors if p.name == processor]
    return sorted(n for n in result.notes if n.startswith("Zettle receipt"))


# ------------------------------------------------------------------ the hub's lookup, sandbox
async def test_a_second_lookup_reads_only_whats_new_and_finds_what_the_scan_finds(
        index: CountingIndex, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        hub = options(index, tmp_path)
        scan = await look_up(Subject.from_email(ANNA), settings, connectors,
                             **options(None, tmp_path))
        before = history_reads(sandbox)
        first = await look_up(Subject.from_email(ANNA), settings, connectors, **hub)
        built, logged = history_reads(sandbox), len(sandbox.servers["zettle"].request_log)
        second = await look_up(Subject.from_email(ANNA), settings, connectors, **hub)
        after = history_reads(sandbox)
        asked = [dict(parse_qsl(urlsplit(target).query))
                 for _, target in sandbox.servers["zettle"].request_log[logged:]
                 if target.startswith("/purchases/v2")]
    assert ids(first) == ids(second) == ids(scan)
    assert reason_notes(first, "zettle") == reason_notes(scan, "zettle")
    zettle = next(p for p in second.processors if p.name == "zettle")
    assert len(zettle.records) == 3  # her phone, and two invoices' day and amount
    assert "zettle.card_payments_unlinkable" in zettle.note_codes
    assert any(n.startswith("Compared the hub's index of") for n in zettle.notes)
    first_reads = {k: built[k] - before[k] for k in built}
    second_reads = {k: after[k] - built[k] for k in after}
    # one request (from the mark) learns there is nothing new; every other request reads the
    # days of one candidate (a match, or a payment's amount a day either side), never the window
    assert len([q for q in asked if "lastPurchaseHash" in q]) == 1
    fetches = [q for q in asked if "lastPurchaseHash" not in q]
    assert len(fetches) >= len(zettle.records)
    assert all(date.fromisoformat(q["endDate"]) - date.fromisoformat(q["startDate"])
               <= timedelta(days=3) for q in fetches), fetches
    assert second_reads["stripe charges"] == second_reads["stripe payment intents"] == 1
    assert first_reads["zettle purchases"] > second_reads["zettle purchases"]
    assert index.refreshes == {"zettle.purchases": 2, "stripe.charges": 2,
                               "stripe.payment_intents": 2}


async def test_a_batch_of_ten_refreshes_each_history_once(
        index: CountingIndex, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        await look_up(Subject.from_email(SUBJECTS[0]), settings, connectors,
                      **options(index, tmp_path))
        one = history_reads(sandbox)
    for history in index.refreshes:
        index.clear(history)  # the batch builds the index again, from nothing
    index.refreshes.clear()
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        reports = await look_up_many([Subject.from_email(s) for s in SUBJECTS], settings,
                                     connectors, **options(index, tmp_path))
        batch = history_reads(sandbox)
    assert len(reports) == 10
    assert index.refreshes == {"zettle.purchases": 1, "stripe.charges": 1,
                               "stripe.payment_intents": 1}
    for history, count in batch.items():
        assert count <= 1.5 * one[history], (history, count, one[history])


# ------------------------------------------------------------------ the connector, one server
@pytest.fixture
def server() -> Iterator[ZettleServer]:
    built = SPEC.build(SandboxOptions())
    assert isinstance(built, ZettleServer)
    with built:
        yield built


def zettle_for(server: ZettleServer, index: HistoryIndex) -> ZettleConnector:
    settings = ZettleSettings.model_validate({"base_url": server.base_url, **SPEC.credentials,
                                              "limit": 500})
    # the hub hands connectors the index as a batch sees it (awaited, off the event loop)
    return ZettleConnector(settings, history_index=BatchIndex(index))


def purchase_requests(server: ZettleServer) -> int:
    return sum(1 for _, target in server.request_log if target.startswith("/purchases/v2"))


async def test_a_receipt_rung_up_between_two_lookups_is_found_by_the_second(
        server: ZettleServer, index: CountingIndex) -> None:
    maria = Subject.from_email(MARIA)
    async with zettle_for(server, index) as zettle:
        before = {r.id for r in (await zettle.find_subject(maria)).records}
    assert before, "the sandbox names Maria on a receipt"
    sale = new_sale_like(server, MARIA)
    requests = purchase_requests(server)
    async with zettle_for(server, index) as zettle:
        found = await zettle.find_subject(maria)
    assert {r.id for r in found.records} == before | {sale["purchaseUUID1"]}
    # the new page, the empty one after it, and one request per matching receipt's day
    assert purchase_requests(server) - requests <= 2 + len(found.records)


async def test_an_index_hit_the_fetched_receipt_does_not_bear_out_is_dropped(
        server: ZettleServer, index: CountingIndex) -> None:
    maria = Subject.from_email(MARIA)
    async with zettle_for(server, index) as zettle:
        named = {r.id for r in (await zettle.find_subject(maria)).records}
    stranger = next(p["purchaseUUID1"] for p in server.state
                    if p["purchaseUUID1"] not in named)
    # an index that wrongly says the stranger's receipt names Maria (a stale or colliding row)
    with index.engine.begin() as connection:
        connection.execute(insert(HistoryTerm), [
            {"source": "zettle.purchases", "object_id": stranger, "term_hash": index.term_hash(t)}
            for t in subject_terms([], MARIA)])
    assert stranger in index.matching("zettle.purchases", subject_terms([], MARIA))
    requests = purchase_requests(server)
    async with zettle_for(server, index) as zettle:
        found = await zettle.find_subject(maria)
    assert {r.id for r in found.records} == named
    assert purchase_requests(server) > requests + 1, "the stranger's day was read and checked"


# ------------------------------------------------------------------ payments and cards (respx)
@pytest.mark.usefixtures("token_route")
async def test_payments_and_cards_tie_the_same_receipts_through_the_index(
        connector: ZettleConnector, respx_mock: respx.MockRouter,  # noqa: F811
        index: CountingIndex) -> None:
    respx_mock.get(PURCHASES).mock(side_effect=serve([
        card_receipt(1, day="2025-05-06", pan_hash="card-a", comment="sms:a 070-123 45 67"),
        card_receipt(2, day="2024-01-10", amount=40000, pan_hash="card-a"),  # same card
        card_receipt(3, day="2024-01-11", amount=40000, pan_hash="card-b"),  # another card
        card_receipt(4, day="2023-10-05", pan_hash="card-c"),  # by payment...
        card_receipt(5, day="2022-03-01", amount=12000, pan_hash="card-c"),  # ...then its card
        card_receipt(6, day="2022-03-02", amount=12000),  # no panHash: never linked
        card_receipt(7, day="2023-10-06", amount=95100),  # a day later, another amount
    ]))
    connector.index = BatchIndex(index)
    subject, _ = anna_with(ANNA_PHONE)
    hints: list[PaymentHint] = [INVOICE_16]
    records, notes = await matched(connector, subject, hints)
    assert {n: r.matched_on for n, r in records.items()} == {2: "card", 4: "payment",
                                                             5: "card"}
    assert any("#2 of 2024-01-10" in n and "same card as receipt 1" in n for n in notes)
    assert any("#4 of 2023-10-05" in n and "same day and amount as Fortnox invoice 16" in n
               for n in notes)
    assert any(n.startswith("Compared 7 Zettle receipts") for n in notes)
    assert index.refreshes == {"zettle.purchases": 1}


def test_the_hub_gives_the_index_to_the_connectors_that_take_it() -> None:
    from hub.requests.access.lookup import _with_batch_index
    from hub.store.history_index import BatchIndex

    settings = HubSettings()
    engine = open_database("sqlite://")
    raw = HistoryIndex(engine, Pseudonymiser(engine, secret_path(settings.state_dir)))
    wrapped = _with_batch_index({"history_index": raw})["history_index"]
    assert isinstance(wrapped, BatchIndex) and wrapped.index is raw
    assert _with_batch_index({"history_index": wrapped})["history_index"] is wrapped
    assert "history_index" in ZettleConnector.init_options


async def test_payments_listed_under_the_customer_are_not_retrieved_again_by_id(
        index: CountingIndex, tmp_path: Path) -> None:
    """Anna's 124 charges and 12 payment intents hang off her customers: the index matches
    them too, but only a guest payment (no customer) is retrieved by id."""
    from tests.test_stripe_history_index import ring_up

    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        stripe = sandbox.servers["stripe"]
        guest = ring_up(stripe, 1, ANNA)  # type: ignore[arg-type]
        report = await look_up(Subject.from_email(ANNA), settings, connectors,
                               **options(index, tmp_path))
        retrieved = [target.split("?")[0] for method, target in stripe.request_log
                     if method == "GET" and target.split("?")[0].count("/") == 3
                     and target.startswith(("/v1/charges/", "/v1/payment_intents/"))]
    found = {(r.type, r.id) for p in report.processors if p.name == "stripe" for r in p.records}
    assert ("charge", guest) in found
    assert len([k for k in found if k[0] == "charge"]) == 125  # her 124 and the guest one
    assert retrieved == [f"/v1/charges/{guest}"]
