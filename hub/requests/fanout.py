"""Run connector operations at every enabled processor concurrently, isolating failures.

Each processor ends with an explicit outcome: a connector error becomes that processor's
``status: error`` with a short reason while the others complete; a processor that is enabled
but lacks credentials is ``skipped`` with the name of the missing setting (never a silent "not
found"). Connectors stay open across the rounds of one request (a connector may cache what it
fetched in round one, e.g. Zettle's receipts, for the widening round).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from connectors.sdk.base import Connector, Findings, PaymentHint, payment_hints
from hub.config.settings import HubSettings, env_name
from hub.core.errors import as_connector_error
from hub.core.models import ProcessorResult, ProcessorStatus

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one operation at one processor produced: findings, or a reason it failed."""

    findings: Findings | None
    error: str | None
    seconds: float


def enabled_processors(
    settings: HubSettings, connectors: dict[str, type[Connector]]
) -> list[str]:
    return [name for name in connectors if settings.processor(name).is_enabled()]


def not_configured_results(
    settings: HubSettings, connectors: dict[str, type[Connector]]
) -> list[ProcessorResult]:
    """Processors left to their default (``enabled`` unset) with no credentials at all: listed
    as skipped, naming what to set, but not counted against the request."""
    results = []
    for name in connectors:
        processor = settings.processor(name)
        if processor.enabled is None and not processor.configured():
            names = ", ".join(env_name(name, f) for f in processor.missing_credentials())
            results.append(ProcessorResult(
                name=name, status=ProcessorStatus.SKIPPED, enabled=False,
                error=f"not set up: set {names} to include it (or enabled = false)"))
    return results


def skipped_result(settings: HubSettings, name: str) -> ProcessorResult | None:
    """A ``skipped`` result if the processor lacks credentials, else None."""
    missing = settings.processor(name).missing_credentials()
    if not missing:
        return None
    names = ", ".join(env_name(name, field) for field in missing)
    return ProcessorResult(name=name, status=ProcessorStatus.SKIPPED,
                           error=f"enabled but not configured: missing setting {names}")


async def guarded(connector: Connector, operation: Awaitable[Findings], request_id: str
                  ) -> Outcome:
    """Await ``operation``; any failure becomes a reason instead of an exception."""
    started = time.monotonic()
    try:
        findings = await operation
    except Exception as exc:  # one processor's failure must not lose the others' results
        error = as_connector_error(exc, connector.title)
        if error is None:
            log.exception("%s %s: unexpected error", request_id, connector.name)
            message = (f"unexpected error in the {connector.name} connector "
                       f"({type(exc).__name__}); run with -vv for details")
        else:
            log.warning("%s %s: %s", request_id, connector.name, error)
            message = str(error)
        return Outcome(None, message, time.monotonic() - started)
    return Outcome(findings, None, time.monotonic() - started)


@asynccontextmanager
async def open_connectors(
    settings: HubSettings, connectors: dict[str, type[Connector]], **extra: object
) -> AsyncIterator[tuple[dict[str, Connector], list[ProcessorResult]]]:
    """Instances of every enabled, configured connector (closed on exit) and the skipped ones.

    ``extra`` keyword arguments are passed to connectors whose constructor accepts them
    (e.g. the state store for connectors that persist tokens).
    """
    opened: dict[str, Connector] = {}
    skipped: list[ProcessorResult] = not_configured_results(settings, connectors)
    async with AsyncExitStack() as stack:
        for name in enabled_processors(settings, connectors):
            result = skipped_result(settings, name)
            if result is not None:
                skipped.append(result)
                continue
            cls = connectors[name]
            accepted = {k: v for k, v in extra.items() if k in cls.init_options}
            # A connector class takes the keyword options it names in ``init_options``.
            factory: Callable[..., Connector] = cls
            opened[name] = await stack.enter_async_context(
                factory(settings.processor(name), **accepted))
        yield opened, skipped


def result_from(name: str, outcome: Outcome) -> ProcessorResult:
    """The processor's result after its first (or only) operation."""
    if outcome.findings is None:
        return ProcessorResult(name=name, status=ProcessorStatus.ERROR, error=outcome.error,
                               duration_seconds=outcome.seconds)
    findings = outcome.findings
    if findings.records:
        status = ProcessorStatus.FOUND
    else:
        status = ProcessorStatus.MANUAL if findings.manual else ProcessorStatus.NOT_FOUND
    return ProcessorResult(name=name, status=status, records=findings.records,
                           notes=findings.notes, note_codes=findings.note_codes,
                           # records found, but a person must still look: not complete
                           incomplete=findings.incomplete or (findings.manual
                                                              and bool(findings.records)),
                           identifiers=findings.identifiers,
                           duration_seconds=outcome.seconds)


def collect_payment_hints(opened: dict[str, Connector], results: dict[str, ProcessorResult]
                          ) -> list[PaymentHint]:
    """The subject's payments in every processor's records so far, read through each
    connector's own :attr:`~connectors.sdk.base.Connector.payment_records` declaration, so no
    connector needs to know another's record shapes."""
    hints: list[PaymentHint] = []
    for name, connector in opened.items():
        result = results.get(name)
        if result is not None and connector.payment_records:
            hints += payment_hints(connector.title, connector.payment_records, result.records)
    return list(dict.fromkeys(hints))


def merge_round(result: ProcessorResult, outcome: Outcome, what: str) -> ProcessorResult:
    """Add a later round's findings to a result; a failed round makes the result an error
    but keeps every record already found."""
    merged = result.model_copy(deep=True)
    merged.duration_seconds = (merged.duration_seconds or 0) + outcome.seconds
    if outcome.findings is None:
        merged.status = ProcessorStatus.ERROR
        merged.error = f"{what} failed: {outcome.error}"
        return merged
    known = {(r.type, r.id) for r in merged.records}
    merged.records += [r for r in outcome.findings.records if (r.type, r.id) not in known]
    merged.notes += [n for n in outcome.findings.notes if n not in merged.notes]
    merged.note_codes += [c for c in outcome.findings.note_codes if c not in merged.note_codes]
    merged.identifiers += outcome.findings.identifiers
    # a processor that asked for a manual step still needs it when a later round finds records
    merged.incomplete = (merged.incomplete or outcome.findings.incomplete
                         or (bool(merged.records) and merged.status is ProcessorStatus.MANUAL))
    if merged.records and merged.status in (ProcessorStatus.NOT_FOUND, ProcessorStatus.MANUAL):
        merged.status = ProcessorStatus.FOUND
    return merged
