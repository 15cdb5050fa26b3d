"""End-to-end: `dsar erase` (the real CLI) against the sandbox writes the erasure answer, not an
access report, and one Art. 19 letter per named recipient, kept until it is marked sent."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from hub.reports.translations import texts
from hub.sandbox import Sandbox
from tests.e2e_helpers import FILLED_VALUES, run_dsar, sandbox_env
from tests.test_erase_e2e import relaxed
from tests.test_report_html import parse

ANNA = "anna.svensson@example.se"
ACCOUNTANT = FILLED_VALUES["<accounting firm>"]  # Ekonomibyrån Exempel AB
ASSISTANT = FILLED_VALUES["<name>"]  # Lena Ek


def named(rows: dict[str, Any], name: str) -> Any:
    """The row of the recipient called ``name`` (its description may follow the name)."""
    (row,) = [row for text, row in rows.items() if text == name or text.startswith(f"{name}, ")]
    return row


@pytest.mark.database
def test_erase_writes_the_erasure_answer_and_art19_letters(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        env = sandbox_env(relaxed(sandbox))
        run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
        assert run.code == 3, run.stderr  # manual tasks and the letters stay open
        summary = run.json
        folder = Path(summary["report_html"]).parent
        assert {p.name for p in folder.iterdir()} == {
            "report.json", "report.html", "cover-letter.txt", "erasure.json",
            "art19-lena-ek.txt", "art19-ekonomibyran-exempel-ab.txt"}
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())

        e = texts("sv")["erasure"]
        html = (folder / "report.html").read_text(encoding="utf-8")
        page = parse(html)
        assert page.one("h1").text() == e["title"]
        assert texts("sv")["document"]["title"] not in page.text()  # not "Registerutdrag"
        erased = page.one("section", id="erased")
        assert erased.find_all("tr", data_action="deleted")
        assert erased.find_all("tr", data_action="anonymised")
        kept = page.one("section", id="kept")
        ends = {row.attrs["data-until"] for row in kept.find_all("tr", data_until=None)
                if row.attrs.get("data-reason")}
        assert ends and all(re.fullmatch(r"20\d\d-\d\d-\d\d", end) for end in ends)
        assert "31 december 2033" in kept.text()
        pending = page.one("section", id="pending")
        journals = "Journal- och minnesanteckningar (papper, låst säkerhetsskåp)"
        assert journals in pending.text()
        assert "›" not in html
        document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        raw_types = {r["type"] for p in document["processors"] for r in p["records"]}
        assert {"payment_intent", "payment_method", "charge"} <= raw_types
        words = set(re.findall(r"[\w-]+", page.text()))
        assert not raw_types & words, raw_types & words

        letter = (folder / "cover-letter.txt").read_text(encoding="utf-8")
        assert letter.startswith("Hej,") and "radering" in letter
        assert "tillgång" not in letter.casefold() and "export.zip" not in letter

        told = {row.one(data_recipient=None).text(): row
                for row in page.one("section", id="told").find_all("tr", data_how=None)}
        assert named(told, ASSISTANT).attrs == {"data-how": "letter", "data-sent": "false"}
        assert named(told, ACCOUNTANT).attrs["data-how"] == "letter"
        assert told["Stripe Payments Europe, Ltd."].attrs["data-how"] == "api"
        notice = (folder / "art19-lena-ek.txt").read_text(encoding="utf-8")
        assert summary["request_id"] in notice and "Qlickboka" in notice
        assert ANNA not in notice and "anna" not in notice.casefold()
        letters = {a["task"]: a for a in summary["art19"] if a["how"] == "letter"}
        assert letters["art19-lena-ek"]["sent"] is False

        # the assistant's letter is sent; the next run says so and leaves the letter alone
        done = run_dsar("--json", "requests", "task", "done", summary["request_id"],
                        "art19-lena-ek", "--note", "sent by e-mail", env=env)
        assert done.code == 3, done.stderr
        (folder / "art19-lena-ek.txt").write_text("as sent", encoding="utf-8")
        again = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
        assert again.code == 3, again.stderr
        assert again.json["request_id"] == summary["request_id"]
    assert (folder / "art19-lena-ek.txt").read_text(encoding="utf-8") == "as sent"
    page = parse((folder / "report.html").read_text(encoding="utf-8"))
    told = {row.one(data_recipient=None).text(): row
            for row in page.one("section", id="told").find_all("tr", data_how=None)}
    assert named(told, ASSISTANT).attrs["data-sent"] == "true"
    assert named(told, ACCOUNTANT).attrs["data-sent"] == "false"
