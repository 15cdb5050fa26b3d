"""The access report (Art. 15), its portable copy (Art. 20) and the cover letter.

The HTML is checked as parsed HTML (elements, attributes, text), never as substrings of the
templates: each Art. 15 element is found by the ``data-gdpr`` attribute of the block that
answers it, and its text must come from the processing inventory or the language's texts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import zipfile
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hub.config.registry import discover
from hub.config.settings import HubSettings, load_settings
from hub.core.inventory import Controller, InventoryEntry
from hub.core.models import (
    ProcessorResult,
    ProcessorStatus,
    Record,
    Report,
    RequestInfo,
    SubjectInfo,
)
from hub.core.subject import Identifier, MatchStrength
from hub.reports.content import build_view, texts
from hub.reports.files import cover_letter, write_report
from hub.reports.render import render_html
from tests.report_schema import assert_reports_valid_under, assert_valid_report

ANNA = "anna.svensson@example.se"
XSS_NAME = "<script>alert('x')</script>"
XSS_IMG = '<img src=x onerror="alert(1)">'
XSS_ID = 'ch_3" onmouseover="alert(1)'
ACCOUNTANT = "Exempelbyrån Redovisning AB (redovisningsekonom)"
GENERATED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
POLICY_RECIPIENTS = ("Qlickboka", "Zettle", "PayPal", "Fortnox", "Paloma", "Loopia", "Smode",
                     "Stripe", "MailerLite")
ART15_PER_SYSTEM = ("15-1-a", "15-1-b", "15-1-c", "15-2", "15-1-d", "15-1-g", "15-1-data")
ART15_WHOLE = ("15-1-a", "15-1-b", "15-1-c", "15-2", "15-1-d", "15-1-g", "15-1-h")


# ---------------------------------------------------------------------------------------------
# A small DOM on the standard library's HTML parser
# ---------------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children: list[Node | str] = []

    def iter(self):  # type: ignore[no-untyped-def]
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str | None) -> list[Node]:
        found = []
        for node in self.iter():
            if tag and node.tag != tag:
                continue
            if all((name.replace("_", "-") in node.attrs) if value is None else
                   node.attrs.get(name.replace("_", "-")) == value
                   for name, value in attrs.items()):
                found.append(node)
        return found

    def one(self, tag: str | None = None, **attrs: str | None) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag} {attrs}, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", [], None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder.root


# ---------------------------------------------------------------------------------------------
# Fixtures: the shipped inventory (config/hub.toml) and a report with every kind of outcome
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def settings() -> HubSettings:
    loaded = load_settings(discover())
    def with_accountant(entry: InventoryEntry) -> InventoryEntry:
        translations = {lang: {**texts, "recipients": [*texts.get("recipients", []), ACCOUNTANT]}
                        for lang, texts in entry.translations.items()}
        return entry.model_copy(update={"recipients": [*entry.recipients, ACCOUNTANT],
                                        "translations": translations})

    inventory = [with_accountant(entry) if entry.key == "fortnox" else entry
                 for entry in loaded.inventory]
    controller = loaded.controller.model_copy(update={"contact_email": "kontakt@example.se"})
    return loaded.model_copy(update={"inventory": inventory, "controller": controller})


def _record(kind: str, record_id: str, data: dict[str, Any], **extra: Any) -> Record:
    return Record(type=kind, id=record_id, matched_on=extra.pop("matched_on", "email"),
                  data=data, **extra)


def make_report(processors: list[ProcessorResult] | None = None) -> Report:
    if processors is None:
        processors = [
            ProcessorResult(name="stripe", status=ProcessorStatus.FOUND, notes=["<i>note</i>"],
                            records=[
                _record("customer", "cus_1", {
                    "name": "Åsa Öberg", "email": ANNA,
                    "address": {"line1": "Storgatan 1, lgh 2", "city": "Malmö", "state": None},
                    "description": 'Says "hej"\nand leaves', "metadata": {}, "vip": True,
                }),
                _record("customer", "cus_xss", {"name": XSS_NAME, "description": XSS_IMG}),
                _record("charge", "ch_1", {"amount": 4900, "currency": "sek"},
                        matched_on="phone", match_strength=MatchStrength.DERIVED,
                        retained_until=date(2033, 12, 31),
                        legal_basis="Bokföringslagen 7 kap. 2 §"),
                _record("charge", "ch_2", {"amount": 100, "tags": ["a", "b"]},
                        match_strength=MatchStrength.PLUS_ADDRESS),
                _record("charge", XSS_ID, {"amount": 1}),
            ]),
            ProcessorResult(name="mailerlite", status=ProcessorStatus.FOUND, records=[
                _record("subscriber", "106", {"email": ANNA, "status": "active"},
                        match_strength=MatchStrength.CASE_INSENSITIVE)]),
            ProcessorResult(name="zettle", status=ProcessorStatus.ERROR,
                            error="could not reach Zettle (ConnectTimeout) <b>after</b> retries"),
            ProcessorResult(name="booking", status=ProcessorStatus.SKIPPED,
                            error="enabled but not configured: missing setting "
                                  "DSAR_BOOKING__API_KEY"),
            ProcessorResult(name="fortnox", status=ProcessorStatus.FOUND, records=[
                _record("invoice", "1001", {"CustomerName": "Åsa Öberg", "Total": 1200})]),
            ProcessorResult(name="acme", status=ProcessorStatus.FOUND, records=[
                _record("thing", "t1", {"name": "Åsa Öberg"})]),
        ]
    return Report(
        request=RequestInfo(id="acc-20261201-093000-a1b2c3", type="access",
                            received_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
                            due_at=date(2027, 1, 4), tool_version="0.1.0"),
        subject=SubjectInfo(email=ANNA, identifiers=[
            Identifier(kind="email", value=ANNA),
            Identifier(kind="phone", value="+46701234567", source="stripe")]),
        processors=processors,
    )


def render(settings: HubSettings, lang: str, report: Report | None = None) -> Node:
    from hub.reports.content import with_manual_items

    report = with_manual_items(report or make_report(), settings.inventory)
    content = build_view(report, lang=lang, controller=settings.controller,
                         inventory=settings.inventory, generated_at=GENERATED)
    return parse(render_html(content))


# ---------------------------------------------------------------------------------------------
# Art. 15 content
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_art15_element_is_present(settings: HubSettings, lang: str) -> None:
    dom = render(settings, lang)
    t = texts(lang)
    assert dom.one("html").attrs["lang"] == lang
    assert dom.one("h1").text() == t["document"]["title"]
    headings = [h.text() for h in dom.find_all("h2")]
    assert headings == [t["summary"]["heading"], t["processing"]["heading"],
                        t["systems"]["heading"], t["rights"]["heading"],
                        t["complaint"]["heading"], t["this_copy"]["heading"]]

    whole = dom.one("section", id="processing")
    for marker in ART15_WHOLE:
        assert whole.one(data_gdpr=marker).text(), marker

    # (c) recipients by name (C-154/21), from the inventory, including the accountant
    recipients = " | ".join(li.text() for li in whole.find_all("li", data_recipient=None))
    for name in (*POLICY_RECIPIENTS, ACCOUNTANT):
        assert name in recipients, name
    # (a), (d), (g) and Art. 15(2) come from the inventory entries
    entry = next(e for e in settings.inventory if e.key == "stripe")
    stripe = {**entry.model_dump(), **entry.translations.get(lang, {})}  # the language's text
    assert set(stripe["purposes"]) <= {li.text() for li in whole.one(data_gdpr="15-1-a")
                                       .find_all("li")}
    assert stripe["retention"] in whole.one(data_gdpr="15-1-d").text()
    assert stripe["source"] in whole.one(data_gdpr="15-1-g").text()
    assert stripe["transfers_outside_eea"] in whole.one(data_gdpr="15-2").text()
    assert whole.one(data_gdpr="15-1-h").text() == t["processing"]["automated_none"]

    for article in dom.find_all("article"):
        for marker in ART15_PER_SYSTEM:
            assert article.one(data_gdpr=marker).text(), (article.attrs["data-system"], marker)

    rights = dom.one("section", data_gdpr="15-1-e")
    for right in ("rectification", "erasure", "restriction", "objection"):
        assert rights.one("li", data_right=right).text() == t["rights"][right]
    assert "kontakt@example.se" in rights.text()
    complaint = dom.one("section", data_gdpr="15-1-f")
    assert "imy.se" in complaint.one(data_field="authority").text().lower()
    assert dom.one("section", data_gdpr="15-3").text()
    assert dom.one(data_field="subject").text() == ANNA


def test_languages_differ_and_share_keys(settings: HubSettings) -> None:
    sv, en = texts("sv"), texts("en")

    def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
        return {f"{prefix}{k}" for k, v in table.items() if not isinstance(v, dict)} | {
            key for k, v in table.items() if isinstance(v, dict) for key in keys(v, f"{k}.")}

    assert keys(sv) == keys(en)
    assert not set(sv) & set(dir(dict)), "a section named like a dict method hides in Jinja"
    assert render(settings, "sv").one("h1").text() != render(settings, "en").one("h1").text()
    with pytest.raises(ValueError, match="unsupported report language"):
        texts("de")


def test_failed_skipped_and_manual_systems_are_shown_with_next_steps(
        settings: HubSettings) -> None:
    dom = render(settings, "sv")
    t = texts("sv")
    articles = {a.attrs["data-system"]: a for a in dom.find_all("article")}
    summary = {row.attrs["data-system"]: row.attrs["data-status"]
               for row in dom.one("table", **{"class": "summary"}).find_all("tr", data_system=None)}
    # nothing silently omitted: every processor and every inventory system has a card
    assert set(articles) == set(summary)
    assert {p.name for p in make_report().processors} <= set(articles)
    assert {e.key for e in settings.inventory} - {"booking", "zettle", "fortnox", "stripe",
                                                 "mailerlite"} <= set(articles)
    assert articles["zettle"].attrs["data-status"] == "error"
    # the subject reads a plain sentence; the processor's error text is the operator's
    error = articles["zettle"].one(data_field="error").text()
    assert t["next_step"]["technical_withheld"] in error and "ConnectTimeout" not in error
    assert "DSAR_BOOKING__API_KEY" not in articles["booking"].text()
    assert "4 januari 2027" in articles["zettle"].one(data_field="next-step").text()
    assert articles["booking"].attrs["data-status"] == "skipped"
    assert articles["journals"].attrs["data-status"] == "by_hand"
    assert articles["paloma"].attrs["data-status"] == "by_hand"
    assert articles["mailerlite"].attrs["data-status"] == "found"
    assert articles["acme"].one(data_field="not-in-inventory")
    completeness = dom.one(data_field="completeness")
    assert completeness.attrs["data-complete"] == "false"
    assert completeness.text() == t["summary"]["incomplete"].format(by_due="senast 4 januari 2027")

    # a connector named in the inventory that did not run is a manual item, not a silence
    without_booking = make_report([p for p in make_report().processors if p.name != "booking"])
    card = render(settings, "en", without_booking).one("article", data_system="booking")
    assert card.attrs["data-status"] == "not_searched"
    assert "4 January 2027" in card.one(data_field="next-step").text()


def test_a_system_without_data_is_shown_empty_and_left_out_of_the_whole(
        settings: HubSettings) -> None:
    """Art. 15 information is about the subject's data (EDPB Guidelines 01/2022): a processor
    searched without result is listed as such, but its recipients are not the subject's."""
    processors = [p if p.name != "mailerlite" else
                  ProcessorResult(name="mailerlite", status=ProcessorStatus.NOT_FOUND)
                  for p in make_report().processors]
    dom = render(settings, "en", make_report(processors))
    card = dom.one("article", data_system="mailerlite")
    assert card.attrs["data-status"] == "not_found"
    assert card.one(data_gdpr="15-1-data").text().endswith(texts("en")["systems"]["no_records"])
    whole = dom.one("section", id="processing")
    assert "MailerLite" not in whole.one(data_gdpr="15-1-c").text()


