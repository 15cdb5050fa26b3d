"""Several machines on one database share the keyed-hash key and the token-encryption key:
configured from a file or the environment, refused when readable by others, and compared with
the fingerprints the database keeps from its first use (`dsar config check`, and every
command before anything is contacted)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from hub.config.registry import discover
from hub.config.settings import HubSettings, load_settings
from hub.core.errors import ConfigurationError
from hub.store.db import open_database
from hub.store.keyed import Pseudonymiser, check_keyed_hash_key, secret_path
from hub.store.sealed import check_token_key, key_path
from hub.store.state import connector_state
from hub.store.suppression import SuppressionList
from tests.e2e_helpers import run_dsar

ANNA = "anna.svensson@example.se"


def key_file(folder: Path, text: str | bytes | None = None, mode: int = 0o600) -> Path:
    """A key file as an operator makes one (``secrets.token_urlsafe(32)``, chmod 600)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"key-{secrets.token_hex(4)}"
    content = text if text is not None else secrets.token_urlsafe(32) + "\n"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    path.chmod(mode)
    return path


def machine(state_dir: Path, **keys: object) -> HubSettings:
    """The settings of one machine: its own state folder, keys as configured."""
    return load_settings(discover(), None, state_dir=state_dir, **keys)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    loose = key_file(tmp_path / "keys", mode=0o640)
    with pytest.raises(ConfigurationError, match=r"chmod 600"):
        machine(tmp_path / "a", keyed_hash_key_file=loose)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        machine(tmp_path / "a", token_key_file=tmp_path / "missing")


def test_a_key_set_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_KEYED_HASH_KEY", secrets.token_urlsafe(32))
    monkeypatch.setenv("DSAR_KEYED_HASH_KEY_FILE", str(key_file(tmp_path / "keys")))
    with pytest.raises(ConfigurationError, match="not both"):
        load_settings(discover(), None)


def test_two_machines_with_one_key_file_hash_alike(database_url: str, tmp_path: Path) -> None:
    shared = key_file(tmp_path / "keys")
    engine = open_database(database_url)
    one = machine(tmp_path / "one", keyed_hash_key_file=shared)
    two = machine(tmp_path / "two", keyed_hash_key_file=shared)
    SuppressionList(engine, secret_path(one.state_dir)).add(ANNA, "erased")
    # the second machine recognises the person the first one suppressed
    assert SuppressionList(engine, secret_path(two.state_dir)).is_suppressed(ANNA)
    assert Pseudonymiser(engine, secret_path(one.state_dir)).hash(ANNA) == \
        Pseudonymiser(engine, secret_path(two.state_dir)).hash(ANNA)
    # a configured key is never written into the state folder
    assert not secret_path(one.state_dir).exists()
    assert not secret_path(two.state_dir).exists()


def test_every_key_spelling_is_the_same_key(tmp_path: Path) -> None:
    raw = secrets.token_bytes(32)
    spellings: list[str | bytes] = [
        raw,  # a copy of a key file the hub generated
        base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n",
        base64.urlsafe_b64encode(raw).decode(),
        raw.hex() + "\n",
    ]
    hashes = set()
    for n, spelling in enumerate(spellings):
        settings = machine(tmp_path / f"m{n}", keyed_hash_key_file=key_file(tmp_path, spelling))
        hashes.add(_hash_without_database(settings))
    assert len(hashes) == 1
    weak = machine(tmp_path / "weak", keyed_hash_key_file=key_file(tmp_path, "hunter2\n"))
    with pytest.raises(ConfigurationError, match="32 random bytes"):
        _hash_without_database(weak)


def _hash_without_database(settings: HubSettings) -> str:
    from hub.store.keyed import keyed_hash

    return keyed_hash(ANNA, secret_path(settings.state_dir))


