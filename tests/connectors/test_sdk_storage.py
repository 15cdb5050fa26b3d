"""The SDK's key-value store protocol: the in-memory default and the hub's durable store both
keep what a locked block set, drop it when the block fails, and keep a committed value."""

from __future__ import annotations

import asyncio
import threading

import pytest

from connectors.sdk.storage import KeyValueStore, MemoryStore, hold
from hub.store.db import open_database
from hub.store.state import StateStore


def memory(request: pytest.FixtureRequest) -> KeyValueStore:
    return MemoryStore()


def database(request: pytest.FixtureRequest) -> KeyValueStore:
    return StateStore(open_database(request.getfixturevalue("database_url")))


@pytest.fixture(params=[pytest.param(memory, id="memory"),
                        pytest.param(database, id="database", marks=pytest.mark.database)])
def store(request: pytest.FixtureRequest) -> KeyValueStore:
    return request.param(request)


def test_both_stores_fit_the_protocol(store: KeyValueStore) -> None:
    assert isinstance(store, KeyValueStore)


def test_a_value_set_in_a_locked_block_is_kept(store: KeyValueStore) -> None:
    assert store.get("k") is None
    with store.locked("k") as entry:
        assert entry.value is None
        entry.set({"token": "a", "seeds": ["x"]})
        assert entry.value == {"token": "a", "seeds": ["x"]}
    assert store.get("k") == {"token": "a", "seeds": ["x"]}
    store.put("k", [1, 2])
    assert store.get("k") == [1, 2]


def test_a_failed_block_keeps_only_what_it_committed(store: KeyValueStore) -> None:
    store.put("k", "old")
    with pytest.raises(RuntimeError), store.locked("k") as entry:
        entry.set("lost")
        raise RuntimeError("crash before the commit")
    assert store.get("k") == "old"
    with pytest.raises(RuntimeError), store.locked("k") as entry:
        entry.set("kept")
        entry.commit()
        raise RuntimeError("crash after the commit")
    assert store.get("k") == "kept"


def test_memory_values_are_copies() -> None:
    store = MemoryStore()
    value = {"seeds": ["a"]}
    store.put("k", value)
    value["seeds"].append("b")
    assert store.get("k") == {"seeds": ["a"]}


async def test_hold_waits_for_the_lock_without_blocking_the_loop() -> None:
    store = MemoryStore()
    taken, release = threading.Event(), threading.Event()

    def other_process() -> None:
        with store.locked("k") as entry:
            taken.set()
            release.wait(5)
            entry.set("theirs")

    thread = threading.Thread(target=other_process)
    thread.start()
    taken.wait(5)

    async def ours() -> object:
        async with hold(store, "k") as entry:
            return entry.value

    waiting = asyncio.ensure_future(ours())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # still waiting for the other holder, and the loop runs
    release.set()
    assert await asyncio.wait_for(waiting, 5) == "theirs"
    thread.join(5)


async def test_a_cancelled_wait_gives_the_lock_back() -> None:
    store = MemoryStore()
    with store.locked("k"):
        waiting = asyncio.ensure_future(hold(store, "k").__aenter__())
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    store.put("k", "free again")  # would wait forever if the lock were left taken
    assert store.get("k") == "free again"
