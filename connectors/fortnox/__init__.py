"""Fortnox (API v3): the customer register and the invoices that copy its personal data.

Layout: ``settings`` (``DSAR_FORTNOX__*``), ``tokens`` (OAuth with a rotating refresh token in
the store the hub injects), ``errors`` (the ``ErrorInformation`` envelope), ``paging``
(``MetaInformation``), ``lookup`` (partial searches compared exactly; records), ``erasure``
(delete, or anonymise a customer that invoices refer to) and ``connector``. Each module cites
the Fortnox documentation it relies on.
"""

from connectors.fortnox.connector import FortnoxConnector
from connectors.fortnox.erasure import ANONYMISABLE_FIELDS, default_anonymise_fields
from connectors.fortnox.settings import FortnoxSettings
from connectors.fortnox.tokens import CONFIGURED_GRANT_REFUSED, STORED_GRANT_REFUSED, fingerprint

__all__ = [
    "ANONYMISABLE_FIELDS",
    "CONFIGURED_GRANT_REFUSED",
    "STORED_GRANT_REFUSED",
    "FortnoxConnector",
    "FortnoxSettings",
    "default_anonymise_fields",
    "fingerprint",
]