def test_a_machine_with_another_key_refuses_to_write_hashes(database_url: str,
                                                          tmp_path: Path) -> None:
    engine = open_database(database_url)
    first = machine(tmp_path / "one", keyed_hash_key_file=key_file(tmp_path / "k1"))
    SuppressionList(engine, secret_path(first.state_dir)).add(ANNA, "erased")
    other = machine(tmp_path / "two", keyed_hash_key_file=key_file(tmp_path / "k2"))
    with pytest.raises(ConfigurationError, match="differs from the one the database was "
                                                 "started with") as refused:
        SuppressionList(engine, secret_path(other.state_dir)).add(ANNA, "erased")
    assert "DSAR_KEYED_HASH_KEY_FILE" in str(refused.value)
    # a machine with no key at all makes none: it is told to copy the database's
    bare = machine(tmp_path / "three")
    with pytest.raises(ConfigurationError, match="no keyed-hash key yet"):
        Pseudonymiser(engine, secret_path(bare.state_dir)).hash(ANNA)
    assert not secret_path(bare.state_dir).exists()
    assert check_keyed_hash_key(engine, other.state_dir) == "differs"
    assert check_keyed_hash_key(engine, bare.state_dir) == "missing"
    assert check_keyed_hash_key(engine, first.state_dir) == "same"


def test_tokens_stored_by_one_machine_are_read_by_another(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_TOKEN_KEY", secrets.token_urlsafe(32))
    engine = open_database(database_url)
    one, two = machine(tmp_path / "one"), machine(tmp_path / "two")
    connector_state(engine, one.state_dir).put("fortnox:tokens:x", {"refresh_token": "rt-1"})
    assert connector_state(engine, two.state_dir).get("fortnox:tokens:x") == {
        "refresh_token": "rt-1"}
    assert not key_path(one.state_dir).exists()
    assert check_token_key(engine, two.state_dir) == "same"
    # a third machine configured with another key is refused before any token is read
    monkeypatch.setenv("DSAR_TOKEN_KEY", secrets.token_urlsafe(32))
    three = machine(tmp_path / "three")
    with pytest.raises(ConfigurationError, match=r"token-encryption key .* differs"):
        connector_state(engine, three.state_dir)
    assert check_token_key(engine, three.state_dir) == "differs"


def test_config_check_compares_the_keys_with_the_database(database_url: str,
                                                          tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keyed, token = key_file(keys), key_file(keys)
    env = {"DSAR_DATABASE_URL": database_url, "DSAR_KEYED_HASH_KEY_FILE": str(keyed),
           "DSAR_TOKEN_KEY_FILE": str(token)}
    first = run_dsar("--json", "config", "check",
                     env={**env, "DSAR_STATE_DIR": str(tmp_path / "one")})
    assert first.code == 0, first.stdout + first.stderr
    assert all(k["ok"] for k in first.json["keys"])
    second = run_dsar("--json", "config", "check",
                      env={**env, "DSAR_STATE_DIR": str(tmp_path / "two")})
    assert second.code == 0, second.stdout + second.stderr
    details = [k["details"] for k in second.json["keys"]]
    assert all(d.startswith("same key as the database") for d in details), details

    other_token = {**env, "DSAR_STATE_DIR": str(tmp_path / "three"),
                   "DSAR_TOKEN_KEY_FILE": str(key_file(keys))}
    run = run_dsar("config", "check", env=other_token)
    assert run.code == 2
    assert "differs from the one the database was started with" in run.stdout + run.stderr

    other_keyed = {**env, "DSAR_STATE_DIR": str(tmp_path / "four"),
                   "DSAR_KEYED_HASH_KEY_FILE": str(key_file(keys))}
    run = run_dsar("config", "check", env=other_keyed)
    assert run.code == 2
    assert "keyed-hash key" in run.stderr and "copy it from" in run.stderr
    for path in (keyed, token):  # no key is ever printed
        assert path.read_text().strip() not in run.stdout + run.stderr + first.stdout
