"""The data subject and how a processor's stored address is matched against them.

Processors store the same address with different case and sometimes with plus-addressing
(the processing inventory, "Subject identifiers"). The hub validates the address once with
``email-validator`` (RFC 5322 syntax, IDNA, domain lower-cased; no DNS lookup so it works
offline), then every connector asks :meth:`Subject.match_email` whether a stored address is the
subject's, and records how strong that match was.

Letter case: the domain is case-insensitive (DNS), so it is compared case-folded (and an
``xn--`` label as the Unicode it stands for). The local part belongs to the receiving server;
in practice servers ignore ASCII case, so it is compared *lower-cased* after NFC, and nothing
looser: ``casefold`` would make ``straße@`` and ``strasse@`` one verified mailbox, and NFKC would
make full-width ``ａｎｎａ@`` the same as ``anna@``. Such spellings may be the subject's but may
as well be someone else's, so they are reported as :attr:`MatchStrength.LOOKALIKE` (weak: a
person decides), never as the subject's own address.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict

from hub.core.errors import InvalidInput


class MatchStrength(StrEnum):
    """How sure we are that a record belongs to the subject."""

    EXACT = "exact"  # the address exactly as the subject gave it
    CASE_INSENSITIVE = "case-insensitive"  # same address, different letter case
    PLUS_ADDRESS = "plus-address"  # same mailbox, a +tag added or removed
    LOOKALIKE = "lookalike"  # equal only after case folding or NFKC (ß/ss, full-width letters)
    DERIVED = "derived"  # matched on an identifier found at another processor


class Identifier(BaseModel):
    """One identifier of the subject, normalised: ``email`` (as stored), ``phone`` (E.164) or
    ``personnummer`` (``YYYYMMDD-NNNC``). ``source`` is ``request`` for what the subject gave us
    (verified), else the processor where it was found (derived, used to widen the lookup)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    value: str
    source: str = "request"

    @property
    def verified(self) -> bool:
        return self.source == "request"

    @classmethod
    def found(cls, kind: str, raw: str | None, source: str) -> Identifier | None:
        """A normalised identifier found in a processor's record, or None if it is not valid."""
        from hub.core.identifiers import normalise_personnummer, normalise_phone

        if not raw or not isinstance(raw, str):
            return None
        value: str | None
        if kind == "phone":
            value = normalise_phone(raw)
        elif kind == "personnummer":
            value = normalise_personnummer(raw)
        elif kind == "email":
            value = raw.strip() if "@" in raw else None
        else:
            raise ValueError(f"unknown identifier kind {kind!r}")
        return cls(kind=kind, value=value, source=source) if value else None


def _label(label: str) -> str:
    """One domain label, an ``xn--`` (IDNA) label as the Unicode it stands for."""
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode").casefold()
    except (UnicodeError, ValueError):
        return label


def _domain_key(domain: str) -> str:
    """The domain as compared: NFC, case-folded, ``xn--`` labels decoded."""
    labels = unicodedata.normalize("NFC", domain).casefold().split(".")
    return unicodedata.normalize("NFC", ".".join(_label(label) for label in labels))


def address_key(address: str) -> str:
    """The form two spellings of one mailbox share: the local part NFC and lower-cased (only
    that: see the module docstring), the domain as :func:`_domain_key` compares it."""
    local, at, domain = unicodedata.normalize("NFC", address.strip()).rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", domain.lower())
    return f"{unicodedata.normalize('NFC', local.lower())}@{_domain_key(domain)}"


def _lookalike_key(address: str) -> str:
    """A deliberately loose form (NFKC, case-folded): equal here but not under
    :func:`address_key` means "looks like the same address", a weak match."""
    return unicodedata.normalize("NFKC", address_key(address)).casefold()


def _mailbox(address: str, key: Callable[[str], str] = address_key) -> str:
    """The address in the form ``key`` makes, without a ``+tag`` in the local part."""
    local, _, domain = key(address).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def mailbox_key(address: str) -> str:
    """The loosest form :meth:`Subject.match_email` still calls a match (look-alike letters,
    any ``+tag``): what an index keeps so that a lookup can find every spelling it would
    accept, and then let :meth:`Subject.match_email` say how strong each one is."""
    return _mailbox(address, _lookalike_key)


class Subject(BaseModel):
    """The person a request is about."""

    model_config = ConfigDict(frozen=True)

    email: str
    identifiers: tuple[Identifier, ...] = ()

    @classmethod
    def from_email(cls, raw: str) -> Subject:
        """Validate and normalise; raises :class:`InvalidInput` with the validator's reason."""
        try:
            normalised = validate_email(raw.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise InvalidInput(f"not a valid e-mail address: {exc}") from None
        return cls(email=normalised, identifiers=(Identifier(kind="email", value=normalised),))

    def email_variants(self) -> list[str]:
        """Spellings worth asking an exact-match API for: as given, all lower case, and the
        spellings other processors store for this mailbox."""
        stored = [i.value for i in self.identifiers if i.kind == "email"]
        return list(dict.fromkeys([self.email, self.email.lower(), *stored]))

    def of_kind(self, kind: str) -> list[Identifier]:
        return [i for i in self.identifiers if i.kind == kind]

    def widened(self, found: list[Identifier]) -> tuple[Subject, list[Identifier]]:
        """The subject with identifiers found at processors added; also returns the new ones.

        Only e-mail spellings of the subject's own mailbox, valid phone numbers and valid
        personnummer are accepted: never a name (the processing inventory).
        """
        known = {(i.kind, i.value) for i in self.identifiers}
        new: list[Identifier] = []
        for identifier in found:
            if (identifier.kind, identifier.value) in known:
                continue
            if identifier.kind == "email" and self.match_email(identifier.value) is None:
                continue
            if identifier.kind not in ("email", "phone", "personnummer"):
                continue
            known.add((identifier.kind, identifier.value))
            new.append(identifier)
        return self.model_copy(update={"identifiers": (*self.identifiers, *new)}), new

    def match_identifier(self, kind: str, stored: str | None) -> Identifier | None:
        """The subject's identifier that a stored phone/personnummer value equals, if any."""
        candidate = Identifier.found(kind, stored, source="-")
        if candidate is None:
            return None
        for identifier in self.of_kind(kind):
            if identifier.value == candidate.value:
                return identifier
        return None

    def match_email(self, stored: str | None) -> MatchStrength | None:
        """How ``stored`` (an address a processor holds) matches the subject, or None."""
        if not stored:
            return None
        stored = stored.strip()
        if stored == self.email:
            return MatchStrength.EXACT
        if address_key(stored) == address_key(self.email):
            return MatchStrength.CASE_INSENSITIVE
        if "@" not in stored:
            return None
        if _mailbox(stored) == _mailbox(self.email):
            return MatchStrength.PLUS_ADDRESS
        if _mailbox(stored, _lookalike_key) == _mailbox(self.email, _lookalike_key):
            return MatchStrength.LOOKALIKE
        return None
