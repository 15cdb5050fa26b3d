"""The contract every connector must meet, as plain check functions (after singer-sdk's
``singer_sdk/testing``): the built-in test suite runs them for every installed connector, and a
third-party package can run the same suite against its own connector::

    from connectors.sdk.testing import run_static_checks
    def test_contract(): run_static_checks(MyConnector)

Checks that need a server take one: the sandbox for built-ins, the plugin's own fake otherwise.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

from pydantic import SecretStr

from connectors.sdk.base import Capability, Connector, ConnectorSettings, Findings
from connectors.sdk.labels import RecordLabels
from hub.core.languages import LANGUAGES
from hub.core.subject import Subject

StaticCheck = Callable[[type[Connector]], None]


def check_identity(cls: type[Connector]) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.name), f"bad connector name {cls.name!r}"
    assert cls.title, "a connector needs a human title"
    assert cls.docs_url.startswith("https://"), "cite the processor's API documentation"


def check_capabilities(cls: type[Connector]) -> None:
    assert Capability.ACCESS in cls.capabilities, "every connector must serve access requests"
    assert all(isinstance(c, Capability) for c in cls.capabilities)


def check_settings_model(cls: type[Connector]) -> None:
    assert issubclass(cls.settings_model, ConnectorSettings)
    defaults = cls.settings_model.model_validate({})
    assert defaults.base_url.startswith("https://"), "the default API address must use TLS"
    assert defaults.missing_credentials() == list(cls.settings_model.required_credentials)
    for name in cls.settings_model.required_credentials:
        assert name in cls.settings_model.model_fields, f"credential {name!r} is not a field"
    for name, field in cls.settings_model.model_fields.items():
        if re.search(r"(key|token|secret|password)$", name):
            assert "SecretStr" in str(field.annotation), f"{name} must be a SecretStr"


def check_labels(cls: type[Connector]) -> None:
    """Declared labels speak every report language (the subject's report never falls back to
    another language's text), and a record type has a singular and a plural."""
    labels = cls.labels
    assert isinstance(labels, RecordLabels), "labels must be a RecordLabels"
    for kind, forms in labels.types.items():
        assert set(forms) >= set(LANGUAGES), f"record type {kind!r} lacks {set(LANGUAGES)}"
        assert all(len(pair) == 2 for pair in forms.values()), f"{kind!r}: [singular, plural]"
    for path, texts in labels.fields.items():
        assert set(texts) >= set(LANGUAGES), f"field {path!r} lacks {set(LANGUAGES)}"


def check_async_methods(cls: type[Connector]) -> None:
    for method in ("find_subject", "check_credentials", "aclose"):
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{method} must be async"


STATIC_CHECKS: tuple[StaticCheck, ...] = (
    check_identity, check_capabilities, check_settings_model, check_labels, check_async_methods,
)


def run_static_checks(cls: type[Connector]) -> None:
    for check in STATIC_CHECKS:
        check(cls)


async def check_against_server(cls: type[Connector], settings: ConnectorSettings) -> None:
    """With a working server: credentials check passes, an unknown person yields no records."""
    async with cls(settings) as connector:
        proved = await connector.check_credentials()
        assert isinstance(proved, str) and proved
        findings = await connector.find_subject(
            Subject.from_email("nobody.at.all.4711@example.com"))
        assert isinstance(findings, Findings)
        assert findings.records == [], "an unknown subject must not match anything"
        assert connector.requests_sent > 0, "requests must go through the shared HTTP policy"
    secrets = settings.secret_values()
    assert all(s not in repr(settings) for s in secrets)
    assert all(isinstance(getattr(settings, n), SecretStr | None)
               for n in settings.required_credentials if "key" in n or "token" in n)