def test_weak_matches_and_retention_dates_are_marked(settings: HubSettings) -> None:
    dom = render(settings, "en")
    stripe = dom.one("article", data_system="stripe")
    rows = {row.attrs["data-record-id"]: row for row in stripe.find_all("tr", data_record_id=None)}
    assert rows["ch_1"].find_all(data_weak_match=None)
    assert "phone number" in rows["ch_1"].text()
    assert rows["ch_2"].find_all(data_weak_match=None)
    assert not rows["cus_1"].find_all(data_weak_match=None)
    assert dom.one(data_field="weak-legend")
    assert rows["ch_1"].one(data_field="retained-until").text().endswith("31 December 2033")
    # the personal data itself, flattened and readable
    assert "Åsa Öberg" in rows["cus_1"].text() and "Storgatan 1, lgh 2" in rows["cus_1"].text()


def test_processor_data_cannot_inject_markup(settings: HubSettings) -> None:
    dom = render(settings, "sv")
    assert not dom.find_all("script")
    assert not dom.find_all("img")
    assert not [(n.tag, a) for n in dom.iter() for a in n.attrs if a.lower().startswith("on")]
    stripe = dom.one("article", data_system="stripe")
    assert XSS_NAME in stripe.text() and XSS_IMG in stripe.text()  # shown as text
    assert stripe.one("tr", data_record_id=XSS_ID)                    # attribute stayed intact
    assert "note" not in stripe.text()  # a processor's note is the operator's, never shown
    assert not dom.find_all("b") and not dom.find_all("i")
    csp = dom.one("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert "default-src 'none'" in csp


def test_html_is_self_contained_and_prints_on_a4(settings: HubSettings) -> None:
    dom = render(settings, "sv")
    for tag in ("link", "script", "img", "iframe", "object", "embed", "base"):
        assert not dom.find_all(tag), tag
    assert not [n for n in dom.iter() if "src" in n.attrs]
    assert all(a.attrs["href"].startswith("#") for a in dom.find_all("a", href=None))
    ids = [n.attrs["id"] for n in dom.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids))
    assert {a.attrs["href"][1:] for a in dom.find_all("a", href=None)} <= set(ids)
    [style] = dom.find_all("style")
    css = style.text()
    assert "@page" in css and "A4" in css and "@media print" in css
    assert "url(" not in css and "@import" not in css


