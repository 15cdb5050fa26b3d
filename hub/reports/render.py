"""Rendering the access report, the cover letter and the export's read-me with Jinja2.

Autoescaping is on for every HTML template: names, addresses and notes come from processors
and customers, so they are untrusted (a customer called ``<script>…`` must show as text).
Plain-text templates (``*.txt``) are not escaped because they are never parsed as HTML.
``StrictUndefined`` turns a missing translation key into an error instead of a blank line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from hub.core.inventory import Controller, InventoryEntry
from hub.core.models import Report
from hub.reports.content import (
    DEFAULT_LANGUAGE,
    PENDING_STATUSES,
    AccessReportView,
    build_view,
    format_date,
    texts,
)


def _fill(text: str, **values: Any) -> str:
    """``{name}`` placeholders of a translation; the result is escaped like any other value."""
    return text.format_map({k: "" if v is None else v for k, v in values.items()})


def _ldate(value: date | datetime, lang: str) -> str:
    return format_date(value, lang)


def _promise(due: date, generated_at: datetime, lang: str) -> str:
    """"senast 29 december 2026" while the deadline lies ahead; "så snart som möjligt" once it
    has passed: a document must never promise a day that is already over."""
    meta = texts(lang)["meta"]
    if due < _local_date(generated_at):
        return str(meta["asap"])
    return str(meta["by_date"]).format(date=format_date(due, lang))


def _local_date(moment: datetime) -> date:
    from hub.core.deadlines import LOCAL_TIMEZONE

    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL_TIMEZONE).date()


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hub.reports", "templates"),
        # on for everything (default=True) except the plain-text templates
        autoescape=select_autoescape(enabled_extensions=("html",),
                                     disabled_extensions=("txt",), default=True,
                                     default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fill"] = _fill
    env.filters["ldate"] = _ldate
    env.globals["promise"] = _promise
    env.globals["pending_statuses"] = PENDING_STATUSES
    return env


def view(report: Report, *, lang: str = DEFAULT_LANGUAGE, controller: Controller | None = None,
         inventory: Sequence[InventoryEntry] = (),
         generated_at: datetime | None = None) -> AccessReportView:
    return build_view(report, lang=lang, controller=controller, inventory=inventory,
                      generated_at=generated_at)


def render_html(content: AccessReportView) -> str:
    """``report.html``: self-contained (inline CSS, no external resources), prints on A4."""
    return environment().get_template("report.html").render(v=content)


def render_cover_letter(content: AccessReportView) -> str:
    """The text to paste into the reply e-mail."""
    text = environment().get_template("cover-letter.txt").render(v=content)
    return text.strip() + "\n"


def render_export_readme(content: AccessReportView,
                         files: Sequence[tuple[str, str | None]]) -> str:
    """README.txt of export.zip; ``files`` are the members, each with what it holds in the
    subject's words (None: described by the read-me's own text)."""
    return environment().get_template("export-readme.txt").render(v=content, files=files)
