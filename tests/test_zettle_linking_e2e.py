"""Anna's three sandbox receipts in her access report: one names her phone, two name nobody and
are tied to her by the day and amount of two Fortnox invoices (derived matches, with why)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e_helpers import run_dsar

ANNA = "anna.svensson@example.se"


def test_anna_gets_all_three_receipts_two_as_derived_payment_matches(tmp_path: Path) -> None:
    run = run_dsar("--sandbox", "--json", "--out", str(tmp_path), "lookup", ANNA)
    assert run.code == 3, run.stderr  # cash and Swish receipts still need a person to look
    report = json.loads(Path(run.json["report"]).read_text(encoding="utf-8"))
    zettle = next(p for p in report["processors"] if p["name"] == "zettle")
    receipts = {r["data"]["timestamp"][:10]: r for r in zettle["records"]}
    assert sorted(receipts) == ["2023-10-05", "2025-02-03", "2025-05-06"]
    assert receipts["2025-05-06"]["matched_on"] == "phone"  # named in a comment
    for day, invoice, amount in (("2023-10-05", "16", 240000), ("2025-02-03", "22", 130000)):
        receipt = receipts[day]
        assert (receipt["matched_on"], receipt["match_strength"]) == ("payment", "derived")
        assert receipt["data"]["amount"] == amount
        number = receipt["data"]["purchaseNumber"]
        assert any(f"receipt #{number} of {day}" in note
                   and f"same day and amount as Fortnox invoice {invoice}" in note
                   for note in zettle["notes"])
    # still incomplete: cash and Swish receipts cannot be tied to anyone
    assert zettle["incomplete"] and "zettle.card_payments_unlinkable" in zettle["note_codes"]
    html = Path(run.json["report_html"]).read_text(encoding="utf-8")
    assert html.count("Hittad via betalning samma dag och med samma belopp") == 2
