"""The booking connector: a booking system declared in TOML (REST API or exported list).

Layout: ``spec`` (the declaration and its validation), ``paginators`` and ``auth`` (registered
by name), ``fields`` (field paths and placeholders), ``api`` (the HTTP loop), ``export``
(CSV/XLSX), ``matching`` (is this the subject?), ``settings`` and ``connector``.
"""

from connectors.booking.connector import BookingConnector
from connectors.booking.settings import BookingSettings

__all__ = ["BookingConnector", "BookingSettings"]
