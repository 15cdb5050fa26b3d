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

Several machines on one PostgreSQL database must hash alike, so the key can also be configured
(``DSAR_KEYED_HASH_KEY_FILE`` or ``DSAR_KEYED_HASH_KEY``, :mod:`hub.config.settings`); it then
stands in for the state folder's file wherever that is asked for. The state-encryption key
(:mod:`hub.store.sealed`) is read the same way. The database keeps each key's fingerprint from
its first use, so a machine with another key is refused (``dsar config check`` says which).
"""

from __future__ import annotations

import base64
import binascii
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
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.config.settings import KeyKind, KeySource, check_key_file, configured_key
from hub.core.errors import ConfigurationError
from hub.core.folders import make_private_dir
from hub.core.logs import register_secret
from hub.core.subject import address_key
from hub.store.locks import lock_state_entry
from hub.store.tables import StateEntry

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

SECRET_BYTES = 32
KEYFILE_NAME = "keyed-hash.key"
#: the state-encryption key's file (named here so a configured key can stand in for it)
STATE_KEYFILE_NAME = "state-encryption.key"
_KINDS: dict[str, KeyKind] = {KEYFILE_NAME: "keyed-hash", STATE_KEYFILE_NAME: "token"}
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


def configured_source(path: Path) -> KeySource | None:
    """The configured key that stands in for the state folder's key file ``path``, if any."""
    kind = _KINDS.get(path.name)
    return configured_key(path.parent, kind) if kind is not None else None


def key_available(path: Path) -> bool:
    """Whether the key for ``path`` exists without creating it: configured, or in the folder."""
    return configured_source(path) is not None or path.exists()


def where_key_lives(path: Path) -> str:
    """Where this machine takes the key for ``path`` from, in words for messages."""
    source = configured_source(path)
    return source.describe() if source is not None else str(path)


def decode_key(raw: bytes, origin: str, what: str, *, raw_allowed: bool) -> bytes:
    """The 32 key bytes of a configured key.

    Accepted: the 32 bytes themselves (a copy of a key file the hub generated, ``raw_allowed``
    for files only), 32 bytes in base64url (``secrets.token_urlsafe(32)``; padding optional) or
    in hex (``openssl rand -hex 32``), surrounding white space ignored. Anything else is
    refused rather than stretched: a short passphrase would make the pseudonyms guessable.
    """
    if raw_allowed and len(raw) == SECRET_BYTES:
        return raw
    text = raw.strip()
    with contextlib.suppress(ValueError):
        if len(text) == 2 * SECRET_BYTES:
            return bytes.fromhex(text.decode("ascii"))
    with contextlib.suppress(ValueError, binascii.Error):
        decoded = base64.b64decode(text + b"=" * (-len(text) % 4), altchars=b"-_",
                                   validate=True)
        if len(decoded) == SECRET_BYTES:
            return decoded
    raise ConfigurationError(
        f"{origin}: the {what} must be {SECRET_BYTES} random bytes in base64url or hex; make "
        "one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\"")


def read_configured_key(source: KeySource, what: str) -> bytes:
    """The key a setting names, its file re-checked (it may have changed since the settings
    were loaded); its text is registered so no log line can print it."""
    if source.value is not None:
        text = source.value.get_secret_value()
        register_secret(text, source.kind + "-key")
        return decode_key(text.encode("utf-8"), source.setting, what, raw_allowed=False)
    assert source.file is not None
    try:
        check_key_file(source.file)
        raw = source.file.read_bytes()
    except (ValueError, OSError) as exc:
        raise ConfigurationError(f"{source.setting}: {exc}") from None
    with contextlib.suppress(UnicodeDecodeError):
        register_secret(raw.decode("utf-8").strip(), source.kind + "-key")
    return decode_key(raw, source.describe(), what, raw_allowed=True)


