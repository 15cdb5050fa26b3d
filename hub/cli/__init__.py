"""The ``dsar`` command line: a thin client of the use-cases
in ``hub.requests`` and ``hub.consent``."""

from hub.cli.root import app, main

__all__ = ["app", "main"]
