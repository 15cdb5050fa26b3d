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

from hub.errors import InvalidInput


class MatchStrength(StrEnum):
    """How sure we are that a record belongs to the subject."""

    EXACT = "exact"  # the address exactly as the subject gave it
    CASE_INSENSITIVE = "case-insensitive"  # same address, different letter case
    PLUS_ADDRESS = "plus-address"  # same mailbox, a +tag added or removed
    DERIVED = "derived"  # matched on an identifier found at another processor


class Identifier(BaseModel):
    """One identifier of the subject (e-mail now; phone and personnummer when widening)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    value: str
    source: str = "request"


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
        """Spellings worth asking an exact-match API for: as given, and all lower case."""
        return list(dict.fromkeys([self.email, self.email.lower()]))

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
