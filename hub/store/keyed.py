"""Keyed hashes of e-mail addresses: pseudonyms that prove what was done and recognise a person
again, without keeping the address.

After an erasure the ledger, the audit log and the suppression list must still show that this
person's request was answered and must stop a later import from re-subscribing them (GDPR
Art. 21(3), Art. 17), yet keep no readable address. A plain SHA-256 of an address is no
pseudonym (anyone can hash a guessed address and compare), so the hash is an HMAC-SHA256 under
a local secret: 32 random bytes in the state directory, readable only by the owner (0600),
created on first use and never logged. Without the secret the hashes cannot be linked to
anyone; with it the hub can recognise the same address again (GDPR Art. 4(5) pseudonymisation).

Losing or replacing the secret silently breaks recognition (suppressed people would no longer be
recognised), so back it up with the database; :func:`secret_fingerprint` lets stores detect a
changed secret instead of failing open.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import ConfigurationError
from hub.core.subject import address_key
from hub.store.locks import lock_state_entry
from hub.store.tables import StateEntry

if TYPE_CHECKING:
    from sqlalchemy import Engine

SECRET_BYTES = 32
KEYFILE_NAME = "keyed-hash.key"
_FINGERPRINT_LABEL = b"dsar-hub keyed-hash secret fingerprint v1"

log = logging.getLogger(__name__)


def secret_path(state_dir: Path) -> Path:
    """Where the secret lives for a given state directory (``HubSettings.state_dir``)."""
    return state_dir / KEYFILE_NAME


def normalise_email(email: str) -> str:
    """The form that is hashed: :func:`hub.core.subject.address_key`, the one the matching
    treats as the subject's own address (trimmed, NFC, local part lower-cased, domain
    case-folded with ``xn--`` labels decoded).

    Processors store one address in several letter cases, and NFC gives ``å`` one code-point
    sequence however it was typed, so those become one pseudonym. The local part is only
    lower-cased, not case-folded: folding would make ``straße@`` and ``strasse@`` (two
    mailboxes) one pseudonym, so erasing one would suppress the other. Plus-addressing is kept:
    ``anna+news@`` is a different address as far as the suppression list is concerned.

    Hashes made before this form replaced case-folding stay valid for ordinary addresses: for
    ASCII and for almost every letter (å, ä, ö, é, …) ``lower()`` equals ``casefold()``. They
    differ only where the local part holds a letter that folds to others (``ß``, final ``ς``,
    ligatures such as ``ﬁ``) or the domain was stored in its ``xn--`` spelling; such an entry
    was hashed under the folded spelling and is not recognised under this one.
    """
    return address_key(email)


def load_or_create_secret(path: Path, what: str = "keyed-hash secret") -> bytes:
    """The secret at ``path``, created (0600) if it does not exist yet.

    Creation is atomic: the bytes are written to a private temporary file opened with
    ``O_EXCL`` and then published with ``link``, which fails if another process published
    first; so no process ever reads a half-written secret and two first uses agree on one.
    ``what`` names the secret in messages (the state-encryption key is made the same way).
    """
    try:
        return _read_secret(path, what)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(SECRET_BYTES)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        _write_new(temporary, secret)
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process was first: use theirs
            pass
        except OSError:  # a file system without hard links: create in place, still O_EXCL
            with contextlib.suppress(FileExistsError):
                _write_new(path, secret)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)
    log.info("%s ready in %s", what, path.parent)
    return _read_secret(path, what)


def _write_new(path: Path, content: bytes) -> None:
    """Create ``path`` (0600) with ``content``; FileExistsError if it already exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _read_secret(path: Path, what: str = "keyed-hash secret") -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("the %s was readable by others (mode %o); set to 0600", what, mode)
        path.chmod(0o600)
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        # Never replace it: a new secret would silently un-suppress every suppressed person
        # (or, for the state-encryption key, make every stored token unreadable).
        raise ConfigurationError(
            f"the {what} {path} is damaged ({len(secret)} bytes, expected "
            f"{SECRET_BYTES}); restore it from a backup")
    return secret


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on every platform
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def keyed_hash_with(email: str, secret: bytes) -> str:
    """HMAC-SHA256 of the normalised address under ``secret``, as 64 hex digits."""
    return hmac.new(secret, normalise_email(email).encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_hash(email: str, secret_path: Path) -> str:
    """The pseudonym of ``email`` (see the module docstring); creates the secret if needed."""
    return keyed_hash_with(email, load_or_create_secret(secret_path))


def secret_fingerprint(secret: bytes) -> str:
    """A short value that identifies the secret without revealing it (stored beside hashes so
    a replaced secret is detected rather than silently matching nothing)."""
    return hmac.new(secret, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


FINGERPRINT_STATE_KEY = "keyed_hash.secret_fingerprint"


class Pseudonymiser:
    """Keyed hashes for one database: loads the secret on first use and checks it is the
    secret the database's stored hashes were made with.

    The first use records the secret's fingerprint in the state store; a later use with a
    different secret (lost state directory, restored database) raises ConfigurationError,
    because matching nothing would let a suppressed person be re-subscribed. Pass the
    caller's ``session`` when it is already inside a transaction: on SQLite every transaction
    holds the write lock, so a second one would wait for the first. On PostgreSQL the check
    runs in a short transaction of its own all the same, so the fingerprint's lock is not held
    for the rest of the caller's transaction (which may go on to lock the audit log's head, as
    another process's may in the opposite order).
    """

    def __init__(self, engine: Engine, secret_path: Path) -> None:
        self.engine, self.secret_path = engine, secret_path
        self._secret: bytes | None = None

    def secret(self, session: Session | None = None) -> bytes:
        if self._secret is None:
            secret = load_or_create_secret(self.secret_path)
            if session is not None and session.get_bind().dialect.name == "sqlite":
                _check_fingerprint(session, secret, self.secret_path)
            else:
                try:
                    self._check_in_own_session(secret)
                except IntegrityError:  # PostgreSQL: another process stored it first
                    self._check_in_own_session(secret)
            self._secret = secret
        return self._secret

    def hash(self, email: str, session: Session | None = None) -> str:
        return keyed_hash_with(email, self.secret(session))

    def _check_in_own_session(self, secret: bytes) -> None:
        with Session(self.engine) as own:
            _check_fingerprint(own, secret, self.secret_path)
            own.commit()


def _check_fingerprint(session: Session, secret: bytes, path: Path) -> None:
    fingerprint = json.dumps(secret_fingerprint(secret))
    lock_state_entry(session, FINGERPRINT_STATE_KEY)  # the first use of two processes, too
    stored = session.get(StateEntry, FINGERPRINT_STATE_KEY, with_for_update=True)
    if stored is None:
        session.add(StateEntry(key=FINGERPRINT_STATE_KEY, value=fingerprint,
                               updated_at=datetime.now(UTC)))
        session.flush()
    elif stored.value != fingerprint:
        raise ConfigurationError(
            f"the keyed-hash secret {path} is not the one this database's pseudonyms were "
            "made with; restore the original secret (a new one would recognise nobody)")
