"""The hub's words for the personal data a rectification (GDPR Art. 16) may change.

Every connector's :meth:`~connectors.sdk.base.Connector.update` receives changes in these
words and maps them onto its processor's fields, so the hub plans one correction for every
processor without knowing what each calls a phone number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the fields ``dsar rectify --set`` accepts (``address`` is structured: ``address.city=…``)
FIELDS = ("name", "email", "phone", "address")
ADDRESS_PARTS = ("street", "postal_code", "city", "country")


def split_name(name: str) -> tuple[str, str]:
    """First name and the rest, for processors that keep them apart (BokaMera's Firstname and
    Lastname); a one-word name has no last name."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def address_of(changes: Mapping[str, Any]) -> dict[str, str]:
    """The address parts being changed (empty when the address is not)."""
    address = changes.get("address")
    if not isinstance(address, Mapping):
        return {}
    return {part: str(address[part]) for part in ADDRESS_PARTS if part in address}
