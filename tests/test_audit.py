"""The hash-chained audit log: tamper detection, anchoring, concurrency, pseudonymisation, CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hub.store.audit import GENESIS_HASH, HEAD_STATE_KEY, AuditChainError, AuditEntry, AuditLog
from hub.store.db import open_database
from hub.store.keyed import keyed_hash, secret_path
from hub.store.state import StateEntry, StateStore
from tests.databases import hub_database_url

ANNA = "Anna.Svensson@Example.se"


@pytest.fixture
def url(database_url: str) -> str:
    return database_url


@pytest.fixture
def engine(url: str) -> Engine:
    return open_database(url)


@pytest.fixture
def audit(engine: Engine, tmp_path: Path) -> AuditLog:
    return AuditLog(engine, secret_path(tmp_path / "state"))


def _fill(audit: AuditLog, n: int = 5) -> None:
    for i in range(1, n + 1):
        audit.append(f"step-{i}", request_id="E-1", actor="tester", subject_email=ANNA,
                     details={"record": f"cus_{i}", "n": i})


def _sql(engine: Engine, statement: object) -> None:
    with Session(engine) as session:
        session.execute(statement)  # type: ignore[call-overload]
        session.commit()


def test_chain_of_untouched_log_verifies(audit: AuditLog) -> None:
    assert audit.verify().ok  # empty log
    _fill(audit)
    result = audit.verify()
    assert result.ok and result.checked == 5 and result.head_seq == 5
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert audit.head() == (5, entries[-1].entry_hash) == (result.head_seq, result.head_hash)


def test_edited_details_are_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    _sql(engine, update(AuditEntry).where(AuditEntry.seq == 3)
         .values(details=json.dumps({"record": "cus_other", "n": 3})))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "hash" in (result.reason or "")
    assert result.checked == 2


@pytest.mark.parametrize(("column", "value"), [
    ("action", "nothing-happened"), ("actor", "someone"), ("at", "2020-01-01T00:00:00.000000Z"),
    ("request_id", "E-2"), ("subject_hash", "0" * 64),
])
def test_any_edited_chained_column_is_detected(audit: AuditLog, engine: Engine, column: str,
                                               value: str) -> None:
    _fill(audit)
    _sql(engine, update(AuditEntry).where(AuditEntry.seq == 2).values({column: value}))
    assert audit.verify().first_bad_seq == 2


def test_deleted_middle_entry_is_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    _sql(engine, delete(AuditEntry).where(AuditEntry.seq == 3))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "missing" in (result.reason or "")


def test_deleted_and_renumbered_entry_is_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    _sql(engine, delete(AuditEntry).where(AuditEntry.seq == 3))
    _sql(engine, update(AuditEntry).where(AuditEntry.seq > 3).values(seq=AuditEntry.seq - 1))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_deleted_last_entry_is_detected_by_the_anchor(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    _sql(engine, delete(AuditEntry).where(AuditEntry.seq == 5))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 5
    assert "last entries were deleted" in (result.reason or "")
    with pytest.raises(AuditChainError):  # nothing is appended to a truncated log
        audit.append("more")


def test_deleted_tail_and_rewritten_anchor_caught_by_an_external_head(
        audit: AuditLog, engine: Engine) -> None:
    _fill(audit, 3)
    kept_outside = (audit.verify().head_seq, audit.verify().head_hash)
    _fill(audit, 2)  # the log goes on: an older external head is still fine
    assert audit.verify(expected_head=kept_outside).ok
    entries = audit.entries()
    _sql(engine, delete(AuditEntry).where(AuditEntry.seq >= 3))
    StateStore(engine).put(HEAD_STATE_KEY, {"seq": 2, "hash": entries[1].entry_hash})
    assert audit.verify().ok  # internally consistent: only an outside anchor can tell
    result = audit.verify(expected_head=kept_outside)
    assert not result.ok and result.first_bad_seq == 3
    assert not audit.verify(expected_head=(2, "f" * 64)).ok


def test_removed_anchor_is_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit, 2)
    _sql(engine, delete(StateEntry).where(StateEntry.key == HEAD_STATE_KEY))
    assert audit.verify().first_bad_seq == 2


def test_reordered_entries_are_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    with Session(engine) as session:  # swap entries 2 and 3
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))
        session.commit()
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_swapped_contents_keeping_numbers_are_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit)
    columns = ("at", "request_id", "actor", "action", "subject_hash", "subject_email", "details",
               "prev_hash", "entry_hash")
    with Session(engine) as session:
        two, three = (session.get(AuditEntry, n) for n in (2, 3))
        assert two is not None and three is not None
        values = [{c: getattr(e, c) for c in columns} for e in (two, three)]
        session.execute(update(AuditEntry).where(AuditEntry.seq.in_((2, 3)))
                        .values(entry_hash=AuditEntry.seq))  # free the unique hashes
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(values[1]))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(values[0]))
        session.commit()
    assert audit.verify().first_bad_seq == 2


def test_inserted_forged_entry_is_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit, 2)
    last = audit.entries()[-1]
    _sql(engine, text(
        "INSERT INTO audit_log (seq, at, request_id, actor, action, subject_hash, subject_email, "
        "details, prev_hash, entry_hash) VALUES (3, :at, 'E-1', 'x', 'forged', NULL, NULL, '{}', "
        ":prev, :hash)").bindparams(at=last.at, prev=last.entry_hash, hash="a" * 64))
    assert audit.verify().first_bad_seq == 3


def test_details_never_hold_addresses(audit: AuditLog, tmp_path: Path) -> None:
    entry = audit.append("erasure.planned", request_id="E-1", subject_email=ANNA, details={
        "note": f"asked by {ANNA}", "url": "/subscribers/anna.svensson%40example.se",
        "records": [{"cus_1": "anna.svensson@example.se"}]})
    pseudonym = "keyed:" + keyed_hash(ANNA, secret_path(tmp_path / "state"))
    assert "@" not in entry.details and "%40" not in entry.details
    assert entry.details.count(pseudonym) == 3
    assert entry.subject_hash == pseudonym.removeprefix("keyed:")


def test_pseudonymise_keeps_the_chain_valid(audit: AuditLog, engine: Engine,
                                            tmp_path: Path) -> None:
    _fill(audit, 3)
    audit.append("other", request_id="E-9", subject_email="bo@example.se")
    assert audit.pseudonymise("anna.svensson@example.se") == 3
    assert audit.pseudonymise(ANNA) == 0  # idempotent
    result = audit.verify()
    assert result.ok and result.checked == 4
    entries = audit.entries()
    assert [e.subject_email for e in entries] == [None, None, None, "bo@example.se"]
    anna = keyed_hash(ANNA, secret_path(tmp_path / "state"))
    assert {e.subject_hash for e in entries[:3]} == {anna}  # still findable by the hash
    with Session(engine) as session:
        rows = session.scalars(select(AuditEntry.subject_email)).all()
    assert ANNA not in rows


def test_edited_subject_label_is_detected(audit: AuditLog, engine: Engine) -> None:
    _fill(audit, 3)
    _sql(engine, update(AuditEntry).where(AuditEntry.seq == 2)
         .values(subject_email="someone.else@example.se"))
    result = audit.verify()
    assert result.first_bad_seq == 2 and "address" in (result.reason or "")


def test_append_joins_the_callers_transaction(audit: AuditLog, engine: Engine) -> None:
    _fill(audit, 1)
    with pytest.raises(RuntimeError), Session(engine) as session:
        audit.append("erasure.done", request_id="E-1", subject_email="new@example.se",
                     session=session)
        raise RuntimeError("the ledger change failed")
    assert len(audit.entries()) == 1 and audit.verify().ok
    with Session(engine) as session:
        audit.append("erasure.done", request_id="E-1", subject_email="new@example.se",
                     session=session)
        audit.append("erasure.verified", request_id="E-1", session=session)
        session.commit()
    assert [e.action for e in audit.entries(request_id="E-1")][-2:] == [
        "erasure.done", "erasure.verified"]
    assert audit.verify().ok and audit.verify().head_seq == 3
    assert [e.seq for e in audit.entries(limit=2)] == [2, 3]


def test_threads_appending_never_fork_the_chain(url: str, tmp_path: Path) -> None:
    open_database(url)
    secret = secret_path(tmp_path / "state")

    def worker(n: int) -> None:
        log = AuditLog(open_database(url), secret)
        for i in range(15):
            log.append("step", request_id=f"T-{n}", details={"i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = AuditLog(open_database(url), secret).verify()
    assert result.ok and result.checked == 60


def test_appends_inside_callers_transactions_are_all_kept(url: str, tmp_path: Path) -> None:
    """Each entry joins a ledger change's transaction (``session=``), four writers at once from
    an empty log: on PostgreSQL the head has no row to lock before the first entry, yet none
    is lost and the chain verifies."""
    open_database(url)
    secret = secret_path(tmp_path / "state")
    start = threading.Barrier(4, timeout=30)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        engine = open_database(url)
        log = AuditLog(engine, secret)
        try:
            start.wait()
            for i in range(25):
                with Session(engine) as session:
                    log.append("step", request_id=f"C-{n}", subject_email="anna@example.se",
                               details={"i": i}, session=session)
                    session.commit()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = AuditLog(open_database(url), secret).verify()
    assert result.ok and result.checked == 100


def test_processes_appending_never_fork_the_chain(url: str, tmp_path: Path) -> None:
    open_database(url)
    secret = secret_path(tmp_path / "state")
    script = (
        "import sys; from pathlib import Path\n"
        "from hub.store.audit import AuditLog; from hub.store.db import open_database\n"
        "log = AuditLog(open_database(sys.argv[1]), Path(sys.argv[2]))\n"
        "for i in range(20): log.append('step', request_id=sys.argv[3], "
        "subject_email='anna@example.se', details={'i': i})\n")
    root = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen(  # noqa: S603 - our own code with test arguments
        [sys.executable, "-c", script, url, str(secret), f"P-{n}"], cwd=root) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    log = AuditLog(open_database(url), secret)
    result = log.verify()
    assert result.ok and result.checked == 60
    assert len({e.subject_hash for e in log.entries()}) == 1  # one secret for all


# -- CLI ------------------------------------------------------------------------------

def _cli() -> typer.Typer:
    """The audit sub-app under a stand-in for hub.cli's main callback."""
    from hub.cli.audit import audit_app
    from hub.cli.shared import Options

    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context, json_output: bool = typer.Option(False, "--json")) -> None:
        ctx.obj = Options(config=None, sandbox=False, json=json_output, out=None, verbose=0)

    app.add_typer(audit_app, name="audit")
    return app


