"""Logging that never carries e-mail addresses or secrets.

Redaction happens where every log record is born (a ``LogRecord`` factory), not in one handler,
so records from third-party libraries (httpx logs each URL, the stripe SDK logs requests) are
covered too, whichever handler, test capture or log shipper receives them. Known secrets and
the subject's address are replaced by name; any other e-mail-shaped text (also percent-encoded,
as in a logged URL) becomes ``<email>``. Logs identify a request by its request id.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote, quote_plus

EMAIL_PATTERN = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.UNICODE)

_lock = threading.Lock()
_secrets: dict[str, str] = {}
_installed = False


def register_secret(value: str | None, label: str = "secret") -> None:
    """Never let ``value`` (and its URL-encoded forms) appear in a log line."""
    if not value or len(value) < 4:
        return
    with _lock:
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            _secrets[form] = f"<{label}>"


def register_secrets(values: Iterable[str], label: str = "secret") -> None:
    for value in values:
        register_secret(value, label)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets.items(), key=lambda kv: -len(kv[0]))
    for value, label in known:
        text = text.replace(value, label)
    return EMAIL_PATTERN.sub("<email>", text)


def _install_factory() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    original = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = original(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep the template only
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)


class _HubHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs; found again by its type, so repeated
    configuration (tests, several commands in one process) never stacks handlers."""


def configure_logging(level: str = "WARNING") -> None:
    """Log to stderr (stdout is reserved for results and ``--json``)."""
    _install_factory()
    root = logging.getLogger()
    root.setLevel(level.upper())
    ours = [h for h in root.handlers if isinstance(h, _HubHandler)]
    if not ours:
        handler = _HubHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for existing in ours:
        existing.setStream(sys.stderr)


def ensure_redaction() -> None:
    """Install the redacting record factory without touching handlers (library use, tests)."""
    _install_factory()
