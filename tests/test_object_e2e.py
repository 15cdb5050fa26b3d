"""``dsar object`` end to end: the real CLI in a subprocess against the sandbox processors.

An objection to direct marketing stops it everywhere (MailerLite, the booking system's
newsletter flag, Paloma's task), is answered and closes once no task is open; an objection to
other processing waits for a person's assessment with the request's deadline and is answered
when the decision is recorded; bad input contacts nobody."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import mutating, relaxed

ANNA = "anna.svensson@example.se"
JOHAN = "johan.nilsson@example.com"
JOHAN_CUSTOMER = "388b0a5a-1179-57ef-9b6d-abf21f308fac"  # newsletter on in the sandbox


@pytest.fixture
def sandbox():
    with Sandbox() as running:
        yield relaxed(running)


def _env(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    return sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path)}


def test_objection_to_marketing_stops_it_everywhere_and_is_answered(
        sandbox: Sandbox, tmp_path: Path, database_url: str) -> None:
    env = _env(sandbox, tmp_path)
    run = run_dsar("--json", "object", JOHAN, "--to", "marketing", "--reason",
                   "vill inte ha nyhetsbrev", "--lang", "en", env=env)
    assert run.code == 3, run.stderr  # Paloma's manual task is open
    result = run.json
    states = {d["destination"]: d["state"] for d in result["withdrawal"]["destinations"]}
    assert states == {"mailerlite": "done", "booking": "done", "paloma": "manual-open"}
    assert result["withdrawal"]["channel"] == "objection" and result["closed"] is False
    booking = sandbox.servers["booking"].state.customers  # type: ignore[attr-defined]
    assert booking[JOHAN_CUSTOMER]["SubscribedToNewsletter"] is False
    ml = sandbox.servers["mailerlite"].state.find(JOHAN)  # type: ignore[attr-defined]
    assert ml["status"] == "unsubscribed"
    request_id = result["request_id"]
    letter = tmp_path / "reports" / request_id / "objection-letter.txt"
    assert stat.S_IMODE(letter.stat().st_mode) == 0o600
    text = letter.read_text("utf-8")
    assert "objection to our use of your personal data for direct marketing" in text
    # Paloma's task is still open: named only once it is done, the rest is "by hand"
    assert "MailerLite (e-mail sends)" in text and "Paloma" not in text
    assert "done by hand" in text
    assert "vill inte ha" not in text and "objection request" not in text  # operator text
    sent = mutating(sandbox)

    shown = run_dsar("--json", "consent", "show", JOHAN, env=env)
    assert shown.json["suppressed"] is True
    [paloma] = [t for t in shown.json["tasks"] if t["destination"] == "paloma"]
    assert run_dsar("consent", "resolve", str(paloma["id"]), env=env).code == 0

    again = run_dsar("--json", "object", JOHAN, "--to", "marketing", env=env)
    assert again.code == 0, again.stderr
    assert again.json["request_id"] == request_id and again.json["closed"] is True
    assert mutating(sandbox) == sent  # nothing sent twice
    listed = run_dsar("--json", "requests", "list", "--all", env=env).json["requests"]
    assert [(r["type"], r["status"]) for r in listed] == [("objection", "closed")]


def test_objection_to_other_processing_waits_for_the_decision(
        sandbox: Sandbox, tmp_path: Path, database_url: str) -> None:
    env = _env(sandbox, tmp_path)
    run = run_dsar("--json", "object", ANNA, "--to", "other", "--reason",
                   "profilering av köphistorik", env=env)
    assert run.code == 3, run.stderr
    result = run.json
    [task] = result["tasks"]
    assert (task["task"], task["state"]) == ("assessment", "manual-open")
    assert task["completes_by"] == result["deadline"]
    request_id = result["request_id"]
    assert not mutating(sandbox)  # an assessment contacts no processor

    listed = run_dsar("--json", "requests", "task", "list", request_id, env=env)
    assert [t["task"] for t in listed.json] == ["assessment"]
    again = run_dsar("--json", "object", ANNA, "--to", "other", env=env)
    assert again.json["request_id"] == request_id and len(again.json["tasks"]) == 1
    other_kind = run_dsar("object", ANNA, "--to", "marketing", env=env)
    assert other_kind.code == 2 and "still open" in other_kind.stderr

    decided = run_dsar("--json", "object", ANNA, "--decide", "rejected", "--reason",
                       "bokföringskrav", env=env)
    assert decided.code == 0, decided.stderr
    letter = (tmp_path / "reports" / request_id / "objection-decision-letter.txt").read_text(
        "utf-8")
    assert "tvingande berättigade skäl" in letter and "domstol" in letter
    assert "bokföringskrav" not in letter
    closed = run_dsar("--json", "requests", "list", "--all", env=env).json["requests"]
    assert [(r["id"], r["status"]) for r in closed] == [(request_id, "closed")]
    nothing = run_dsar("object", ANNA, "--decide", "upheld", "--reason", "x", env=env)
    assert nothing.code == 2 and "no objection" in nothing.stderr


@pytest.mark.parametrize("args, said", [
    (("anna.svensson@", "--to", "marketing"), "not a valid e-mail address"),
    ((ANNA,), "--to must be one of"),
    ((ANNA, "--to", "everything"), "--to must be one of"),
    ((ANNA, "--decide", "upheld"), "--decide needs --reason"),
    ((ANNA, "--decide", "maybe", "--reason", "x"), "--decide must be one of"),
    ((ANNA, "--to", "marketing", "--lang", "fi"), "unsupported language"),
])
def test_bad_input_is_exit_2_and_contacts_nobody(
        sandbox: Sandbox, tmp_path: Path, database_url: str, args: tuple[str, ...],
        said: str) -> None:
    run = run_dsar("object", *args, env=_env(sandbox, tmp_path))
    assert run.code == 2 and said in run.stderr, run.stderr
    assert all(server.request_count == 0 for server in sandbox.servers.values())