@pytest.fixture
def cli_audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AuditLog:
    state = tmp_path / "cli-state"
    monkeypatch.setenv("DSAR_STATE_DIR", str(state))
    engine = open_database(hub_database_url(state))
    return AuditLog(engine, secret_path(state))


@pytest.mark.database
def test_cli_verify_and_show(cli_audit: AuditLog) -> None:
    _fill(cli_audit, 3)
    cli_audit.append("lookup", request_id="A-2", details={"processors": 2})
    runner = CliRunner()
    ok = runner.invoke(_cli(), ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output and "head 4:" in ok.output
    shown = runner.invoke(_cli(), ["--json", "audit", "show", "--request", "E-1"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [r["seq"] for r in rows] == [1, 2, 3] and rows[0]["subject_email"] == ANNA
    table = runner.invoke(_cli(), ["audit", "show"])
    assert table.exit_code == 0 and "lookup" in table.output


@pytest.mark.database
def test_cli_verify_reports_tampering_with_exit_3(cli_audit: AuditLog) -> None:
    _fill(cli_audit, 4)
    _sql(cli_audit.engine, delete(AuditEntry).where(AuditEntry.seq == 2))
    runner = CliRunner()
    human = runner.invoke(_cli(), ["audit", "verify"])
    assert human.exit_code == 3 and "entry 2" in human.output
    machine = runner.invoke(_cli(), ["--json", "audit", "verify"])
    assert machine.exit_code == 3
    assert json.loads(machine.stdout)["first_bad_seq"] == 2


@pytest.mark.database
def test_cli_expect_head(cli_audit: AuditLog) -> None:
    _fill(cli_audit, 2)
    head = cli_audit.head()
    assert head is not None
    runner = CliRunner()
    good = runner.invoke(_cli(), ["audit", "verify", "--expect-head", f"{head[0]}:{head[1]}"])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(_cli(), ["audit", "verify", "--expect-head", f"9:{head[1]}"])
    assert bad.exit_code == 3
    usage = runner.invoke(_cli(), ["audit", "verify", "--expect-head", "nonsense"])
    assert usage.exit_code == 2
