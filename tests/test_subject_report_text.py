"""What the data subject receives (report.html, the cover letter, export.zip) says in plain,
translated words that a system could not be searched; the processor's error text and the names
of settings stay with the operator (terminal, ``--json``, the operator's report.json)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hub.reports.content import is_technical, subject_notes, texts
from hub.sandbox import Sandbox
from hub.sandbox.server import HOSTILE_MESSAGE
from tests.e2e_helpers import run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
OPERATOR_ONLY = ("DSAR_", "HTTP 400", "x.example.com", "Bad request", "[/]", "refused")


def test_technical_notes_are_recognised() -> None:
    assert is_technical("Stripe could not list charges here (HTTP 500); they were not searched.")
    assert is_technical("check DSAR_ZETTLE__API_KEY and DSAR_ZETTLE__CLIENT_ID")
    assert is_technical("charge ch_1: failed: could not reach Stripe (ConnectTimeout)")
    assert is_technical("asked for nils.exempel@example.com")
    assert not is_technical("Art. 19: stripe was told of the erasure through its API on "
                            "2026-11-29 (7 records)")
    assert not is_technical("Fortnox compares phone numbers as text: customers were searched "
                            "for the common spellings of the number.")
    withheld = texts("en")["systems"]["note_withheld"]
    assert subject_notes(["a", "HTTP 500 at x", "DSAR_X missing"], withheld) == ["a", withheld]
    assert subject_notes(["a", "HTTP 500 at x"], None) == ["a"]


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_subject_report_has_no_error_text_or_setting_names(tmp_path: Path, lang: str) -> None:
    with Sandbox(fail={"stripe": "hostile", "zettle": "hostile"}) as sandbox:
        env = sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path / "state")}
        del env["DSAR_BOOKING__API_KEY"]  # enabled (its base URL is set) but not configured
        run = run_dsar("--json", "--out", str(tmp_path / "out"), "lookup", ANNA, "--lang", lang,
                       env=env)
    assert run.code == 3, run.stderr[-2000:]
    summary = run.json
    statuses = {p["name"]: p["status"] for p in summary["processors"]}
    assert statuses["stripe"] == "error" and statuses["zettle"] == "error"
    assert statuses["booking"] == "skipped"
    # the operator keeps every detail
    errors = {p["name"]: p["error"] for p in summary["processors"]}
    assert HOSTILE_MESSAGE in errors["stripe"] and "DSAR_ZETTLE__API_KEY" in errors["zettle"]
    assert "DSAR_BOOKING__API_KEY" in errors["booking"]
    operator = json.loads(Path(summary["report"]).read_text(encoding="utf-8"))
    assert any(HOSTILE_MESSAGE in (p["error"] or "") for p in operator["processors"])

    html = Path(summary["report_html"]).read_text(encoding="utf-8")
    letter = Path(summary["cover_letter"]).read_text(encoding="utf-8")
    with zipfile.ZipFile(summary["export_zip"]) as archive:
        exported = archive.read("report.json").decode("utf-8")
    for text in (html, letter, exported):
        for needle in OPERATOR_ONLY:
            assert needle not in text, needle
    neutral = texts(lang)["next_step"]["technical_withheld"]
    assert neutral in html
