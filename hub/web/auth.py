"""Who may use the web inbox: a password (stored as a scrypt hash) or a one-time login link,
exchanged for a session.

Why this shape. The inbox shows people's requests, so nobody may read it without logging in,
even on 127.0.0.1 (another user of the machine, or a web page in the browser, can reach a
loopback port). The password is never stored: ``dsar serve --set-password`` writes a scrypt
hash with a random salt to a 0600 file in the hub's state folder, so reading that file does
not give the password away. The one-time link printed at start needs no password at all: its
token is good for a single GET, which swaps it for a session cookie, so the token in a
browser's history or a terminal's scrollback is worthless afterwards.

Sessions live in the server's memory (a restart logs everybody out, which is what a local tool
wants). Each carries its own CSRF token, which every form sends back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.reports.files import write_private

#: The password hash's file in the hub's state folder.
PASSWORD_FILE = "web-password"  # noqa: S105 - a file name, not a password

#: scrypt cost (RFC 7914): n=2**15, r=8 is about 32 MiB and a few tenths of a second per try,
#: which makes guessing a stolen hash slow and is still quick for the one person logging in.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024

#: Shortest password accepted: a guessable one would make the hash pointless.
MIN_PASSWORD_LENGTH = 10

#: A session ends this long after its last use.
SESSION_IDLE_SECONDS = 8 * 3600

#: After this many wrong passwords in a row, logins are refused for ``LOCKOUT_SECONDS``.
MAX_FAILURES, LOCKOUT_SECONDS = 5, 60


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) of ``password`` with a random 16-byte salt."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt),
                                  n=int(n), r=int(r), p=int(p), maxmem=_SCRYPT_MAXMEM,
                                  dklen=len(bytes.fromhex(digest)))
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def set_password(state_dir: Path, password: str) -> Path:
    """Store ``password``'s hash (mode 0600, replacing any earlier one)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return write_private(state_dir / PASSWORD_FILE, hash_password(password) + "\n")


def stored_password(state_dir: Path) -> str | None:
    """The stored hash, or None when no password was set."""
    path = state_dir / PASSWORD_FILE
    try:
        return path.read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


@dataclass
class Session:
    id: str
    csrf: str
    last_used: float


@dataclass
class Gate:
    """The login state of one running server: the password hash, the unused one-time token,
    the sessions and the count of wrong passwords."""

    password_hash: str | None
    login_token: str | None = field(default_factory=lambda: secrets.token_urlsafe(32))
    sessions: dict[str, Session] = field(default_factory=dict)
    failures: int = 0
    locked_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_session(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.monotonic())
        with self._lock:
            self.sessions[session.id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle clock restarted), or None."""
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            found = self.sessions.get(session_id)
            if found is None:
                return None
            if now - found.last_used > SESSION_IDLE_SECONDS:
                del self.sessions[session_id]
                return None
            found.last_used = now
            return found

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self.sessions.pop(session_id or "", None)

    def use_token(self, token: str) -> bool:
        """True once for the printed token: it is spent by its first (correct) use."""
        with self._lock:
            if self.login_token is None or not hmac.compare_digest(
                    token.encode("utf-8"), self.login_token.encode("utf-8")):
                return False
            self.login_token = None
            return True

    def check_password(self, password: str) -> bool | None:
        """True for the right password, False for a wrong one, None while locked out after
        too many wrong ones (or when no password is set)."""
        if self.password_hash is None or time.monotonic() < self.locked_until:
            return None
        if verify_password(password, self.password_hash):
            self.failures = 0
            return True
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.failures = 0
            self.locked_until = time.monotonic() + LOCKOUT_SECONDS
        return False
