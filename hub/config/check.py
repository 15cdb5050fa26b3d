"""``dsar config check``: is every enabled processor configured, reachable and authorised?

One cheap authenticated read per processor (the connector's ``check_credentials``), run
concurrently, each outcome explained in words the user can act on (Airbyte's model: whether
the configuration, the processor or this tool has to change).
"""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.sdk.base import Connector
from hub.config.settings import HubSettings, env_name
from hub.core.errors import as_connector_error


async def _check(name: str, cls: type[Connector], settings: HubSettings,
                 options: dict[str, Any]) -> dict[str, Any]:
    processor = settings.processor(name)
    unknown = sorted(processor.model_extra or {})
    warning = (f" (unknown settings ignored: {', '.join(env_name(name, k) for k in unknown)})"
               if unknown else "")
    missing = processor.missing_credentials()
    if missing:
        names = ", ".join(env_name(name, field) for field in missing)
        return {"name": name, "ok": False, "details": f"missing setting {names}{warning}"}
    try:
        accepted = {k: v for k, v in options.items() if k in cls.init_options}
        async with cls(processor, **accepted) as connector:
            proved = await connector.check_credentials()
    except Exception as exc:
        error = as_connector_error(exc, cls.title)
        if error is None:
            raise
        return {"name": name, "ok": False, "failure_type": error.failure_type.value,
                "details": f"{error}{warning}"}
    return {"name": name, "ok": True, "details": f"{proved} at {processor.base_url}{warning}"}


async def check_all(
    settings: HubSettings, connectors: dict[str, type[Connector]], **options: Any
) -> list[dict[str, Any]]:
    names = [name for name in connectors if settings.processor(name).is_enabled()]
    return list(await asyncio.gather(
        *(_check(n, connectors[n], settings, options) for n in names)))
