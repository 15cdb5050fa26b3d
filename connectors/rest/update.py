"""The body of a declared update call (rectification, GDPR Art. 16).

Kept apart from the engine so the mapping from the hub's words to a processor's field names is
one small function, tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sdk.rectify import address_of, split_name


def update_body(fields: Mapping[str, str], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` under the declared field names; a change whose field is not declared is
    left out. A name goes to ``name`` if declared, else split into ``first_name`` and
    ``last_name``."""
    body: dict[str, Any] = {}
    if "name" in changes:
        name = str(changes["name"])
        if "name" in fields:
            body[fields["name"]] = name
        else:
            first, last = split_name(name)
            for key, value in (("first_name", first), ("last_name", last)):
                if key in fields:
                    body[fields[key]] = value
    for key in ("email", "phone"):
        if key in changes and key in fields:
            body[fields[key]] = changes[key]
    for part, value in address_of(changes).items():
        if f"address.{part}" in fields:
            body[fields[f"address.{part}"]] = value
    return body
