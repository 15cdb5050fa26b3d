"""Writing report files: private by default (mode 0600 in a 0700 folder), never half-written.

A report holds the subject's personal data, so it is created with owner-only permissions from
the first byte (not chmod-ed afterwards) and moved into place atomically, so a crash never
leaves a truncated report that looks complete. Folder and file names carry the request id
only, never an e-mail address.

One request folder holds:

* ``report.json``      – the machine-readable answer (``dsar schema report``)
* ``report.html``      – the readable Art. 15 report, self-contained, prints on A4 (sv / en);
  for an erasure, the erasure answer (:mod:`hub.reports.erasure`)
* ``export.zip``       – the Art. 20 portability copy (report.json + CSV per record type);
  never for an erasure, which has no data to hand over
* ``cover-letter.txt`` – text for the reply e-mail
* ``art19-<slug>.txt`` – an erasure's notice to one named recipient (Art. 19), rewritten on
  every run until its task is marked sent
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hub.core.folders import make_private_dir
from hub.core.languages import DEFAULT_LANGUAGE
from hub.core.models import Report
from hub.core.request_types import RequestType

if TYPE_CHECKING:
    from hub.config.settings import HubSettings
    from hub.core.inventory import Controller, InventoryEntry
    from hub.reports.content import AccessReportView
    from hub.reports.erasure import ErasureFacts

REPORT_FILES = ("report.json", "report.html", "export.zip", "cover-letter.txt")
#: An Art. 19 letter's file stem (its task's name): a plain path segment, never a path.
_LETTER_NAME = re.compile(r"art19-[a-z0-9]+(?:-[a-z0-9]+)*")


def _write_atomically(path: Path, fill: Callable[[IO[bytes]], object]) -> Path:
    """Create a 0600 temporary file beside ``path``, let ``fill`` write it, fsync, rename."""
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w+b") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_private(path: Path, content: str) -> Path:
    """Atomically write ``content`` (UTF-8) to ``path`` with mode 0600."""
    return _write_atomically(path, lambda handle: handle.write(content.encode("utf-8")))


def write_private_bytes(path: Path, fill: Callable[[IO[bytes]], object]) -> Path:
    """Atomically write a binary file (e.g. a zip archive streamed by ``fill``), mode 0600."""
    return _write_atomically(path, fill)


def _inventory(settings: HubSettings | None) -> tuple[Controller | None,
                                                      Sequence[InventoryEntry]]:
    if settings is None:
        return None, ()
    return settings.controller, settings.inventory


def report_view(report: Report, *, lang: str = DEFAULT_LANGUAGE,
                settings: HubSettings | None = None,
                generated_at: datetime | None = None, draft: bool = False) -> AccessReportView:
    """The report's content in ``lang`` (inventory and controller from ``settings``);
    ``draft`` stamps every document made from it UTKAST / DRAFT."""
    from dataclasses import replace

    from hub.reports.content import build_view, with_manual_items

    controller, inventory = _inventory(settings)
    view = build_view(with_manual_items(report, inventory), lang=lang, controller=controller,
                      inventory=inventory, generated_at=generated_at)
    return replace(view, draft=draft)


def cover_letter(report: Report, *, lang: str = DEFAULT_LANGUAGE,
                 settings: HubSettings | None = None,
                 generated_at: datetime | None = None, draft: bool = False) -> str:
    """The cover-letter text for the reply e-mail (what ``cover-letter.txt`` holds)."""
    from hub.reports.render import render_cover_letter

    return render_cover_letter(report_view(report, lang=lang, settings=settings,
                                           generated_at=generated_at, draft=draft))


def write_report(report: Report, out_dir: Path, *, lang: str = DEFAULT_LANGUAGE,
                 settings: HubSettings | None = None,
                 generated_at: datetime | None = None, draft: bool = False,
                 export: bool = True) -> Path:
    """Write the request folder ``<out_dir>/<request id>/`` with every report file; returns it.
    ``export=False`` writes no ``export.zip`` (an erasure has no data to hand over).

    ``settings`` supplies the processing inventory (``[controller]``, ``[[inventory]]``) that
    the human-readable report and the export scope are built from; without it the report has
    only what the processors returned. ``report.json`` gains the inventory's manual items.
    An erasure report gets the erasure answer instead (:func:`write_erasure_answer`).
    """
    if report.request.type == RequestType.ERASURE.value:
        return write_erasure_answer(report, out_dir, lang=lang, settings=settings,
                                    generated_at=generated_at, draft=draft)
    from hub.reports.content import with_manual_items
    from hub.reports.export import write_export_zip
    from hub.reports.render import render_cover_letter, render_html

    _, inventory = _inventory(settings)
    report = with_manual_items(report, inventory)
    content = report_view(report, lang=lang, settings=settings, generated_at=generated_at,
                          draft=draft)

    folder = out_dir / report.request.id
    make_private_dir(folder)
    write_private(folder / "report.json", report.model_dump_json(indent=2) + "\n")
    write_private(folder / "report.html", render_html(content))
    if export:
        write_private_bytes(folder / "export.zip",
                            lambda handle: write_export_zip(handle, report, content, inventory))
    write_private(folder / "cover-letter.txt", render_cover_letter(content))
    return folder


def write_erasure_answer(report: Report, out_dir: Path, *, lang: str = DEFAULT_LANGUAGE,
                         settings: HubSettings | None = None,
                         generated_at: datetime | None = None, draft: bool = False,
                         facts: ErasureFacts | None = None) -> Path:
    """Write an erasure request's folder: ``report.json`` as it is (the operator's copy),
    the erasure answer as ``report.html`` and ``cover-letter.txt``, and one Art. 19 letter per
    named recipient not yet told (``facts.letters``; a letter marked sent is left as it was
    sent). No ``export.zip``: an erasure hands over no data. Returns the folder."""
    from hub.reports.erasure import (
        build_art19_view,
        build_erasure_view,
        render_art19_letter,
        render_erasure_answer,
        render_erasure_letter,
    )

    controller, inventory = _inventory(settings)
    generated_at = generated_at or datetime.now(UTC)
    view = build_erasure_view(report, lang=lang, controller=controller, inventory=inventory,
                              facts=facts, generated_at=generated_at, draft=draft)
    folder = out_dir / report.request.id
    make_private_dir(folder)
    write_private(folder / "report.json", report.model_dump_json(indent=2) + "\n")
    write_private(folder / "report.html", render_erasure_answer(view))
    write_private(folder / "cover-letter.txt", render_erasure_letter(view))
    for letter in (facts.letters if facts else ()):
        if not _LETTER_NAME.fullmatch(letter.task):
            raise ValueError(f"not an Art. 19 letter's name: {letter.task!r}")
        if letter.sent_on is None:
            # the recipients are Swedish businesses and staff: their notice is in Swedish
            notice = build_art19_view(report, letter, controller=controller,
                                      inventory=inventory, facts=facts,
                                      generated_at=generated_at, draft=draft)
            write_private(folder / f"{letter.task}.txt", render_art19_letter(notice))
    return folder
