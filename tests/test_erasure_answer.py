"""The erasure answer (report.html and cover-letter.txt of an erasure request) and the Art. 19
letters to named recipients: what was erased, what is kept until when and why, what is
pending, who was told; in Swedish and English, never with erased content, API names or
operator text."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.core.inventory import Controller, InventoryEntry
from hub.core.models import (
    ManualItem,
    ProcessorResult,
    ProcessorStatus,
    Record,
    RecordAction,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.reports.erasure import (
    Art19Letter,
    ErasureFacts,
    build_erasure_view,
    recipient_name,
    render_erasure_answer,
    render_erasure_letter,
)
from hub.reports.files import write_erasure_answer, write_report
from hub.reports.labels import type_label
from hub.reports.translations import texts
from hub.requests.erasure.report import ART19_BASIS, is_art19, open_work
from hub.requests.erasure.tasks import (
    art19_letters,
    art19_tasks,
    complete_task,
    recipient_slug,
)
from hub.store.erasure_actions import ActionState, ErasureLedger, PlannedAction
from hub.store.ledger import Ledger
from tests.test_report_html import Node, parse

GENERATED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ERASED_ON = date(2026, 12, 2)
BFL = ("Bokföringslagen (SFS 1999:1078) 7 kap. 2 §: accounting record kept through the seventh "
       "year after the end of the calendar year in which its fiscal year ended; GDPR "
       "Art. 17(3)(b)")
ACCOUNTANT = "Ekonomibyrån Exempel AB, the accountant"
ASSISTANT = "Lena Ek, the administrative assistant"

CONTROLLER = Controller(name="Självkraft", contact_email="kontakt@example.se",
                        recipients=["Revisorn Exempel KB, the auditor"])
INVENTORY = [
    InventoryEntry(key="stripe", system="Stripe (web-shop payments)",
                   processor="Stripe Payments Europe, Ltd.", connector="stripe",
                   translations={"sv": {"system": "Stripe (betalningar i webbutiken)"}}),
    InventoryEntry(key="fortnox", system="Fortnox (accounting)", processor="Fortnox AB",
                   connector="fortnox", recipients=[ACCOUNTANT],
                   translations={"sv": {"system": "Fortnox (bokföring)",
                                        "recipients": ["Ekonomibyrån Exempel AB, vår "
                                                       "redovisningskonsult"]}}),
    InventoryEntry(key="booking", system="Booking site", processor="Bokasajten AB",
                   connector="booking", recipients=[ASSISTANT, ACCOUNTANT],
                   translations={"sv": {"system": "Bokningssida"}}),
    InventoryEntry(key="mailerlite", system="MailerLite (e-mail sends)",
                   processor="MailerLite", connector="mailerlite",
                   translations={"sv": {"system": "MailerLite (e-postutskick)"}}),
    InventoryEntry(key="journals", system="Client journals (paper)",
                   processor="Självkraft (the practitioner)",
                   manual_instructions="Retrieve the paper journal from the safe.",
                   translations={"sv": {"system": "Journalanteckningar (papper)"}}),
]


def record(kind: str, record_id: str, action: RecordAction, *, until: date | None = None,
           basis: str | None = None) -> Record:
    return Record(type=kind, id=record_id, matched_on="email", action=action,
                  legal_basis=basis, retained_until=until)


def erasure(processors: list[ProcessorResult] | None = None,
            manual: list[ManualItem] | None = None) -> Report:
    """An erasure report as ``erasure_report`` writes it: ids, types, actions, dates only."""
    if processors is None:
        processors = [
            ProcessorResult(name="stripe", status=ProcessorStatus.FOUND, records=[
                record("customer", "cus_1", RecordAction.DELETED),
                record("payment_method", "pm_1", RecordAction.DELETED),
                record("charge", "ch_1", RecordAction.RETAINED, until=date(2026, 12, 31),
                       basis=BFL),
                record("charge", "ch_2", RecordAction.RETAINED, until=date(2033, 12, 31),
                       basis=BFL),
                record("charge", "ch_3", RecordAction.RETAINED, until=date(2033, 12, 31),
                       basis=BFL),
                record("payment_intent", "pi_1", RecordAction.FAILED),
            ]),
            ProcessorResult(name="fortnox", status=ProcessorStatus.FOUND, records=[
                record("customer", "10", RecordAction.ANONYMISED),
                record("invoice", "1001", RecordAction.RETAINED, until=date(2031, 12, 31),
                       basis=BFL),
                record("voucher", "A-7", RecordAction.RETAINED, until=date(2029, 6, 30),
                       basis="Kept as the tax agency requires (GDPR Art. 17(3)(b))"),
            ]),
            ProcessorResult(name="mailerlite", status=ProcessorStatus.FOUND, records=[
                record("subscriber", "106", RecordAction.DELETED)]),
            ProcessorResult(name="booking", status=ProcessorStatus.ERROR,
                            error="could not reach the booking system (ConnectTimeout)"),
        ]
    if manual is None:
        manual = [ManualItem(key="journals", system="Client journals (paper)",
                             reason="no_connector", instructions="Retrieve the journal.")]
    return Report(
        request=RequestInfo(id="era-20261201-093000-a1b2c3", type="erasure",
                            received_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
                            due_at=date(2027, 1, 4), tool_version="0.1.0"),
        subject=SubjectInfo(email="a…@example.se", identifiers=[]),
        processors=processors, manual_items=manual)


FACTS = ErasureFacts(
    erased_on={("stripe", "customer", "cus_1"): ERASED_ON,
               ("stripe", "payment_method", "pm_1"): ERASED_ON,
               ("fortnox", "customer", "10"): ERASED_ON,
               ("mailerlite", "subscriber", "106"): ERASED_ON},
    completes_by={("mailerlite", "subscriber", "106"): date(2027, 1, 1)},
    reviews={"fortnox": 1},
    letters=(Art19Letter("art19-ekonomibyran-exempel-ab", ACCOUNTANT, ("fortnox",),
                         date(2026, 12, 3)),
             Art19Letter("art19-lena-ek", ASSISTANT, ("booking",))),
    suppressed=True)


def view(lang: str = "sv", report: Report | None = None, facts: ErasureFacts | None = FACTS,
         **extra: Any):
    return build_erasure_view(report or erasure(), lang=lang, controller=CONTROLLER,
                              inventory=INVENTORY, facts=facts, generated_at=GENERATED, **extra)


def dom(lang: str = "sv", **extra: Any) -> Node:
    return parse(render_erasure_answer(view(lang, **extra)))


# ---------------------------------------------------------------------------------------------
# The view
# ---------------------------------------------------------------------------------------------


def test_kept_records_are_grouped_by_system_kind_and_reason_with_their_end_dates() -> None:
    kept = {(g.system, g.label): g for g in view().kept}
    charges = kept["Stripe (betalningar i webbutiken)", type_label("stripe", "charge", "sv", 3)]
    assert charges.count == 3 and charges.reason == "bokforingslagen"
    assert charges.by_end == [(date(2026, 12, 31), 1), (date(2033, 12, 31), 2)]
    assert (charges.first, charges.last, charges.one_date) == (
        date(2026, 12, 31), date(2033, 12, 31), False)
    invoice = kept["Fortnox (bokföring)", type_label("fortnox", "invoice", "sv", 1)]
    assert invoice.one_date and invoice.last == date(2031, 12, 31)
    voucher = kept["Fortnox (bokföring)", type_label("fortnox", "voucher", "sv", 1)]
    assert voucher.reason == "legal_obligation"  # a law, but not the bookkeeping act
    # a record kept without a known end date is still listed, never left out
    undated = erasure([ProcessorResult(name="fortnox", status=ProcessorStatus.FOUND, records=[
        record("invoice", "9", RecordAction.RETAINED, basis=BFL)])], manual=[])
    [group] = view(report=undated).kept
    assert (group.count, group.last) == (1, None)
    assert texts("sv")["erasure"]["kept"]["until_open"] in render_erasure_answer(
        view(report=undated))
    assert "så länge lagen kräver" in render_erasure_letter(view(report=undated))


def test_erased_records_are_counted_per_system_kind_action_and_day() -> None:
    erased = {(line.system, line.action): line for line in view().erased}
    assert erased["Fortnox (bokföring)", "anonymised"].on == ERASED_ON
    newsletter = erased["MailerLite (e-postutskick)", "deleted"]
    assert newsletter.completes_by == date(2027, 1, 1)
    stripe = [line for line in view().erased if line.system.startswith("Stripe")]
    assert {(line.label, line.count) for line in stripe} == {
        (type_label("stripe", "customer", "sv", 1), 1),
        (type_label("stripe", "payment_method", "sv", 1), 1)}
    # without the job's facts a record counts as erased on the day the answer is written
    assert {line.on for line in view(facts=None).erased} == {GENERATED.date()}


def test_pending_work_names_each_system_and_what_is_left() -> None:
    answer = view()
    pending = {(item.system, item.kind): item for item in answer.pending}
    assert ("Bokningssida", "search_failed") in pending
    assert ("Journalanteckningar (papper)", "manual_system") in pending
    assert ("Fortnox (bokföring)", "review") in pending
    failed = pending["Stripe (betalningar i webbutiken)", "failed"]
    assert failed.what == f"1 {type_label('stripe', 'payment_intent', 'sv', 1).lower()}"
    # accepted by the processor and completed later: listed once, with the erased records
    assert not any(name == "MailerLite (e-postutskick)" for name, _ in pending)
    (forgotten,) = [line for line in answer.erased if line.system == "MailerLite (e-postutskick)"]
    assert forgotten.completes_by == date(2027, 1, 1)
    assert not answer.complete
    # a processor that finishes an erasure it accepted leaves nothing for us to do
    only_later = erasure([ProcessorResult(name="mailerlite", status=ProcessorStatus.FOUND,
                                          records=[record("subscriber", "106",
                                                          RecordAction.DELETED)])], manual=[])
    assert view(report=only_later, facts=ErasureFacts(completes_by=FACTS.completes_by)).complete
    # weak matches still being checked are pending even where nothing else was found
    assert not view(report=only_later, facts=ErasureFacts(reviews={"fortnox": 2})).complete


def test_art19_lists_processors_told_by_api_and_recipients_told_by_letter() -> None:
    told = {line.recipient: line for line in view().told}
    assert told["Stripe Payments Europe, Ltd."].how == "api"
    assert told["Stripe Payments Europe, Ltd."].on == ERASED_ON
    assert told["Fortnox AB"].how == "api" and told["MailerLite"].how == "api"
    assert "Bokasajten AB" not in told  # nothing was erased there (yet)
    accountant = told["Ekonomibyrån Exempel AB, vår redovisningskonsult"]  # translated
    assert (accountant.how, accountant.sent, accountant.on) == ("letter", True,
                                                                date(2026, 12, 3))
    assistant = told["Lena Ek"]  # untranslated: the name without its English description
    assert (assistant.sent, assistant.on, assistant.systems) == (False, None, ["Bokningssida"])
    assert recipient_name(ASSISTANT, INVENTORY, CONTROLLER, "en") == "Lena Ek"
    assert recipient_name("Someone unknown (a note)", INVENTORY, CONTROLLER, "sv") == \
        "Someone unknown"


# ---------------------------------------------------------------------------------------------
# report.html and cover-letter.txt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_answer_is_an_erasure_answer_with_every_part(lang: str) -> None:
    t = texts(lang)
    page = dom(lang)
    assert page.one("html").attrs["lang"] == lang
    assert page.one("h1").text() == t["erasure"]["title"] != t["document"]["title"]
    headings = [h.text() for h in page.find_all("h2")]
    e = t["erasure"]
    assert headings == [e["summary"]["heading"], e["erased"]["heading"], e["kept"]["heading"],
                        e["pending"]["heading"], e["told"]["heading"], e["rights"]["heading"]]
    kept = page.one("section", id="kept")
    ends = {row.attrs["data-until"] for row in kept.find_all("tr", data_reason="bokforingslagen")}
    assert ends == {"2033-12-31", "2031-12-31"}
    assert kept.one(data_spread=None).find_all("li", data_until="2026-12-31")
    assert kept.one("dd", data_reason="bokforingslagen").text() == \
        e["reasons"]["bokforingslagen_text"]
    pending = page.one("section", id="pending")
    assert {li.attrs["data-kind"] for li in pending.find_all("li")} >= {
        "search_failed", "manual_system", "review", "failed"}
    assert "4" in pending.text() and "2027" in pending.text()  # the due date, 4 January 2027
    told = page.one("section", data_gdpr="19")
    assert {row.attrs["data-how"] for row in told.find_all("tr", data_how=None)} == {
        "api", "letter"}
    assert page.one(data_field="completeness").attrs["data-complete"] == "false"
    assert "imy.se" in page.one(data_field="authority").text().lower()
    assert page.one(data_field="suppressed").text() == e["summary"]["suppressed"]
    assert page.one(data_field="subject").text() == "a…@example.se"
    assert not page.find_all(data_field="draft")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_api_names_operator_text_or_other_language(lang: str) -> None:
    html = render_erasure_answer(view(lang))
    letter = render_erasure_letter(view(lang))
    for text in (parse(html).text(), letter):
        for raw in ("payment_intent", "payment_method", "ch_1", "pi_1", "cus_1", "›",
                    "ConnectTimeout", "GDPR Art. 17(3)(b)", "tax agency", "the accountant",
                    "manual-open", "retained"):
            assert raw not in text, raw
    other = texts("en" if lang == "sv" else "sv")["erasure"]
    mine = texts(lang)["erasure"]
    for section in ("summary", "erased", "kept", "pending", "told", "rights"):
        for key, value in other[section].items():
            if "{" not in value and value != mine[section][key] and len(value) > 12:
                assert value not in html, (section, key)


def test_the_swedish_letter_answers_the_erasure_request() -> None:
    letter = render_erasure_letter(view("sv"))
    assert letter.startswith("Hej,")
    assert "radering" in letter and "tillgång" not in letter.casefold()
    assert "report.html" in letter and "export.zip" not in letter
    assert "4 januari 2027" in letter and "era-20261201-093000-a1b2c3" in letter
    assert "31 december 2033" in letter and "Bokföringslagen" in letter
    assert "Lena Ek" in letter and letter.rstrip().endswith("Självkraft")


def test_recipient_and_system_names_are_escaped() -> None:
    hostile = [entry.model_copy(update={"translations": {"sv": {
        "system": "<script>alert(1)</script>"}}}) if entry.key == "stripe" else entry
        for entry in INVENTORY]
    html = render_erasure_answer(build_erasure_view(
        erasure(), lang="sv", controller=CONTROLLER, inventory=hostile, facts=FACTS,
        generated_at=GENERATED))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_draft_is_stamped() -> None:
    answer = view("sv", draft=True)
    stamp = parse(render_erasure_answer(answer)).one(data_field="draft")
    assert texts("sv")["document"]["draft"] in stamp.text()
    assert render_erasure_letter(answer).startswith(f"*** {texts('sv')['document']['draft']}")


# ---------------------------------------------------------------------------------------------
# The request folder
# ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_folder_holds_the_answer_and_the_unsent_letters_only(tmp_path: Path) -> None:
    from hub.config.settings import HubSettings

    settings = HubSettings(controller=CONTROLLER, inventory=INVENTORY)
    folder = write_erasure_answer(erasure(), tmp_path, settings=settings, facts=FACTS,
                                  generated_at=GENERATED)
    assert sorted(p.name for p in folder.iterdir()) == [
        "art19-lena-ek.txt", "cover-letter.txt", "report.html", "report.json"]
    assert _mode(folder) == 0o700 and all(_mode(p) == 0o600 for p in folder.iterdir())
    notice = (folder / "art19-lena-ek.txt").read_text(encoding="utf-8")
    assert notice.startswith("Meddelande om radering") and "era-20261201-093000-a1b2c3" in notice
    assert "Bokningssida" in notice and "Stripe" not in notice  # only the systems it received
    assert "kontakt@example.se" in notice and "a…@example.se" not in notice
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert parse(html).one("h1").text() == texts("sv")["erasure"]["title"]

    # write_report dispatches an erasure report to the erasure answer
    again = write_report(erasure(), tmp_path / "again", settings=settings)
    assert not (again / "export.zip").exists()
    assert parse((again / "report.html").read_text("utf-8")).one("h1").text() == \
        texts("sv")["erasure"]["title"]

    bad = ErasureFacts(letters=(Art19Letter("../art19-x", ASSISTANT, ("booking",)),))
    with pytest.raises(ValueError, match=r"Art\. 19"):
        write_erasure_answer(erasure(), tmp_path / "bad", facts=bad)


# ---------------------------------------------------------------------------------------------
# Art. 19 tasks in the ledger
# ---------------------------------------------------------------------------------------------


def _plan() -> list[PlannedAction]:
    return [
        PlannedAction("fortnox", "customer", "10", "anonymise", "x", state="done"),
        PlannedAction("booking", "customer", "c1", "delete", "x", state="done"),
        PlannedAction("stripe", "customer", "cus_9", "manual", "weak", state="manual-open",
                      detail="weak match (plus-address): review"),
        PlannedAction("journals", "task", "journals", "manual", "x", state="manual-open"),
    ]


def test_each_named_recipient_of_a_system_that_held_data_gets_one_letter_task() -> None:
    tasks = art19_tasks(_plan(), INVENTORY, CONTROLLER, "era-1")
    by_task = {t.task: t for t in tasks}
    assert set(by_task) == {"art19-ekonomibyran-exempel-ab", "art19-lena-ek",
                            "art19-revisorn-exempel-kb"}
    accountant = by_task["art19-ekonomibyran-exempel-ab"]
    assert is_art19(accountant) and accountant.state == ActionState.MANUAL_OPEN
    assert accountant.legal_basis == ART19_BASIS + ACCOUNTANT
    assert "dsar requests task done era-1 art19-ekonomibyran-exempel-ab" in (
        accountant.instructions or "")
    letters = {letter.task: letter for letter in art19_letters(
        [*_plan(), *tasks], INVENTORY, CONTROLLER, {}, date(2026, 12, 3))}
    # one letter to the accountant about both systems it received data from
    assert letters["art19-ekonomibyran-exempel-ab"].systems == ("fortnox", "booking")
    # the controller's own recipients receive data from every system that held some; a weak
    # match not yet approved is not known to be the subject's (stripe)
    assert letters["art19-revisorn-exempel-kb"].systems == ("fortnox", "booking")
    assert all(letter.sent_on is None for letter in letters.values())
    # a later run adds nothing; a new recipient with the same slug gets a name of its own
    assert art19_tasks([*_plan(), *tasks], INVENTORY, CONTROLLER, "era-1") == []
    twin = [*INVENTORY[:1], INVENTORY[1].model_copy(update={
        "recipients": [ACCOUNTANT, "Ekonomibyrån Exempel AB (the payroll office)"]}),
        *INVENTORY[2:]]
    [extra] = art19_tasks([*_plan(), *tasks], twin, CONTROLLER, "era-1")
    assert extra.task == "art19-ekonomibyran-exempel-ab-2"
    assert recipient_slug("Åsa Öberg & Co") == "asa-oberg-co"
    assert recipient_slug("<name>") == "name" and recipient_slug("!!!") == "recipient"
    # no system held the subject's data: nobody to tell
    assert art19_tasks(_plan()[2:], INVENTORY, CONTROLLER, "era-1") == []


def test_a_letter_task_stays_open_until_marked_sent(tmp_path: Path, database_url: str) -> None:
    from hub.requests.erasure.job import sent_dates
    from hub.requests.erasure.stores import ErasureStores

    ledger = Ledger.open(database_url)
    request = ledger.open_request("anna@example.se", "erasure")
    elog = ErasureLedger(ledger.engine, tmp_path / "key", subject_email="anna@example.se")
    plan = elog.save_plan(request.id, [_plan()[0]])
    plan = elog.save_plan(request.id, art19_tasks(plan, INVENTORY, CONTROLLER, request.id))
    assert open_work(plan) == {"manual-open": 2}  # the letters keep the request open
    stores = ErasureStores(ledger, elog, tmp_path / "key")
    done = complete_task(stores, request.id, "art19-ekonomibyran-exempel-ab",
                         "sent by e-mail")
    assert done.task == "art19-ekonomibyran-exempel-ab" and not done.closed
    assert done.open == {"manual-open": 1}
    plan = elog.plan(request.id)
    sent = sent_dates(ledger.get(request.id).events)
    letters = {letter.task: letter for letter in art19_letters(
        plan, INVENTORY, CONTROLLER, sent, date(2030, 1, 1))}
    assert letters["art19-ekonomibyran-exempel-ab"].sent_on not in (None, date(2030, 1, 1))
    assert letters["art19-revisorn-exempel-kb"].sent_on is None
    last = complete_task(stores, request.id, "art19-revisorn-exempel-kb", "sent by post")
    assert last.closed and not last.open


# ---------------------------------------------------------------------------------------------
# A real browser, when one is installed
# ---------------------------------------------------------------------------------------------


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


def test_erasure_answer_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); "
                    "the rendering screenshot was not taken")
    from hub.config.settings import HubSettings

    folder = write_erasure_answer(erasure(), tmp_path, facts=FACTS, generated_at=GENERATED,
                                  settings=HubSettings(controller=CONTROLLER,
                                                       inventory=INVENTORY))
    shot = tmp_path / "erasure.png"
    subprocess.run(  # noqa: S603 - a local browser on a local file
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=900,1800",
         (folder / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")  # shown with pytest -s
