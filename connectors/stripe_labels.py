"""What the subject reads for Stripe's object types, the fields the connector reports
(``connectors.stripe.FIELDS``; docs.stripe.com/api) and their coded values. Amounts are in the
currency's smallest unit and times in Unix seconds, as Stripe stores them
(https://docs.stripe.com/currencies#minor-units, https://docs.stripe.com/api/charges/object);
the report shows them as money and dates.
"""

from __future__ import annotations

from connectors.sdk.labels import RecordLabels
from connectors.sdk.vocabulary import COMMON_LABELS, said

_MINOR = said("Belopp", "Amount")
_AMOUNTS = ("amount", "amount_total", "amount_subtotal", "total", "subtotal", "amount_paid",
            "amount_due", "amount_remaining", "amount_captured", "amount_refunded",
            "amount_received", "amount_capturable")
_TIMES = ("created", "finalized_at", "paid_at", "voided_at", "marked_uncollectible_at",
          "start_date", "canceled_at", "cancel_at", "ended_at", "current_period_start",
          "current_period_end", "trial_start", "trial_end", "expires_at")
#: the statuses of charges, payment intents, invoices, subscriptions and checkout sessions
#: (each object's ``status`` in docs.stripe.com/api); one table, as no code means two things
_STATUSES = {
    "succeeded": said("genomförd", "completed"), "pending": said("väntar", "pending"),
    "failed": said("misslyckades", "failed"), "canceled": said("avbruten", "cancelled"),
    "processing": said("behandlas", "being processed"),
    "requires_payment_method": said("inte betald", "not paid"),
    "requires_confirmation": said("inte bekräftad", "not confirmed"),
    "requires_action": said("väntar på bekräftelse", "awaiting confirmation"),
    "requires_capture": said("godkänd, inte dragen", "authorised, not yet taken"),
    "draft": said("utkast", "draft"), "open": said("obetald", "unpaid"),
    "paid": said("betald", "paid"), "uncollectible": said("avskriven", "written off"),
    "void": said("makulerad", "voided"), "active": said("aktiv", "active"),
    "trialing": said("provperiod", "trial"), "past_due": said("förfallen", "overdue"),
    "unpaid": said("obetald", "unpaid"), "paused": said("pausad", "paused"),
    "incomplete": said("ofullständig", "incomplete"),
    "incomplete_expired": said("förfallen innan start", "expired before it started"),
    "complete": said("slutförd", "completed"), "expired": said("förfallen", "expired"),
    "no_payment_required": said("ingen betalning behövdes", "no payment needed"),
}
LABELS = COMMON_LABELS.merged(RecordLabels(
    types={
        "customer": {"sv": ("Kundkonto", "Kundkonton"), "en": ("Customer account",
                                                                "Customer accounts")},
        "payment_method": {"sv": ("Sparat betalsätt", "Sparade betalsätt"),
                           "en": ("Saved payment method", "Saved payment methods")},
        "charge": {"sv": ("Betalning", "Betalningar"), "en": ("Payment", "Payments")},
        "payment_intent": {"sv": ("Betalningsförsök", "Betalningsförsök"),
                           "en": ("Payment attempt", "Payment attempts")},
        "invoice": {"sv": ("Faktura", "Fakturor"), "en": ("Invoice", "Invoices")},
        "subscription": {"sv": ("Prenumeration", "Prenumerationer"),
                         "en": ("Subscription", "Subscriptions")},
        "checkout_session": {"sv": ("Köp i webbkassan", "Köp i webbkassan"),
                             "en": ("Online checkout", "Online checkouts")},
    },
    fields={
        "shipping": said("Leveransadress", "Delivery address"),
        "customer_shipping": said("Leveransadress", "Delivery address"),
        "shipping_details": said("Leveransadress", "Delivery address"),
        "billing_details": said("Faktureringsuppgifter", "Billing details"),
        "customer_details": said("Köparens uppgifter", "Buyer's details"),
        "customer_address": said("Adress", "Address"),
        "customer_email": said("E-postadress", "E-mail address"),
        "customer_name": said("Namn", "Name"),
        "customer_phone": said("Telefonnummer", "Phone number"),
        "customer": said("Kundnummer hos Stripe", "Customer number at Stripe"),
        "receipt_email": said("E-postadress för kvitton", "E-mail address for receipts"),
        "metadata": said("Extra uppgift", "Additional detail"),
        "preferred_locales": said("Föredraget språk", "Preferred language"),
        "amount": _MINOR, "amount_total": _MINOR, "total": _MINOR,
        "number": said("Fakturanummer", "Invoice number"),
        "payment_status": said("Betalningsstatus", "Payment status"),
        "status_transitions": said("Fakturans förlopp", "Invoice history"),
        "finalized_at": said("Utfärdad", "Issued"), "paid_at": said("Betald", "Paid"),
        "voided_at": said("Makulerad", "Voided"),
        "marked_uncollectible_at": said("Avskriven", "Written off"),
        "start_date": said("Startdatum", "Start date"),
        "canceled_at": said("Avslutad", "Cancelled"), "cancel_at": said("Avslutas", "Ends"),
        "payment_method_details": said("Betalsätt", "Payment method"),
        "card": said("Kort", "Card"), "brand": said("Kortmärke", "Card brand"),
        "display_brand": said("Kortmärke som visas", "Card brand as shown"),
        "regulated_status": said("Kortets regleringsstatus", "Card's regulation status"),
        "last4": said("Kortnummer (sista siffrorna)", "Card number (final digits)"),
        "exp_month": said("Giltigt till, månad", "Expiry month"),
        "exp_year": said("Giltigt till, år", "Expiry year"),
        "funding": said("Kortslag (kredit eller debet)", "Card kind (credit or debit)"),
        "fingerprint": said("Kortets kontrollsumma", "Card fingerprint"),
        "card.country": said("Kortets utgivningsland", "Card's country of issue"),
        "checks": said("Kontroller vid betalning", "Checks at payment"),
        "networks": said("Kortnätverk", "Card networks"),
        "three_d_secure_usage": said("Stöd för 3-D Secure", "3-D Secure support"),
        "wallet": said("Digital plånbok", "Digital wallet"),
        "tax_id": said("Skatte-id", "Tax id"), "tax_ids": said("Skatte-id", "Tax ids"),
        "tax_exempt": said("Skattebefrielse", "Tax exemption"),
        "business_name": said("Företagsnamn", "Business name"),
        "individual_name": said("Namn", "Name"),
    },
    formats={**dict.fromkeys(_AMOUNTS, "minor_units"), **dict.fromkeys(_TIMES, "unix_time")},
    values={
        "status": _STATUSES, "payment_status": _STATUSES,
        "funding": {"credit": said("kreditkort", "credit card"),
                    "debit": said("betalkort", "debit card"),
                    "prepaid": said("förbetalt kort", "prepaid card"),
                    "unknown": said("okänt", "unknown")},
        "tax_exempt": {"none": said("ingen", "none"), "exempt": said("befriad", "exempt"),
                       "reverse": said("omvänd skattskyldighet", "reverse charge")},
    }))
