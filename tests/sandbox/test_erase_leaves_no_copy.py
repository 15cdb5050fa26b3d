"""Data minimisation of our own files: after ``dsar erase … --yes`` against the sandbox, no
file the hub wrote (the report folder, the state folder with the SQLite ledger and its WAL)
holds a value of an erased record: only identifiers, record types, actions, reasons and dates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import relaxed

ANNA = "anna.svensson@example.se"
#: Values of Anna's records in tests/fixtures/sandbox that the erasure deletes or anonymises
#: (name, phone, personnummer, address), in the spellings the processors hold them.
ERASED = ["Anna Svensson", "+46701234567", "070-123 45 67", "+46 70 123 45 67",
          "19850709-1232", "198507091232", "Linnégatan 12", "Svartbäcksgatan 7",
          "Föredrar förmiddagar"]


def _texts(path: Path) -> list[tuple[Path, bytes]]:
    """Every file under ``path``, zip archives unpacked (their members are compressed)."""
    import zipfile

    found = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        data = file.read_bytes()
        found.append((file, data))
        if zipfile.is_zipfile(file):
            with zipfile.ZipFile(file) as archive:
                found += [(file / name, archive.read(name)) for name in archive.namelist()]
    return found


def _leaks(roots: list[Path], values: list[str]) -> list[str]:
    leaks = []
    for root in roots:
        for file, data in _texts(root):
            lowered = data.lower()
            for value in values:
                for encoded in {value.lower().encode(), value.lower().encode("utf-16-le"),
                                value.lower().encode("unicode_escape")}:
                    if encoded in lowered:
                        leaks.append(f"{file.relative_to(root)}: {value}")
                        break
    return leaks


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_erased_value_is_left_in_any_file_we_wrote(tmp_path: Path, lang: str) -> None:
    out, state = tmp_path / "reports", tmp_path / "state"
    with Sandbox() as sandbox:
        relaxed(sandbox)  # the limits themselves: test_fortnox_sandbox, test_booking_sandbox
        # the SQLite ledger in the state folder, even when the suite runs on PostgreSQL: the
        # point is what is left in files on this disk
        env = sandbox_env(sandbox) | {"DSAR_STATE_DIR": str(state),
                                      "DSAR_DATABASE_URL": f"sqlite:///{state / 'ledger.sqlite3'}"}
        run = run_dsar("--json", "--out", str(out), "erase", ANNA, "--yes", "--lang", lang,
                       env=env)
    assert run.code in (0, 3), run.stderr
    summary = run.json
    assert summary["executed"] and summary["states"].get("done"), summary["states"]
    assert (out / summary["request_id"] / "report.html").is_file()
    assert any(state.glob("*.sqlite3*")), "the ledger is a SQLite file in the state folder"
    assert _leaks([out, state], ERASED) == []

    # a person does the manual tasks; the last one closes the request, and then not even the
    # subject's address is left in clear: the ledger and audit log keep only its keyed hash
    request_id = summary["request_id"]
    tasks = [a["id"] for a in summary["actions"] if a["state"] in ("manual-open", "failed")]
    assert tasks
    for task in tasks:
        done = run_dsar("--json", "requests", "task", "done", request_id, str(task),
                        "--note", "handled by hand", env=env)
        assert done.code in (0, 3), done.stderr
    assert done.json["closed"], done.json
    assert _leaks([out, state], [*ERASED, ANNA, "anna.svensson"]) == []
