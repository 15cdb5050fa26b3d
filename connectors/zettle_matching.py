"""Reading Zettle receipts for the subject: the fields disclosed, the free texts a person can
be named in, and the rules that tie a receipt to the subject (a mention of an identifier, the
same payment day and amount, the same card).

Why a module of its own: the connector (:mod:`connectors.zettle`) reads receipts either by a
full scan or through the hub's index (:mod:`connectors.zettle_history` indexes them); both
paths must confirm a receipt with exactly these rules, so they live here, below both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import phonenumbers

from connectors.sdk.base import PaymentHint, personal_fields
from connectors.sdk.history import HistorySource, IndexEntry, index_term
from hub.core.models import Record
from hub.core.subject import Identifier, MatchStrength, Subject

Purchase = dict[str, Any]
# The receipt fields an access report discloses (purchase.adoc, "Purchase/Product/Payment
# attributes"); internal ids (userId, organizationId, cashRegister) are left out.
PURCHASE_FIELDS = (
    "purchaseUUID1", "purchaseNumber", "globalPurchaseNumber", "timestamp", "source", "amount",
    "vatAmount", "currency", "country", "userDisplayName", "discounts", "serviceCharge",
    "references", "gpsCoordinates", "refund", "refunded", "refundsPurchaseUUID1",
    "refundedByPurchaseUUIDs1",
)
PRODUCT_FIELDS = ("name", "variantName", "quantity", "unitPrice", "unitName", "comment",
                  "description", "type", "sku", "barcode")
PAYMENT_FIELDS = ("uuid", "type", "amount", "gratuityAmount", "referenceNumber", "attributes",
                  "references", "details", "createdAt")


#: where a receipt holds free text or references a person could be named in (purchase.adoc)
FREE_TEXT_PATHS = (
    "products[].name", "products[].variantName", "products[].comment", "products[].description",
    "discounts[].name", "serviceCharge.title",
    "payments[].referenceNumber", "payments[].attributes.*", "payments[].references.*",
    "payments[].details.*", "references.*",
)

EMAIL_TOKEN = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
PERSONNUMMER_TOKEN = re.compile(r"(?<!\d)(?:\d{2})?\d{6}\s?[-+]?\s?\d{4}(?!\d)")
SEVEN_DIGITS = re.compile(r"\d(?:\D{0,3}\d){6}")
UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PATH_STEP = re.compile(r"\[\]|[^.\[\]]+")

def purchase_id(purchase: Purchase) -> str | None:
    """``purchaseUUID1``; the deprecated ``purchaseUUID`` only if the former is missing."""
    value = purchase.get("purchaseUUID1") or purchase.get("purchaseUUID")
    return str(value) if value else None



# ------------------------------------------------------------------------------ matching
def free_texts(purchase: Purchase) -> list[tuple[str, str]]:
    """(where, text) for every non-empty string at :data:`FREE_TEXT_PATHS`."""
    return [found for path in FREE_TEXT_PATHS
            for found in _texts_at(purchase, _PATH_STEP.findall(path), "")]


def _texts_at(node: Any, steps: Sequence[str], where: str) -> Iterator[tuple[str, str]]:
    if not steps:
        if isinstance(node, str) and node.strip():
            yield where, node
        return
    step, rest = steps[0], steps[1:]
    if step == "[]" and isinstance(node, list):
        for index, item in enumerate(node):
            yield from _texts_at(item, rest, f"{where}[{index}]")
    elif step == "*" and isinstance(node, dict):
        for key, value in node.items():
            yield from _texts_at(value, rest, f"{where}.{key}" if where else str(key))
    elif isinstance(node, dict) and step in node:
        yield from _texts_at(node[step], rest, f"{where}.{step}" if where else step)


@dataclass(frozen=True)
class Mention:
    """One of the subject's identifiers written somewhere on a receipt."""

    kind: str
    strength: MatchStrength
    where: str


def find_mentions(
    subject: Subject, texts: list[tuple[str, str]], wanted: Sequence[Identifier], region: str
) -> list[Mention]:
    """The mentions of ``wanted`` identifiers in a receipt's texts.

    E-mail-shaped tokens go through :meth:`Subject.match_email`; phone numbers (found by
    libphonenumber in national or international form, in the merchant's ``region``) and
    personnummer through :meth:`Subject.match_identifier`.
    """
    kinds = {identifier.kind for identifier in wanted}
    found: list[Mention] = []
    for where, text in texts:
        if "email" in kinds and "@" in text:
            found += [Mention("email", strength, where) for token in EMAIL_TOKEN.findall(text)
                      if (strength := subject.match_email(token)) is not None]
        if UUID_TEXT.fullmatch(text.strip()) or not SEVEN_DIGITS.search(text):
            continue
        candidates: list[tuple[str, str]] = []
        if "phone" in kinds:
            candidates += [("phone", phonenumbers.format_number(
                match.number, phonenumbers.PhoneNumberFormat.E164))
                for match in phonenumbers.PhoneNumberMatcher(text, region)]
        if "personnummer" in kinds:
            candidates += [("personnummer", raw) for raw in PERSONNUMMER_TOKEN.findall(text)]
        for kind, raw in candidates:
            identifier = subject.match_identifier(kind, raw)
            if identifier is not None and identifier in wanted:
                strength = MatchStrength.EXACT if identifier.verified else MatchStrength.DERIVED
                found.append(Mention(kind, strength, where))
    return found


