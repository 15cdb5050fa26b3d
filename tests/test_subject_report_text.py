"""What the data subject receives (report.html, the cover letter, export.zip) says in plain,
translated words that a system could not be searched; the processor's error text and the names
of settings stay with the operator (terminal, ``--json``, the operator's report.json)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hub.core.models import ProcessorResult, ProcessorStatus
from hub.reports.content import note_text, subject_notes, texts
from hub.sandbox import Sandbox
from hub.sandbox.server import HOSTILE_MESSAGE
from tests.e2e_helpers import run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
OPERATOR_ONLY = ("DSAR_", "HTTP 400", "x.example.com", "Bad request", "[/]", "refused")


def test_the_subject_reads_note_codes_never_the_notes() -> None:
    result = ProcessorResult(
        name="stripe", status=ProcessorStatus.FOUND, incomplete=True,
        notes=["Stripe could not list charges here (HTTP 500); they were not searched.",
               "check DSAR_ZETTLE__API_KEY", "Art. 19: stripe was told of the erasure"],
        note_codes=["stripe.list_unavailable", "acme.unknown_code", "stripe.list_unavailable"])
    for lang in ("sv", "en"):
        assert subject_notes(result, lang) == [texts(lang)["notes"]["stripe"]["list_unavailable"]]
        assert note_text("acme.unknown_code", lang) is None
        assert note_text("stripe", lang) is None  # a table, not a sentence
    # incomplete without a known code: a plain reason, still none of the notes
    unexplained = result.model_copy(update={"note_codes": ["acme.unknown_code"]})
    assert subject_notes(unexplained, "sv") == [texts("sv")["incomplete"]["unspecified"]]
    # free text alone, complete: nothing at all
    assert subject_notes(result.model_copy(update={"note_codes": [], "incomplete": False}),
                         "en") == []


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.database
def test_subject_report_has_no_error_text_or_setting_names(tmp_path: Path, lang: str) -> None:
    with Sandbox(fail={"stripe": "hostile", "zettle": "hostile"}) as sandbox:
        env = sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path / "state")}
        del env["DSAR_BOOKING__API_KEY"]  # enabled (its base URL is set) but not configured
        run = run_dsar("--json", "--out", str(tmp_path / "out"), "lookup", ANNA, "--lang", lang,
                       "--no-review", env=env)
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