def test_translated_inventory_text_is_used_when_configured(settings: HubSettings) -> None:
    journals = next(e for e in settings.inventory if e.key == "journals")
    swedish = journals.model_copy(update={"translations": {"sv": {
        "system": "Journalanteckningar (papper, låst skåp)",
        "purposes": ["kvalitet i klientarbetet"]}}})
    inventory = [swedish if e.key == "journals" else e for e in settings.inventory]
    report = make_report()
    from hub.reports.content import with_manual_items

    content = build_view(with_manual_items(report, inventory), lang="sv",
                         controller=settings.controller, inventory=inventory)
    card = parse(render_html(content)).one("article", data_system="journals")
    assert card.one("h3").text() == "Journalanteckningar (papper, låst skåp)"
    assert card.one(data_gdpr="15-1-a").text() == "kvalitet i klientarbetet"


# ---------------------------------------------------------------------------------------------
# Files: report folder, export.zip, cover letter
# ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_report_writes_private_files(settings: HubSettings, tmp_path: Path) -> None:
    folder = write_report(make_report(), tmp_path, settings=settings, generated_at=GENERATED)
    assert folder == tmp_path / "acc-20261201-093000-a1b2c3"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["report.json", "report.html", "export.zip", "cover-letter.txt"])
    assert _mode(folder) == 0o700
    for path in folder.iterdir():
        assert _mode(path) == 0o600, path.name
        assert "@" not in path.name
    assert assert_reports_valid_under(tmp_path) == 2  # report.json and the zip's copy
    document = assert_valid_report(folder / "report.json")
    manual = {item["key"]: item["reason"] for item in document["manual_items"]}
    assert manual["journals"] == "no_connector"
    assert "stripe" not in manual


