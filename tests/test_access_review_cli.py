"""End to end: ``dsar lookup`` holds an access answer with weak matches or another person's
data for ``dsar requests review ID``, which records the decision and writes the documents.

The real CLI against the sandbox processors over loopback, with the filled-in example
configuration (real, not draft, documents) and the test's database (SQLite or PostgreSQL).
In the sandbox, Anna's lookup finds two Fortnox records under a +tag variant of her address
and a Zettle receipt through a phone number, rung up by a named cashier.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import relaxed

ANNA = "anna.svensson@example.se"
MARKER_SV = "[borttaget: uppgift om annan person]"


@pytest.fixture
def env(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    with Sandbox() as sandbox:
        yield sandbox_env(relaxed(sandbox)) | {"DSAR_STATE_DIR": str(tmp_path / "state"),
                                      "DSAR_DATABASE_URL": database_url}


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_lookup_is_held_for_review_and_approval_writes_the_documents(
        env: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    looked = run_dsar("--json", "--out", out, "lookup", ANNA, env=env)
    assert looked.code == 3, looked.stderr[-2000:]  # Zettle's search is incomplete
    summary = looked.json
    request_id = summary["request_id"]
    # weak matches at Fortnox (plus-address) and Zettle (derived), and the cashier's name
    assert summary["review"]["needed"] is True and summary["review"]["flags"] >= 4
    assert summary["review"]["command"] == f"dsar requests review {request_id}"
    assert summary["report_html"] is None and summary["cover_letter"] is None
    folder = Path(summary["report"]).parent
    assert _files(folder) == {"report.json", "review.txt"}

    shown = run_dsar("--json", "requests", "review", request_id, env=env)
    assert shown.code == 0, shown.stderr[-2000:]
    flags = {f["ref"]: f for f in shown.json["flags"]}
    weak_receipts = {f["record"] for f in flags.values()
                     if f["processor"] == "zettle" and f["kind"] == "weak-match"}
    # the receipt whose comment names her phone (the others match her invoices' day and amount)
    [receipt] = [r["ref"] for r in shown.json["records"]
                 if r["ref"] in weak_receipts and "products.0.comment" in r["fields"]]
    other_receipts = sorted(weak_receipts - {receipt})
    cashier_ref = f"{receipt}:userDisplayName"
    assert flags[cashier_ref]["kind"] == "third-party"
    assert {"fortnox:customer:10", "fortnox:invoice:2"} <= set(flags)
    [record] = [r for r in shown.json["records"] if r["ref"] == receipt]
    cashier = record["fields"]["userDisplayName"]  # the operator sees what is at stake
    assert cashier and record["outcome"] == "withheld"

    # a ref that fits nothing: exit 2, nothing written, nothing recorded
    for bad in (["--exclude", "fortnox:customer:999"], ["--redact", f"{receipt}:noSuchField"],
                ["--approve", "fortnox:customer:10"]):
        refused = run_dsar("requests", "review", request_id, *bad, "--approve", env=env)
        assert refused.code == 2, (bad, refused.stdout, refused.stderr)
        assert _files(folder) == {"report.json", "review.txt"}
    text = run_dsar("requests", "review", request_id, env=env)
    assert text.code == 0 and "Nothing written" in text.stdout

    approved = run_dsar("requests", "review", request_id, "--include", receipt,
                        "--exclude", "fortnox:invoice:2", "--redact",
                        f"{receipt}:products.0.comment", "--approve", env=env)
    assert approved.code == 0, approved.stderr[-2000:]
    assert "Decision recorded" in approved.stdout
    assert {"report.html", "export.zip", "cover-letter.txt", "lookup.json"} <= _files(folder)
    assert "review.txt" not in _files(folder)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert MARKER_SV in html and cashier not in html
    with zipfile.ZipFile(folder / "export.zip") as archive:
        assert not any(cashier in archive.read(name).decode("utf-8-sig")
                       for name in archive.namelist())
    answered = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    fortnox = next(p for p in answered["processors"] if p["name"] == "fortnox")
    assert fortnox["records"]
    assert {(r["type"], r["id"]) for r in fortnox["records"]}.isdisjoint(
        {("invoice", "2"), ("customer", "10")})  # excluded, and withheld (not included)
    [sent] = next(p for p in answered["processors"] if p["name"] == "zettle")["records"]
    assert sent["data"]["userDisplayName"] == MARKER_SV
    assert sent["data"]["products"][0]["comment"] == MARKER_SV

    history = run_dsar("--json", "requests", "show", request_id, env=env).json
    [decision] = [e["details"] for e in history["events"] if e["kind"] == "access.reviewed"]
    assert decision["excluded"] == ["fortnox:invoice:2"]
    assert sorted(decision["withheld"]) == sorted(["fortnox:customer:10", *other_receipts])
    assert set(decision["redacted"]) == {cashier_ref, f"{receipt}:products.0.comment",
                                         *(f"{r}:userDisplayName" for r in other_receipts)}
    assert cashier not in json.dumps(decision) and ANNA not in json.dumps(decision)
    verified = run_dsar("--json", "audit", "verify", env=env)
    assert verified.code == 0 and verified.json["ok"], verified.stdout
    audited = run_dsar("--json", "audit", "show", "--request", request_id, env=env)
    assert "access.reviewed" in audited.stdout and cashier not in audited.stdout


def test_no_review_writes_the_documents_at_once(env: dict[str, str], tmp_path: Path) -> None:
    looked = run_dsar("--json", "--out", str(tmp_path / "out"), "lookup", ANNA, "--no-review",
                      env=env)
    assert looked.code == 3, looked.stderr[-2000:]  # Zettle's search is incomplete
    assert looked.json["review"]["needed"] is False and looked.json["review"]["flags"] >= 4
    folder = Path(looked.json["report"]).parent
    assert _files(folder) == {"report.json", "report.html", "export.zip", "cover-letter.txt"}
    assert Path(looked.json["report_html"]).is_file()
