"""Which stored spellings are the subject's own address, and which only look like it.

The domain is compared case-insensitively; the local part only lower-cased (after NFC). Case
folding would make ``straße@`` and ``strasse@`` (two mailboxes) one verified address, for the
lookup, the erasure and the suppression hash; such spellings, and NFKC width variants, are weak
``lookalike`` matches that a person decides on.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import Engine

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from hub.consent.database import open_consent_database
from hub.core.subject import MatchStrength, Subject, address_key
from hub.reports.content import WEAK_MATCHES
from hub.store.consent_register import ConsentRegister, Observation, email_key
from hub.store.keyed import keyed_hash, normalise_email, secret_path
from hub.store.suppression import SuppressionList
from tests.connectors.test_mailerlite import BASE, TOKEN, subscriber

STRASSE = "straße@example.de"


@pytest.mark.parametrize(("subject", "stored", "strength"), [
    (STRASSE, STRASSE, MatchStrength.EXACT),
    (STRASSE, "Straße@Example.DE", MatchStrength.CASE_INSENSITIVE),
    (STRASSE, "STRAẞE@EXAMPLE.DE", MatchStrength.CASE_INSENSITIVE),  # capital sharp s
    (STRASSE, unicodedata.normalize("NFD", "Straße@example.de"), MatchStrength.CASE_INSENSITIVE),
    (STRASSE, "strasse@example.de", MatchStrength.LOOKALIKE),
    (STRASSE, "STRASSE@example.de", MatchStrength.LOOKALIKE),
    ("strasse@example.de", STRASSE, MatchStrength.LOOKALIKE),
    (STRASSE, "straße+news@example.de", MatchStrength.PLUS_ADDRESS),
    (STRASSE, "strasse+news@example.de", MatchStrength.LOOKALIKE),
    ("anna@example.se", "ａｎｎａ@example.se", MatchStrength.LOOKALIKE),  # full-width letters
    ("anna@example.se", "ANNA@ＥＸＡＭＰＬＥ.se", MatchStrength.LOOKALIKE),
    ("anna@example.se", "Anna@EXAMPLE.SE", MatchStrength.CASE_INSENSITIVE),
    ("åsa@exämple.se", "ÅSA@xn--exmple-cua.se", MatchStrength.CASE_INSENSITIVE),  # IDNA domain
    ("anna@example.se", "anna@example.com", None),
    ("anna@example.se", "hanna@example.se", None),
])
def test_match_strength(subject: str, stored: str, strength: MatchStrength | None) -> None:
    assert Subject.from_email(subject).match_email(stored) == strength


def test_lookalikes_are_weak_in_the_report() -> None:
    assert MatchStrength.LOOKALIKE in WEAK_MATCHES
    assert MatchStrength.CASE_INSENSITIVE not in WEAK_MATCHES


def test_a_lookalike_is_not_widened_into_the_subjects_own_address() -> None:
    from hub.core.subject import Identifier

    subject = Subject.from_email(STRASSE)
    widened, new = subject.widened([Identifier(kind="email", value="strasse@example.de",
                                               source="booking")])
    assert [i.verified for i in new] == [False]  # found elsewhere, never "request"
    assert widened.match_email("strasse@example.de") == MatchStrength.LOOKALIKE


@pytest.mark.parametrize("address", [
    "anna.svensson@example.se", "Anna.Svensson@Example.SE", " ÅSA.Öberg@Example.se ",
    unicodedata.normalize("NFD", "åsa@example.se"), "Émile.Zoë@exemple.fr", "anna+news@example.se",
])
def test_ordinary_addresses_keep_their_old_suppression_hash(address: str) -> None:
    """The hash was of the case-folded address; for these, lower() is casefold()."""
    old = unicodedata.normalize("NFC", unicodedata.normalize("NFC", address.strip()).casefold())
    assert normalise_email(address) == old == address_key(address)


def test_the_suppression_hash_keeps_sharp_s_apart(tmp_path: Path) -> None:
    secret = secret_path(tmp_path)
    assert normalise_email("STRASSE@Example.DE") == "strasse@example.de"
    assert normalise_email("Straße@Example.DE") == STRASSE
    assert keyed_hash(STRASSE, secret) != keyed_hash("strasse@example.de", secret)
    assert keyed_hash("STRAẞE@example.de", secret) == keyed_hash(STRASSE, secret)


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_consent_database(database_url)


def test_erasing_one_does_not_suppress_the_other(engine: Engine, tmp_path: Path) -> None:
    suppression = SuppressionList(engine, secret_path(tmp_path))
    suppression.add("Straße@example.de", "erased (request E-1)")
    assert suppression.is_suppressed(STRASSE)
    assert suppression.is_suppressed("STRAẞE@EXAMPLE.DE")
    assert not suppression.is_suppressed("strasse@example.de")


def test_the_consent_register_files_them_as_two_people(engine: Engine) -> None:
    assert email_key("Straße@Example.de") != email_key("strasse@example.de")
    register = ConsentRegister(engine)
    register.apply([
        Observation(system="mailerlite", subscriber_id="1", email=STRASSE, status="active",
                    evidence={}),
        Observation(system="mailerlite", subscriber_id="2", email="strasse@example.de",
                    status="unsubscribed", evidence={}),
    ], via="sync")
    history = register.history("STRAẞE@example.de")
    assert [s.subscriber_id for s in history["subscribers"]] == ["1"]


@respx.mock
async def test_a_processor_answering_with_the_folded_spelling_is_a_weak_match(
        fast_policy) -> None:
    """MailerLite looks addresses up loosely; what it answers is compared here."""
    respx.get(url__regex=rf"{BASE}/subscribers/.*").respond(
        200, json={"data": subscriber("strasse@example.de")})
    settings = MailerLiteSettings(api_token=SecretStr(TOKEN), http=fast_policy)
    async with MailerLiteConnector(settings) as connector:
        findings = await connector.find_subject(Subject.from_email(STRASSE))
    [record] = findings.records
    assert record.match_strength == MatchStrength.LOOKALIKE
