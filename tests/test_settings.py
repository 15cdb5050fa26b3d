"""Settings as the README fixes them: DSAR_ prefix, __ nesting, .env, TOML, SecretStr."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[1]


def test_builtin_connectors_are_discovered_through_entry_points() -> None:
    assert {"stripe", "mailerlite"} <= set(discover())


def test_environment_nesting_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_STRIPE__API_KEY", "sk_test_env_123456")
    monkeypatch.setenv("DSAR_STRIPE__BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("DSAR_MAILERLITE__ENABLED", "false")
    monkeypatch.setenv("DSAR_MAILERLITE__HTTP__RATE_LIMIT_REQUESTS", "60")
    settings = load_settings(discover(), REPO / "config" / "hub.toml")
    stripe = settings.processor("stripe")
    assert isinstance(stripe.api_key, SecretStr)
    assert stripe.api_key.get_secret_value() == "sk_test_env_123456"
    assert "sk_test_env" not in repr(stripe) and "sk_test_env" not in str(settings.model_dump())
    assert stripe.base_url == "http://127.0.0.1:9/"
    mailerlite = settings.processor("mailerlite")
    assert mailerlite.enabled is False
    assert mailerlite.http.rate_limit_requests == 60
    assert mailerlite.http.rate_limit_seconds == 60.0  # the rest of the TOML table is kept


def test_toml_file_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[controller]\nname = "Test AB"\n[stripe]\nuse_search = false\n'
                      '[[inventory]]\nkey = "x"\nsystem = "X"\n', encoding="utf-8")
    (tmp_path / ".env").write_text("DSAR_MAILERLITE__API_TOKEN=from-dotenv-token\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(discover(), config)
    assert settings.controller.name == "Test AB"
    assert settings.processor("stripe").use_search is False
    assert settings.processor("mailerlite").api_token.get_secret_value() == "from-dotenv-token"
    assert [e.key for e in settings.inventory] == ["x"]


def test_default_config_describes_the_processing_inventory() -> None:
    settings = load_settings(discover(), REPO / "config" / "hub.toml")
    keys = {entry.key for entry in settings.inventory}
    assert {"booking", "zettle", "fortnox", "paloma", "mailerlite", "stripe", "journals"} <= keys
    for entry in settings.inventory:
        assert entry.purposes and entry.legal_basis and entry.retention


def test_dsar_config_env_var_and_missing_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="DSAR_CONFIG"):
        load_settings(discover())


def test_invalid_value_is_one_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_STRIPE__HTTP__MAX_ATTEMPTS", "zero")
    with pytest.raises(ConfigurationError, match=r"stripe\.http\.max_attempts"):
        load_settings(discover(), REPO / "config" / "hub.toml")


def test_missing_credentials_are_named() -> None:
    settings = load_settings(discover(), REPO / "config" / "hub.toml")
    assert settings.processor("stripe").missing_credentials() == ["api_key"]
    settings = with_processor_overrides(settings, "stripe", {"api_key": "sk_test_x_1234"})
    assert settings.processor("stripe").missing_credentials() == []
