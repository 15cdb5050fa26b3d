"""Reading a system's exported customer list (CSV or XLSX) when the system has no API.

Why: Qlickboka, the first customer's booking site, publishes no API; its admin UI exports the
customer list. The hub searches that file instead and says in the report that erasure is a
manual task in the admin UI.

Exports come from Excel as often as from the system itself, so the reader is forgiving about
form and strict about meaning: the delimiter is sniffed (``;`` in Swedish Excel, ``,``
elsewhere), the text may be UTF-8 with or without a byte-order mark or Windows-1252 (Excel's
"CSV (semikolonavgränsad)" on a Swedish Windows), header names are compared without regard to
case or surrounding spaces, but a declared column that is missing is an error naming the
column and listing the ones the file has. XLSX needs the optional ``openpyxl`` package.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.rest.spec import IdentifierFields
from hub.core.errors import ConnectorError, FailureType

DELIMITERS = ";,\t|"
FALLBACK_ENCODING = "cp1252"  # Excel's "ANSI" code page for Swedish (and Western) Windows
SAMPLE_LINES = 50


class ExportFileError(ConnectorError):
    """The export file is missing, unreadable or lacks a declared column: the user must act."""

    failure_type = FailureType.CONFIG


class ExportMapping(BaseModel):
    """The ``[<table>.export]`` table: which columns of the export mean what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_type: str = Field("customer", pattern=r"^[a-z][a-z0-9_]*$")
    id_column: str | None = Field(None, description="Customer number; default: the row number.")
    identifiers: IdentifierFields = Field(description="Column of each identifier, e.g. "
                                          "email = 'E-post', phone = 'Mobil'.")
    personal_columns: list[str] = Field(default_factory=lambda: ["*"],
                                        description="'*' = every non-empty column.")
    delimiter: Literal[";", ",", "\t", "|"] | None = Field(None, description="Default: sniffed.")
    encoding: str | None = Field(None, description="Default: UTF-8 (BOM or not), else cp1252.")
    sheet: str | None = Field(None, description="XLSX sheet; default: the active one.")

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r} (try 'utf-8' or 'cp1252')") from None
        return value

    @model_validator(mode="after")
    def _some_identifier(self) -> ExportMapping:
        if not self.identifiers.declared():
            raise ValueError("identifiers: declare at least one column (email, phone or "
                             "personnummer) to match the subject on")
        return self


@dataclass(frozen=True)
class ExportRow:
    """One customer line: its id (customer number or ``row-N``) and its non-empty cells."""

    id: str
    cells: dict[str, str]


def decode(data: bytes, encoding: str | None) -> str:
    """Text of the file: the declared encoding, else UTF-8 (BOM stripped), else cp1252."""
    if encoding:
        return data.decode(encoding)
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(FALLBACK_ENCODING)


def sniff_delimiter(text: str) -> str:
    """The delimiter, guessed from the first lines; the header line decides a tie."""
    sample = "\n".join(text.splitlines()[:SAMPLE_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone or customer number Excel stored as a number
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _csv_rows(path: Path, mapping: ExportMapping) -> list[list[str]]:
    try:
        text = decode(path.read_bytes(), mapping.encoding)
    except UnicodeDecodeError as exc:
        raise ExportFileError(f"the export {path.name} is not {mapping.encoding} text "
                              f"({exc.reason}); fix export.encoding") from None
    delimiter = mapping.delimiter or sniff_delimiter(text)
    return [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _xlsx_rows(path: Path, mapping: ExportMapping) -> list[list[str]]:
    try:
        import openpyxl
    except ImportError:
        raise ExportFileError("reading an .xlsx export needs the openpyxl package (pip install "
                              "openpyxl), or save the export as CSV") from None
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if mapping.sheet is not None and mapping.sheet not in workbook.sheetnames:
            raise ExportFileError(f"the export {path.name} has no sheet {mapping.sheet!r}; it has "
                                  f"{', '.join(workbook.sheetnames)}")
        sheet = workbook[mapping.sheet] if mapping.sheet else workbook.active
        if sheet is None:
            raise ExportFileError(f"the export {path.name} has no active sheet; name one in "
                                  "export.sheet")
        return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _column_index(headers: list[str], name: str, role: str, path: Path) -> int:
    wanted = name.strip().casefold()
    for index, header in enumerate(headers):
        if header.strip().casefold() == wanted:
            return index
    raise ExportFileError(f"the export {path.name} has no column {name!r} (declared as {role}); "
                          f"its columns are: {', '.join(h for h in headers if h)}")


def read_export(path: Path, mapping: ExportMapping) -> list[ExportRow]:
    """Every non-empty customer line of the export, keyed by the file's own header names."""
    if not path.is_file():
        raise ExportFileError(f"the export file {path} does not exist; export the customer list "
                              "again or fix export_path")
    try:
        reader = _xlsx_rows if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_rows
        table = reader(path, mapping)
    except OSError as exc:
        raise ExportFileError(f"cannot read the export {path}: {exc.strerror}") from None
    except ExportFileError:
        raise
    except Exception as exc:  # a corrupt workbook: openpyxl raises many types
        raise ExportFileError(
            f"cannot read the export {path.name} ({type(exc).__name__})") from None
    numbered = [(number, row) for number, row in enumerate(table, start=1) if any(row)]
    if not numbered:
        return []
    (_, headers), lines = numbered[0], numbered[1:]
    declared = [(f"identifiers.{kind}", column)
                for kind, column in mapping.identifiers.declared().items()]
    declared += [("personal_columns", c) for c in mapping.personal_columns if c != "*"]
    for role, column in declared:
        _column_index(headers, column, role, path)
    id_at = _column_index(headers, mapping.id_column, "id_column", path) \
        if mapping.id_column else None
    rows = []
    for number, line in lines:  # ``number`` is the spreadsheet line (the header is line 1)
        cells = {h: v for h, v in zip(headers, line, strict=False) if h and v}
        identifier = line[id_at] if id_at is not None and id_at < len(line) else ""
        rows.append(ExportRow(id=identifier or f"row-{number}", cells=cells))
    return rows


def cell(row: ExportRow, column: str) -> str | None:
    """The value of ``column`` (compared like headers: case and spaces ignored)."""
    wanted = column.strip().casefold()
    return next((v for h, v in row.cells.items() if h.strip().casefold() == wanted), None)


def personal_cells(row: ExportRow, columns: list[str]) -> dict[str, str]:
    if "*" in columns:
        return dict(row.cells)
    return {c: v for c in columns if (v := cell(row, c))}