def strongest(mentions: list[Mention]) -> Mention:
    order = list(MatchStrength)
    return min(mentions, key=lambda m: order.index(m.strength))


def purchase_record(purchase: Purchase, mention: Mention) -> Record:
    data = personal_fields(purchase, PURCHASE_FIELDS)
    for key, fields in (("products", PRODUCT_FIELDS), ("payments", PAYMENT_FIELDS)):
        rows = [personal_fields(row, fields) for row in purchase.get(key) or []
                if isinstance(row, dict)]
        if rows:
            data[key] = rows
    return Record(type="purchase", id=purchase_id(purchase) or "", matched_on=mention.kind,
                  match_strength=mention.strength, data=data)


def receipt_label(purchase: Purchase) -> str:
    number = purchase.get("purchaseNumber")
    day = str(purchase.get("timestamp") or "")[:10] or "unknown date"
    amount = purchase.get("amount")
    money = (f" ({Decimal(amount).scaleb(-2):.2f} {purchase.get('currency') or ''}".rstrip() + ")"
             if isinstance(amount, int) else "")
    return f"receipt #{number} of {day}{money}" if number is not None else f"a receipt of {day}"


def receipt_day(purchase: Purchase, zone: ZoneInfo) -> date | None:
    """The local day a receipt was rung up on (its ``timestamp`` is UTC)."""
    raw = str(purchase.get("timestamp") or "")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone).date()


def hint_day(hint: PaymentHint, zone: ZoneInfo) -> date:
    """An instant (a charge's creation time) on the till's local calendar; a date as is."""
    if isinstance(hint.when, datetime):
        when = hint.when if hint.when.tzinfo else hint.when.replace(tzinfo=UTC)
        return when.astimezone(zone).date()
    return hint.when


def matching_hint(purchase: Purchase, hints: Sequence[PaymentHint], zone: ZoneInfo
                  ) -> PaymentHint | None:
    """The first payment of the subject paid on the receipt's day, of the same amount, in the
    same currency. Refunds (negative amounts) never match: they are not payments."""
    amount, currency = purchase.get("amount"), str(purchase.get("currency") or "").upper()
    day = receipt_day(purchase, zone)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or day is None:
        return None
    paid = Decimal(amount).scaleb(-2)
    return next((hint for hint in hints if hint.currency == currency and hint.amount == paid
                 and hint_day(hint, zone) == day), None)


def card_hashes(purchase: Purchase) -> set[str]:
    """The ``panHash`` of each card payment on a receipt, when the answer carries one.

    Zettle's Purchase API reference does not document a card fingerprint; some answers carry
    ``panHash`` among a card payment's attributes. It is used only when present: a shared
    ``maskedPan`` (six plus four digits) is shared by too many cards to tie receipts together.
    """
    found = set()
    for payment in purchase.get("payments") or []:
        attributes = payment.get("attributes") if isinstance(payment, dict) else None
        value = attributes.get("panHash") if isinstance(attributes, dict) else None
        if isinstance(value, str) and value.strip():
            found.add(value.strip())
    return found


def derived_record(purchase: Purchase, kind: str) -> Record:
    """A receipt tied to the subject by a payment or a card, not by anything it names."""
    return purchase_record(purchase, Mention(kind, MatchStrength.DERIVED, ""))


def card_terms(purchase: Purchase) -> set[str]:
    """The index terms of the receipt's cards: how the hub's index finds the other receipts
    paid with one of them."""
    return {index_term("card", card) for card in card_hashes(purchase)}


class PurchaseSource(HistorySource, Protocol):
    """The receipts' :class:`~connectors.sdk.history.HistorySource` as the connector uses it:
    it also fetches the receipts themselves, which the connector confirms with the rules
    above (:class:`connectors.zettle_history.ZettleHistory`)."""

    async def fetch_purchases(self, entries: Sequence[IndexEntry]) -> list[Purchase]:
        """The receipts of these index entries (read by their days)."""
        ...
