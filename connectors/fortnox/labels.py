"""What the subject reads for Fortnox's record types and fields (apidocs: Customer, Invoice).

Amounts in Fortnox are in the invoice's currency (kronor), not in minor units.
"""

from __future__ import annotations

from connectors.sdk.labels import RecordLabels
from connectors.sdk.vocabulary import COMMON_LABELS, said

LABELS = COMMON_LABELS.merged(RecordLabels(
    types={
        "customer": {"sv": ("Kund", "Kunder"), "en": ("Customer", "Customers")},
        "invoice": {"sv": ("Faktura", "Fakturor"), "en": ("Invoice", "Invoices")},
        "voucher": {"sv": ("Verifikation", "Verifikationer"), "en": ("Voucher", "Vouchers")},
    },
    fields={
        "CustomerNumber": said("Kundnummer", "Customer number"),
        "Type": said("Kundtyp (privatperson eller företag)", "Customer type (person or company)"),
        "OrganisationNumber": said("Person- eller organisationsnummer",
                                   "Personal identity or company registration number"),
        "EmailInvoice": said("E-postadress för fakturor", "E-mail address for invoices"),
        "EmailInvoiceCC": said("Kopia av fakturor till", "Copy of invoices to"),
        "EmailInvoiceBCC": said("Dold kopia av fakturor till", "Blind copy of invoices to"),
        "EmailOrder": said("E-postadress för beställningar", "E-mail address for orders"),
        "EmailOffer": said("E-postadress för offerter", "E-mail address for quotes"),
        "Phone1": said("Telefonnummer", "Phone number"),
        "Phone2": said("Telefonnummer 2", "Phone number 2"),
        "Fax": said("Fax", "Fax"),
        "DeliveryName": said("Leveransadress, namn", "Delivery address, name"),
        "DeliveryAddress1": said("Leveransadress", "Delivery address"),
        "DeliveryAddress2": said("Leveransadress, rad 2", "Delivery address, line 2"),
        "DeliveryZipCode": said("Leveransadress, postnummer", "Delivery address, postcode"),
        "DeliveryCity": said("Leveransadress, ort", "Delivery address, town or city"),
        "DeliveryCountry": said("Leveransadress, land", "Delivery address, country"),
        "DeliveryPhone1": said("Telefonnummer för leveranser", "Phone number for deliveries"),
        "DeliveryPhone2": said("Telefonnummer för leveranser 2", "Phone number for deliveries 2"),
        "VisitingAddress": said("Besöksadress", "Visiting address"),
        "VisitingZipCode": said("Besöksadress, postnummer", "Visiting address, postcode"),
        "VisitingCity": said("Besöksadress, ort", "Visiting address, town or city"),
        "YourReference": said("Er referens", "Your reference"),
        "OurReference": said("Vår referens", "Our reference"),
        "ExternalReference": said("Extern referens", "External reference"),
        "WWW": said("Webbplats", "Website"),
        "Active": said("Aktiv kund", "Active customer"),
        "DocumentNumber": said("Fakturanummer", "Invoice number"),
        "CustomerName": said("Namn på fakturan", "Name on the invoice"),
        "InvoiceDate": said("Fakturadatum", "Invoice date"),
        "DueDate": said("Förfallodag", "Due date"),
        "Total": said("Att betala", "Total"),
        "Balance": said("Kvar att betala", "Balance due"),
        "Cancelled": said("Makulerad", "Cancelled"),
        "Booked": said("Bokförd", "Booked"),
        "Remarks": said("Anmärkning", "Remarks"),
        "EmailInformation": said("Fakturan skickad per e-post", "Invoice sent by e-mail"),
        "EmailAddressTo": said("Till", "To"),
        "EmailAddressCC": said("Kopia till", "Copy to"),
        "EmailAddressBCC": said("Dold kopia till", "Blind copy to"),
        "InvoiceRows": said("Fakturarad", "Invoice line"),
        "DeliveredQuantity": said("Antal", "Quantity"),
        "Price": said("Pris", "Price"),
        "InvoiceRows.Total": said("Fakturarad – Belopp", "Invoice line – Amount"),
    }))
