"""The data subject and how a processor's stored address is matched against them.

Processors store the same address with different case and sometimes with plus-addressing
(processing-inventory.md, "Subject identifiers"). The hub validates the address once with
``email-validator`` (RFC 5322 syntax, IDNA, domain lower-cased; no DNS lookup so it works
offline), then every connector asks :meth:`Subject.match_email` whether a stored address is the
subject's, and records how strong that match was.
"""

from __future__ import annotations

from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict

from hub.core.errors import InvalidInput


class MatchStrength(StrEnum):
    """How sure we are that a record belongs to the subject."""

    EXACT = "exact"  # the address exactly as the subject gave it
    CASE_INSENSITIVE = "case-insensitive"  # same address, different letter case
    PLUS_ADDRESS = "plus-address"  # same mailbox, a +tag added or removed
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


def _mailbox(address: str) -> str:
    """Lower-case the address and drop a ``+tag`` from the local part."""
    local, _, domain = address.casefold().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


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
        personnummer are accepted: never a name (processing-inventory.md).
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
        if stored.casefold() == self.email.casefold():
            return MatchStrength.CASE_INSENSITIVE
        if "@" in stored and _mailbox(stored) == _mailbox(self.email):
            return MatchStrength.PLUS_ADDRESS
        return None
