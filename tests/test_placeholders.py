"""No placeholder of the example configuration ever reaches a data subject: ``config check``
lists them by TOML key, and lookup/erase refuse to write documents while one remains (exit 2,
nothing contacted) unless the operator asks for a draft, which is stamped UTKAST / DRAFT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config.placeholders import find_placeholders, is_placeholder
from hub.config.registry import discover
from hub.config.settings import load_settings
from hub.sandbox import Sandbox
from tests.e2e_helpers import filled_config, run_dsar, sandbox_env

ANNA = "anna.svensson@example.se"
SHIPPED = Path(__file__).resolve().parents[1] / "config" / "hub.toml"
DRAFT = "UTKAST / DRAFT"


@pytest.mark.parametrize("text", [
    "<name>, the administrative assistant", "<accounting firm>, the accountant",
    "<fill in: Art. 15(1)(d) needs a period or the criteria>", "Fill in the period",
    "info@example.se", " INFO@example.se ",
])
def test_placeholders_are_recognised(text: str) -> None:
    assert is_placeholder(text)


@pytest.mark.parametrize("text", [
    "Lena Ek, the administrative assistant", "kontakt@sjalvkraft.example.se",
    "7 år (bokföringslagen 1999:1078, 7 kap. 2 §)", "a < b and c > d", "filled in by hand",
])
def test_real_values_are_not_placeholders(text: str) -> None:
    assert not is_placeholder(text)


def test_the_shipped_example_lists_every_placeholder_by_its_toml_key() -> None:
    keys = find_placeholders(load_settings(discover(SHIPPED), SHIPPED))
    assert keys[0] == "controller.contact_email"
    assert {"inventory[0].recipients[0]", "inventory[1].recipients[0]",
            "inventory[8].translations.sv.legal_basis[0]",
            "inventory[8].translations.sv.retention"} <= set(keys)
    assert find_placeholders(load_settings(discover(None), filled_config())) == []


@pytest.mark.database
def test_config_check_exits_2_naming_the_keys() -> None:
    run = run_dsar("--json", "--config", str(SHIPPED), "config", "check")
    assert run.code == 2, run.stderr
    assert "inventory[1].recipients[0]" in run.json["placeholders"]
    run = run_dsar("--config", str(SHIPPED), "config", "check")
    assert run.code == 2
    assert "controller.contact_email" in run.stderr and "inventory[0].recipients[0]" in run.stderr
    assert run_dsar("--json", "config", "check").code == 0  # the filled-in example


@pytest.mark.parametrize("command", [["lookup", ANNA], ["erase", ANNA, "--yes"]])
def test_lookup_and_erase_refuse_before_contacting_anyone(tmp_path: Path,
                                                          command: list[str]) -> None:
    with Sandbox() as sandbox:
        run = run_dsar("--config", str(SHIPPED), "--out", str(tmp_path / "out"), *command,
                       env=sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(tmp_path / "state")})
        contacted = {name: list(server.request_log) for name, server in sandbox.servers.items()}
    assert run.code == 2, run.stdout + run.stderr
    assert "controller.contact_email" in run.stderr and "--draft" in run.stderr
    assert not any(contacted.values()), contacted
    assert not (tmp_path / "out").exists()


@pytest.mark.database
def test_a_draft_is_written_and_stamped(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        run = run_dsar("--json", "--config", str(SHIPPED), "--out", str(tmp_path), "lookup",
                       ANNA, "--draft", env=sandbox_env(sandbox))
    assert run.code == 3, run.stderr  # partial: Zettle's search is incomplete
    html = Path(run.json["report_html"]).read_text(encoding="utf-8")
    letter = Path(run.json["cover_letter"]).read_text(encoding="utf-8")
    assert DRAFT in html and 'data-field="draft"' in html
    assert letter.startswith(f"*** {DRAFT} ***")


@pytest.mark.database
def test_a_filled_configuration_writes_no_stamp(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA, "--no-review",
                       env=sandbox_env(sandbox))
    assert run.code == 3, run.stderr  # partial: Zettle's search is incomplete
    assert DRAFT not in Path(run.json["report_html"]).read_text(encoding="utf-8")
    assert DRAFT not in Path(run.json["cover_letter"]).read_text(encoding="utf-8")


def test_a_sandbox_run_is_always_a_draft(tmp_path: Path) -> None:
    run = run_dsar("--sandbox", "--json", "--config", str(SHIPPED), "--out", str(tmp_path),
                   "lookup", ANNA)
    assert run.code == 3, run.stderr  # partial: Zettle's search is incomplete
    assert DRAFT in Path(run.json["report_html"]).read_text(encoding="utf-8")
    summary = json.loads(run.stdout)
    assert Path(summary["cover_letter"]).read_text(encoding="utf-8").startswith("***")
