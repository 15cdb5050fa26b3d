"""The declarative REST engine: processors declared in TOML (a REST API or an exported list).

Layout: ``spec`` (the declaration and its validation), ``api`` (the HTTP loop), ``export``
(CSV/XLSX), ``matching`` (is this the subject?), ``settings`` and ``connector`` (the engine),
``booking`` (the ``[booking]`` processor) and ``declared`` (one processor per ``[rest.<name>]``
table); ``naming`` says which table and variables messages name. Paging, authentication and
field paths are the SDK's (:mod:`connectors.sdk.paginators`, ``auth``, ``fields``).
"""

from connectors.rest.booking import BookingConnector, BookingSettings
from connectors.rest.connector import RestConnector
from connectors.rest.declared import declare
from connectors.rest.settings import RestSettings

__all__ = ["BookingConnector", "BookingSettings", "RestConnector", "RestSettings", "declare"]
