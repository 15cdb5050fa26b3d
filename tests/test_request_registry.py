"""The one list of request types and the one list of report languages drive everything else,
and the use-cases run without the command line (as a scheduler or web UI would run them)."""

from __future__ import annotations

import asyncio
import tomllib
from importlib import resources
from pathlib import Path
from typing import get_type_hints

import click
import pytest
from typer.main import get_command

from hub.cli import app
from hub.cli.lookup import lookup
from hub.config.registry import discover
from hub.config.settings import load_settings
from hub.core.errors import InvalidInput
from hub.core.exit_codes import ExitCode
from hub.core.languages import LANGUAGES
from hub.core.models import RequestInfo
from hub.core.request_types import REPORTED_TYPES, REQUEST_TYPES, RequestType
from hub.core.subject import Subject
from hub.requests.context import RequestContext
from hub.requests.registry import JOBS, job_for
from hub.sandbox import Sandbox
from hub.store.db import open_database
from hub.store.ledger import Ledger, request_types
from hub.store.state import StateStore
from tests.e2e_helpers import sandbox_env

ANNA = "anna.svensson@example.se"


def _option(*path: str, name: str) -> click.Parameter:
    command = get_command(app)
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    return next(p for p in command.params if p.name == name)


def test_request_types_come_from_one_list() -> None:
    assert tuple(request_types()) == REQUEST_TYPES == tuple(RequestType)
    assert set(REPORTED_TYPES) <= set(RequestType)
    schema = RequestInfo.model_json_schema()["properties"]["type"]
    assert schema["enum"] == [t.value for t in REPORTED_TYPES]
    help_text = _option("requests", "open", name="request_type").help or ""
    assert all(name in help_text for name in REQUEST_TYPES)


def test_every_reported_type_has_a_job() -> None:
    assert set(JOBS) == set(REPORTED_TYPES)
    assert job_for("erasure") is JOBS[RequestType.ERASURE]
    for kind in ("objection", "no-such-type"):
        with pytest.raises(InvalidInput, match="no automated job"):
            job_for(kind)


def test_languages_come_from_one_list() -> None:
    folder = resources.files("hub.reports").joinpath("i18n")
    files = {entry.name.removesuffix(".toml") for entry in folder.iterdir()
             if entry.name.endswith(".toml")}
    assert files == set(LANGUAGES)
    for code in LANGUAGES:
        table = tomllib.loads(folder.joinpath(f"{code}.toml").read_text(encoding="utf-8"))
        assert table["meta"]["language"] == code
    choices = get_type_hints(lookup, include_extras=True)["lang"].__origin__
    assert tuple(choice.value for choice in choices) == LANGUAGES
    assert all(code in (_option("erase", name="lang").help or "") for code in LANGUAGES)


@pytest.mark.database
def test_jobs_run_without_the_command_line(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox() as sandbox:
        for name, value in sandbox_env(sandbox).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DSAR_STATE_DIR", str(tmp_path / "state"))
        settings = load_settings(discover())
        state = StateStore(open_database(settings.ledger_url))
        ctx = RequestContext(settings, discover(), {"state": state}, out_dir=tmp_path / "out")
        subject = Subject.from_email(ANNA)

        access = asyncio.run(job_for(RequestType.ACCESS)(ctx, subject, lang="en"))
        assert access.code in (ExitCode.OK, ExitCode.PARTIAL)
        assert (access.folder / "report.json").is_file()
        # Anna's lookup has weak matches: its documents wait for the Art. 15(4) review
        assert (access.folder / "review.txt").is_file()
        assert not (access.folder / "report.html").exists()

        erasure = asyncio.run(job_for(RequestType.ERASURE)(ctx, subject))
        assert erasure.code == ExitCode.PARTIAL  # the journals system is erased by hand
        assert (erasure.folder / "erasure.json").is_file()

    ledger = Ledger(open_database(settings.ledger_url))
    assert {ledger.get(access.request_id).type, ledger.get(erasure.request_id).type} == {
        "access", "erasure"}
