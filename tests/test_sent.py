"""Recording the day an answer was sent (``dsar requests sent ID``): refused until the
documents exist, a day between receipt and today, once; the request closes by its own rules.

The use-case on the test's database (SQLite and PostgreSQL) with hand-made lookup results
(invented people), then the real CLI on the same database.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from connectors.zettle import ZettleConnector
from hub.config.settings import HubSettings
from hub.core.errors import InvalidInput
from hub.core.inventory import InventoryEntry
from hub.core.request_types import RequestType
from hub.requests.access.approval import review_access
from hub.requests.access.job import record_and_write
from hub.requests.context import RequestContext
from hub.requests.erasure import ErasureStores, open_stores
from hub.requests.sent import (
    ANSWER_SENT,
    AnswerNotReady,
    answer_documents,
    mark_sent,
    sent_answer,
)
from hub.store.audit import AuditLog
from hub.store.erasure_actions import ActionState, PlannedAction
from hub.store.ledger import LedgerRequest, local_today
from tests.e2e_helpers import run_dsar
from tests.test_access_review import lookup_result

ANNA = "anna.svensson@example.se"
BO = "bo.berg@example.com"
JOURNALS = InventoryEntry(key="journals", system="Client journals (paper, locked safe)",
                          manual_instructions="Search the binder under the client's name.")
TODAY = local_today()


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> RequestContext:
    settings = HubSettings(state_dir=tmp_path / "state", database_url=database_url,
                           inventory=[JOURNALS])
    return RequestContext(settings, {"zettle": ZettleConnector}, out_dir=tmp_path / "out")


@pytest.fixture
def stores(ctx: RequestContext) -> ErasureStores:
    return open_stores(ctx.settings, sandbox=False)


def _access(ctx: RequestContext, stores: ErasureStores, *, flagged: bool,
            received: date | None = None) -> LedgerRequest:
    """An access request of Anna's with a lookup: held for review when ``flagged``, else with
    its documents written (Stripe alone, found by her address)."""
    request = stores.ledger.open_request(ANNA, RequestType.ACCESS,
                                         received=received or TODAY - timedelta(days=3))
    report = lookup_result(request.id)
    if not flagged:
        report.processors = report.processors[:1]
    record_and_write(ctx, stores.ledger, [report], [request], lang="sv")
    return stores.ledger.get(request.id)


def _kinds(stores: ErasureStores, request_id: str) -> list[str]:
    return [e.kind for e in stores.ledger.get(request_id).events]


def test_an_access_answer_is_refused_before_its_documents_exist(
        ctx: RequestContext, stores: ErasureStores) -> None:
    bare = stores.ledger.open_request(BO, RequestType.ACCESS)
    with pytest.raises(AnswerNotReady, match="no lookup yet"):
        mark_sent(stores, ctx.reports_dir, bare.id)
    held = _access(ctx, stores, flagged=True)
    documents = answer_documents(held, ctx.reports_dir)
    assert documents.looked_up and documents.held_for_review and not documents.written
    with pytest.raises(AnswerNotReady, match=r"Art\. 15\(4\) review"):
        mark_sent(stores, ctx.reports_dir, held.id)
    for request_id in (bare.id, held.id):
        assert ANSWER_SENT not in _kinds(stores, request_id)
        assert stores.ledger.get(request_id).status == "open"
    assert AuditLog(stores.ledger.engine, stores.secret).entries() == []

    review_access(ctx, held.id, approve=True)  # the review writes the documents
    documents = answer_documents(stores.ledger.get(held.id), ctx.reports_dir)
    assert documents.written and documents.lang == "sv" and not documents.review_open
    assert documents.files == ("report.html", "cover-letter.txt", "export.zip")
    sent = mark_sent(stores, ctx.reports_dir, held.id, how="post",
                     inventory=ctx.settings.inventory)
    assert sent.closed and sent.answer.on == TODAY and sent.answer.how == "post"


def test_sending_closes_an_access_request_and_keeps_the_evidence(
        ctx: RequestContext, stores: ErasureStores) -> None:
    request = _access(ctx, stores, flagged=False)
    on = TODAY - timedelta(days=1)
    sent = mark_sent(stores, ctx.reports_dir, request.id, on=on, how="e-post",
                     inventory=ctx.settings.inventory, actor="lena", via="web")
    # the manual check of the paper journals is not done: sending is allowed, and said
    assert sent.closed and sent.kept_open is None
    assert sent.open_checks == ("Client journals (paper, locked safe)",)
    after = stores.ledger.get(request.id)
    assert after.status == "closed"
    assert sent_answer(after) == sent.answer
    [event] = [e for e in after.events if e.kind == ANSWER_SENT]
    assert event.details == {"on": on.isoformat(), "how": "e-post", "lang": "sv", "via": "web",
                             "documents": ["report.html", "cover-letter.txt", "export.zip"]}
    assert after.events[-1].kind == "closed"
    assert after.events[-1].details == {"note": f"svar skickat {on.isoformat()}"}
    audit = AuditLog(stores.ledger.engine, stores.secret)
    [entry] = audit.entries(request.id)
    assert entry.action == ANSWER_SENT and entry.actor == "lena"
    assert ANNA not in entry.details and audit.verify().ok
    assert sent.as_dict()["closed"] is True

    with pytest.raises(InvalidInput, match="already"):  # once
        mark_sent(stores, ctx.reports_dir, request.id)
    assert _kinds(stores, request.id).count(ANSWER_SENT) == 1


@pytest.mark.parametrize(("on", "how", "message"), [
    (TODAY + timedelta(days=1), "e-post", "after today"),
    (TODAY - timedelta(days=30), "e-post", "before the request was received"),
    (None, "", "say how"),
    (None, "mejl till anna.svensson@example.se", "e-post or post"),
    (None, "post " * 20, "e-post or post"),
    (None, "fax", "e-post or post"),
])
def test_a_day_or_a_how_that_cannot_be_is_refused_and_nothing_is_recorded(
        ctx: RequestContext, stores: ErasureStores, on: date | None, how: str,
        message: str) -> None:
    request = _access(ctx, stores, flagged=False, received=TODAY - timedelta(days=5))
    with pytest.raises(InvalidInput, match=message):
        mark_sent(stores, ctx.reports_dir, request.id, on=on, how=how)
    assert ANSWER_SENT not in _kinds(stores, request.id)
    assert stores.ledger.get(request.id).status == "open"


def _erasure(ctx: RequestContext, stores: ErasureStores, email: str, *, task_open: bool
             ) -> LedgerRequest:
    """An erasure whose answer is written, with a manual task open or done."""
    request = stores.ledger.open_request(email, RequestType.ERASURE,
                                         received=TODAY - timedelta(days=2))
    folder = ctx.reports_dir / request.id
    folder.mkdir(parents=True)
    for name in ("report.html", "cover-letter.txt"):
        (folder / name).write_text('<html lang="sv">svar</html>', encoding="utf-8")
    stores.ledger.attach(request.id, "erasure.report", {"folder": str(folder)})
    state = ActionState.MANUAL_OPEN if task_open else ActionState.MANUAL_DONE
    stores.actions.save_plan(request.id, [PlannedAction(
        processor="journals", record_type="task", record_id="journals", action="manual",
        legal_basis="", state=state.value, instructions="Shred the card.")])
    return stores.ledger.get(request.id)


def test_an_erasure_closes_by_its_own_rules(ctx: RequestContext, stores: ErasureStores
                                            ) -> None:
    still = _erasure(ctx, stores, ANNA, task_open=True)
    sent = mark_sent(stores, ctx.reports_dir, still.id)
    assert not sent.closed and sent.kept_open and "open work" in sent.kept_open
    after = stores.ledger.get(still.id)
    assert after.status == "open" and sent_answer(after) is not None
    assert after.subject_email == ANNA

    done = _erasure(ctx, stores, BO, task_open=False)
    sent = mark_sent(stores, ctx.reports_dir, done.id)
    assert sent.closed and sent.kept_open is None
    after = stores.ledger.get(done.id)
    # closed as an erasure closes: the address replaced by its keyed hash
    assert after.status == "closed" and after.subject_email is None
    assert sent_answer(after) is not None


def test_another_right_needs_its_letter_and_closes_itself(
        ctx: RequestContext, stores: ErasureStores) -> None:
    request = stores.ledger.open_request(ANNA, RequestType.RECTIFICATION)
    (ctx.reports_dir / request.id).mkdir(parents=True)
    # the extension letter is no answer
    (ctx.reports_dir / request.id / "extension-letter.txt").write_text("x", encoding="utf-8")
    with pytest.raises(AnswerNotReady):
        mark_sent(stores, ctx.reports_dir, request.id)
    (ctx.reports_dir / request.id / "rectification-letter.txt").write_text(
        "Hej", encoding="utf-8")
    sent = mark_sent(stores, ctx.reports_dir, request.id)
    assert not sent.closed and "closes when its own work is done" in (sent.kept_open or "")
    assert stores.ledger.get(request.id).status == "open"
    # one closed already by its job: the day is still recorded
    closed = stores.ledger.open_request(BO, RequestType.RECTIFICATION)
    (ctx.reports_dir / closed.id).mkdir(parents=True)
    (ctx.reports_dir / closed.id / "rectification-letter.html").write_text(
        '<html lang="en">Hello</html>', encoding="utf-8")
    stores.ledger.close(closed.id, note="rectification complete")
    sent = mark_sent(stores, ctx.reports_dir, closed.id)
    assert not sent.closed and sent.kept_open is None
    assert sent_answer(stores.ledger.get(closed.id)) is not None


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_records_the_day_shows_it_and_exits_2_on_bad_input(
        ctx: RequestContext, stores: ErasureStores, database_url: str, tmp_path: Path) -> None:
    request = _access(ctx, stores, flagged=False, received=TODAY - timedelta(days=5))
    bare = stores.ledger.open_request(BO, RequestType.ACCESS)
    env = {"DSAR_STATE_DIR": str(tmp_path / "state"), "DSAR_DATABASE_URL": database_url}
    out = ("--out", str(ctx.reports_dir))
    for bad in ([request.id, "--on", "1 december"],
                [request.id, "--on", (TODAY + timedelta(days=1)).isoformat()],
                [request.id, "--how", "anna.svensson@example.se"],
                [bare.id],  # no lookup: nothing to send
                ["acc-19990101-000000-000000"]):
        refused = run_dsar(*out, "requests", "sent", *bad, env=env)
        assert refused.code == 2, (bad, refused.stdout, refused.stderr)
    assert ANSWER_SENT not in _kinds(stores, request.id)

    on = (TODAY - timedelta(days=1)).isoformat()
    done = run_dsar(*out, "--json", "requests", "sent", request.id, "--on", on, "--how",
                    "post", env=env)
    assert done.code == 0, done.stderr[-2000:]
    assert done.json["on"] == on and done.json["closed"] is True
    assert len(done.json["open_checks"]) == 1  # the paper journals: not checked, said
    shown = run_dsar("requests", "show", request.id, env=env)
    assert shown.code == 0 and f"{on} (post)" in shown.stdout
    assert run_dsar("--json", "requests", "show", request.id, env=env).json[
        "answer_sent"] == {"on": on, "how": "post"}
    again = run_dsar(*out, "requests", "sent", request.id, env=env)
    assert again.code == 2 and "already" in again.stderr
