"""A batch of lookups reads each history that cannot be searched by person once, not once per
subject: Zettle's receipts and Stripe's newest charges and payment intents (the guest scan)."""

from __future__ import annotations

import asyncio

import pytest

from connectors.sdk.history import HistoryCache
from hub.config.settings import with_processor_overrides
from hub.core.subject import Subject
from hub.requests.access import look_up, look_up_many
from hub.sandbox import Sandbox
from tests.test_lookup_widening import sandbox_settings

SUBJECTS = ["anna.svensson@example.se", "karin.oneill@example.com",
            "lena.karlsson@example.com", "filip.lundgren@example.com",
            "anders.olsson@example.com", "wilma.axelsson@example.com",
            "tove.fredriksson@example.com", "per.andersson@example.com",
            "oskar.jonsson@example.com", "maja.pettersson@example.com"]


def history_reads(sandbox: Sandbox) -> dict[str, int]:
    """Requests to the list endpoints that read a whole history (not one customer's lists)."""
    def count(server: str, path: str) -> int:
        return sum(1 for method, target in sandbox.servers[server].request_log
                   if method == "GET" and target.split("?")[0].endswith(path)
                   and "customer=" not in target)
    return {"zettle purchases": count("zettle", "/purchases/v2"),
            "stripe charges": count("stripe", "/v1/charges"),
            "stripe payment intents": count("stripe", "/v1/payment_intents")}


async def test_a_batch_of_ten_reads_each_history_about_as_often_as_one_lookup() -> None:
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        await look_up(Subject.from_email(SUBJECTS[0]), settings, connectors)
        one = history_reads(sandbox)
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        reports = await look_up_many([Subject.from_email(s) for s in SUBJECTS], settings,
                                     connectors)
        batch = history_reads(sandbox)
    assert len(reports) == 10
    assert all(count > 0 for count in one.values()), one
    for history, count in batch.items():
        assert count <= 1.5 * one[history], (history, count, one[history])


async def test_the_batch_finds_what_the_same_lookup_finds_alone() -> None:
    """Sharing the read must not change what is matched: each subject gets its own records."""
    with Sandbox() as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        # Fortnox's refresh token is single-use: only the first lookup could use it here
        settings = with_processor_overrides(settings, "fortnox", {"enabled": False})
        alone = await look_up(Subject.from_email(SUBJECTS[0]), settings, connectors)
        batch = await look_up_many([Subject.from_email(s) for s in SUBJECTS[:3]], settings,
                                   connectors)

    def ids(report):  # type: ignore[no-untyped-def]
        return {(p.name, r.type, r.id) for p in report.processors for r in p.records}

    assert ids(batch[0]) == ids(alone)
    assert {n for n, _, _ in ids(alone)} >= {"stripe", "zettle"}
    assert ids(batch[0]) != ids(batch[1])


async def test_concurrent_readers_wait_for_one_read_and_a_failed_read_is_not_kept() -> None:
    cache = HistoryCache()
    calls = 0

    async def read() -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return [1, 2, 3]

    values = await asyncio.gather(*(cache.read_once("h", read) for _ in range(5)))
    assert calls == 1 and all(v == [1, 2, 3] for v in values)

    async def failing() -> list[int]:
        raise RuntimeError("processor unavailable")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            await cache.read_once("other", failing)
    assert await cache.read_once("other", read) == [1, 2, 3]
    assert cache.reads == {"h": 1, "other": 1}
