"""Logs at -v/-vv say what was asked and how it went, never of whom: no identifiers in logged
URLs (a phone number or an e-mail local part travels as a search parameter, in spellings no
registered secret matches) and no response bodies (other customers' names, phones and payment
secrets), whichever library writes the record."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from hub.core.logs import redact, redact_query, summarise_body
from tests.e2e_helpers import run_dsar

ANNA = "anna.svensson@example.se"
FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"


def test_identifier_query_values_are_redacted_and_paging_kept() -> None:
    url = ("GET http://127.0.0.1:1/customers?IncludeComments=true&Search=%2B46701234567"
           "&Skip=0&Take=10 \"HTTP/1.1 200 OK\"")
    assert redact_query(url) == ("GET http://127.0.0.1:1/customers?IncludeComments=true"
                                 "&Search=<redacted>&Skip=0&Take=10 \"HTTP/1.1 200 OK\"")
    assert redact("http://h/3/customers?email=ANNA.SVENSSON%2B&limit=500&page=1") == (
        "http://h/3/customers?email=<redacted>&limit=500&page=1")
    assert "070" not in redact("http://h/c?phone=070-123+45+67&customer=cus_1")
    assert "cus_1" in redact("http://h/c?phone=070-123+45+67&customer=cus_1")
    assert redact("http://h/v1/checkout/sessions?customer_details[email]=x&limit=100") == (
        "http://h/v1/checkout/sessions?customer_details[email]=<redacted>&limit=100")


def test_bodies_become_counts_and_ids() -> None:
    body = json.dumps({"object": "list", "has_more": True, "data": [
        {"id": "cus_1", "name": "Nils Exempelsson", "phone": "+46705550199"},
        {"id": "pi_2", "client_secret": "pi_2_secret_abc"}]})
    summary = summarise_body(body)
    assert summary == "<list of 2; has_more: cus_1, pi_2>"
    assert summarise_body('{"error": {"type": "card_error", "message": "x@example.se"}}') == (
        "<error type=card_error>")
    assert summarise_body('{"id": "cus_1", "object": "customer", "name": "N"}') == (
        "<customer cus_1>")
    assert summarise_body("<html>") == "<6 characters, not JSON>"


def test_stripe_sdk_records_are_summarised(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"object": "list", "data": [
        {"id": "pi_9", "client_secret": "pi_9_secret_xyz", "shipping": {"name": "Nils E"}}]})
    stripe = logging.getLogger("stripe")
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        # the SDK's logfmt: a value with whitespace is written as its repr
        stripe.debug(f"body={body!r} message='API response body'")
        stripe.debug("api_version=2026-01-01 message='Post details' "
                     "post_data=email=nils%40example.se&limit=100")
    text = caplog.text
    assert "pi_9_secret" not in text and "Nils" not in text
    assert "<list of 1: pi_9>" in text
    assert "post_data=email=<redacted>&limit=100" in text


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _strings(value: object, key: str | None = None) -> list[tuple[str | None, str]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings(v, k)]
    if isinstance(value, list):
        return [pair for v in value for pair in _strings(v, key)]
    return [(key, value)] if isinstance(value, str) else []


def _needles() -> tuple[list[str], list[str]]:
    """(texts, phone digit tails) that must not appear: the subject's identifiers, other
    customers' names and phone numbers, and payment secrets, as the sandbox holds them."""
    texts = [ANNA, "anna.svensson", "anna%2esvensson"]
    phones: set[str] = set()
    for name in ("stripe", "booking", "fortnox", "zettle"):
        for key, value in _strings(_fixture(name)):
            lowered = (key or "").lower()
            if "phone" in lowered:
                phones.add(value)
            elif ((lowered in ("name", "customername") and " " in value)
                  or lowered == "client_secret" or "_secret_" in value):
                texts.append(value)
            elif lowered in ("personalidentitynumber", "organisationnumber") and value:
                texts.append(re.sub(r"\D", "", value)[-10:])
    tails = {re.sub(r"\D", "", phone)[-8:] for phone in phones}
    return texts, sorted(t for t in tails if len(t) == 8)


@pytest.mark.parametrize("command", [["lookup", ANNA], ["erase", ANNA, "--yes"]])
def test_debug_logs_of_a_sandbox_run_carry_no_identifiers(tmp_path: Path,
                                                          command: list[str]) -> None:
    run = run_dsar("--sandbox", "-vv", "--out", str(tmp_path), *command,
                   env={"DSAR_STATE_DIR": str(tmp_path / "state")})
    assert run.code in (0, 3), run.stderr[-2000:]
    log = run.stderr
    assert "DEBUG" in log and "HTTP Request:" in log and "API response body" in log
    assert "Search=<redacted>" in log  # the booking system was searched by phone
    texts, tails = _needles()
    lowered = log.lower()
    for needle in texts:
        assert needle.lower() not in lowered, needle
    assert "client_secret" not in log and "_secret_" not in log
    flattened = re.sub(r"%2B|%20|[\s+\-()]", "", log, flags=re.IGNORECASE)
    for tail in tails:
        assert tail not in flattened, tail
