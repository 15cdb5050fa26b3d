"""Art. 12(3) extensions: ``dsar requests extend ID --reason TEXT [--told-on DATE]`` moves the
deadline once, by at most two months, only within the first month; writes the extension letter
(sv, or en) into the request folder; records the day the subject was told in the ledger and the
audit log; ``dsar requests show`` shows it."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import hub.store.ledger
from hub.config.settings import HubSettings
from hub.core.inventory import Controller
from hub.requests.context import RequestContext
from hub.requests.extension import LETTER, extend_request
from hub.store.audit import AuditLog
from hub.store.ledger import ExtensionRefused, Ledger
from tests.e2e_helpers import run_dsar
from tests.test_requests_cli import ANNA, _open

REASON = "Tre av systemen måste sökas för hand."
TODAY = date(2026, 12, 10)
NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def context(database_url: str, tmp_path: Path) -> RequestContext:
    settings = HubSettings(state_dir=tmp_path / "state", database_url=database_url,
                           controller=Controller(name="Självkraft"))
    return RequestContext(settings, {}, out_dir=tmp_path / "reports")


def _opened(context: RequestContext, received: date = date(2026, 12, 1)) -> str:
    return Ledger.open(context.ledger_url).open_request(ANNA, "access", received=received,
                                                        now=NOW).id


def test_extension_moves_the_deadline_writes_the_letter_and_records_when_told(
        context: RequestContext) -> None:
    request_id = _opened(context)
    done = extend_request(context, request_id, REASON, told_on=date(2026, 12, 9), today=TODAY)
    assert done.request.extended_due_at == date(2027, 3, 1) == done.request.deadline
    assert done.request.extension_told_on == date(2026, 12, 9) and not done.draft
    assert done.letter == context.reports_dir / request_id / LETTER
    assert stat.S_IMODE(os.stat(done.letter).st_mode) == 0o600
    text = done.letter.read_text(encoding="utf-8")
    assert "tillgång till dina personuppgifter" in text
    assert "1 december 2026" in text and "4 januari 2027" in text and "1 mars 2027" in text
    assert "två månader" in text and REASON in text and "artikel 12.3" in text
    assert "Box 8114, 104 20 Stockholm, telefon 08-657 61 00, imy@imy.se" in text
    assert text.rstrip().endswith("Självkraft") and "{" not in text and "UTKAST" not in text
    stored = Ledger.open(context.ledger_url).get(request_id)
    [event] = [e for e in stored.events if e.kind == "extended"]
    assert event.details["told_on"] == "2026-12-09" and event.details["reason"] == REASON
    assert stored.as_dict()["extension_told_on"] == "2026-12-09"
    audit = AuditLog(Ledger.open(context.ledger_url).engine, context.secret)
    [entry] = [e for e in audit.entries() if e.action == "request.extended"]
    logged = json.loads(entry.details)
    assert logged["told_on"] == "2026-12-09" and logged["extended_due_at"] == "2027-03-01"
    assert entry.request_id == request_id and "reason" not in logged and ANNA not in entry.details
    assert audit.verify().ok


def test_english_letter_one_month(context: RequestContext) -> None:
    request_id = _opened(context)
    done = extend_request(context, request_id, "Three systems are searched by hand.", months=1,
                          lang="en", today=TODAY)
    text = done.letter.read_text(encoding="utf-8")
    assert done.told_on == TODAY and done.request.extended_due_at == date(2027, 2, 1)
    assert "your request for access to your personal data" in text
    assert "by one month" in text and "1 February 2027" in text and "Article 12(3)" in text
    assert "Box 8114, SE-104 20 Stockholm, Sweden, telephone +46 8 657 61 00" in text


@pytest.mark.parametrize(("received", "told_on", "message"), [
    (date(2026, 11, 1), None, "within one month of receipt"),  # the first month is over
    (date(2026, 12, 1), date(2026, 12, 11), "after today"),
    (date(2026, 12, 1), date(2026, 11, 30), "before the request was received"),
])
def test_refused_extensions_record_nothing_and_write_no_letter(
        context: RequestContext, received: date, told_on: date | None, message: str) -> None:
    request_id = _opened(context, received)
    with pytest.raises(ExtensionRefused, match=message):
        extend_request(context, request_id, REASON, told_on=told_on, today=TODAY)
    assert Ledger.open(context.ledger_url).get(request_id).extended_due_at is None
    assert not (context.reports_dir / request_id / LETTER).exists()


def test_a_second_extension_is_refused_and_the_first_letter_stays(
        context: RequestContext) -> None:
    request_id = _opened(context)
    first = extend_request(context, request_id, REASON, months=1, today=TODAY)
    before = first.letter.read_text(encoding="utf-8")
    with pytest.raises(ExtensionRefused, match="already extended"):
        extend_request(context, request_id, "one more month", months=1, today=TODAY)
    assert first.letter.read_text(encoding="utf-8") == before
    assert Ledger.open(context.ledger_url).get(request_id).extended_due_at == date(2027, 2, 1)


def test_the_letter_is_a_draft_while_the_controller_name_is_a_placeholder(
        context: RequestContext) -> None:
    settings = context.settings.model_copy(update={"controller": Controller(name="<name>")})
    draft_context = RequestContext(settings, {}, out_dir=context.out_dir)
    done = extend_request(draft_context, _opened(context), REASON, today=TODAY)
    assert done.draft and done.letter.read_text(encoding="utf-8").startswith("*** UTKAST")


# ------------------------------------------------------------------------------ the command
@pytest.fixture
def dsar(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tests.test_requests_cli import make_app

    monkeypatch.setenv("DSAR_DATABASE_URL", database_url)
    monkeypatch.setenv("DSAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(hub.store.ledger, "local_today", lambda: TODAY)
    app, runner = make_app(), CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    return run


def test_extend_command_json_show_and_exit_2(dsar, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    opened = _open(dsar)
    bad_day = dsar("requests", "extend", opened["id"], "--reason", REASON, "--told-on", "9/12")
    assert bad_day.exit_code == 2 and "not a date" in bad_day.output
    run = dsar("--json", "requests", "extend", opened["id"], "--reason", REASON,
               "--told-on", "2026-12-08", "--lang", "en")
    assert run.exit_code == 0, run.output
    document = json.loads(run.stdout)
    assert document["extended_due_at"] == "2027-03-01" and document["deadline"] == "2027-03-01"
    assert document["told_on"] == document["extension_told_on"] == "2026-12-08"
    assert document["lang"] == "en" and document["draft"] is False  # name, IMY: filled in
    letter = Path(document["letter"])
    assert letter.parent == tmp_path / "state" / "reports" / opened["id"]
    assert "Why we need more time" in letter.read_text(encoding="utf-8")
    shown = dsar("requests", "show", opened["id"])
    assert "subject told" in shown.stdout and "2026-12-08" in shown.stdout
    assert json.loads(dsar("--json", "requests", "show", opened["id"]).stdout)[
        "extension_told_on"] == "2026-12-08"
    again = dsar("requests", "extend", opened["id"], "--reason", "more")
    assert again.exit_code == 2 and "already extended" in " ".join(again.stderr.split())


def test_extend_after_the_first_month_exits_2(dsar) -> None:  # type: ignore[no-untyped-def]
    opened = _open(dsar, received="2026-11-01")  # due 2026-12-01, today 2026-12-10
    run = dsar("requests", "extend", opened["id"], "--reason", REASON)
    assert run.exit_code == 2 and "within one month of receipt" in " ".join(run.stderr.split())


@pytest.mark.database
def test_e2e_extend_with_the_real_cli(tmp_path: Path) -> None:
    today = hub.store.ledger.local_today()
    opened = run_dsar("--json", "requests", "open", ANNA, "--type", "erasure",
                      "--received", today.isoformat())
    assert opened.code == 0, opened.stderr
    request_id = opened.json["id"]
    run = run_dsar("--json", "--out", str(tmp_path), "requests", "extend", request_id,
                   "--reason", REASON)
    assert run.code == 0, run.stderr
    letter = Path(run.json["letter"])
    assert letter == tmp_path / request_id / LETTER and run.json["draft"] is False
    text = letter.read_text(encoding="utf-8")
    assert "radera" in text and REASON in text and "08-657 61 00" in text
    assert ANNA not in text  # the letter goes to her; it need not carry her address
    shown = run_dsar("--json", "requests", "show", request_id)
    assert shown.json["extension_told_on"] == today.isoformat()
    again = run_dsar("requests", "extend", request_id, "--reason", "more time")
    assert again.code == 2 and "already extended" in again.stderr
