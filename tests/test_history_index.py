"""The local history index on both databases: a refresh reads only what is newer than the
mark, matching finds objects by keyed hashes, erasure removes the subject's hashes, a rebuild
starts over, and nothing readable about anyone is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select

from connectors.sdk.history import HistoryPage, HistorySource, IndexEntry, index_term
from hub.core.models import Record
from hub.store.db import open_database
from hub.store.history_index import HistoryIndex
from hub.store.keyed import Pseudonymiser, secret_path

ANNA = index_term("email", "anna.svensson@example.se")
BERTIL = index_term("phone", "+46701234567")


class FakeHistory:
    """A processor history that grows at the end; pages of three, oldest first, and the mark
    is the position of the newest object read, as a connector's cursor would be."""

    history_name = "fake.receipts"

    def __init__(self) -> None:
        self.objects: list[IndexEntry] = []
        self.pages_read = 0

    def add(self, *terms: str) -> str:
        object_id = f"r{len(self.objects) + 1:04d}"
        self.objects.append(IndexEntry(object_id, date(2026, 3, 1), 12_500, "SEK",
                                       frozenset(terms)))
        return object_id

    async def history_pages(self, since_mark: Any) -> AsyncIterator[HistoryPage]:
        start = 0 if since_mark is None else int(since_mark)
        for first in range(start, len(self.objects), 3):
            self.pages_read += 1
            chunk = self.objects[first:first + 3]
            yield HistoryPage(chunk, first + len(chunk))

    async def fetch(self, object_ids: Sequence[str]) -> list[Record]:
        raise AssertionError("the index never fetches objects itself")


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_database(database_url)


@pytest.fixture
def index(engine: Engine, tmp_path: Path) -> HistoryIndex:
    return HistoryIndex(engine, Pseudonymiser(engine, secret_path(tmp_path / "state")))


def test_the_fake_is_a_history_source() -> None:
    assert isinstance(FakeHistory(), HistorySource)


async def test_a_refresh_reads_only_pages_newer_than_the_mark(index: HistoryIndex) -> None:
    history = FakeHistory()
    first = history.add(ANNA)
    for _ in range(9):
        history.add()
    assert await index.refresh(history) == 4  # ten objects, pages of three
    assert index.count(history.history_name) == 10
    assert index.matching(history.history_name, [ANNA]) == [first]

    assert await index.refresh(history) == 0, "nothing new: no page is read"
    newest = history.add(ANNA, BERTIL)
    assert await index.refresh(history) == 1
    assert history.pages_read == 5
    assert index.matching(history.history_name, [ANNA]) == [first, newest]
    assert index.matching(history.history_name, [BERTIL]) == [newest]
    assert index.matching(history.history_name, [index_term("email", "x@example.com")]) == []
    [entry] = index.objects(history.history_name, [newest])
    assert (entry.day, entry.amount_minor, entry.currency) == (date(2026, 3, 1), 12_500, "SEK")


async def test_erasure_removes_the_subjects_hashes_and_keeps_the_others(
        index: HistoryIndex) -> None:
    history = FakeHistory()
    both = history.add(ANNA, BERTIL)
    history.add(ANNA)
    await index.refresh(history)
    assert index.forget([ANNA]) == 2
    assert index.matching(history.history_name, [ANNA]) == []
    assert index.matching(history.history_name, [BERTIL]) == [both]
    assert index.count(history.history_name) == 2, "the objects stay, only the hashes go"
    assert await index.refresh(history) == 0, "forgetting does not move the mark"


async def test_a_rebuild_reads_everything_again(index: HistoryIndex) -> None:
    history = FakeHistory()
    for _ in range(5):
        history.add(BERTIL)
    await index.refresh(history)
    index.forget([BERTIL])
    assert await index.rebuild(history) == 2
    assert len(index.matching(history.history_name, [BERTIL])) == 5
    assert index.mark(history.history_name) == 5


async def test_nothing_readable_is_stored(index: HistoryIndex, engine: Engine) -> None:
    history = FakeHistory()
    history.add(ANNA, BERTIL)
    await index.refresh(history)
    metadata = MetaData()
    metadata.reflect(engine, only=["history_marks", "history_objects", "history_terms"])
    with engine.connect() as connection:
        stored = " ".join(str(value) for table in metadata.tables.values()
                          for row in connection.execute(select(table)) for value in row)
    assert "anna" not in stored.lower() and "4670" not in stored
    assert index.term_hash(ANNA) in stored


async def test_the_erasure_job_forgets_every_identifier_the_lookup_knew(
        index: HistoryIndex, engine: Engine, tmp_path: Path) -> None:
    """The hook in the erasure job: the subject's address, the phone number the lookup
    found for them and the card of a receipt tied to them are all forgotten; someone else's
    stays."""
    from types import SimpleNamespace

    from hub.core.subject import Identifier, MatchStrength, Subject
    from hub.requests.erasure.job import _forget_in_history_index

    card = index_term("card", "9f2c4e")
    history = FakeHistory()
    history.add(ANNA)
    history.add(BERTIL)
    history.add(card)
    other = history.add(index_term("email", "cecilia@example.com"))
    await index.refresh(history)
    assert len(index.matching(history.history_name, [card])) == 1
    subject = Subject.from_email("Anna.Svensson@example.se")
    receipt = Record(type="purchase", id="r0003", matched_on="payment",
                     match_strength=MatchStrength.DERIVED,
                     data={"payments": [{"type": "IZETTLE_CARD",
                                         "attributes": {"panHash": "9f2c4e"}}]})
    lookup = SimpleNamespace(
        subject=SimpleNamespace(identifiers=[
            Identifier(kind="phone", value="+46701234567", source="stripe")]),
        processors=[SimpleNamespace(records=[receipt])])
    stores = SimpleNamespace(ledger=SimpleNamespace(engine=engine),
                             secret=secret_path(tmp_path / "state"))
    _forget_in_history_index(SimpleNamespace(subject=subject, lookup=lookup,  # type: ignore[arg-type]
                                             stores=stores))
    assert index.matching(history.history_name, [ANNA, BERTIL, card]) == []
    assert index.matching(history.history_name,
                          [index_term("email", "cecilia@example.com")]) == [other]
