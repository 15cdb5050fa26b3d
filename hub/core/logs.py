"""Logging that never carries e-mail addresses or secrets.

Redaction happens where every log record is born (a ``LogRecord`` factory), not in one handler,
so records from third-party libraries (httpx logs each URL, the stripe SDK logs requests) are
covered too, whichever handler, test capture or log shipper receives them. Known secrets and
the subject's address are replaced by name; any other e-mail-shaped text (also percent-encoded,
as in a logged URL) becomes ``<email>``. Logs identify a request by its request id.

A search goes out as a URL (``?Search=%2B46701234567``, ``?email=anna.svensson%2B``), in
spellings no registered secret matches, so every query value in a logged URL is replaced unless
its parameter is known to carry no personal data (paging, sorting, dates, the processors' own
object ids). Response bodies are never logged: the stripe SDK's debug record of a body becomes
what it held, counted, with the objects' ids.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote

EMAIL_PATTERN = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.UNICODE)

#: Query parameters (compared lower-cased and percent-decoded) whose values are kept in logs:
#: paging, sorting, dates, flags and the processors' own object ids, which say what a request
#: did without saying whom it was about. Any other parameter may be a search term (``Search``,
#: ``query``, ``email``, ``phone``, ``customer_details[email]``, a declared booking system's own
#: names), so its value is replaced.
SAFE_QUERY_PARAMETERS = frozenset({
    "limit", "page", "per_page", "pagesize", "page_size", "offset", "skip", "take", "cursor",
    "starting_after", "ending_before", "after", "before", "status", "sort", "sortby",
    "sortorder", "order", "descending", "startdate", "enddate", "fromdate", "todate",
    "created[gte]", "created[lte]", "expand", "expand[]", "fields", "include",
    "includecomments", "includeinvoiceaddress", "lastpurchasehash", "lastmodified",
    "financialyear", "customer", "customerid", "customernumber", "companyid", "subscription",
    "type", "id", "ids",
})
QUERY_PARAMETER = re.compile(r"(?<=[?&])([^=&#\s'\"<>]+)=([^&#\s'\"]*)")

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


def redact_query(text: str) -> str:
    """Every query value in ``text`` (``?name=value&...``) replaced by ``<redacted>`` unless
    its parameter is in :data:`SAFE_QUERY_PARAMETERS`."""

    def replace(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if not value or unquote(name).lower() in SAFE_QUERY_PARAMETERS:
            return match.group(0)
        return f"{name}=<redacted>"

    return QUERY_PARAMETER.sub(replace, text)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets.items(), key=lambda kv: -len(kv[0]))
    text = redact_query(text)
    for value, label in known:
        text = text.replace(value, label)
    return EMAIL_PATTERN.sub("<email>", text)


MAX_LOGGED_IDS = 25


def summarise_body(text: str) -> str:
    """A response body as what it held, never its content: a list as its length and the ids
    of its objects, one object as its type and id, an error as its type and code."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        return f"<{len(text)} characters, not JSON>"
    if isinstance(body, list):
        return f"<list of {len(body)}>"
    if not isinstance(body, dict):
        return "<a JSON scalar>"
    error = body.get("error")
    if isinstance(error, dict):
        said = " ".join(f"{key}={error[key]}" for key in ("type", "code") if error.get(key))
        return f"<error {said}>".replace(" >", ">")
    items = body.get("data")
    if isinstance(items, list):
        ids = [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
        shown = ", ".join(ids[:MAX_LOGGED_IDS]) + (
            f" and {len(ids) - MAX_LOGGED_IDS} more" if len(ids) > MAX_LOGGED_IDS else "")
        more = "; has_more" if body.get("has_more") else ""
        return f"<{body.get('object', 'list')} of {len(items)}{more}: {shown or 'no ids'}>"
    if "id" in body:
        return f"<{body.get('object', 'object')} {body['id']}>"
    return f"<object with {len(body)} fields>"


def _logfmt_value(text: str) -> str:
    """One value as the stripe SDK's logfmt wrote it (``repr`` when it holds whitespace)."""
    if text[:1] in ("'", '"'):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text


def _stripe_sdk(message: str) -> str:
    """The stripe SDK's own records, which it writes in logfmt with sorted keys: at debug the
    whole response body (``body=... message='API response body'``) and the request's
    parameters (``... post_data=email=...&limit=100``), which are no URL to redact."""
    body_suffix = " message='API response body'"
    if message.startswith("body=") and message.endswith(body_suffix):
        body = _logfmt_value(message.removeprefix("body=").removesuffix(body_suffix))
        return f"body={summarise_body(body)}{body_suffix}"
    head, found, post_data = message.partition(" post_data=")
    if found and "message='Post details'" in head:
        return f"{head} post_data={redact_query('?' + _logfmt_value(post_data))[1:]}"
    return message


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
        if record.name == "stripe":
            message = _stripe_sdk(message)
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
