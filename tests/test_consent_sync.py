"""The consent sync against respx-mocked MailerLite answers and the sandbox.

The respx fake below answers ``GET /api/subscribers`` the documented way (``filter[status]``,
``limit``, opaque ``cursor``, ``meta.next_cursor``, newest first) with a ``links.next`` that
would be wrong to follow, so the tests prove the connector sends its own parameters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.mailerlite import MailerLiteConnector, MailerLiteSettings
from connectors.sdk.base import Capability, Connector, ConnectorSettings, Findings
from hub.config.consent import ConsentSettings
from hub.config.settings import load_settings, with_processor_overrides
from hub.consent.database import open_consent_database
from hub.consent.job import sync_once
from hub.consent.lock import SyncLock
from hub.consent.propagate import Propagator, resolve_destinations
from hub.consent.summary import SyncSummary
from hub.consent.sync import ConsentSync
from hub.core.errors import ProcessorUnavailable
from hub.http import HttpPolicy
from hub.store.consent_register import ConsentRegister, Destination, Observation
from hub.store.state import StateStore

BASE = "https://connect.mailerlite.com/api"
TOKEN = "ml-consent-token-123456"
PALOMA = Destination("paloma", "Paloma", None, "Unsubscribe the address in Paloma.")


# ------------------------------------------------------------------------------ the respx fake
def person(n: int, status: str = "active", **changes: Any) -> dict[str, Any]:
    stamp = f"2024-01-{n % 27 + 1:02d} 10:00:00"
    subscriber = {
        "id": str(1000 + n), "email": f"person{n}@example.se", "status": status,
        "source": "webform", "ip_address": "192.0.2.1", "subscribed_at": stamp,
        "unsubscribed_at": stamp if status == "unsubscribed" else None,
        "created_at": stamp, "updated_at": stamp, "fields": {"name": f"P{n}"},
        "opted_in_at": stamp, "optin_ip": "192.0.2.1",
    }
    return subscriber | changes


def observed(subscriber: dict[str, Any], status: str | None = None) -> Observation:
    """The register's observation of a MailerLite subscriber object, built as the sync builds
    it (the connector's neutral state, then the hub's observation)."""
    from connectors.mailerlite_consent import subscriber_state
    from hub.consent.source import observation_of

    return observation_of(subscriber_state(subscriber, status=status), "mailerlite")


class FakeMailerLite:
    """Stateful answers for the documented list, count and get calls."""

    def __init__(self, subscribers: list[dict[str, Any]]) -> None:
        self.subscribers = {s["id"]: s for s in subscribers}
        self.requests: list[httpx.Request] = []
        self.before_list: Callable[[httpx.Request, int], httpx.Response | None] | None = None
        self.list_calls = 0

    @staticmethod
    def cursor_for(subscriber_id: str) -> str:
        return base64.urlsafe_b64encode(json.dumps({"id": int(subscriber_id)}).encode()).decode()

    def list(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        limit = int(params.get("limit", "25"))
        status = params["filter[status]"]
        items = sorted((s for s in self.subscribers.values() if s["status"] == status),
                       key=lambda s: -int(s["id"]))
        if limit == 0:
            return httpx.Response(200, json={"total": len(items)})
        self.list_calls += 1
        if self.before_list is not None:
            injected = self.before_list(request, self.list_calls)
            if injected is not None:
                return injected
        raw = params.get("cursor")
        if raw:
            after = json.loads(base64.urlsafe_b64decode(raw))["id"]
            items = [s for s in items if int(s["id"]) < after]
        page, more = items[:limit], len(items) > limit
        next_cursor = self.cursor_for(page[-1]["id"]) if more and page else None
        return httpx.Response(200, json={
            "data": [dict(s) for s in page],
            "links": {"next": f"{BASE}/subscribers?cursor=do-not-follow" if more else None},
            "meta": {"next_cursor": next_cursor, "per_page": limit, "path": f"{BASE}/subscribers"},
        })

    def get(self, request: httpx.Request, sid: str) -> httpx.Response:
        self.requests.append(request)
        if sid not in self.subscribers:
            return httpx.Response(404, json={"message": "Resource not found."})
        return httpx.Response(200, json={"data": dict(self.subscribers[sid])})

    def install(self, router: respx.Router) -> None:
        router.route(method="GET", host="connect.mailerlite.com",
                     path="/api/subscribers").mock(side_effect=self.list)
        router.route(method="GET", host="connect.mailerlite.com",
                     path__regex=r"^/api/subscribers/(?P<sid>\d+)$").mock(side_effect=self.get)

    def unsubscribe(self, n: int, at: str = "2026-11-20 08:00:00") -> None:
        self.subscribers[str(1000 + n)].update(status="unsubscribed", unsubscribed_at=at,
                                               updated_at=at)


def initial() -> list[dict[str, Any]]:
    return ([person(n) for n in range(1, 8)]
            + [person(n, "unsubscribed") for n in range(8, 11)]
            + [person(11, "bounced")])


@pytest.fixture
def engine(database_url: str):
    return open_consent_database(database_url)


async def sync(engine, policy: HttpPolicy, *, full: bool = False,
               on_page: Callable[[int], None] | None = None,
               consent: ConsentSettings | None = None, dry_run: bool = False,
               now: Callable[[], datetime] | None = None) -> SyncSummary:
    settings = MailerLiteSettings(api_token=SecretStr(TOKEN), http=policy, page_size=2)
    async with MailerLiteConnector(settings) as connector:
        job = ConsentSync(source=connector, register=ConsentRegister(engine),
                          store=StateStore(engine), destinations=[PALOMA],
                          consent=consent or ConsentSettings(), on_page=on_page,
                          dry_run=dry_run, now=now or (lambda: datetime.now(UTC)))
        return await job.run(full=full)


def events_of(engine, n: int) -> list[tuple[str, str]]:
    history = ConsentRegister(engine).history(f"person{n}@example.se")
    return [(e.kind, e.status) for e in history["events"]]


# ------------------------------------------------------------------------------ paging
@respx.mock(assert_all_called=False)
async def test_cursor_paging_over_several_pages(engine, fast_policy, respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    summary = await sync(engine, fast_policy)
    assert summary.status == "ok" and summary.mode == "full"
    lists = [r for r in fake.requests if r.url.path == "/api/subscribers"]
    active = [r.url.params for r in lists
              if r.url.params["filter[status]"] == "active" and r.url.params["limit"] != "0"]
    assert len(active) == 4  # 7 active subscribers, 2 per page
    assert "cursor" not in active[0]
    for params in active:  # our own parameters on every page, the API's cursor, not links.next
        assert params["limit"] == "2"
        assert params.get("cursor") != "do-not-follow"
    assert [p.get("cursor") for p in active[1:]] == [
        fake.cursor_for(i) for i in ("1006", "1004", "1002")]
    assert summary.subscribers_read == 11
    register = ConsentRegister(engine)
    assert register.counts_by_status("mailerlite") == {"active": 7, "unsubscribed": 3,
                                                        "bounced": 1}
    tasks = register.open_tasks()
    assert {(t.subscriber_id, t.destination, t.state) for t in tasks} == {
        (str(1000 + n), "paloma", "manual-open") for n in (8, 9, 10)}
    assert summary.exit_code == 3  # new manual steps


@respx.mock
async def test_a_repeated_cursor_is_refused_not_followed(engine, fast_policy, respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    loop = {"data": [person(1)], "links": {}, "meta": {"next_cursor": "same"}}
    fake.before_list = lambda request, n: httpx.Response(200, json=loop)
    summary = await sync(engine, fast_policy)
    assert summary.status == "failed" and "same page cursor twice" in (summary.error or "")
    assert summary.exit_code == 3
    assert fake.list_calls == 2  # the first repeat stops the walk


# ------------------------------------------------------------------------------ changes
@respx.mock
async def test_a_change_between_pages_is_neither_lost_nor_doubled(engine, fast_policy,
                                                                   respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)

    def between_pages(request: httpx.Request, call: int) -> None:
        if call == 2:  # page 1 of the active list is read; now people act
            fake.unsubscribe(7)  # was on page 1: already read as active
            fake.unsubscribe(2)  # on page 3: not read yet
            fake.subscribers["1050"] = person(50)  # new, above everything read
        return None

    fake.before_list = between_pages
    first = await sync(engine, fast_policy)
    assert first.status == "ok"
    assert events_of(engine, 7) == [("first_seen", "active"), ("opt_out", "unsubscribed")]
    assert events_of(engine, 2) == [("first_seen", "unsubscribed")]
    assert events_of(engine, 50) == []  # appeared above the cursor: the next run finds it

    fake.before_list = None
    second = await sync(engine, fast_policy)
    assert second.mode == "incremental" and second.status == "ok"
    assert events_of(engine, 50) == [("first_seen", "active")]
    assert events_of(engine, 7) == [("first_seen", "active"), ("opt_out", "unsubscribed")]
    register = ConsentRegister(engine)
    truth = {s["id"]: s["status"] for s in fake.subscribers.values()}
    assert {sid: status for _, sid, _, status, _ in register.snapshot()["states"]} == truth
    paloma = {t.subscriber_id for t in register.open_tasks()}
    assert paloma == {"1002", "1007", "1008", "1009", "1010"}

    quiet = await sync(engine, fast_policy)
    assert quiet.requests == 5 and sum(quiet.changes.values()) == 0  # five counts, nothing read


@respx.mock
async def test_incremental_run_finds_every_kind_of_change(engine, fast_policy,
                                                          respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    await sync(engine, fast_policy)
    fake.unsubscribe(3)
    fake.subscribers["1008"].update(status="active", opted_in_at="2026-11-21 09:00:00",
                                    optin_ip="192.0.2.99", unsubscribed_at=None,
                                    updated_at="2026-11-21 09:00:00")  # fresh double opt-in
    fake.subscribers["1009"].update(status="active", unsubscribed_at=None,
                                    updated_at="2026-11-21 09:05:00")  # no new evidence
    del fake.subscribers["1010"]  # deleted or forgotten at MailerLite
    summary = await sync(engine, fast_policy)
    assert summary.mode == "incremental" and summary.status == "ok"
    assert events_of(engine, 3)[-1] == ("opt_out", "unsubscribed")
    assert events_of(engine, 8)[-1] == ("re_subscribed", "active")
    assert events_of(engine, 9)[-1] == ("reactivated_without_fresh_optin", "active")
    assert events_of(engine, 10)[-1] == ("deleted", "deleted")
    assert summary.lookups == 3  # the three that left the unsubscribed list, one GET each
    tasks = ConsentRegister(engine).open_tasks()
    review = [t for t in tasks if t.action == "review"]
    assert [(t.subscriber_id, t.destination) for t in review] == [("1009", "mailerlite")]
    assert summary.review_opened == 1 and summary.exit_code == 3


@respx.mock
async def test_dry_run_writes_nothing(engine, fast_policy, respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    await sync(engine, fast_policy)
    before = ConsentRegister(engine).snapshot()
    state_before = StateStore(engine).get("consent_sync.mailerlite")
    fake.unsubscribe(4)
    fake.subscribers["1060"] = person(60)  # the active count did not move: -1 +1
    summary = await sync(engine, fast_policy, dry_run=True)
    assert summary.changes == {"opt_out": 1, "first_seen": 1}
    assert summary.exit_code == 0
    assert ConsentRegister(engine).snapshot() == before
    assert StateStore(engine).get("consent_sync.mailerlite") == state_before


@respx.mock
async def test_opt_out_lists_are_reread_hourly_when_counts_cancel_out(engine, fast_policy,
                                                                       respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    start = datetime.now(UTC)
    await sync(engine, fast_policy, now=lambda: start)
    fake.unsubscribe(4)  # one opt-out and one re-subscription: every count stays the same
    fake.subscribers["1008"].update(status="active", opted_in_at="2026-11-21 09:00:00",
                                    unsubscribed_at=None, updated_at="2026-11-21 09:00:00")
    soon = await sync(engine, fast_policy, now=lambda: start + timedelta(minutes=5))
    assert sum(soon.changes.values()) == 0 and soon.requests == 5
    later = await sync(engine, fast_policy, now=lambda: start + timedelta(minutes=61))
    assert later.changes == {"opt_out": 1, "re_subscribed": 1}
    assert events_of(engine, 4)[-1] == ("opt_out", "unsubscribed")


# ------------------------------------------------------------------------------ interruptions
@respx.mock
async def test_interrupted_run_resumes_to_exactly_the_same_register(new_database_url, fast_policy,
                                                                    respx_mock) -> None:
    reference = open_consent_database(new_database_url("reference"))
    interrupted = open_consent_database(new_database_url("interrupted"))
    FakeMailerLite(initial()).install(respx_mock)
    await sync(reference, fast_policy)

    def crash(pages: int) -> None:
        if pages == 3:
            raise RuntimeError("power cut after page 3")

    with pytest.raises(RuntimeError, match="page 3"):
        await sync(interrupted, fast_policy, on_page=crash)
    state = StateStore(interrupted).get("consent_sync.mailerlite")
    assert state["run"]["steps"][0]["cursor"] is not None  # committed page 3, cursor stored
    resumed = await sync(interrupted, fast_policy)
    assert resumed.resumed and resumed.status == "ok"
    assert ConsentRegister(interrupted).snapshot() == ConsentRegister(reference).snapshot()
    assert StateStore(interrupted).get("consent_sync.mailerlite")["run"] is None


@respx.mock
async def test_429_mid_scan_then_resume(engine, fast_policy, respx_mock,
                                        new_database_url) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    limited = {"on": True, "served": 0}

    def rate_limited(request: httpx.Request, call: int) -> httpx.Response | None:
        if call >= 2 and limited["on"]:
            limited["served"] += 1
            return httpx.Response(429, json={"message": "Too Many Attempts."},
                                  headers={"Retry-After": "0"})
        return None

    fake.before_list = rate_limited
    first = await sync(engine, fast_policy)
    assert first.status == "failed" and "HTTP 429" in (first.error or "")
    assert first.exit_code == 3
    assert limited["served"] == fast_policy.max_attempts  # the retry budget, then a stop
    cursor = StateStore(engine).get("consent_sync.mailerlite")["run"]["steps"][0]["cursor"]
    assert cursor == fake.cursor_for("1006")

    limited["on"] = False
    fake.requests.clear()
    second = await sync(engine, fast_policy)
    assert second.resumed and second.status == "ok"
    assert fake.requests[0].url.params["cursor"] == cursor  # resumed where it stopped
    reference = open_consent_database(new_database_url("ref"))
    fake.before_list = None
    await sync(reference, fast_policy)
    assert ConsentRegister(engine).snapshot() == ConsentRegister(reference).snapshot()


@respx.mock
async def test_one_429_is_waited_out_within_the_run(engine, fast_policy, respx_mock) -> None:
    fake = FakeMailerLite(initial())
    fake.install(respx_mock)
    fake.before_list = lambda request, call: httpx.Response(
        429, json={"message": "Too Many Attempts."}, headers={"Retry-After": "0"}
    ) if call == 3 else None
    summary = await sync(engine, fast_policy)
    assert summary.status == "ok"
    assert ConsentRegister(engine).counts_by_status("mailerlite")["active"] == 7


# ------------------------------------------------------------------------------ register rules
def test_stale_and_replayed_pictures_change_nothing(engine) -> None:
    register = ConsentRegister(engine)
    newer = observed(person(1, "unsubscribed",
                                               updated_at="2026-11-20 10:00:00",
                                               unsubscribed_at="2026-11-20 10:00:00"))
    older = observed(person(1, "active", updated_at="2026-11-01 10:00:00"))
    assert register.apply([newer], via="webhook", destinations=[PALOMA]).events == 1
    again = register.apply([newer], via="sync", destinations=[PALOMA])
    assert (again.events, again.unchanged) == (0, 1)
    late = register.apply([older], via="webhook", destinations=[PALOMA])
    assert (late.events, late.stale) == (0, 1)
    assert [t.destination for t in register.open_tasks()] == ["paloma"]  # one task, not two
    iso = observed(person(1, "unsubscribed",
                                             updated_at="2026-11-20T10:00:00.000000Z",
                                             unsubscribed_at="2026-11-20T10:00:00Z"))
    assert register.apply([iso], via="webhook").events == 0  # same instant, other spelling


def test_suppressed_address_is_flagged_and_never_resubscribed(engine, tmp_path) -> None:
    from hub.consent.suppression import Suppression
    from hub.store.suppression import SuppressionList

    secret = tmp_path / "keyed-hash.secret"
    suppression = SuppressionList(engine, secret)
    suppression.add("Person5@Example.se", "erased (request 2026-42)")
    check = Suppression(suppression, secret)
    observations = [observed(person(5)), observed(person(6))]
    result = ConsentRegister(engine).apply(
        observations, via="sync", destinations=[PALOMA],
        suppressed_hashes=check.hashes(observations), suppression_lookup=check.lookup)
    assert result.review_tasks == 1
    [event] = ConsentRegister(engine).history("person5@example.se")["events"]
    assert "suppression list" in (event.note or "")
    [task] = ConsentRegister(engine).open_tasks()
    assert (task.subscriber_id, task.action, task.destination) == ("1005", "review", "mailerlite")


# ------------------------------------------------------------------------------ propagation
class FakeCrmSettings(ConnectorSettings):
    base_url: str = "https://crm.example.test"


class FakeCrm(Connector):
    """A destination with an API: declares the consent capability and records opt-outs."""

    name = "fakecrm"
    title = "Fake CRM"
    docs_url = "https://crm.example.test/docs"
    capabilities = frozenset({Capability.ACCESS, Capability.CONSENT})
    settings_model = FakeCrmSettings
    calls: ClassVar[list[tuple[str, int]]] = []
    fail_next: ClassVar[int] = 0

    async def find_subject(self, subject) -> Findings:  # pragma: no cover - not used here
        return Findings()

    async def check_credentials(self) -> str:  # pragma: no cover - not used here
        return "ok"

    async def record_opt_out(self, subject, evidence) -> str:
        FakeCrm.calls.append((subject.email, evidence.event_id))
        if FakeCrm.fail_next:
            FakeCrm.fail_next -= 1
            raise ProcessorUnavailable("Fake CRM is failing (HTTP 503) after retries")
        return f"marketing flag cleared for event {evidence.event_id}"


async def test_failed_propagation_is_retried_next_run(engine) -> None:
    connectors: dict[str, type[Connector]] = {"mailerlite": MailerLiteConnector,
                                              "fakecrm": FakeCrm}
    settings = with_processor_overrides(load_settings(connectors), "mailerlite",
                                        {"api_token": TOKEN})
    destinations, warnings = resolve_destinations(settings, connectors, ConsentSettings())
    assert {d.key: d.manual for d in destinations} == {"paloma": True, "fakecrm": False}
    assert warnings == []
    register = ConsentRegister(engine)
    register.apply([observed(person(3, "unsubscribed"))], via="sync",
                   destinations=destinations)
    FakeCrm.calls, FakeCrm.fail_next = [], 1
    propagator = Propagator(register, destinations, settings, connectors)
    assert await propagator.run() == (0, 1)
    [failed] = [t for t in register.open_tasks() if t.destination == "fakecrm"]
    assert failed.state == "failed" and "HTTP 503" in (failed.last_error or "")
    assert await propagator.run() == (1, 0)  # the next run retries it
    tasks = {t.destination: t for t in register.open_tasks(include_closed=True)}
    assert tasks["fakecrm"].state == "done" and tasks["fakecrm"].attempts == 2
    assert tasks["paloma"].state == "manual-open"
    assert FakeCrm.calls[0] == ("person3@example.se", failed.event_id)
    explicit = ConsentSettings(destinations=["fakecrm"])
    only, _ = resolve_destinations(settings, connectors, explicit)
    assert [d.key for d in only] == ["fakecrm"]


def test_only_consent_sync_targets_of_the_inventory_are_destinations() -> None:
    from hub.config.registry import discover

    connectors = discover()
    destinations, _ = resolve_destinations(load_settings(connectors), connectors,
                                           ConsentSettings())
    assert [(d.key, d.manual) for d in destinations] == [("paloma", True)]  # not testimonials


# ------------------------------------------------------------------------------ lock
async def test_a_second_run_exits_at_once_while_one_holds_the_lock(tmp_path, engine) -> None:
    from hub.config.registry import discover

    connectors = discover()
    settings = load_settings(connectors).model_copy(update={"state_dir": tmp_path})
    with SyncLock(engine, tmp_path, "consent-sync") as lock:
        assert lock.acquire()
        summary = await sync_once(settings, connectors, ConsentSettings(), engine)
        assert summary.status == "locked" and summary.exit_code == 0
        assert summary.lock_holder and summary.lock_holder["pid"] > 0
        assert "another run holds the lock" in summary.line()
        StateStore(engine).put("lock.consent-sync", {
            "pid": 1, "host": "h", "since": (datetime.now(UTC) - timedelta(hours=5)).isoformat()})
        stuck = await sync_once(settings, connectors, ConsentSettings(), engine)
        assert stuck.exit_code == 3 and stuck.lock_stale
    assert SyncLock(engine, tmp_path, "consent-sync").acquire()  # released on exit


def test_sandbox_pages_generated_subscribers_newest_first_without_gaps() -> None:
    from hub.sandbox.mailerlite_api import API_TOKEN, MailerLiteServer

    with MailerLiteServer(seed={"subscribers": []}) as server:
        server.generate(530)
        newest = server.add("new@example.test")
        server.unsubscribe(newest["id"])
        seen: list[str] = []
        with httpx.Client(base_url=server.base_url,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            total = client.get("/api/subscribers", params={
                "filter[status]": "unsubscribed", "limit": 0}).json()["total"]
            cursor = None
            while True:
                params = {"filter[status]": "unsubscribed", "limit": 7}
                if cursor:
                    params["cursor"] = cursor
                body = client.get("/api/subscribers", params=params).json()
                seen += [s["id"] for s in body["data"]]
                cursor = body["meta"]["next_cursor"]
                if not cursor:
                    break
    assert seen[0] == newest["id"] and len(seen) == total and total > 25  # ~5 % of 530, +1
    assert seen == sorted(seen, key=int, reverse=True) and len(set(seen)) == len(seen)
