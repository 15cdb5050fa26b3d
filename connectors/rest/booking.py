"""The ``booking`` processor: the REST engine under the ``[booking]`` table.

Why a class of its own: ``[booking]`` predates ``[rest.<name>]`` and keeps working exactly as
before (processor name ``booking``, ``DSAR_BOOKING__*``, the same report), with BokaMera's
address as the default API (https://api.bokamera.se/metadata; see
``config/booking-bokamera.toml``) and an exported list for a system without an API.
"""

from __future__ import annotations

from pydantic import Field

from connectors.rest.connector import RestConnector
from connectors.rest.naming import BOOKING
from connectors.rest.settings import RestSettings


class BookingSettings(RestSettings):
    naming = BOOKING

    base_url: str = Field("https://api.bokamera.se",
                          description="The booking system's API address (api mode).")
    system: str = Field("the booking system",
                        description="The system's name in reports, e.g. 'Qlickboka'.")


class BookingConnector(RestConnector):
    name = "booking"
    title = "Booking system"
    docs_url = "https://api.bokamera.se/metadata"
    settings_model = BookingSettings
