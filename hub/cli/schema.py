"""``dsar schema report``: the JSON Schema of report.json, generated from the report model so
the documented format and the written files cannot drift apart."""

from __future__ import annotations

import json

import typer

schema_app = typer.Typer(help="Print JSON Schemas of the files dsar writes.", no_args_is_help=True)


@schema_app.command("report")
def schema_report() -> None:
    """Print the JSON Schema of report.json."""
    from hub.core.models import Report

    typer.echo(json.dumps(Report.model_json_schema(), indent=2))
