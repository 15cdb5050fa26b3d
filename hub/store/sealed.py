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

Machines that share one PostgreSQL database must share this key too, or each would find the
others' tokens unreadable and spend the single-use Fortnox refresh token in turn: it can be
configured (``DSAR_TOKEN_KEY_FILE`` or ``DSAR_TOKEN_KEY``, read like the keyed-hash key, see
:mod:`hub.store.keyed`). The database keeps the key's fingerprint from its first use;
``dsar config check`` compares it, and a configured key that differs is refused before any
token is read. A generated key that differs is only logged: that is the lost-state-folder case,
where the tokens count as absent and a newly configured refresh token takes over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from hub.core.errors import ConfigurationError
from hub.store.keyed import (
    STATE_KEYFILE_NAME,
    KeyCheck,
    check_key_with_database,
    configured_source,
    key_available,
    load_or_create_secret,
    record_fingerprint,
    where_key_lives,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

KEYFILE_NAME = STATE_KEYFILE_NAME
PREFIX = "fernet:v1:"
_WHAT = "state-encryption key"
FINGERPRINT_STATE_KEY = "state_encryption.key_fingerprint"
_FINGERPRINT_LABEL = b"dsar-hub state-encryption key fingerprint v1"

log = logging.getLogger(__name__)


def key_fingerprint(key: bytes) -> str:
    """Identifies the key without revealing it (an HMAC of a fixed label under the key)."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def token_key_mismatch(path: Path) -> str:
    """The refusal when this machine's token-encryption key is not the database's."""
    return (f"this machine's token-encryption key ({where_key_lives(path)}) differs from the "
            "one the database was started with, so it cannot read the stored processor "
            "tokens: copy it from the machine that first used this database (the file its "
            "DSAR_TOKEN_KEY_FILE names, or state-encryption.key in its state folder) and point "
            "DSAR_TOKEN_KEY_FILE at the copy")


def check_token_key(engine: Engine, state_dir: Path) -> KeyCheck:
    """This machine's token-encryption key against the database's (see
    :func:`hub.store.keyed.check_key_with_database`)."""
    return check_key_with_database(engine, key_path(state_dir), FINGERPRINT_STATE_KEY,
                                   key_fingerprint, _WHAT)


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

    def remember_key(self, engine: Engine) -> None:
        """Record the key's fingerprint in the database at its first use, before any token is
        read (outside every other transaction: on SQLite a second one would wait for the
        first). A configured key the database does not know is refused (see the module
        docstring); a run that has no key yet makes none."""
        if not key_available(self.path):
            return
        key = load_or_create_secret(self.path, _WHAT)
        with Session(engine) as session:
            outcome = record_fingerprint(session, FINGERPRINT_STATE_KEY, key_fingerprint(key))
            session.commit()
        if outcome != "differs":
            return
        if configured_source(self.path) is not None:
            raise ConfigurationError(token_key_mismatch(self.path))
        log.warning("the state-encryption key in %s is not the one the database's tokens were "
                    "sealed with; stored tokens count as absent", self.path.parent)

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
