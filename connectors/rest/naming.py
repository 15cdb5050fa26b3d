"""Where a declared REST processor's settings live, for messages that say what to edit.

Why: one engine serves the ``[booking]`` table (``DSAR_BOOKING__*``) and every ``[rest.<name>]``
table (``DSAR_<NAME>__*``); a typo must be reported with the table and variable names of the
processor at hand. Pydantic validates a nested table (``api``, ``export``) without knowing its
parent, so each settings model sets :func:`current` around its own validation (see
:class:`connectors.rest.settings.RestSettings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Naming:
    """A processor's name and the TOML table that declares it."""

    processor: str
    table: str

    @property
    def env_prefix(self) -> str:
        return f"DSAR_{self.processor.upper()}__"

    def env(self, setting: str) -> str:
        """The environment variable of one setting (``DSAR_BOOKING__API_KEY``)."""
        return f"{self.env_prefix}{setting.upper()}"

    @classmethod
    def declared(cls, processor: str) -> Naming:
        """A processor declared as ``[rest.<processor>]``."""
        return cls(processor, f"rest.{processor}")


BOOKING = Naming("booking", "booking")
_CURRENT: ContextVar[Naming] = ContextVar("rest_naming", default=BOOKING)


def current() -> Naming:
    """The processor whose settings are being validated (``booking`` outside any)."""
    return _CURRENT.get()


@contextmanager
def naming(value: Naming) -> Iterator[None]:
    """Validate within ``value``'s names."""
    token = _CURRENT.set(value)
    try:
        yield
    finally:
        _CURRENT.reset(token)
