"""The portability export (GDPR Art. 20): ``export.zip`` with report.json and CSV files.

Scope. Art. 20(1) covers data the subject provided, processed "by automated means" on the
basis of consent (Art. 6(1)(a)) or a contract (Art. 6(1)(b)). So the export holds only the
results of connectors (automated systems) whose inventory entry names consent or contract as a
legal basis; systems kept only under a legal obligation (Fortnox bookkeeping) and the manual
items (paper journals) stay out. They are all in the access report. A processor missing from
the inventory is included: its basis is unknown, and giving the subject their own data is the
safe side. An entry can force the decision with ``portable = true|false``.

CSV format. One file per processor and record type (``stripe-charge.csv``), RFC 4180: comma
separated, every field quoted where needed (commas, quotes, line breaks) by :mod:`csv`, CRLF
line ends. Nested data is flattened to dotted column names (``address.city``, lists by index:
``groups.0``) so a spreadsheet shows one value per cell; report.json keeps the exact structure.
Encoding is UTF-8 *with* a byte order mark: Excel opens a double-clicked .csv in the legacy
code page unless a BOM says UTF-8, which turns "Åsa Öberg" into "Ã…sa Ã–berg"; LibreOffice,
Numbers, pandas (``encoding="utf-8-sig"``) and Python's csv module read the BOM correctly, and
it is the documented way to make Excel read UTF-8. A cell a spreadsheet would run as a formula
(one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading
apostrophe (:mod:`hub.core.spreadsheet`): the values come from processors and web forms, and the
file is opened by a double click. Plain numbers, phone numbers such as ``+46701234567``
included, are left as they are; report.json keeps every value exactly, and README.txt says so.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from hub.core.inventory import InventoryEntry
from hub.core.models import ProcessorResult, Record, Report
from hub.core.spreadsheet import safe_cell
from hub.reports.content import AccessReportView, flatten, inventory_entry_for
from hub.reports.labels import type_label
from hub.reports.render import render_export_readme

CSV_ENCODING = "utf-8-sig"  # UTF-8 with BOM, see the module docstring
_META_COLUMNS = ("record_id", "matched_on", "match_strength")
_PORTABLE_BASIS = re.compile(
    r"6\s*\(\s*1\s*\)\s*\(\s*[ab]\s*\)|\bconsent\b|\bcontract\b|samtycke|avtal", re.IGNORECASE)


def is_portable(entry: InventoryEntry | None) -> bool:
    """True when Art. 20 covers the system's data (consent or contract; see module docstring)."""
    if entry is None:
        return True
    explicit = getattr(entry, "portable", None)
    if isinstance(explicit, bool):
        return explicit
    return any(_PORTABLE_BASIS.search(basis) for basis in entry.legal_basis)


def portable_report(report: Report, inventory: Sequence[InventoryEntry]) -> Report:
    """A copy of ``report`` with only the processors Art. 20 covers and no manual items, and
    without the operator's error texts and notes (the subject receives this file; the note
    codes stay, the report explains them)."""
    kept = [p.model_copy(update={"error": None, "notes": []})
            for p in report.processors if is_portable(inventory_entry_for(p.name, inventory))]
    return report.model_copy(update={"processors": kept, "manual_items": []})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def records_csv(records: Iterable[Record]) -> str:
    """One CSV document (without BOM) for records of one type; columns are the union of the
    records' flattened fields in first-seen order, after the record id and how it matched."""
    rows: list[dict[str, str]] = []
    columns: dict[str, None] = dict.fromkeys(_META_COLUMNS)
    for record in records:
        row = {"record_id": record.id, "matched_on": record.matched_on,
               "match_strength": record.match_strength.value}
        extra = {"action": record.action.value if record.action else None,
                 "legal_basis": record.legal_basis, "retained_until": record.retained_until}
        pairs = flatten(record.data) + [(k, v) for k, v in extra.items() if v is not None]
        for path, value in pairs:
            column = f"data.{path}" if path in _META_COLUMNS else path
            while column in row:  # a key with a dot inside can flatten like a nested one
                column += "_"
            columns.setdefault(column, None)
            row[column] = _cell(value)
        rows.append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    # column names are processors' field names: as untrusted as the values
    writer.writerow([safe_cell(column) for column in columns])
    writer.writerows([safe_cell(row.get(column, "")) for column in columns] for row in rows)
    return buffer.getvalue()


def _safe(part: str) -> str:
    """A file-name part from processor/record-type names (never from personal data)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", part).strip("._") or "records"


def csv_tables(results: Iterable[ProcessorResult]) -> dict[str, tuple[str, str, list[Record]]]:
    """``{"stripe-charge.csv": (processor, record type, records), ...}`` for every processor
    and record type."""
    tables: dict[str, tuple[str, str, list[Record]]] = {}
    for result in results:
        by_type: dict[str, list[Record]] = {}
        for record in result.records:
            by_type.setdefault(record.type, []).append(record)
        for kind, records in by_type.items():
            name = f"{_safe(result.name)}-{_safe(kind)}.csv"
            while name in tables:  # two types that sanitise alike
                name = name.removesuffix(".csv") + "_.csv"
            tables[name] = (result.name, kind, records)
    return tables


def csv_files(results: Iterable[ProcessorResult]) -> dict[str, str]:
    """``{"stripe-charge.csv": csv text, ...}`` for every processor and record type."""
    return {name: records_csv(records) for name, (_, _, records) in csv_tables(results).items()}


def _holds(processor: str, kind: str, records: list[Record], content: AccessReportView) -> str:
    """What a CSV file holds, in the subject's words (its name keeps the API's type name, so
    programs reading the export can rely on it)."""
    return content.t["export_files"]["entry"].format(
        system=content.source_title(processor),
        records=type_label(processor, kind, content.lang, len(records)))


def write_export_zip(handle: IO[bytes], report: Report, content: AccessReportView,
                     inventory: Sequence[InventoryEntry], *,
                     written_at: datetime | None = None) -> list[str]:
    """Write export.zip to the open binary ``handle``; returns the member names."""
    portable = portable_report(report, inventory)
    tables = csv_tables(portable.processors)
    names = ["report.json", *tables, "README.txt"]
    listed = [(name, _holds(*tables[name], content) if name in tables else None)
              for name in names]
    stamp = (written_at or content.generated_at).timetuple()[:6]

    def add(name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16  # owner-only when unpacked on Unix
        archive.writestr(info, data)

    with zipfile.ZipFile(handle, "w") as archive:
        add("report.json", (portable.model_dump_json(indent=2) + "\n").encode("utf-8"))
        for name, (_, _, records) in tables.items():
            add(name, records_csv(records).encode(CSV_ENCODING))
        add("README.txt", render_export_readme(content, listed).encode("utf-8"))
    return names
