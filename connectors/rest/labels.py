"""Default labels of a declared REST processor, and where its own are declared.

Why defaults: a declared processor's record types and fields are named by its declaration
(``name = "customer"``, ``personal_fields = ["Firstname", "InvoiceAddress", …]``) or by the
columns of an exported list (``E-post``, ``Mobil``), not by Python code that could also name
them for the subject. Booking systems share a vocabulary (customers, bookings, a service, a start
and an end time, an invoice address), so that vocabulary is labelled here on top of the common
one (:mod:`connectors.sdk.vocabulary`); a table declares its own, or overrides these, in
``[<table>.labels]``::

    [booking.labels.types]
    customer = { sv = ["Kund", "Kunder"], en = ["Customer", "Customers"] }
    [booking.labels.fields]
    "Service.Name" = { sv = "Tjänst", en = "Service" }

Anything still undeclared reads as a neutral "other detail" in the subject's report.
"""

from __future__ import annotations

from connectors.sdk.labels import RecordLabels
from connectors.sdk.vocabulary import COMMON_LABELS, said, spellings

#: booking statuses as booking systems name them (BokaMera's StatusName among them)
_STATUSES = {
    "booked": said("bokad", "booked"), "canceled": said("avbokad", "cancelled"),
    "cancelled": said("avbokad", "cancelled"), "unbooked": said("avbokad", "cancelled"),
    "reserved": said("reserverad", "reserved"),
    "awaitingpayment": said("väntar på betalning", "awaiting payment"),
    "payed": said("betald", "paid"), "paid": said("betald", "paid"),
    "noshow": said("uteblev", "did not attend"),
}

DEFAULT_LABELS = COMMON_LABELS.merged(RecordLabels(
    types={
        "customer": {"sv": ("Kund", "Kunder"), "en": ("Customer", "Customers")},
        "booking": {"sv": ("Bokning", "Bokningar"), "en": ("Booking", "Bookings")},
    },
    fields={
        "customer": said("Kund", "Customer"),
        **spellings(said("Kundnummer", "Customer number"), "customernumber", "kundnummer",
                    "kundnr"),
        **spellings(said("Starttid", "Starts"), "from", "start", "starttime", "starttid"),
        **spellings(said("Sluttid", "Ends"), "to", "end", "endtime", "sluttid"),
        "statusname": said("Status", "Status"),
        **spellings(said("Tjänst", "Service"), "service", "service.name", "tjänst"),
        "comments.comments": said("Kommentar", "Comment"),
        "bookedcomments": said("Ditt meddelande vid bokningen", "Your message when booking"),
        **spellings(said("Prenumererar på nyhetsbrevet", "Subscribed to the newsletter"),
                    "subscribedtonewsletter", "newsletter", "nyhetsbrev"),
        "invoiceaddress": said("Fakturaadress", "Invoice address"),
        "invoiceaddress1": said("Gatuadress", "Street address"),
        "invoiceaddress2": said("Adressrad 2", "Address line 2"),
        "invoicecity": said("Ort", "Town or city"),
        "invoicepostalcode": said("Postnummer", "Postcode"),
        "invoicecountrycode": said("Landskod", "Country code"),
        **spellings(said("Organisationsnummer", "Company registration number"),
                    "corporateidentitynumber", "organisationsnummer"),
        **spellings(said("Profilbild (länk)", "Profile picture (link)"), "imageurl"),
    },
    values={"status": _STATUSES, "statusname": _STATUSES}))
