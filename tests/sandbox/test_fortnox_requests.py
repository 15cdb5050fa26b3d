"""How many requests a Fortnox lookup costs (25 per 5 s per token is all a tenant gets): a
search spelling contained in one already listed is not asked again, phone numbers are searched
in the spellings the register stores, and one partial invoice filter serves every customer
number containing it. Counted by the fake Fortnox on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.fortnox import FortnoxConnector, FortnoxSettings
from connectors.fortnox.lookup import PHONE_STYLES, phone_spellings, phone_style
from hub.core.subject import Identifier, Subject
from hub.http import HttpPolicy
from hub.sandbox.fortnox_api import SPEC, FortnoxServer
from hub.sandbox.server import SandboxOptions

ANNA = "anna.svensson@example.se"


@pytest.fixture
def server() -> Iterator[FortnoxServer]:
    with SPEC.build(SandboxOptions()) as fake:
        assert isinstance(fake, FortnoxServer)
        yield fake
        assert fake.internal_errors == []


def searches(server: FortnoxServer, prefix: str) -> list[str]:
    return [target.split("?")[1].split("&limit")[0] for _, target in server.request_log
            if target.startswith(prefix + "?")]


async def test_anna_costs_twenty_requests_not_twenty_six(
        server: FortnoxServer, fast_policy: HttpPolicy) -> None:
    settings = FortnoxSettings(base_url=server.base_url, http=fast_policy, **SPEC.credentials)
    subject = Subject.from_email(ANNA)
    async with FortnoxConnector(settings) as fortnox:
        first = await fortnox.find_subject(subject)
        stripe_phone = Identifier(kind="phone", value="+46701234567", source="stripe")
        widened, new = subject.widened([*first.identifiers, stripe_phone])
        second = await fortnox.find_by_identifiers(widened, new)
    assert {r.id for r in first.records if r.type == "customer"} == {"1", "10"}
    assert len([r for r in first.records if r.type == "invoice"]) == 10
    assert second.records == []  # everything of hers was found in round one
    # the tagged address is inside the answer of "anna.svensson+": not asked again
    # searches run side by side: the order they reach the server is not theirs to keep
    assert sorted(searches(server, "/3/customers")) == sorted([
        "email=anna.svensson%40example.se", "email=anna.svensson%2B",
        "organisationnumber=850709-1232", "organisationnumber=8507091232",
        # her customers store "070-123 45 67" and "+46 70 123 45 67": two spellings, not four
        "phone=070-123+45+67", "phone=%2B46+70+123+45+67"])
    # customernumber=1 also lists customer 10's invoices (partial filter): one list for both
    assert searches(server, "/3/invoices") == ["customernumber=1"]
    # before: 1 token + 7 customer lists + 2 customers + 2 invoice lists + 10 invoices + 4
    # phone spellings = 26
    assert server.request_count == 20


def test_phone_style_names_the_spelling_a_register_uses() -> None:
    assert phone_style("070-123 45 67") == "national"
    assert phone_style("+46 70 123 45 67") == "international"
    assert phone_style("+46701234567") == "e164"
    assert phone_style("0701234567") == "digits"
    assert phone_style("070 - 12 34 567") is None  # a spelling of its own
    assert phone_spellings("+46812345678", ("national",)) == ["08-123 456 78"]
    assert len(phone_spellings("+46812345678", PHONE_STYLES)) == 4
