"""Zettle erasure: the Purchase API is read-only, so ``erase`` sends nothing and answers a lawful
refusal carrying the manual request to Zettle/PayPal support (purchase number and date).

The connector implements ``erase`` but does not declare ``Capability.ERASURE``: it can never
carry out an erasure through the API (see the connector's module docstring)."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from pydantic import SecretStr

from connectors.sdk.base import Capability, Connector, ErasureAction, ErasureState
from connectors.zettle import ZettleConnector, ZettleSettings
from connectors.zettle_matching import Mention, purchase_record
from hub.core.models import Record
from hub.core.subject import MatchStrength
from hub.http import HttpPolicy

CLIENT_ID = "6adde977-c34d-4de1-99b2-f6ed3e65431a"
API_KEY = "eyJraWQiOiIwIiwidHlwIjoiSldUIiwiYWxnIjoiUlMyNTYifQ.eyJjbGllbnRfaWQiOiI2YWRkZSJ9.c2ln"


def purchase(**changes: Any) -> dict[str, Any]:
    """A purchase shaped like the documented examples (purchase.adoc, "Fetch a list")."""
    return {"purchaseUUID1": "39d8b706-358b-11eb-a896-000000000042", "purchaseNumber": 42,
            "globalPurchaseNumber": 1042, "timestamp": "2025-05-06T08:12:31.402+0000",
            "amount": 95000, "vatAmount": 19000, "currency": "SEK", "country": "SE",
            "products": [{"name": "Samtal", "comment": "Anna S 070-123 45 67"}], **changes}


def record(**changes: Any) -> Record:
    return purchase_record(purchase(**changes), Mention("phone", MatchStrength.DERIVED,
                                                        "products[0].comment"))


def connector(policy: HttpPolicy) -> ZettleConnector:
    return ZettleConnector(ZettleSettings(client_id=CLIENT_ID, api_key=SecretStr(API_KEY),
                                          http=policy))


def test_erasure_is_implemented_but_not_declared() -> None:
    assert Capability.ERASURE not in ZettleConnector.capabilities
    assert ZettleConnector.erase is not Connector.erase


@pytest.mark.parametrize("action", list(ErasureAction))
@respx.mock  # no routes: any request (even a token grant) would fail the test
async def test_a_receipt_is_refused_with_the_manual_request(
        fast_policy: HttpPolicy, action: ErasureAction) -> None:
    async with connector(fast_policy) as zettle:
        outcome = await zettle.erase(record(), action, idempotency_key="req-1:zettle:42")
        assert zettle.requests_sent == 0 and zettle.auth.grants == 0
    assert len(respx.calls) == 0
    assert outcome.state is ErasureState.REFUSED
    assert outcome.fallback is None and outcome.completes_by is None
    detail = outcome.detail
    assert "read-only" in detail and "Zettle (PayPal) support" in detail
    assert "after the hold has ended" in detail and "Bokföringslagen" in detail
    assert "receipt #42 of 2025-05-06" in detail
    assert "39d8b706-358b-11eb-a896-000000000042" in detail and "1042" in detail
    assert "070-123" not in detail  # the receipt's free text stays out of the report


async def test_a_receipt_without_number_or_date_still_gets_instructions(
        fast_policy: HttpPolicy) -> None:
    bare = Record(type="purchase", id="39d8b706-358b-11eb-a896-000000000007",
                  matched_on="email")
    async with connector(fast_policy) as zettle:
        outcome = await zettle.erase(bare, ErasureAction.DELETE, idempotency_key="k")
    assert outcome.state is ErasureState.REFUSED
    assert "the receipt of unknown date" in outcome.detail
    assert "39d8b706-358b-11eb-a896-000000000007" in outcome.detail


async def test_an_unknown_record_type_is_a_programming_error(fast_policy: HttpPolicy) -> None:
    async with connector(fast_policy) as zettle:
        with pytest.raises(ValueError, match="no 'customer' records"):
            await zettle.erase(Record(type="customer", id="1", matched_on="email"),
                               ErasureAction.DELETE, idempotency_key="k")
