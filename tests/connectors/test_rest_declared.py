"""Several REST processors declared as ``[rest.<name>]`` tables, each a processor of its own.

Two made-up systems with different APIs (a clinic: API key, skip/take paging; a studio: bearer
token, cursor paging) are declared in one configuration file, discovered as connectors
``clinic`` and ``studio`` and asked in one lookup; respx answers for both hosts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import respx

from connectors.rest import RestConnector
from connectors.sdk.testing import run_static_checks
from hub.config.registry import discover
from hub.config.settings import load_settings
from hub.core.errors import ConfigurationError
from hub.core.models import ProcessorStatus
from hub.core.subject import Subject
from hub.requests.access import look_up

REPO = Path(__file__).resolve().parents[2]
ANNA = "anna.svensson@example.se"
CLINIC = "https://api.clinic.example"
STUDIO = "https://studio.example/v2"

CONFIG = """
[rest.clinic]
system = "Klinikbokning"
base_url = "https://api.clinic.example"
docs_url = "https://api.clinic.example/docs"
http = { max_attempts = 1, rate_limit_requests = 100 }

[rest.clinic.api]
auth = { type = "api_key", header = "x-api-key" }
paginator = { type = "offset", offset_param = "Skip", limit_param = "Take", limit = 2 }

[[rest.clinic.api.resources]]
name = "patient"
path = "/patients"
records_path = "Results"
personal_fields = ["Name", "Email"]
search = { email = "Search" }
identifiers = { email = "Email" }

[rest.studio]
base_url = "https://studio.example/v2"
http = { max_attempts = 1, rate_limit_requests = 100 }

[rest.studio.api]
auth = { type = "bearer" }
paginator = { type = "cursor", cursor_path = "next", cursor_param = "after" }

[[rest.studio.api.resources]]
name = "member"
path = "/members"
records_path = "items"
id_field = "id"
personal_fields = ["*"]
search = { email = "email" }
identifiers = { email = "email" }
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_each_rest_table_becomes_a_processor_of_its_own(config: Path) -> None:
    connectors = discover(config)
    assert {"booking", "clinic", "studio"} <= set(connectors)  # [booking] stays as it was
    clinic, studio = connectors["clinic"], connectors["studio"]
    assert issubclass(clinic, RestConnector) and clinic is not studio
    assert (clinic.name, clinic.title, clinic.docs_url) == (
        "clinic", "Klinikbokning", "https://api.clinic.example/docs")
    assert (studio.name, studio.title, studio.docs_url) == ("studio", "studio", STUDIO)
    assert discover(config)["clinic"] is clinic  # the same class on every discovery
    run_static_checks(clinic)  # the contract every connector meets
    settings = load_settings(connectors, config)
    assert settings.processor("clinic").missing_credentials() == ["api_key"]
    assert not settings.processor("clinic").is_enabled()  # not set up until its key is set


