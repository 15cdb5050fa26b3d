"""What the subject reads for Zettle's receipts (the Purchase API's purchase, product and payment
attributes: https://developer.zettle.com/docs/api/purchase/api-reference-md). Amounts are in the
currency's minor unit (öre) as Zettle stores them; the report shows them as money.
"""

from __future__ import annotations

from connectors.sdk.labels import RecordLabels
from connectors.sdk.vocabulary import COMMON_LABELS, said

#: what the subject reads for a receipt's fields and their coded values
LABELS = COMMON_LABELS.merged(RecordLabels(
    types={"purchase": {"sv": ("Kassakvitto", "Kassakvitton"),
                        "en": ("Till receipt", "Till receipts")}},
    fields={
        "purchaseUUID1": said("Kvittots id", "Receipt id"),
        "purchaseNumber": said("Kvittonummer", "Receipt number"),
        "globalPurchaseNumber": said("Kvittonummer för alla kassor",
                                     "Receipt number across all tills"),
        "timestamp": said("Tidpunkt", "Time"),
        "source": said("Försäljningskanal", "Sales channel"),
        "amount": said("Belopp", "Amount"), "vatAmount": said("Varav moms", "Of which VAT"),
        "userDisplayName": said("Betjänad av", "Served by"),
        "discounts": said("Rabatt", "Discount"),
        "serviceCharge": said("Serviceavgift", "Service charge"),
        "references": said("Referens", "Reference"),
        "gpsCoordinates": said("Plats för köpet", "Place of purchase"),
        "longitude": said("Longitud", "Longitude"), "latitude": said("Latitud", "Latitude"),
        "accuracyMeters": said("Noggrannhet i meter", "Accuracy in metres"),
        "refund": said("Är en återbetalning", "Is a refund"),
        "refunded": said("Återbetald", "Refunded"),
        "refundsPurchaseUUID1": said("Återbetalar kvitto", "Refunds receipt"),
        "refundedByPurchaseUUIDs1": said("Återbetald genom kvitto", "Refunded by receipt"),
        "products": said("Vara", "Item"), "products.name": said("Vara", "Item"),
        "variantName": said("Variant", "Variant"),
        "quantity": said("Antal", "Quantity"), "unitPrice": said("Styckpris", "Unit price"),
        "unitName": said("Enhet", "Unit"), "sku": said("Artikelnummer", "Article number"),
        "barcode": said("Streckkod", "Barcode"),
        "payments": said("Betalning", "Payment"),
        "payments.type": said("Betalsätt", "Payment method"),
        "gratuityAmount": said("Dricks", "Tip"),
        "createdAt": said("Tidpunkt", "Time"),
        "details": said("Detaljer", "Details"),
        "uuid": said("Betalningens id", "Payment id"),
        "referenceNumber": said("Referensnummer", "Reference number"),
        "cardType": said("Kortmärke", "Card brand"),
        "maskedPan": said("Kortnummer (delvis dolt)", "Card number (partly hidden)"),
        "cardHolderVerificationMethod": said("Hur köpet bekräftades, t.ex. med PIN-kod",
                                             "How the purchase was confirmed, e.g. by PIN"),
        "cardPaymentEntryMode": said("Hur kortet lästes, t.ex. kontaktlöst",
                                     "How the card was read, e.g. contactless"),
        "authorizationCode": said("Godkännandekod", "Authorisation code"),
        "terminalVerificationResults": said("Kortterminalens kontrollresultat",
                                            "Card terminal's check results"),
        "applicationIdentifier": said("Kortapplikationens id", "Card application id"),
        "applicationName": said("Kortapplikation", "Card application"),
        "handedAmount": said("Betalt kontant", "Cash handed over"),
        "changeAmount": said("Växel", "Change"),
        "invoiceNr": said("Fakturanummer", "Invoice number"),
        "dueDate": said("Förfallodag", "Due date"),
        "orderUUID": said("Beställningens id", "Order id"),
        "paymentlinkOrderUuid": said("Betallänkens id", "Payment link id"),
        "refundsPayment": said("Återbetalar betalning", "Refunds payment"),
        "panHash": said("Kortets igenkänningskod (krypterad, inte kortnumret)",
                        "Card recognition code (hashed, not the card number)"),
    },
    formats=dict.fromkeys(("amount", "vatAmount", "unitPrice", "gratuityAmount", "handedAmount",
                           "changeAmount"), "minor_units"),
    values={
        "source": {"POS": said("kassan", "till"), "ONLINE": said("webbutik", "online shop"),
                   "PAYMENT_LINK": said("betallänk", "payment link")},
        "payments.type": {
            "IZETTLE_CARD": said("kort", "card"), "IZETTLE_CASH": said("kontant", "cash"),
            "IZETTLE_INVOICE": said("faktura", "invoice"), "SWISH": said("Swish", "Swish"),
            "IZETTLE_CARD_ONLINE": said("kort på nätet", "card online"),
            "PAYPAL": said("PayPal", "PayPal"), "KLARNA": said("Klarna", "Klarna"),
            "GIFTCARD": said("presentkort", "gift card"),
            "STORE_CREDIT": said("tillgodokvitto", "store credit"),
            "MOBILE_PAY": said("MobilePay", "MobilePay"), "VIPPS": said("Vipps", "Vipps"),
            "CUSTOM": said("annat betalsätt", "other payment method")},
    }))
