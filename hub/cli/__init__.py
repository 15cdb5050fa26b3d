"""The ``dsar`` command line: a thin client of the use-cases
in ``hub.requests`` and ``hub.consent``.

:mod:`.app` wires the command modules together; :mod:`.shared` is all they share."""

from hub.cli.app import app, main

__all__ = ["app", "main"]
