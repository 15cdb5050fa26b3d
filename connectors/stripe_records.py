"""Stripe's objects as records of an access report, and how a payer is told from them.

Why a module of its own: the connector (:mod:`connectors.stripe`), its guest-payment lookup
(:mod:`connectors.stripe_guests`) and the history index's source
(:mod:`connectors.stripe_history`) must report and match an object the same way, so the rules
live here, below all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.base import personal_fields
from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject

# The personal-data fields of each object type (docs.stripe.com/api, privacy/deletion-requests).
FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("email", "name", "phone", "address", "shipping", "description", "metadata",
                 "preferred_locales", "created"),
    "payment_method": ("type", "billing_details", "card", "created"),
    "charge": ("amount", "currency", "status", "description", "billing_details", "receipt_email",
               "shipping", "payment_method_details", "created", "customer"),
    "payment_intent": ("amount", "currency", "status", "description", "receipt_email", "shipping",
                       "created", "customer"),
    "invoice": ("number", "status", "total", "currency", "customer_email", "customer_name",
                "customer_address", "customer_phone", "customer_shipping", "created",
                "status_transitions", "customer"),
    "subscription": ("status", "created", "start_date", "canceled_at", "cancel_at", "customer"),
    "checkout_session": ("customer_details", "shipping_details", "amount_total", "currency",
                         "payment_status", "created", "customer"),
}
# What the subject reads for these types and fields: connectors/stripe_labels.py.


def timestamps_to_iso(data: dict[str, Any]) -> dict[str, Any]:
    """Stripe's Unix times as ISO 8601 (UTC). A value no calendar holds (a millisecond
    timestamp from a misbehaving server) stays as sent: one odd field must not cost the
    subject their whole Stripe answer."""
    for key in ("created", "start_date", "canceled_at", "cancel_at"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            with suppress(ValueError, OverflowError, OSError):
                data[key] = datetime.fromtimestamp(value, tz=UTC).isoformat()
    return data


def stripe_record(kind: str, obj: Mapping[str, Any], matched_on: str,
                  strength: MatchStrength) -> Record:
    data = personal_fields(dict(obj), FIELDS[kind])
    if kind == "charge" and isinstance(data.get("payment_method_details"), dict):
        card = data["payment_method_details"].get("card") or {}
        data["payment_method_details"] = {
            "type": data["payment_method_details"].get("type"),
            **{k: card[k] for k in ("brand", "last4", "exp_month", "exp_year") if k in card},
        }
    return Record(type=kind, id=str(obj["id"]), matched_on=matched_on, match_strength=strength,
                  data=timestamps_to_iso(data))


def payer_addresses(obj: Mapping[str, Any]) -> list[str]:
    """Addresses a payment object holds for its payer (guest payments have only these)."""
    found = [obj.get("receipt_email")]
    for key in ("billing_details", "customer_details"):
        details = obj.get(key)
        if isinstance(details, Mapping):
            found.append(details.get("email"))
    return [a for a in found if isinstance(a, str) and a]


def best_match(subject: Subject, addresses: list[str]) -> MatchStrength | None:
    order = list(MatchStrength)
    matches = [m for a in addresses if (m := subject.match_email(a)) is not None]
    return min(matches, key=order.index) if matches else None


def identifiers_of(records: Any) -> list[Identifier]:
    """Stored address spellings and phone numbers in the records, for identity widening."""
    found: list[Identifier | None] = []
    for record in records:
        data = record.data
        for key in ("email", "receipt_email", "customer_email"):
            found.append(Identifier.found("email", data.get(key), "stripe"))
        found.append(Identifier.found("phone", data.get("phone"), "stripe"))
        for key in ("billing_details", "customer_details"):
            if isinstance(data.get(key), dict):
                found.append(Identifier.found("email", data[key].get("email"), "stripe"))
                found.append(Identifier.found("phone", data[key].get("phone"), "stripe"))
        found.append(Identifier.found("phone", data.get("customer_phone"), "stripe"))
    return list(dict.fromkeys(i for i in found if i is not None))
