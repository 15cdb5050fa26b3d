"""Fortnox's error answers, in words: the ``ErrorInformation`` envelope and OAuth errors.

https://www.fortnox.se/developer/guides-and-good-to-know/errors and …/responses — errors are
``{"ErrorInformation": {"error": 1, "message": "…", "code": 2000310}}`` (some answers capitalise
the keys); 403 is documented as "failed authentication", 2000310/2000311 as a missing or wrong
access token. The token endpoint answers RFC 6749 §5.2 ``error``/``error_description`` bodies.
"""

from __future__ import annotations

from typing import Any

import httpx

# What the documented error codes mean, in English (guides-and-good-to-know/errors).
ERROR_CODES: dict[int, str] = {
    1000003: "system exception at Fortnox",
    2000310: "the access token is missing or incorrect",
    2000311: "the access token is missing or incorrect",
    2000588: "a parameter is invalid",
    2001101: "no active licence for the requested scope",
    2001103: "the Fortnox account has no API licence",
}
INVALID_LOGIN_CODES = frozenset({2000310, 2000311})

def error_information(body: Any) -> dict[str, Any] | None:
    """The ``ErrorInformation`` object with lower-cased keys (Fortnox sends either case)."""
    if not isinstance(body, dict):
        return None
    info = next((v for k, v in body.items() if str(k).lower() == "errorinformation"), None)
    return {str(k).lower(): v for k, v in info.items()} if isinstance(info, dict) else None


def error_detail(body: Any) -> str | None:
    """Fortnox's own words from an ``ErrorInformation`` body, or an OAuth ``error`` /
    ``error_description`` pair from the token endpoint (RFC 6749 §5.2)."""
    info = error_information(body)
    if info is not None:
        message, code = info.get("message"), as_int(info.get("code"))
        if code is None:
            return str(message) if message else None
        meaning = ERROR_CODES.get(code)
        return f"{message} (code {code}{': ' + meaning if meaning else ''})"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return ": ".join(str(p) for p in (body["error"], body.get("error_description")) if p)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return None


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def deletion_refusal(response: httpx.Response) -> str | None:
    """Fortnox's words when it refuses to delete a customer that records refer to, else None.

    The refusal's code and wording are undocumented, so it is recognised by what it is: a 400 with
    an ``ErrorInformation`` body whose code is not a documented one meaning something else
    (an invalid parameter, a licence or token problem)."""
    if response.status_code != 400:
        return None
    body = json_or_none(response)
    info = error_information(body)
    if info is None or as_int(info.get("code")) in ERROR_CODES:
        return None
    return error_detail(body) or "no detail"


def token_refused(response: httpx.Response) -> bool:
    """A 401, or the documented 403 "failed authentication" with an invalid-login code."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    info = error_information(json_or_none(response)) or {}
    return as_int(info.get("code")) in INVALID_LOGIN_CODES


