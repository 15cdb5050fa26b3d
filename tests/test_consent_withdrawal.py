"""``withdraw_consent`` as a use-case (no CLI, no network): the evidence it records, the
destinations it resolves when MailerLite cannot be reached through its API, bad input that
writes nothing, and the register never pushing an opt-out back to the system it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mailerlite import MailerLiteConnector
from connectors.sdk.base import Connector
from hub.config.consent import ConsentSettings
from hub.config.settings import load_settings
from hub.consent.database import open_consent_database
from hub.consent.withdrawal import HUB_SYSTEM, withdraw_consent, withdrawal_destinations
from hub.core.errors import InvalidInput
from hub.store.consent_register import ConsentRegister, Destination, Observation
from hub.store.keyed import secret_path
from hub.store.suppression import SuppressionList

ANNA = "anna.svensson@example.se"
CONNECTORS: dict[str, type[Connector]] = {"mailerlite": MailerLiteConnector}


@pytest.fixture
def engine(database_url: str):
    return open_consent_database(database_url)


def _settings(tmp_path: Path):
    return load_settings(CONNECTORS).model_copy(update={"state_dir": tmp_path})


def test_an_unconfigured_mailerlite_becomes_a_manual_task(tmp_path: Path) -> None:
    destinations, _ = withdrawal_destinations(_settings(tmp_path), CONNECTORS,
                                              ConsentSettings())
    by_key = {d.key: d for d in destinations}
    assert set(by_key) == {"mailerlite", "paloma"}
    assert by_key["mailerlite"].manual and "Unsubscribe" in (by_key["mailerlite"].instructions
                                                             or "")


async def test_the_evidence_is_recorded_once_and_tasks_are_not_duplicated(
        tmp_path: Path, engine) -> None:
    settings = _settings(tmp_path)
    outcome = await withdraw_consent(settings, CONNECTORS, ConsentSettings(), engine,
                                     "Anna.Svensson@Example.se", channel="email",
                                     recorded_by="Lena Ek", note="mail of 3 March")
    assert outcome.already_recorded is False and not outcome.confirmed
    assert {d.key: d.state for d in outcome.destinations} == {
        "mailerlite": "manual-open", "paloma": "manual-open"}
    assert int(outcome.exit_code) == 3
    # the letter names only systems where marketing has stopped: none yet, both are manual
    assert outcome.keyed_systems() == []
    assert SuppressionList(engine, secret_path(tmp_path)).is_suppressed(ANNA)
    history = ConsentRegister(engine).history(ANNA)
    [event] = history["events"]
    assert (event.system, event.status, event.learned_via) == (HUB_SYSTEM, "unsubscribed",
                                                               "email")
    assert event.evidence["recorded_by"] == "Lena Ek"
    assert event.evidence["note"] == "mail of 3 March" and event.evidence["unsubscribed_at"]

    again = await withdraw_consent(settings, CONNECTORS, ConsentSettings(), engine, ANNA,
                                   channel="phone", recorded_by="Per")
    assert again.already_recorded is True and again.channel == "email"
    history = ConsentRegister(engine).history(ANNA)
    assert len(history["events"]) == 1 and len(history["tasks"]) == 2


@pytest.mark.parametrize("email, channel, who, said", [
    ("anna.svensson@", "email", "Lena", "not a valid e-mail address"),
    (ANNA, "fax", "Lena", "unknown channel"),
    (ANNA, "email", "  ", "who recorded"),
])
async def test_bad_input_writes_nothing(tmp_path: Path, engine, email: str, channel: str,
                                        who: str, said: str) -> None:
    with pytest.raises(InvalidInput, match=said):
        await withdraw_consent(_settings(tmp_path), CONNECTORS, ConsentSettings(), engine,
                               email, channel=channel, recorded_by=who)
    assert ConsentRegister(engine).snapshot() == {"events": [], "states": [], "tasks": []}


def test_an_opt_out_is_never_pushed_back_to_its_origin(engine) -> None:
    register = ConsentRegister(engine)
    destinations = [Destination("mailerlite", "MailerLite", "mailerlite"),
                    Destination("paloma", "Paloma", None, "by hand")]
    register.apply([Observation(system="mailerlite", subscriber_id="1", email=ANNA,
                                status="unsubscribed", evidence={})], via="sync",
                   destinations=destinations)
    assert [t.destination for t in register.open_tasks()] == ["paloma"]


def test_the_letter_names_only_the_systems_where_marketing_stopped() -> None:
    from datetime import UTC, datetime

    from hub.consent.withdrawal import DestinationState, WithdrawalOutcome

    outcome = WithdrawalOutcome(
        email=ANNA, channel="email", recorded_by="Lena", recorded_at=datetime.now(UTC),
        already_recorded=False, suppressed=True, destinations=[
            DestinationState("mailerlite", "MailerLite", "done"),
            DestinationState("booking", "Bokningssystemet", "none"),
            DestinationState("paloma", "Paloma", "manual-open"),
            DestinationState("crm", "CRM", "failed")])
    assert outcome.keyed_systems() == [("mailerlite", "MailerLite"),
                                       ("booking", "Bokningssystemet")]
    assert not outcome.confirmed
