"""Labels for the fields nearly every processor has: names, contact details, addresses, dates.

Why here: every connector reports an e-mail address, a name, a phone number and a postal address
under one spelling or another (``postal_code``, ``ZipCode``, ``z_i_p``, ``Postnummer``). Keys
compare without regard to case, ``_``, ``-`` and spaces (:mod:`connectors.sdk.labels`), so one
list covers them all; a connector merges its own labels on top
(``COMMON_LABELS.merged(...)``) and declares only what is its own. Swedish spellings are
included because exported customer lists carry the column headings of Swedish systems.
"""

from __future__ import annotations

from connectors.sdk.labels import RecordLabels, Texts


def said(sv: str, en: str) -> Texts:
    """One label in the report languages."""
    return {"sv": sv, "en": en}


def spellings(label: Texts, *keys: str) -> dict[str, Texts]:
    """The same label under several keys."""
    return dict.fromkeys(keys, label)


COMMON_LABELS = RecordLabels(fields={
    **spellings(said("E-postadress", "E-mail address"), "email", "e-post", "epost", "mail"),
    **spellings(said("Namn", "Name"), "name", "namn", "fullname"),
    **spellings(said("Förnamn", "First name"), "firstname", "förnamn"),
    **spellings(said("Efternamn", "Last name"), "lastname", "surname", "efternamn"),
    **spellings(said("Telefonnummer", "Phone number"), "phone", "phonenumber", "telephone",
                "mobile", "mobilephone", "telefon", "telefonnummer", "mobil", "mobilnummer"),
    **spellings(said("Personnummer", "Personal identity number"), "personnummer",
                "personalidentitynumber", "ssn"),
    **spellings(said("Adress", "Address"), "address", "adress"),
    **spellings(said("Gatuadress", "Street address"), "line1", "address1", "street",
                "gatuadress"),
    **spellings(said("Adressrad 2", "Address line 2"), "line2", "address2"),
    **spellings(said("Postnummer", "Postcode"), "postalcode", "zipcode", "zip", "z_i_p",
                "postnummer", "postnr"),
    **spellings(said("Ort", "Town or city"), "city", "town", "ort", "postort"),
    **spellings(said("Region", "Region"), "state", "region"),
    **spellings(said("Land", "Country"), "country", "land"),
    **spellings(said("Landskod", "Country code"), "countrycode", "landskod"),
    **spellings(said("Företag", "Company"), "company", "företag"),
    **spellings(said("Kommentar", "Comment"), "comment", "comments", "kommentar", "note",
                "notes", "anteckning"),
    **spellings(said("Beskrivning", "Description"), "description", "beskrivning"),
    **spellings(said("Skapad", "Created"), "created", "createdat", "createddate", "skapad"),
    **spellings(said("Senast ändrad", "Last changed"), "updated", "updatedat", "ändrad"),
    **spellings(said("Status", "Status"), "status"),
    **spellings(said("Typ", "Type"), "type"),
    **spellings(said("Valuta", "Currency"), "currency", "valuta"),
    **spellings(said("Id-nummer", "ID number"), "id"),
})
