"""The errors connectors raise and the hub turns into a processor's outcome.

Callers catch at the level they can act on (the pattern of ``httpx._exceptions``)::

    DsarError                      anything this package raises on purpose
    ├── InvalidInput               the user's input is wrong (bad e-mail): exit 2, nothing contacted
    ├── ConfigurationError         settings missing or invalid: fix the configuration
    └── ConnectorError             one processor's request failed; the others carry on
        ├── CredentialsRejected    401/403: the processor refused our credentials (never retried)
        ├── ProcessorUnavailable   429/5xx/transport errors still failing after the retry budget
        └── ProtocolError          an answer we cannot interpret (garbage JSON, unexpected 4xx)

Each ``ConnectorError`` carries a ``FailureType`` (after Airbyte's error model) so reports and
``dsar config check`` can say whether the user, the processor or this tool has to act.
"""

from __future__ import annotations

from enum import StrEnum


class FailureType(StrEnum):
    """Who has to act: the user (config), nobody but time (transient), or a developer (system)."""

    CONFIG = "config"
    TRANSIENT = "transient"
    SYSTEM = "system"


class DsarError(Exception):
    """Base class of every error this package raises deliberately."""


class InvalidInput(DsarError):
    """The command-line input is invalid; raised before any processor is contacted."""


class ConfigurationError(DsarError):
    """The settings are incomplete or inconsistent."""


class ConnectorError(DsarError):
    """A processor request failed; ``str(error)`` is a short reason fit for a report."""

    failure_type: FailureType = FailureType.SYSTEM

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class CredentialsRejected(ConnectorError):
    failure_type = FailureType.CONFIG


class ProcessorUnavailable(ConnectorError):
    failure_type = FailureType.TRANSIENT


class ProtocolError(ConnectorError):
    failure_type = FailureType.SYSTEM


def as_connector_error(exc: BaseException, processor: str) -> ConnectorError | None:
    """The typed error for an exception escaping a connector, or None if it is a bug.

    Transport errors reach here only after the shared retry budget is spent.
    """
    import httpx

    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return ProcessorUnavailable(f"{processor} did not answer in time ({type(exc).__name__}) "
                                    "after retries; re-run later")
    if isinstance(exc, httpx.TransportError):
        return ProcessorUnavailable(f"could not reach {processor} ({type(exc).__name__}) after "
                                    "retries; check base_url and the network")
    return None
