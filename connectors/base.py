"""Compatibility name for third-party connectors written before the SDK package existed.

New code imports :mod:`connectors.sdk.base`; this module re-exports its public names so that a
plugin doing ``from connectors.base import Connector`` keeps working.
"""

from connectors.sdk.base import (
    Capability,
    Connector,
    ConnectorSettings,
    ErasureAction,
    ErasureOutcome,
    ErasureState,
    Findings,
    api_root,
    personal_fields,
)

__all__ = [
    "Capability",
    "Connector",
    "ConnectorSettings",
    "ErasureAction",
    "ErasureOutcome",
    "ErasureState",
    "Findings",
    "api_root",
    "personal_fields",
]
