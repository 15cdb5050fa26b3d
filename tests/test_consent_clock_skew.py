"""A source timestamp in the future must not poison the consent register.

The register ignores a picture older than the one it holds (a late webhook retry). Trusting the
source's ``updated_at`` blindly made one mis-dated record (a skewed clock, an import with a wrong
year) outrank every later real change of that subscriber: each real opt-out counted as stale,
and ``--full`` did not repair it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import respx
from sqlalchemy import update
from sqlalchemy.orm import Session

from hub.store.consent_register import ConsentRegister, Observation
from hub.store.tables import ConsentSubscriber
from tests.test_consent_sync import (
    PALOMA,
    FakeMailerLite,
    engine,
    initial,
    observed,
    person,
    sync,
)

__all__ = ["engine"]  # the fixture, imported for these tests

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ml(moment: datetime) -> str:
    """MailerLite's list-answer time format (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def observe(status: str, updated: datetime, **changes: str | None) -> Observation:
    return observed(person(1, status, updated_at=ml(updated), **changes))


def kinds(register: ConsentRegister) -> list[str]:
    return [e.kind for e in register.history("person1@example.se")["events"]]


def test_a_future_updated_at_does_not_make_later_opt_outs_stale(engine, caplog) -> None:
    register = ConsentRegister(engine)
    skewed = observe("active", NOW + timedelta(days=400), opted_in_at=ml(NOW - timedelta(days=9)))
    with caplog.at_level(logging.WARNING, logger="hub.store.consent_register"):
        first = register.apply([skewed], via="webhook", destinations=[PALOMA], now=NOW)
    assert first.clock_skew == 1
    assert "1001" in caplog.text and "ahead of this clock" in caplog.text
    assert "person1" not in caplog.text  # subscriber id only, never the address
    real = observe("unsubscribed", NOW + timedelta(minutes=10),
                   unsubscribed_at=ml(NOW + timedelta(minutes=10)))
    later = register.apply([real], via="webhook", destinations=[PALOMA],
                           now=NOW + timedelta(minutes=11))
    assert (later.events, later.stale) == (1, 0)
    assert kinds(register) == ["first_seen", "opt_out"]
    assert [t.destination for t in register.open_tasks()] == ["paloma"]
    [event] = [e for e in register.history("person1@example.se")["events"]
               if e.kind == "first_seen"]
    assert event.evidence["updated_at"].startswith(str(NOW.year + 1))  # the source's claim kept


def test_a_future_stamp_already_stored_is_disregarded(engine) -> None:
    """A register poisoned before this fix repairs itself on the next real change."""
    register = ConsentRegister(engine)
    register.apply([observe("active", NOW - timedelta(days=1))], via="sync", now=NOW)
    with Session(engine) as session:
        session.execute(update(ConsentSubscriber).values(
            source_updated_at=datetime(2099, 1, 1), last_opt_out_at=datetime(2099, 1, 1)))
        session.commit()
    result = register.apply([observe("unsubscribed", NOW, unsubscribed_at=ml(NOW))],
                            via="webhook", destinations=[PALOMA], now=NOW)
    assert (result.events, result.stale) == (1, 0)
    with Session(engine) as session:
        row = session.get(ConsentSubscriber, ("mailerlite", "1001"))
        assert row is not None
        assert row.source_updated_at.replace(tzinfo=UTC) == NOW
        assert row.last_opt_out_at.replace(tzinfo=UTC) == NOW


def test_a_small_skew_still_orders_changes(engine) -> None:
    register = ConsentRegister(engine)
    ahead = NOW + timedelta(minutes=2)  # within the tolerance: a real, slightly fast clock
    register.apply([observe("unsubscribed", ahead, unsubscribed_at=ml(ahead))], via="webhook",
                   now=NOW)
    late = register.apply([observe("active", NOW - timedelta(hours=1))], via="webhook", now=NOW)
    assert (late.events, late.stale, late.clock_skew) == (0, 1, 0)


def test_future_evidence_does_not_decide_whether_an_opt_in_is_fresh(engine) -> None:
    register = ConsentRegister(engine)
    register.apply([observe("active", NOW - timedelta(days=30))], via="sync", now=NOW)
    # an opt-out whose unsubscribed_at is a year ahead must not outrank every later opt-in
    register.apply([observe("unsubscribed", NOW - timedelta(days=2),
                            unsubscribed_at=ml(NOW + timedelta(days=365)))],
                   via="sync", destinations=[PALOMA], now=NOW - timedelta(days=2))
    fresh = register.apply([observe("active", NOW, opted_in_at=ml(NOW - timedelta(hours=1)),
                                    unsubscribed_at=None)], via="sync", now=NOW)
    assert fresh.kinds == {"re_subscribed": 1} and fresh.review_tasks == 0
    # and an opt-in dated in the future is no fresh consent either
    register.apply([observe("unsubscribed", NOW + timedelta(minutes=1), unsubscribed_at=ml(NOW))],
                   via="sync", destinations=[PALOMA], now=NOW + timedelta(minutes=1))
    forged = register.apply([observe("active", NOW + timedelta(minutes=2),
                                     opted_in_at=ml(NOW + timedelta(days=30)),
                                     unsubscribed_at=None)],
                            via="sync", now=NOW + timedelta(minutes=2))
    assert forged.kinds == {"reactivated_without_fresh_optin": 1} and forged.review_tasks == 1


@respx.mock
async def test_the_sync_records_a_real_opt_out_after_a_future_dated_record(
        engine, fast_policy, respx_mock) -> None:
    now = datetime.now(UTC)
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    fake.subscribers["1003"]["updated_at"] = ml(now + timedelta(days=3650))
    first = await sync(engine, fast_policy)
    assert any("in the future" in w for w in first.warnings)
    fake.unsubscribe(3, at=ml(now))
    second = await sync(engine, fast_policy)
    assert second.stale == 0 and second.changes == {"opt_out": 1}
    assert [t.subscriber_id for t in ConsentRegister(engine).open_tasks()
            if t.action == "opt_out" and t.subscriber_id == "1003"] == ["1003"]


@respx.mock
async def test_full_reconciles_status_whatever_the_timestamps_say(engine, fast_policy,
                                                                  respx_mock) -> None:
    """A stored stamp that is plausible but wrong (the source's clock was fast, then fixed):
    the incremental sync must keep treating the older picture as stale, ``--full`` records
    the source's current status and replaces the stamp."""
    now = datetime.now(UTC)
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    await sync(engine, fast_policy)
    register = ConsentRegister(engine)
    register.apply([observed(person(
        3, updated_at=ml(now - timedelta(minutes=1))))], via="webhook")
    fake.unsubscribe(3, at=ml(now - timedelta(hours=2)))
    incremental = await sync(engine, fast_policy)
    assert incremental.stale == 1 and not incremental.changes
    assert register.history("person3@example.se")["subscribers"][0].status == "active"
    full = await sync(engine, fast_policy, full=True)
    assert full.mode == "full" and full.changes == {"opt_out": 1}
    [row] = register.history("person3@example.se")["subscribers"]
    assert row.status == "unsubscribed"
    assert row.source_updated_at.replace(tzinfo=UTC) == datetime.fromisoformat(
        ml(now - timedelta(hours=2))).replace(tzinfo=UTC)
    again = await sync(engine, fast_policy)  # nothing left to repair
    assert again.stale == 0 and not again.changes