def test_export_zip_holds_portable_data_as_csv(settings: HubSettings, tmp_path: Path) -> None:
    folder = write_report(make_report(), tmp_path, settings=settings, generated_at=GENERATED)
    with zipfile.ZipFile(folder / "export.zip") as archive:
        names = set(archive.namelist())
        # consent/contract systems only: Fortnox (legal obligation) and paper journals stay out
        assert names == {"report.json", "README.txt", "stripe-customer.csv",
                         "stripe-charge.csv", "mailerlite-subscriber.csv", "acme-thing.csv"}
        inner = assert_valid_report(archive.read("report.json"))
        assert {p["name"] for p in inner["processors"]} == {
            "stripe", "mailerlite", "zettle", "booking", "acme"}
        assert inner["manual_items"] == []
        raw = archive.read("stripe-customer.csv")
        info = archive.getinfo("stripe-customer.csv")
        assert (info.external_attr >> 16) & 0o777 == 0o600
        readme = archive.read("README.txt").decode("utf-8")
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    text = raw.decode("utf-8-sig")
    assert '"Storgatan 1, lgh 2"' in text and '"Says ""hej""\nand leaves"' in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_id = {row["record_id"]: row for row in rows}
    assert by_id["cus_1"]["name"] == "Åsa Öberg"
    assert by_id["cus_1"]["address.line1"] == "Storgatan 1, lgh 2"
    assert by_id["cus_1"]["description"] == 'Says "hej"\nand leaves'
    assert by_id["cus_1"]["vip"] == "true" and by_id["cus_1"]["address.state"] == ""
    assert by_id["cus_xss"]["name"] == XSS_NAME  # data, verbatim
    assert by_id["cus_1"]["match_strength"] == "exact"
    with zipfile.ZipFile(folder / "export.zip") as archive:
        charges = list(csv.DictReader(io.StringIO(
            archive.read("stripe-charge.csv").decode("utf-8-sig"), newline="")))
    assert {c["record_id"] for c in charges} == {"ch_1", "ch_2", XSS_ID}
    ch_1 = next(c for c in charges if c["record_id"] == "ch_1")
    assert ch_1["match_strength"] == "derived" and ch_1["retained_until"] == "2033-12-31"
    assert next(c for c in charges if c["record_id"] == "ch_2")["tags.1"] == "b"
    assert "acc-20261201-093000-a1b2c3" in readme and "stripe-charge.csv" in readme


