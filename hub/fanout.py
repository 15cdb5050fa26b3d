"""Run one operation at every enabled processor concurrently, isolating their failures.

Each processor ends with an explicit :class:`ProcessorResult`: a connector error becomes that
processor's ``status: error`` with a short reason while the others complete; a processor that
is enabled but lacks credentials is ``skipped`` with the name of the missing setting (never a
silent "not found"). Shared by the access job now and by erasure and config checks later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from connectors.base import Connector, Findings
from hub.errors import as_connector_error
from hub.models import ProcessorResult, ProcessorStatus
from hub.settings import HubSettings, env_name

log = logging.getLogger(__name__)

Operation = Callable[[Connector], Awaitable[Findings]]
ProgressCallback = Callable[[str, ProcessorResult | None], None]


def enabled_processors(
    settings: HubSettings, connectors: dict[str, type[Connector]]
) -> list[str]:
    return [name for name in connectors if settings.processor(name).enabled]


async def _run_one(
    name: str, cls: type[Connector], settings: HubSettings, operation: Operation, request_id: str
) -> ProcessorResult:
    processor_settings = settings.processor(name)
    missing = processor_settings.missing_credentials()
    if missing:
        names = ", ".join(env_name(name, field) for field in missing)
        return ProcessorResult(name=name, status=ProcessorStatus.SKIPPED,
                               error=f"enabled but not configured: missing setting {names}")
    started = time.monotonic()
    try:
        async with cls(processor_settings) as connector:
            findings = await operation(connector)
    except Exception as exc:  # one processor's failure must not lose the others' results
        error = as_connector_error(exc, cls.title)
        if error is None:
            log.exception("%s %s: unexpected error", request_id, name)
        else:
            log.warning("%s %s: %s", request_id, name, error)
        message = str(error) if error else (
            f"unexpected error in the {name} connector ({type(exc).__name__}); "
            "run with -vv for details")
        return ProcessorResult(name=name, status=ProcessorStatus.ERROR, error=message,
                               duration_seconds=time.monotonic() - started)
    if findings.manual:
        status = ProcessorStatus.MANUAL
    else:
        status = ProcessorStatus.FOUND if findings.records else ProcessorStatus.NOT_FOUND
    log.info("%s %s: %s, %d records", request_id, name, status, len(findings.records))
    return ProcessorResult(name=name, status=status, records=findings.records,
                           notes=findings.notes, duration_seconds=time.monotonic() - started)


async def fan_out(
    settings: HubSettings,
    connectors: dict[str, type[Connector]],
    operation: Operation,
    *,
    request_id: str,
    on_progress: ProgressCallback | None = None,
) -> list[ProcessorResult]:
    """Run ``operation`` at every enabled processor at once; results in processor order."""

    async def tracked(name: str) -> ProcessorResult:
        if on_progress:
            on_progress(name, None)
        result = await _run_one(name, connectors[name], settings, operation, request_id)
        if on_progress:
            on_progress(name, result)
        return result

    names = enabled_processors(settings, connectors)
    return list(await asyncio.gather(*(tracked(name) for name in names)))
