"""A request answered after its deadline: the operator is warned, the person is promised no
day that is already over."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from hub.sandbox import Sandbox
from tests.e2e_helpers import run_dsar, sandbox_env
from tests.test_erase_e2e import relaxed

ANNA = "anna.svensson@example.se"


@pytest.mark.database
def test_an_overdue_lookup_warns_and_promises_no_past_day(tmp_path: Path) -> None:
    received = date.today() - timedelta(days=60)
    with Sandbox() as sandbox:
        env = sandbox_env(relaxed(sandbox))
        opened = run_dsar("--json", "requests", "open", ANNA, "--type", "access", "--received",
                          received.isoformat(), "--verified-by", "reply from the address",
                          env=env)
        assert opened.code == 0, opened.stderr
        due = date.fromisoformat(opened.json["due_at"])
        run = run_dsar("--json", "--out", str(tmp_path), "lookup", ANNA, "--no-review", env=env)
    assert run.code in (0, 3), run.stderr
    assert "overdue" in run.stderr and due.isoformat() in run.stderr
    letter = Path(run.json["cover_letter"]).read_text(encoding="utf-8")
    assert "så snart som möjligt" in letter
    assert "senast" not in letter.replace("\n", " ")