@pytest.mark.parametrize(("lang", "greeting", "due"), [("sv", "Hej,", "4 januari 2027"),
                                                         ("en", "Hello,", "4 January 2027")])
def test_cover_letter(settings: HubSettings, tmp_path: Path, lang: str, greeting: str,
                      due: str) -> None:
    controller = settings.controller.model_copy(update={"name": "Själv & Kraft"})
    local = settings.model_copy(update={"controller": controller})
    text = cover_letter(make_report(), lang=lang, settings=local)
    folder = write_report(make_report(), tmp_path, lang=lang, settings=local)
    assert (folder / "cover-letter.txt").read_text(encoding="utf-8") == text
    assert text.startswith(greeting) and text.rstrip().endswith("Själv & Kraft")  # not escaped
    assert due in text and "acc-20261201-093000-a1b2c3" in text
    journals = next(e for e in settings.inventory if e.key == "journals")
    system = journals.translations.get(lang, {}).get("system", journals.system)
    assert system in text  # pending manual items are named, in the letter's language
    assert "report.html" in text and "export.zip" in text and "imy.se" in text.lower()
    assert ANNA not in text


def test_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported report language"):
        write_report(make_report(), tmp_path, lang="de")


def test_report_without_inventory_still_lists_every_processor(tmp_path: Path) -> None:
    folder = write_report(make_report(), tmp_path)  # no settings: processors only
    dom = parse((folder / "report.html").read_text(encoding="utf-8"))
    assert {a.attrs["data-system"] for a in dom.find_all("article")} == {
        p.name for p in make_report().processors}
    assert_reports_valid_under(tmp_path)


# ---------------------------------------------------------------------------------------------
# End to end: the real CLI against the sandbox; and a real browser when one is installed
# ---------------------------------------------------------------------------------------------


def test_sandbox_lookup_writes_every_report_file(tmp_path: Path) -> None:
    from tests.e2e_helpers import run_dsar

    run = run_dsar("--sandbox", "--json", "--out", str(tmp_path), "lookup", ANNA)
    assert run.code in (0, 3), run.stderr
    folder = Path(run.json["report"]).parent
    assert {p.name for p in folder.iterdir()} == {"report.json", "report.html", "export.zip",
                                                  "cover-letter.txt"}
    assert assert_reports_valid_under(tmp_path) == 2
    dom = parse((folder / "report.html").read_text(encoding="utf-8"))
    assert dom.one("article", data_system="stripe").attrs["data-status"] == "found"


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


def test_report_renders_in_headless_chromium(settings: HubSettings, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); "
                    "the rendering screenshot was not taken")
    folder = write_report(make_report(), tmp_path, settings=settings, generated_at=GENERATED)
    shot = tmp_path / "report.png"
    subprocess.run(  # noqa: S603 - a local browser on a local file
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=900,1800",
         (folder / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")  # shown with pytest -s


def test_schema_helper_rejects_a_broken_report() -> None:
    document = json.loads(make_report().model_dump_json())
    del document["request"]["due_at"]
    with pytest.raises(AssertionError, match="due_at"):
        assert_valid_report(document)
    assert Controller().supervisory_authority  # the default names IMY


@pytest.mark.parametrize("lang, asap", [("sv", "så snart som möjligt"),
                                        ("en", "as soon as possible")])
def test_a_deadline_that_has_passed_is_never_promised(settings: HubSettings, tmp_path: Path,
                                                      lang: str, asap: str) -> None:
    """Written after the deadline (4 January 2027), the documents promise no day that is over."""
    late = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
    folder = write_report(make_report(), tmp_path, settings=settings, generated_at=late,
                          lang=lang)
    html = (folder / "report.html").read_text(encoding="utf-8")
    letter = (folder / "cover-letter.txt").read_text(encoding="utf-8")
    promise = {"sv": "senast 4 januari 2027", "en": "by 4 January 2027"}[lang]
    dom = parse(html)
    assert dom.one(data_field="due").text() == promise.split(" ", 1)[1]  # the deadline, as a fact
    notice = " ".join(dom.one(data_field="completeness").text().split())
    assert promise not in notice and asap in notice
    assert promise not in " ".join(letter.split()) and asap in letter
