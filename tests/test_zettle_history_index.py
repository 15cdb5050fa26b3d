"""Zettle's receipts read incrementally into the hub's index (both databases), against the
sandbox's fake Purchase API: the first refresh reads the window, the next ones only new sales,
matching finds receipts by a keyed hash of what their free text names, and fetching reads only
the days of the matches."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.sdk.history import history_sources_of, subject_terms
from connectors.zettle import ZettleConnector, ZettleSettings
from connectors.zettle_history import ZettleHistory, purchase_terms
from hub.core.subject import Identifier, Subject
from hub.sandbox.server import SandboxOptions
from hub.sandbox.zettle_api import SPEC, ZettleServer
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path

MARIA = "maria.berg@example.se"


@pytest.fixture
def server() -> Iterator[ZettleServer]:
    built = SPEC.build(SandboxOptions())
    assert isinstance(built, ZettleServer)
    with built:
        yield built


@pytest.fixture
def index(database_url: str, tmp_path: Path) -> HistoryIndex:
    engine = open_database(database_url)
    return HistoryIndex(engine, Pseudonymiser(engine, secret_path(tmp_path / "state")))


def connector_for(server: ZettleServer) -> ZettleConnector:
    settings = ZettleSettings.model_validate({"base_url": server.base_url, **SPEC.credentials,
                                              "limit": 500})
    return ZettleConnector(settings)


def purchase_requests(server: ZettleServer) -> int:
    return sum(1 for _, target in server.request_log if target.startswith("/purchases/v2"))


def new_sale_like(server: ZettleServer, mentioning: str) -> dict:
    """A copy of Maria's receipt rung up now, naming ``mentioning`` in its comment."""
    original = next(p for p in server.state if "Maria.Berg" in json.dumps(p))
    sale = copy.deepcopy(original)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    sale.update(timestamp=now, created=now, purchaseUUID1=str(uuid.uuid4()),
                purchaseUUID=uuid.uuid4().hex[:22])
    sale["products"][0]["comment"] = f"Kvitto till {mentioning}"
    server.ring_up(sale)
    return sale


def test_the_connector_declares_its_history() -> None:
    connector = ZettleConnector(ZettleSettings.model_validate(
        {"base_url": "http://127.0.0.1:9", **SPEC.credentials}))
    [source] = history_sources_of(connector)
    assert isinstance(source, ZettleHistory)


async def test_refresh_reads_the_window_once_then_only_new_sales(
        server: ZettleServer, index: HistoryIndex) -> None:
    async with connector_for(server) as connector:
        history = ZettleHistory(connector)
        pages = await index.refresh(history)
        first_requests = purchase_requests(server)
        assert pages == first_requests - 1 >= 5, "every page, then the empty one that ends it"
        assert index.count(history.history_name) == len(server.state)

        assert await index.refresh(history) == 0
        assert purchase_requests(server) == first_requests + 1, "one request: nothing new"

        sale = new_sale_like(server, "nils.nyman@example.com")
        assert await index.refresh(history) == 1
        assert purchase_requests(server) == first_requests + 3
        nils = subject_terms([], "Nils.Nyman@example.com")
        assert index.matching(history.history_name, nils) == [sale["purchaseUUID1"]]

        found = index.matching(history.history_name, subject_terms([], MARIA))
        assert len(found) == 1
        before = purchase_requests(server)
        [entry] = index.objects(history.history_name, found)
        records = await history.fetch(found, [entry.day] if entry.day else [])
        assert [r.id for r in records] == found
        assert purchase_requests(server) - before <= 2, "only the receipt's days are read"


async def test_a_rebuild_after_erasure_finds_the_subject_again_only_if_still_named(
        server: ZettleServer, index: HistoryIndex) -> None:
    async with connector_for(server) as connector:
        history = ZettleHistory(connector)
        await index.refresh(history)
        terms = subject_terms([], MARIA)
        assert index.matching(history.history_name, terms)
        assert index.forget(terms) >= 1
        assert index.matching(history.history_name, terms) == []
        await index.rebuild(history)
        # the receipt still names her at Zettle (it cannot be erased there): found again
        assert index.matching(history.history_name, terms)


def test_terms_cover_phone_personnummer_and_cards() -> None:
    purchase = {"country": "SE", "products": [{"comment": "sms 070-123 45 67"}],
                "payments": [{"attributes": {"panHash": "PAN1"}}]}
    terms = purchase_terms(purchase)
    anna = Subject(email="anna@example.se", identifiers=[
        Identifier(kind="email", value="anna@example.se"),
        Identifier(kind="phone", value="+46701234567", source="stripe")])
    assert subject_terms(anna.identifiers) & terms == {"phone:+46701234567"}
    assert "card:PAN1" in terms


def test_dsar_index_refresh_and_rebuild(database_url: str, tmp_path: Path) -> None:
    """The command line on the hub's own database: a second refresh reads no page, a rebuild
    reads the history again."""
    from hub.sandbox import Sandbox
    from tests.e2e_helpers import run_dsar, sandbox_env

    with Sandbox() as sandbox:
        env = {**sandbox_env(sandbox, ("zettle",)), "DSAR_STATE_DIR": str(tmp_path)}

        def pages(*args: str) -> int:
            run = run_dsar("--json", "index", *args, "--source", "zettle", env=env)
            assert run.code == 0, run.stderr
            [zettle] = json.loads(run.stdout)
            assert zettle["history"] == "zettle.purchases" and zettle["error"] is None
            assert zettle["objects"] == len(sandbox.servers["zettle"].state)  # type: ignore[attr-defined]
            return int(zettle["pages"])

        assert pages("refresh") >= 1
        assert pages("refresh") == 0
        assert pages("rebuild") >= 1
        typo = run_dsar("index", "refresh", "--source", "zetle", env=env)
        assert typo.code == 2 and "zetle" in typo.stdout, typo.stdout  # not "nothing to do"
