"""The access job end to end in-process: both rounds against the sandbox."""

from __future__ import annotations

from typing import Any

from hub.config.registry import discover
from hub.config.settings import load_settings, with_processor_overrides
from hub.core.subject import Identifier, Subject
from hub.requests.access import look_up
from hub.sandbox import Sandbox
from tests.e2e_helpers import pace_of


def sandbox_settings(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """The hub's settings for a running sandbox, as ``--sandbox`` makes them, paced as its
    fakes enforce (:func:`tests.e2e_helpers.pace_of`: Stripe's 25 a second would make every
    lookup of Anna wait 5 s for a limit the fake does not enforce)."""
    connectors = discover()
    settings = load_settings(connectors)
    for name in connectors:
        values: dict[str, Any] = {"enabled": False}
        if name in sandbox.base_urls:
            values = {"enabled": True, "base_url": sandbox.base_urls[name],
                      **sandbox.credentials.get(name, {})}
            requests, seconds = pace_of(sandbox.servers[name])
            http = values.get("http") or settings.processor(name).http.model_dump()
            values["http"] = {**http, "rate_limit_requests": requests,
                              "rate_limit_seconds": seconds}
        settings = with_processor_overrides(settings, name, values)
    return settings, connectors


async def test_stored_spelling_found_elsewhere_widens_when_search_is_missing() -> None:
    with Sandbox(search_available=False) as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        report = await look_up(Subject.from_email("anna.svensson@example.se"), settings,
                               connectors)
    stripe = next(p for p in report.processors if p.name == "stripe")
    customers = [r for r in stripe.records if r.type == "customer"]
    assert len(customers) == 2, "the second spelling must be found in the widening round"
    assert any("Search API is not available" in n for n in stripe.notes)
    assert any(i.kind == "email" and i.value == "Anna.Svensson@Example.se"
               for i in report.subject.identifiers)


async def test_without_widening_only_the_exact_spelling_is_found() -> None:
    with Sandbox(search_available=False) as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        report = await look_up(Subject.from_email("anna.svensson@example.se"), settings,
                               connectors, widen=False)
    stripe = next(p for p in report.processors if p.name == "stripe")
    assert len([r for r in stripe.records if r.type == "customer"]) == 1


def test_widening_never_accepts_another_mailbox_or_a_name() -> None:
    subject = Subject.from_email("anna@example.se")
    widened, new = subject.widened([
        Identifier(kind="email", value="ANNA@example.se", source="x"),
        Identifier(kind="email", value="anna.other@example.se", source="x"),
        Identifier(kind="name", value="Anna", source="x"),
        Identifier(kind="phone", value="+46701234567", source="x"),
        Identifier(kind="phone", value="+46701234567", source="y"),
    ])
    assert [(i.kind, i.value) for i in new] == [("email", "ANNA@example.se"),
                                                ("phone", "+46701234567")]
    assert "ANNA@example.se" in widened.email_variants()
    assert widened.match_identifier("phone", "070-123 45 67") is not None


async def test_log_lines_carry_the_request_id_the_ledger_knows(caplog) -> None:  # type: ignore[no-untyped-def]
    """An operator greps the logs for the id shown in the ledger and the report folder."""
    with Sandbox(fail={"stripe": "500"}) as sandbox:
        settings, connectors = sandbox_settings(sandbox)
        with caplog.at_level("WARNING"):
            report = await look_up(Subject.from_email("anna.svensson@example.se"), settings,
                                   connectors, widen=False, request_id="acc-20261129-000000-abcdef")
    assert report.request.id == "acc-20261129-000000-abcdef"
    stripe_lines = [r.getMessage() for r in caplog.records if "stripe" in r.getMessage()]
    assert stripe_lines and all("acc-20261129-000000-abcdef" in m for m in stripe_lines)
