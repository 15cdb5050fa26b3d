"""``dsar requests purge``: the report folders of access requests closed longer ago than the
retention period go, the ledger keeps that the request was answered (with a keyed hash of the
address), and younger or open requests keep their reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.requests.purge import PURGED, purge_erased_subject, purge_reports
from hub.store.keyed import secret_path
from hub.store.ledger import Ledger
from tests.e2e_helpers import run_dsar

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _answered(ledger: Ledger, email: str, folder: Path, closed_days_ago: int | None) -> str:
    request = ledger.open_request(email, "access", now=NOW - timedelta(days=60))
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<p>Anna Svensson</p>", encoding="utf-8")
    ledger.attach(request.id, "access", {"folder": str(folder)})
    if closed_days_ago is not None:
        ledger.close(request.id, now=NOW - timedelta(days=closed_days_ago))
    return request.id


def test_purge_removes_old_answered_reports_only(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    secret = secret_path(tmp_path)
    old = _answered(ledger, "anna.svensson@example.se", tmp_path / "r" / "old", 31)
    young = _answered(ledger, "maria.berg@example.se", tmp_path / "r" / "young", 10)
    still_open = _answered(ledger, "nils.hansson@example.com", tmp_path / "r" / "open", None)

    listed = purge_reports(ledger, secret, older_than_days=30, now=NOW, dry_run=True)
    assert [p.request_id for p in listed] == [old] and (tmp_path / "r" / "old").is_dir()

    purged = purge_reports(ledger, secret, older_than_days=30, now=NOW)
    assert [p.request_id for p in purged] == [old]
    assert not (tmp_path / "r" / "old").exists()
    assert (tmp_path / "r" / "young").is_dir() and (tmp_path / "r" / "open").is_dir()
    record = ledger.get(old)
    assert record.subject_email is None and any(e.kind == PURGED for e in record.events)
    assert ledger.get(young).subject_email == "maria.berg@example.se"
    assert ledger.get(still_open).status == "open"
    assert purge_reports(ledger, secret, older_than_days=30, now=NOW) == []


def test_purge_command_uses_the_configured_period(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ledger = Ledger.open(f"sqlite:///{state / 'ledger.sqlite3'}")
    now = datetime.now(UTC)
    request = ledger.open_request("anna.svensson@example.se", "access",
                                  now=now - timedelta(days=20))
    folder = tmp_path / "reports" / request.id
    folder.mkdir(parents=True)
    ledger.attach(request.id, "access", {"folder": str(folder)})
    ledger.close(request.id, now=now - timedelta(days=5))
    env = {"DSAR_STATE_DIR": str(state),  # this ledger even when the suite runs on PostgreSQL
           "DSAR_DATABASE_URL": f"sqlite:///{state / 'ledger.sqlite3'}"}
    run = run_dsar("--json", "requests", "purge", env=env)
    assert run.code == 0, run.stderr
    assert run.json["older_than_days"] == 30 and run.json["purged"] == []
    run = run_dsar("--json", "requests", "purge", env=env | {"DSAR_REPORT_RETENTION_DAYS": "3"})
    assert run.code == 0, run.stderr
    assert [p["request_id"] for p in run.json["purged"]] == [request.id]
    assert not folder.exists()


def test_an_erasure_removes_the_subjects_access_reports_at_once(
        database_url: str, tmp_path: Path) -> None:
    """After an erasure an earlier access report would be the last copy of what was erased:
    its folder goes whether the access request is closed or still open; others' stay."""
    ledger = Ledger.open(database_url)
    secret = secret_path(tmp_path)
    closed = _answered(ledger, "anna.svensson@example.se", tmp_path / "r" / "a1", 2)
    still_open = _answered(ledger, "Anna.Svensson@Example.se", tmp_path / "r" / "a2", None)
    other = _answered(ledger, "maria.berg@example.se", tmp_path / "r" / "m", 2)

    purged = purge_erased_subject(ledger, secret, "ANNA.svensson@example.se",
                                  erasure_request_id="era-1")
    assert sorted(p.request_id for p in purged) == sorted([closed, still_open])
    assert not (tmp_path / "r" / "a1").exists() and not (tmp_path / "r" / "a2").exists()
    assert (tmp_path / "r" / "m").is_dir()
    assert ledger.get(closed).subject_email is None  # closed: pseudonymised as a purge does
    kept = ledger.get(still_open)
    assert kept.status == "open" and any(
        e.kind == PURGED and e.details.get("after_erasure") == "era-1" for e in kept.events)
    assert ledger.get(other).subject_email == "maria.berg@example.se"
    assert purge_erased_subject(ledger, secret, "anna.svensson@example.se",
                                erasure_request_id="era-1") == []
