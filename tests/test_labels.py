"""Readable names for record types and fields: declared by connectors (or a REST processor's
configuration table), matched regardless of list indexes and spelling, with neutral fallbacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk.labels import RecordLabels
from connectors.sdk.testing import check_labels
from hub.config.registry import discover, record_labels
from hub.core.errors import ConfigurationError
from hub.reports.labels import field_label, processor_title, type_label
from hub.reports.translations import texts

LABELS = RecordLabels(
    types={"charge": {"sv": ("Betalning", "Betalningar"), "en": ("Payment", "Payments")}},
    fields={
        "email": {"sv": "E-postadress", "en": "E-mail address"},
        "city": {"sv": "Ort", "en": "Town or city"},
        "shipping": {"sv": "Leveransadress", "en": "Delivery address"},
        "products.name": {"sv": "Vara", "en": "Item"},
        "name": {"sv": "Namn", "en": "Name"},
        "metadata": {"sv": "Extra uppgift", "en": "Additional detail"},
        "card": {"sv": "Kort", "en": "Card"},
        "checks": {"sv": "Kontroller", "en": "Checks"},
    })


@pytest.fixture(autouse=True)
def shipped_configuration() -> Iterator[None]:
    """The shipped configuration is the one in use before and after each test."""
    discover()
    yield
    discover()


def test_declared_types_and_fields() -> None:
    assert LABELS.type_label("charge", "sv") == "Betalning"
    assert LABELS.type_label("charge", "en", count=3) == "Payments"
    assert LABELS.type_label("charge", "en", count=0) == "Payments"
    assert LABELS.type_label("refund", "sv") is None
    assert LABELS.type_label("charge", "de") is None  # no language is borrowed
    assert LABELS.field_label("email", "sv") == "E-postadress"


def test_list_indexes_spelling_and_groups() -> None:
    # list indexes do not matter; the longest declared tail wins over a shorter one
    assert LABELS.field_label("products.0.name", "sv") == "Vara"
    assert LABELS.field_label("products.12.name", "en") == "Item"
    assert LABELS.field_label("Products.0.Name", "sv") == "Vara"  # case, as APIs differ
    assert LABELS.field_label("E_mail", "sv") == "E-postadress"  # "_" and "-" are ignored
    # a declared start names the group a field belongs to
    assert LABELS.field_label("shipping.address.city", "sv") == "Leveransadress – Ort"
    assert LABELS.field_label("shipping.name", "en") == "Delivery address – Name"
    # an undeclared field reads as its nearest labelled parent
    assert LABELS.field_label("metadata.kundnummer", "sv") == "Extra uppgift"
    assert LABELS.field_label("card.checks.cvc_check", "en") == "Card – Checks"
    assert LABELS.field_label("unknown", "sv") is None
    assert LABELS.field_label("0", "sv") is None


def test_labels_merge_and_refuse_blank_texts() -> None:
    more = LABELS.merged({"fields": {"city": {"sv": "Postort", "en": "Post town"}}})
    assert more.field_label("city", "sv") == "Postort"
    assert LABELS.field_label("city", "sv") == "Ort"  # the original is unchanged
    assert more.field_label("products.0.name", "sv") == "Vara"
    with pytest.raises(ValueError, match="non-empty"):
        RecordLabels.model_validate({"fields": {"city": {"sv": " "}}})
    with pytest.raises(ValueError):
        RecordLabels.model_validate({"types": {"charge": {"sv": ["Betalning"]}}})
    check_labels(type("Fake", (), {"labels": LABELS}))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="lacks"):
        check_labels(type("Fake", (), {"labels": RecordLabels(  # type: ignore[arg-type]
            fields={"city": {"sv": "Ort"}})}))


def test_connector_labels_through_the_registry() -> None:
    assert type_label("stripe", "charge", "sv") == "Betalning"
    assert type_label("stripe", "payment_intent", "en", count=2) == "Payment attempts"
    assert field_label("stripe", "charge", "billing_details.address.city", "sv") == (
        "Faktureringsuppgifter – Ort")
    assert field_label("zettle", "purchase", "payments.0.attributes.maskedPan", "en") == (
        "Payment – Card number (partly hidden)")
    assert field_label("fortnox", "invoice", "InvoiceRows.3.Total", "sv") == (
        "Fakturarad – Belopp")
    assert field_label("booking", "customer", "InvoiceAddress.InvoiceAddress1", "sv") == (
        "Fakturaadress – Gatuadress")  # the REST engine's defaults
    assert processor_title("fortnox") == "Fortnox"


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_undeclared_types_and_fields_read_neutrally(lang: str) -> None:
    neutral = texts(lang)["labels"]
    assert field_label("stripe", "charge", "some_new_field", lang) == neutral["other_field"]
    assert type_label("stripe", "refund", lang) == neutral["other_type"]
    assert type_label("stripe", "refund", lang, count=2) == neutral["other_types"]
    # a processor no connector serves: nothing declared, nothing raw
    assert type_label("acme", "thing", lang) == neutral["other_type"]
    assert field_label("acme", "thing", "payment_intent.id", lang) == neutral["other_field"]
    assert processor_title("acme") == "acme"


def test_a_rest_processor_declares_its_labels_in_its_table(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('''
[booking.labels.types]
customer = { sv = ["Klient", "Klienter"], en = ["Client", "Clients"] }
[booking.labels.fields]
"Kundnr" = { sv = "Klientnummer", en = "Client number" }

[rest.courses]
system = "Kursplattformen"
base_url = "https://courses.example.com"
[rest.courses.labels.types]
enrolment = { sv = ["Kursanmälan", "Kursanmälningar"], en = ["Enrolment", "Enrolments"] }
[rest.courses.labels.fields]
"Course.Title" = { sv = "Kurs", en = "Course" }
[[rest.courses.api.auth]]
type = "api_key"
header = "x-api-key"
[[rest.courses.api.resources]]
name = "enrolment"
path = "/enrolments"
personal_fields = ["*"]
[rest.courses.api.resources.search]
email = "email"
[rest.courses.api.resources.identifiers]
email = "Email"
''', encoding="utf-8")
    assert "courses" in discover(config)  # the file the command runs with
    assert type_label("courses", "enrolment", "sv", count=2) == "Kursanmälningar"
    assert field_label("courses", "enrolment", "Course.Title", "en") == "Course"
    assert field_label("courses", "enrolment", "Email", "sv") == "E-postadress"  # defaults
    assert processor_title("courses") == "Kursplattformen"
    assert type_label("booking", "customer", "en") == "Client"  # [booking.labels] wins
    assert field_label("booking", "customer", "Kundnr", "sv") == "Klientnummer"
    assert type_label("booking", "booking", "sv") == "Bokning"  # the rest stays default

    config.write_text('''
[booking.labels.fields]
"Kundnr" = { sv = "" }
''', encoding="utf-8")
    discover(config)
    with pytest.raises(ConfigurationError, match="labels of 'booking'"):
        record_labels("booking")
