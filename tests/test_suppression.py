"""Keyed hashes (local secret, 0600) and the suppression list (GDPR Art. 21(3))."""

from __future__ import annotations

import logging
import stat
import threading
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.core.errors import ConfigurationError
from hub.store.db import open_database
from hub.store.keyed import (
    SECRET_BYTES,
    keyed_hash,
    load_or_create_secret,
    normalise_email,
    secret_path,
)
from hub.store.suppression import SuppressionList


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_database(database_url)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    return secret_path(tmp_path / "state")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_is_created_on_first_use_with_mode_0600(secret_file: Path) -> None:
    assert not secret_file.exists()
    first = load_or_create_secret(secret_file)
    assert len(first) == SECRET_BYTES
    assert _mode(secret_file) == 0o600
    assert load_or_create_secret(secret_file) == first  # created once, then reused
    assert [p.name for p in secret_file.parent.iterdir()] == [secret_file.name]  # no temp left


def test_secret_creation_race_agrees_on_one_secret(secret_file: Path) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_or_create_secret(secret_file))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert _mode(secret_file) == 0o600


def test_secret_readable_by_others_is_tightened(secret_file: Path) -> None:
    load_or_create_secret(secret_file)
    secret_file.chmod(0o644)
    load_or_create_secret(secret_file)
    assert _mode(secret_file) == 0o600


def test_damaged_secret_is_never_replaced(secret_file: Path) -> None:
    secret_file.parent.mkdir(parents=True)
    secret_file.write_bytes(b"short")
    secret_file.chmod(0o600)
    with pytest.raises(ConfigurationError, match="damaged"):
        load_or_create_secret(secret_file)
    assert secret_file.read_bytes() == b"short"


def test_secret_never_logged(secret_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = load_or_create_secret(secret_file)
    keyed_hash("anna@example.se", secret_file)
    assert secret.hex() not in caplog.text
    assert repr(secret) not in caplog.text


def test_keyed_hash_normalises_case_and_unicode(secret_file: Path) -> None:
    composed = "åsa@example.se"
    decomposed = unicodedata.normalize("NFD", "ÅSA@Example.SE")
    assert composed != decomposed
    assert keyed_hash(composed, secret_file) == keyed_hash(decomposed, secret_file)
    assert keyed_hash(" Anna@Example.se ", secret_file) == keyed_hash("anna@example.se",
                                                                       secret_file)
    assert keyed_hash("anna+news@example.se", secret_file) != keyed_hash("anna@example.se",
                                                                          secret_file)
    digest = keyed_hash("anna@example.se", secret_file)
    assert len(digest) == 64 and int(digest, 16) >= 0
    # the local part is lower-cased, not case-folded: two mailboxes, two pseudonyms
    assert normalise_email("STRASSE@example.de") != normalise_email("straße@example.de")


def test_keyed_hash_depends_on_the_secret(tmp_path: Path) -> None:
    one, two = secret_path(tmp_path / "a"), secret_path(tmp_path / "b")
    assert keyed_hash("anna@example.se", one) != keyed_hash("anna@example.se", two)


def test_suppression_is_case_insensitive(engine: Engine, secret_file: Path) -> None:
    suppression = SuppressionList(engine, secret_file)
    assert not suppression.is_suppressed("anna@example.se")
    suppression.add("Anna.Svensson@Example.SE", "erased (request E-1)")
    assert suppression.is_suppressed("anna.svensson@example.se")
    assert suppression.is_suppressed("ANNA.SVENSSON@EXAMPLE.SE")
    assert not suppression.is_suppressed("anna.svensson+news@example.se")
    assert not suppression.is_suppressed("someone.else@example.se")


def test_add_is_idempotent_and_keeps_the_first_evidence(engine: Engine,
                                                         secret_file: Path) -> None:
    suppression = SuppressionList(engine, secret_file)
    suppression.add("anna@example.se", "erased (request E-1)")
    suppression.add("ANNA@example.se", "objection (request O-2)")
    entries = suppression.list()
    assert len(entries) == 1
    assert entries[0].reason == "erased (request E-1)"
    assert entries[0].email_hash == keyed_hash("anna@example.se", secret_file)
    assert entries[0].added_at.tzinfo is not None


def test_list_holds_no_addresses_and_survives_reopening(database_url: str,
                                                        secret_file: Path) -> None:
    url = database_url
    SuppressionList(open_database(url), secret_file).add("anna@example.se", "erased")
    SuppressionList(open_database(url), secret_file).add_hash("0" * 64, "imported hash")
    reopened = SuppressionList(open_database(url), secret_file)
    assert reopened.is_suppressed("Anna@Example.se")
    assert [e.reason for e in reopened.list()] == ["erased", "imported hash"]
    if url.startswith("sqlite:///"):  # the whole file, whatever table a copy might hide in
        assert b"anna@example.se" not in Path(url.removeprefix("sqlite:///")).read_bytes()


def test_a_replaced_secret_is_detected(engine: Engine, secret_file: Path) -> None:
    SuppressionList(engine, secret_file).add("anna@example.se", "erased")
    secret_file.unlink()  # lost state directory: a new secret would recognise nobody
    with pytest.raises(ConfigurationError, match="not the one"):
        SuppressionList(engine, secret_file).is_suppressed("anna@example.se")


def test_concurrent_adds(database_url: str, secret_file: Path) -> None:
    url = database_url
    open_database(url)

    def worker(n: int) -> None:
        suppression = SuppressionList(open_database(url), secret_file)
        for i in range(10):
            suppression.add(f"person{i}@example.se", f"worker {n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(SuppressionList(open_database(url), secret_file).list()) == 10