async def test_two_declared_processors_answer_one_lookup_at_once(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_CLINIC__API_KEY", "clinic-key-123456")
    monkeypatch.setenv("DSAR_STUDIO__API_KEY", "studio-token-123456")
    connectors = {name: cls for name, cls in discover(config).items()
                  if name in ("clinic", "studio")}
    settings = load_settings(connectors, config)
    asked: set[str] = set()
    both_asked = asyncio.Event()

    async def once_both_are_asked(host: str) -> None:
        """Hold each first answer until the other processor has been asked too: a lookup
        that asked them one after the other would time out here."""
        asked.add(host)
        if asked == {"clinic", "studio"}:
            both_asked.set()
        await asyncio.wait_for(both_asked.wait(), timeout=5)

    async def clinic_patients(request: httpx.Request) -> httpx.Response:
        await once_both_are_asked("clinic")
        skip = int(request.url.params["Skip"])
        people = [{"Id": 7, "Name": "Anna Svensson", "Email": ANNA},
                  {"Id": 8, "Name": "Anna Svenssonson", "Email": "anna.svenssonson@example.se"}]
        return httpx.Response(200, json={"Results": people[skip:skip + 2] if skip == 0 else []})

    async def studio_members(request: httpx.Request) -> httpx.Response:
        await once_both_are_asked("studio")
        if request.url.params.get("after") is None:
            return httpx.Response(200, json={"items": [], "next": "page-2"})
        return httpx.Response(200, json={"items": [{"id": "m-1", "email": ANNA.upper()}],
                                         "next": None})

    with respx.mock(assert_all_called=True) as router:
        patients = router.get(f"{CLINIC}/patients").mock(side_effect=clinic_patients)
        members = router.get(f"{STUDIO}/members").mock(side_effect=studio_members)
        report = await look_up(Subject.from_email(ANNA), settings, connectors, widen=False)

    results = {p.name: p for p in report.processors}
    assert set(results) == {"clinic", "studio"}
    assert results["clinic"].status == ProcessorStatus.FOUND
    assert [(r.type, r.id) for r in results["clinic"].records] == [("patient", "7")]
    assert results["studio"].status == ProcessorStatus.FOUND
    assert [(r.type, r.id) for r in results["studio"].records] == [("member", "m-1")]
    clinic_call = patients.calls[0].request
    assert clinic_call.headers["x-api-key"] == "clinic-key-123456"
    assert "authorization" not in clinic_call.headers
    assert members.calls[0].request.headers["Authorization"] == "Bearer studio-token-123456"
    assert [c.request.url.params.get("after") for c in members.calls] == [None, "page-2"]


def test_the_environment_overrides_single_keys_of_a_declared_table(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_STUDIO__BASE_URL", "https://eu.studio.example/v2")
    monkeypatch.setenv("DSAR_STUDIO__HTTP__TIMEOUT_SECONDS", "7")
    connectors = discover(config)
    studio = load_settings(connectors, config).processor("studio")
    assert studio.base_url == "https://eu.studio.example/v2"
    assert (studio.http.timeout_seconds, studio.http.rate_limit_requests) == (7, 100)
    assert studio.api is not None and studio.api.resources[0].name == "member"


@pytest.mark.parametrize(("table", "expected"), [
    ('[rest.clinic]\nbase_url = "https://x.example"\n[rest.clinic.api]\n'
     'auth = { type = "api_key" }\nresources = []\nheaders = { Authorization = "Bearer x" }\n',
     "invalid [rest.clinic]: api.resources: List should have at least 1 item"),
    ('[rest.clinic]\nbase_url = "https://x.example"\n[rest.clinic.api]\n'
     'auth = { type = "api_key", header = "h" }\nheaders = { Authorization = "Bearer x" }\n'
     '[[rest.clinic.api.resources]]\nname = "p"\npath = "/p"\npersonal_fields = ["*"]\n'
     'search = { email = "q" }\nidentifiers = { email = "e" }\n',
     "credentials belong in [[rest.clinic.api.auth]], with the secret in "
     "DSAR_CLINIC__API_KEY"),
    ('[rest.clinic]\nmode = "export"\nbase_url = "https://x.example"\n',
     "mode = 'export' needs a [rest.clinic.export] table"),
    ('[rest.stripe]\nbase_url = "https://x.example"\n', "[rest.stripe] takes the name of"),
    ('[rest.consent]\nbase_url = "https://x.example"\n', "[rest.consent] takes the name of"),
    ('[rest.Clinic]\nbase_url = "https://x.example"\n', "[rest.Clinic]: a processor name is"),
], ids=["invalid key", "credential in headers", "export without columns", "installed name",
        "hub setting", "bad name"])
def test_a_mistake_in_a_rest_table_stops_discovery_naming_the_table(
        tmp_path: Path, table: str, expected: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        discover(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_shipped_bokamera_declaration_works_under_its_own_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/booking-bokamera.toml says: rename its tables to [rest.<name>] to keep it beside
    [booking]; the result is the same declaration under another processor name."""
    shipped = (REPO / "config" / "booking-bokamera.toml").read_text(encoding="utf-8")
    path = tmp_path / "hub.toml"
    path.write_text(shipped.replace("[booking", "[rest.bokamera"), encoding="utf-8")
    monkeypatch.setenv("DSAR_BOKAMERA__API_KEY", "key-123456")
    connectors = discover(path)
    bokamera = load_settings(connectors, path).processor("bokamera")
    booking = load_settings(connectors, REPO / "config" / "booking-bokamera.toml"
                            ).processor("booking")
    assert connectors["bokamera"].title == "BokaMera"
    assert bokamera.missing_credentials() == ["password"]
    assert bokamera.api == booking.api and bokamera.http == booking.http
