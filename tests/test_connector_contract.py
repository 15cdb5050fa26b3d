"""Every installed connector passes the shared contract (connectors/testing.py)."""

from __future__ import annotations

import pytest

from connectors.sdk.testing import STATIC_CHECKS, check_against_server
from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.sandbox import Sandbox

CONNECTORS = discover()


@pytest.mark.parametrize("check", STATIC_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_static_contract(name: str, check) -> None:
    check(CONNECTORS[name])


@pytest.mark.parametrize("name", sorted(CONNECTORS))
async def test_contract_against_sandbox(name: str) -> None:
    with Sandbox() as sandbox:
        if name not in sandbox.base_urls:
            pytest.skip(f"the sandbox has no {name} server")
        settings = with_processor_overrides(
            load_settings(CONNECTORS), name,
            {"base_url": sandbox.base_urls[name], **sandbox.credentials.get(name, {})})
        await check_against_server(CONNECTORS[name], settings.processor(name))
