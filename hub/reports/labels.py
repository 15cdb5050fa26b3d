"""Readable, translated names for record types and fields in subject-facing documents.

The data subject never reads a processor's API vocabulary (``payment_intent``,
``InvoiceAddress.InvoiceAddress1``): each connector declares labels for the record types it
returns and the fields it shows (:attr:`connectors.sdk.base.Connector.labels`; a declared REST
processor in its ``[<table>.labels]`` table), found here through the connector registry;
anything undeclared reads as a neutral "other detail", and the raw key stays in report.json for
the operator. How a field path finds its label is described in :mod:`connectors.sdk.labels`.
"""

from __future__ import annotations

from hub.config.registry import connector_title, record_labels
from hub.reports.translations import texts


def type_label(processor: str, record_type: str, lang: str, count: int = 1) -> str:
    """The record type as a person reads it, e.g. ``Betalning`` for Stripe's ``charge``
    (``Betalningar`` when ``count`` is not 1)."""
    declared = record_labels(processor).type_label(record_type, lang, count)
    if declared is not None:
        return declared
    neutral = texts(lang)["labels"]
    return neutral["other_type"] if count == 1 else neutral["other_types"]


def field_label(processor: str, record_type: str, path: str, lang: str) -> str:
    """The field at dotted ``path`` of a record as a person reads it (list indexes in the path
    do not matter). A connector's field labels hold for all its record types today;
    ``record_type`` is asked for so that callers stay right when one ever needs its own."""
    declared = record_labels(processor).field_label(path, lang)
    return declared if declared is not None else texts(lang)["labels"]["other_field"]


def processor_title(processor: str) -> str:
    """The processor's name as its connector gives it (``Stripe``, ``Fortnox``); the
    processor's key when no installed connector knows it."""
    return connector_title(processor) or processor
