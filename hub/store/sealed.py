"""Values the hub must keep but nobody who copies its database may read: processor tokens.

Fortnox's refresh token (valid 45 days) and access token live in the hub's database, because
they must survive the process (:mod:`connectors.sdk.storage`). A copy of that database (a
backup, a file left readable, a PostgreSQL dump) must not hand out working credentials, so the
values connectors store are encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from the
``cryptography`` package) under a key that is not in the database: ``state-encryption.key`` in
the state directory, beside the keyed-hash secret, 32 random bytes readable only by the owner
(0600), created on first use (:func:`hub.store.keyed.load_or_create_secret`). Back it up with the
database: without it the stored tokens cannot be read, and Fortnox must be re-authorised.

A stored value is ``fernet:v1:<token>``; anything else is a value written before encryption
existed, read as it is and encrypted on its next write. (Fortnox spends a refresh token on use
and an access token lives an hour, so a clear copy left behind in an old backup or page is
worthless soon after.)
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from hub.core.errors import ConfigurationError
from hub.store.keyed import load_or_create_secret

KEYFILE_NAME = "state-encryption.key"
PREFIX = "fernet:v1:"
_WHAT = "state-encryption key"


def key_path(state_dir: Path) -> Path:
    """Where the key lives for a given state directory (``HubSettings.state_dir``)."""
    return state_dir / KEYFILE_NAME


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


class Sealer:
    """Encrypts and decrypts text under the key at ``path``; the key is read (or created)
    at the first use, so a run that stores nothing creates no key file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fernet: Fernet | None = None

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> Sealer:
        return cls(key_path(state_dir))

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            raw = load_or_create_secret(self.path, _WHAT)
            self._fernet = Fernet(base64.urlsafe_b64encode(raw))
        return self._fernet

    def seal(self, text: str) -> str:
        return PREFIX + self._cipher().encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The text of a sealed value; a clear (older) value is returned as it is."""
        if not is_sealed(stored):
            return stored
        try:
            return self._cipher().decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode(
                "utf-8")
        except (InvalidToken, ValueError):
            raise UnreadableValue(
                f"a stored value was encrypted with another key than {self.path}; restore the "
                "state-encryption key it was made with, or re-authorise the processor (e.g. "
                "set a new DSAR_FORTNOX__REFRESH_TOKEN)") from None


class UnreadableValue(ConfigurationError):
    """A sealed value this key cannot open (the key was replaced or lost)."""
