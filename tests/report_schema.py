"""Validate report.json documents against the published schema (``dsar schema report``).

Use :func:`assert_valid_report` on every report.json a test produces, or
:func:`assert_reports_valid_under` on a test's output folder (it finds them all, including the
copy inside export.zip).
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from hub.core.models import Report


@cache
def _validator() -> Draft202012Validator:
    schema = Report.model_json_schema()  # exactly what `dsar schema report` prints
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def assert_valid_report(document: dict[str, Any] | str | bytes | Path) -> dict[str, Any]:
    """Raise with every schema violation listed; return the parsed document."""
    if isinstance(document, Path):
        document = document.read_bytes()
    if isinstance(document, str | bytes):
        document = json.loads(document)
    assert isinstance(document, dict)
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "report.json does not match its schema:\n" + "\n".join(
        f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
    return document


def assert_reports_valid_under(folder: Path) -> int:
    """Validate every report.json below ``folder`` and inside every export.zip; the count."""
    count = 0
    for path in folder.rglob("report.json"):
        assert_valid_report(path)
        count += 1
    for archive in folder.rglob("export.zip"):
        with zipfile.ZipFile(archive) as opened:
            assert_valid_report(opened.read("report.json"))
            count += 1
    return count
