"""The restriction register (GDPR Art. 18): keyed hashes only, one restriction in force per
person, lifted only with the day the person was told (Art. 18(3))."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.core.request_types import RequestType
from hub.store.db import open_database
from hub.store.keyed import Pseudonymiser, secret_path
from hub.store.ledger import Ledger
from hub.store.restrictions import NotRestricted, RestrictionRegister
from hub.store.tables import RestrictionRow

ANNA = "anna.andersson@example.se"


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_database(database_url)


@pytest.fixture
def register(engine: Engine, tmp_path: Path) -> RestrictionRegister:
    return RestrictionRegister(engine, secret_path(tmp_path / "state"))


def test_restrict_keeps_only_the_keyed_hash_and_recognises_other_letter_cases(
        register: RestrictionRegister, engine: Engine) -> None:
    restriction, started = register.restrict(ANNA, "accuracy contested", request_id="R1")
    assert started and restriction.in_force and restriction.request_id == "R1"
    assert register.is_restricted("Anna.Andersson@EXAMPLE.se")
    assert not register.is_restricted("bertil@example.com")
    with Session(engine) as session:
        stored = list(session.scalars(select(RestrictionRow)))
    assert len(stored) == 1
    assert "anna" not in stored[0].email_hash and len(stored[0].email_hash) == 64


def test_restricting_again_keeps_the_first_reason_and_date(
        register: RestrictionRegister) -> None:
    first, _ = register.restrict(ANNA, "accuracy contested", request_id="R1")
    again, started = register.restrict(ANNA, "something else", request_id="R2")
    assert not started
    assert (again.id, again.reason, again.since) == (first.id, first.reason, first.since)
    assert len(register.list(in_force_only=True)) == 1


def test_lift_records_the_day_the_person_was_told_and_keeps_the_evidence(
        register: RestrictionRegister) -> None:
    register.restrict(ANNA, "unlawful processing, erasure opposed", request_id="R1")
    lifted = register.lift(ANNA, notified_on=date(2026, 11, 20), request_id="R1")
    assert not lifted.in_force and lifted.notified_on == date(2026, 11, 20)
    assert not register.is_restricted(ANNA)
    assert register.last(ANNA) == lifted
    with pytest.raises(NotRestricted):
        register.lift(ANNA, notified_on=date(2026, 11, 20), request_id="R1")
    again, started = register.restrict(ANNA, "objection pending", request_id="R3")
    assert started and again.id != lifted.id
    assert [r.in_force for r in register.list()] == [False, True]


def test_concurrent_restrictions_leave_one_in_force(register: RestrictionRegister) -> None:
    started: list[bool] = []
    barrier = threading.Barrier(4)

    def run(index: int) -> None:
        barrier.wait()
        started.append(register.restrict(ANNA, f"reason {index}", request_id=f"R{index}")[1])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert started.count(True) == 1
    assert len(register.list(in_force_only=True)) == 1


def test_requests_of_a_restricted_subject_are_found_by_address_and_by_keyed_hash(
        register: RestrictionRegister, engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    open_one = ledger.open_request(ANNA, RequestType.ACCESS)
    closed = ledger.open_request(ANNA, RequestType.ERASURE)
    ledger.close(closed.id, note="erased")
    ledger.pseudonymise(closed.id, Pseudonymiser(engine, register.secret_path).hash)
    other = ledger.open_request("bertil@example.com", RequestType.ERASURE)
    ids = [open_one.id, closed.id, other.id]
    assert register.restricted_requests(ids) == {}
    register.restrict(ANNA, "accuracy contested", request_id=open_one.id)
    assert set(register.restricted_requests(ids)) == {open_one.id, closed.id}
    register.lift(ANNA, notified_on=date(2026, 11, 20), request_id=open_one.id)
    assert register.restricted_requests(ids) == {}
