"""Keys saved in the web inbox (:mod:`hub.store.credentials`): encrypted at rest, read back,
removed, and filled into the settings only where the configuration leaves a key empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.mailerlite import MailerLiteConnector
from connectors.stripe import StripeConnector
from hub.config.settings import load_settings
from hub.store.credentials import (
    SavedCredentials,
    ending,
    source,
    with_saved_credentials,
)
from hub.store.db import open_database
from hub.store.state import StateStore, connector_state
from hub.store.tables import StateEntry

STRIPE_KEY = "rk_test_51InventedKeyForTests9x7Q"
CONNECTORS = {"stripe": StripeConnector, "mailerlite": MailerLiteConnector}


def _saved(database_url: str, tmp_path: Path) -> SavedCredentials:
    return SavedCredentials.open(open_database(database_url), tmp_path / "state")


def test_a_saved_key_is_encrypted_at_rest_and_read_back(database_url: str,
                                                        tmp_path: Path) -> None:
    saved = _saved(database_url, tmp_path)
    assert saved.get("stripe", "api_key") is None
    saved.save("stripe", "api_key", STRIPE_KEY)

    with Session(open_database(database_url)) as session:
        raw = [e.value for e in session.scalars(select(StateEntry))]
    assert raw and not any(STRIPE_KEY in value or "9x7Q" in value for value in raw)
    assert any(value.startswith("fernet:v1:") for value in raw)

    again = _saved(database_url, tmp_path).get("stripe", "api_key")  # a new process's view
    assert again is not None and again.value == STRIPE_KEY and again.ending == "9x7Q"
    assert set(_saved(database_url, tmp_path).all()) == {("stripe", "api_key")}

    saved.remove("stripe", "api_key")
    assert _saved(database_url, tmp_path).get("stripe", "api_key") is None
    assert _saved(database_url, tmp_path).all() == {}


def test_only_the_credentials_the_page_takes_can_be_saved(database_url: str,
                                                          tmp_path: Path) -> None:
    saved = _saved(database_url, tmp_path)
    with pytest.raises(ValueError, match="cannot be saved"):
        saved.save("stripe", "base_url", "https://attacker.example.com")
    with pytest.raises(ValueError, match="encrypting store"):
        SavedCredentials(StateStore(open_database(database_url)))


def test_another_encryption_key_cannot_read_a_saved_key(database_url: str,
                                                        tmp_path: Path) -> None:
    _saved(database_url, tmp_path).save("mailerlite", "api_token", "eyJ0eXAiOiJKV1Qi.invented")
    other = SavedCredentials(connector_state(open_database(database_url), tmp_path / "other"))
    assert other.get("mailerlite", "api_token") is None  # counts as absent, never garbage


def test_the_ending_never_gives_away_much_of_a_short_value() -> None:
    assert ending(STRIPE_KEY) == "9x7Q"
    assert ending("sk_short_1") == ""


def test_the_configuration_wins_and_a_saved_key_fills_only_a_gap(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = _saved(database_url, tmp_path)
    saved.save("stripe", "api_key", STRIPE_KEY)
    saved.save("mailerlite", "api_token", "eyJ0eXAiOiJKV1Qi.saved-token")
    monkeypatch.setenv("DSAR_MAILERLITE__API_TOKEN", "eyJ0eXAiOiJKV1Qi.from-environment")
    monkeypatch.delenv("DSAR_STRIPE__API_KEY", raising=False)
    configured = load_settings(CONNECTORS, state_dir=tmp_path / "state")
    assert configured.processor("stripe").missing_credentials() == ["api_key"]

    used = with_saved_credentials(configured, saved)
    stripe_key = used.processor("stripe").api_key  # type: ignore[attr-defined]
    assert isinstance(stripe_key, SecretStr) and stripe_key.get_secret_value() == STRIPE_KEY
    assert used.processor("stripe").missing_credentials() == []
    assert used.processor("stripe").is_enabled()
    token = used.processor("mailerlite").api_token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "eyJ0eXAiOiJKV1Qi.from-environment"
    assert configured.processor("stripe").missing_credentials() == ["api_key"]  # a copy

    assert source(used, "stripe", "api_key", saved.get("stripe", "api_key")) == "saved"
    assert source(used, "mailerlite", "api_token",
                  saved.get("mailerlite", "api_token")) == "configuration"
    assert source(configured, "stripe", "api_key", None) == "none"
    assert STRIPE_KEY not in repr(used)


def test_every_command_gets_the_saved_key(database_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's context (lookups, erasures, jobs, ``config check``) fills the saved key in."""
    from hub.cli.shared import Options, request_context
    from tests.e2e_helpers import filled_config

    monkeypatch.setenv("DSAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSAR_DATABASE_URL", database_url)
    monkeypatch.setenv("DSAR_CONFIG", str(filled_config()))
    _saved(database_url, tmp_path).save("stripe", "api_key", STRIPE_KEY)
    options = Options(config=None, sandbox=False, json=False, out=None, verbose=0)
    with request_context(options) as ctx:
        key = ctx.settings.processor("stripe").api_key  # type: ignore[attr-defined]
        assert key.get_secret_value() == STRIPE_KEY
        assert ctx.settings.processor("stripe").is_enabled()
