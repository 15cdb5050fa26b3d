"""Stripe's charges and payment intents read incrementally into the hub's index (both
databases), against the sandbox's fake Stripe: newest first up to the cap on the first read,
then only what is newer than the mark (``ending_before``), and the matches retrieved by id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk.history import history_sources_of, subject_terms
from connectors.stripe import StripeConnector, StripeSettings
from connectors.stripe_history import StripeHistory
from hub.sandbox.server import SandboxOptions
from hub.sandbox.stripe_api import SPEC, StripeServer
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path

ANNA = "anna.svensson@example.se"


@pytest.fixture
def server() -> Iterator[StripeServer]:
    built = SPEC.build(SandboxOptions())
    assert isinstance(built, StripeServer)
    with built:
        yield built


@pytest.fixture
def index(database_url: str, tmp_path: Path) -> HistoryIndex:
    engine = open_database(database_url)
    return HistoryIndex(engine, Pseudonymiser(engine, secret_path(tmp_path / "state")))


def connector_for(server: StripeServer, **values: object) -> StripeConnector:
    return StripeConnector(StripeSettings.model_validate(
        {"base_url": server.base_url, **SPEC.credentials, **values}))


def list_requests(server: StripeServer) -> int:
    return sum(1 for method, target in server.request_log
               if method == "GET" and target.split("?")[0] == "/v1/charges")


def ring_up(server: StripeServer, number: int, email: str) -> str:
    charge_id = f"ch_new{number:04d}"
    server.state.collections["charges"][charge_id] = {
        "id": charge_id, "object": "charge", "amount": 25_000, "currency": "sek",
        "created": int(time.time()) + number, "customer": None, "receipt_email": email,
        "billing_details": {"email": None, "name": None, "phone": None}}
    return charge_id


def test_the_connector_declares_both_lists(server: StripeServer) -> None:
    names = [s.history_name for s in history_sources_of(connector_for(server))]
    assert names == ["stripe.charges", "stripe.payment_intents"]


async def test_refresh_reads_newest_first_then_only_newer_objects(
        server: StripeServer, index: HistoryIndex) -> None:
    total = len(server.state.collections["charges"])
    async with connector_for(server) as connector:
        charges = StripeHistory(connector, "charge")
        pages = await index.refresh(charges)
        assert pages == list_requests(server) >= 1
        assert index.count(charges.history_name) == total
        before = list_requests(server)
        assert await index.refresh(charges) == 0
        assert list_requests(server) == before + 1, "one request: nothing newer"

        new = [ring_up(server, n, "nils.nyman@example.com") for n in range(3)]
        assert await index.refresh(charges) == 1
        assert sorted(index.matching(charges.history_name,
                                     subject_terms([], "Nils.Nyman@example.com"))) == new
        assert await index.refresh(charges) == 0

        anna = index.matching(charges.history_name, subject_terms([], ANNA))
        assert anna
        records = await charges.fetch(anna)
        assert sorted(r.id for r in records) == anna
        assert all(r.type == "charge" for r in records)


async def test_the_first_read_keeps_the_cap_and_marks_the_newest(
        server: StripeServer, index: HistoryIndex) -> None:
    async with connector_for(server, guest_scan_max_objects=3) as connector:
        charges = StripeHistory(connector, "charge")
        await index.refresh(charges)
        assert index.count(charges.history_name) == 3
        newest = server.state.newest_first("charges")[0]["id"]
        assert index.mark(charges.history_name) == newest
