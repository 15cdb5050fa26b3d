"""Closing an erasure by hand keeps its safeguards: not while work is open (unless forced with
a reason), and the subject's address leaves the ledger as it does when an erasure finishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import relaxed

ANNA = "anna.svensson@example.se"


@pytest.mark.database
def test_close_refuses_open_work_and_a_forced_close_pseudonymises(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        env = sandbox_env(relaxed(sandbox))
        run = run_dsar("--json", "--out", str(tmp_path), "erase", ANNA, "--yes", env=env)
        assert run.code == 3, run.stderr  # manual tasks and Art. 19 letters stay open
        request_id = run.json["request_id"]

        refused = run_dsar("requests", "close", request_id, env=env)
        assert refused.code == 2 and "open work" in refused.stderr
        still = run_dsar("--json", "requests", "show", request_id, env=env)
        assert still.json["status"] == "open" and still.json["subject_email"] == ANNA

        no_reason = run_dsar("requests", "close", request_id, "--force", env=env)
        assert no_reason.code == 2 and "--note" in no_reason.stderr

        closed = run_dsar("--json", "requests", "close", request_id, "--force",
                          "--note", "the person withdrew the request", env=env)
        assert closed.code == 0, closed.stderr
        assert closed.json["status"] == "closed"
        assert not closed.json.get("subject_email")  # replaced by its keyed hash
        again = run_dsar("requests", "close", request_id, "--force", "--note", "x", env=env)
        assert again.code == 2
        assert run_dsar("--json", "audit", "verify", env=env).code == 0