def load_or_create_secret(path: Path, what: str = "keyed-hash secret") -> bytes:
    """The secret at ``path``, created (0600) if it does not exist yet; a configured key
    (:func:`configured_source`) takes its place and is never created.

    Creation is atomic: the bytes are written to a private temporary file opened with
    ``O_EXCL`` and then published with ``link``, which fails if another process published
    first; so no process ever reads a half-written secret and two first uses agree on one.
    ``what`` names the secret in messages (the state-encryption key is made the same way).
    """
    source = configured_source(path)
    if source is not None:
        return read_configured_key(source, what)
    try:
        return _read_secret(path, what)
    except FileNotFoundError:
        pass
    make_private_dir(path.parent)
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
            in_session = session is not None and session.get_bind().dialect.name == "sqlite"
            if not key_available(self.secret_path):
                # This machine's first use: a database that already holds pseudonyms needs
                # their key, and a new one would only leave a stray key file behind.
                known = (session.get(StateEntry, FINGERPRINT_STATE_KEY) is not None
                         if session is not None and in_session
                         else stored_fingerprint(self.engine, FINGERPRINT_STATE_KEY) is not None)
                # (re-checked: another process here may have made the key, then recorded it)
                if known and not key_available(self.secret_path):
                    raise ConfigurationError(keyed_hash_mismatch(self.secret_path, found=False))
            secret = load_or_create_secret(self.secret_path)
            if session is not None and in_session:
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
    if record_fingerprint(session, FINGERPRINT_STATE_KEY, secret_fingerprint(secret)) == "differs":
        raise ConfigurationError(keyed_hash_mismatch(path))


def keyed_hash_mismatch(path: Path, *, found: bool = True) -> str:
    """The refusal when this machine's keyed-hash key is not the database's (``found``
    False: this machine has none yet)."""
    problem = (f"this machine's keyed-hash key ({where_key_lives(path)}) differs from the one "
               "the database was started with (it is not the one its pseudonyms were made "
               "with)" if found else
               f"this machine has no keyed-hash key yet ({path}), but the database was started "
               "with one (a new key is not the one its pseudonyms were made with)")
    return (f"{problem}: copy it from the machine that first used this database (the file its "
            "DSAR_KEYED_HASH_KEY_FILE names, or keyed-hash.key in its state folder) and point "
            "DSAR_KEYED_HASH_KEY_FILE at the copy; a new key would recognise nobody")


FingerprintCheck = Literal["recorded", "same", "differs"]


def record_fingerprint(session: Session, state_key: str, fingerprint: str) -> FingerprintCheck:
    """Compare ``fingerprint`` with the one stored under ``state_key``, storing it if there is
    none yet (in ``session``'s transaction, serialised with every other first use)."""
    value = json.dumps(fingerprint)
    lock_state_entry(session, state_key)  # the first use of two processes, too
    stored = session.get(StateEntry, state_key, with_for_update=True)
    if stored is None:
        session.add(StateEntry(key=state_key, value=value, updated_at=datetime.now(UTC)))
        session.flush()
        return "recorded"
    return "same" if stored.value == value else "differs"


def stored_fingerprint(engine: Engine, state_key: str) -> str | None:
    with Session(engine) as session:
        stored = session.get(StateEntry, state_key)
        return json.loads(stored.value) if stored is not None else None


KeyCheck = Literal["recorded", "same", "differs", "missing", "not-made"]


def check_key_with_database(engine: Engine, path: Path, state_key: str,
                            fingerprint: Callable[[bytes], str], what: str) -> KeyCheck:
    """Whether this machine's key for ``path`` is the one the database started with.

    ``recorded``: the database had none and now has this key's; ``same``; ``differs``;
    ``missing``: this machine has no key yet but the database has one (a first use here would
    make another); ``not-made``: neither has one yet. Never creates a key; a configured key
    that cannot be read raises ConfigurationError.
    """
    if not key_available(path):
        return "missing" if stored_fingerprint(engine, state_key) is not None else "not-made"
    key = load_or_create_secret(path, what)
    with Session(engine) as session:
        outcome = record_fingerprint(session, state_key, fingerprint(key))
        session.commit()
    return outcome


def check_keyed_hash_key(engine: Engine, state_dir: Path) -> KeyCheck:
    """This machine's keyed-hash key against the database's (:func:`check_key_with_database`)."""
    return check_key_with_database(engine, secret_path(state_dir), FINGERPRINT_STATE_KEY,
                                   secret_fingerprint, "keyed-hash key")
