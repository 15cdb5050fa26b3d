"""``dsar erase``, ``dsar retention due`` and the erasure parts of ``dsar requests``.

    dsar erase EMAIL [--yes] [--dry-run] [--include-weak-matches] [--lang sv|en]
    dsar retention due [--execute]
    dsar requests task list ID
    dsar requests task done ID TASK --note "..."
    dsar requests resume ID

``dsar erase`` looks the subject up, shows the plan (stdout: a table, or with ``--json`` one
document), and after confirmation executes it (:mod:`hub.requests.erasure`), verifies by a second
lookup, puts the address on the suppression list (Art. 21(3)) and writes the erasure report.
Re-running it (or ``requests resume``) continues the open erasure request of that subject and
never repeats a completed action.

Confirmation: ``--yes``, or an interactive "y" on a terminal. Exit codes (docs/interface.md):

* ``0`` everything erasable is gone, nothing is open (the request is closed and its address
  replaced by a keyed hash); ``--dry-run`` also exits 0 (it only plans, and did so);
* ``2`` invalid address or unknown request id, nothing contacted;
* ``3`` something failed, a processor could not be reached, or manual tasks are open (the
  report says which; resume later) -- and also when the plan was shown but **not confirmed**
  (no terminal and no ``--yes``, or answered "no"): nothing was executed, the erasure is still
  owed, so a scheduler must not read it as done. Nothing is written to the ledger then.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from hub.config.settings import HubSettings
    from hub.store.erasure_actions import ErasureLedger, PlannedAction
    from hub.store.ledger import Ledger, LedgerRequest

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3

retention_app = typer.Typer(help="Records kept under a legal hold (deferred erasure).",
                            no_args_is_help=True)
task_app = typer.Typer(help="Manual tasks of erasure requests.", no_args_is_help=True)


def _cli() -> Any:
    from hub.cli import root as cli

    return cli


def _ledgers(settings: HubSettings, sandbox: bool, email: str | None = None
             ) -> tuple[Ledger, ErasureLedger, Path]:
    from hub.store.db import open_database
    from hub.store.erasure_actions import ErasureLedger
    from hub.store.keyed import secret_path
    from hub.store.ledger import Ledger, ledger_url

    engine = open_database(ledger_url(settings, sandbox=sandbox))
    secret = secret_path(settings.state_dir)
    return Ledger(engine), ErasureLedger(engine, secret, subject_email=email), secret


# ---------------------------------------------------------------------------------------------
# dsar erase
# ---------------------------------------------------------------------------------------------


def erase_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Execute without asking (non-interactive use).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show the plan; change nothing anywhere.")] = False,
    include_weak: Annotated[bool, typer.Option(
        "--include-weak-matches", help="Also erase records matched only by a weaker identifier "
        "(another spelling of the mailbox, a phone number found elsewhere).")] = False,
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of report.html and the cover letter (sv, en).")] = "sv",
) -> None:
    """Erasure request (Art. 17): plan, confirm, execute, verify, write the erasure report."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject

    cli = _cli()
    if lang not in ("sv", "en"):
        raise cli._fail(f"unsupported language {lang!r}; choose sv or en", EXIT_USAGE)
    try:
        subject = Subject.from_email(email)
    except InvalidInput as exc:
        raise cli._fail(str(exc), EXIT_USAGE) from None
    code = run_erasure(ctx.obj, subject, yes=yes, dry_run=dry_run, include_weak=include_weak,
                       lang=lang)
    raise typer.Exit(code)


def run_erasure(opts: Any, subject: Any, *, yes: bool, dry_run: bool, include_weak: bool,
                lang: str, request_id: str | None = None) -> int:
    """The whole erasure job for one subject; returns the exit code."""
    from hub.core.logs import register_secret
    from hub.requests.access import look_up
    from hub.requests.erasure import ERASING, build_plan
    from hub.store.erasure_actions import ActionState
    from hub.store.ledger import local_today

    cli = _cli()
    register_secret(subject.email, "subject")
    with cli._environment(opts) as (settings, connectors):
        today = local_today()
        ledger, elog, secret = _ledgers(settings, opts.sandbox, subject.email)
        existing = (ledger.get(request_id) if request_id
                    else ledger.find_open_request(subject.email, "erasure"))
        lookup = asyncio.run(look_up(subject, settings, connectors, **opts.connector_options))
        proposal = build_plan(lookup, settings.retention, settings.inventory, today,
                              include_weak=include_weak)
        current = elog.plan(existing.id) if existing else []
        preview = _merged(current, proposal.actions, include_weak)
        runnable = [a for a in preview if a.action in ERASING
                    and a.state in (ActionState.PLANNED, ActionState.FAILED)]
        if not opts.json:
            _print_plan(preview, proposal.unreachable, existing.id if existing else None)
        if dry_run:
            _emit_plan_only(opts, preview, proposal.unreachable, "dry-run")
            return EXIT_OK
        if (runnable or existing is None) and not yes and not _confirmed(opts):
            _emit_plan_only(opts, preview, proposal.unreachable, "not-confirmed")
            return EXIT_PARTIAL
        request = existing or ledger.find_or_open(subject.email, "erasure")[0]
        return _execute_and_report(opts, settings, connectors, subject, request, ledger, elog,
                                   secret, lookup, proposal, include_weak, lang, today)


def _merged(current: Sequence[PlannedAction], proposed: Sequence[PlannedAction],
            include_weak: bool) -> list[PlannedAction]:
    """What the ledger's plan will be after ``save_plan`` (for showing before confirmation)."""
    from hub.store.erasure_actions import ActionState, is_review

    keep = []
    keys = set()
    replace = {a.key for a in proposed if not is_review(a.detail)} if include_weak else set()
    for action in current:
        if action.key in replace and is_review(action.detail) \
                and action.state == ActionState.MANUAL_OPEN:
            continue
        keep.append(action)
        keys.add(action.key)
    return keep + [a for a in proposed if a.key not in keys]


def _confirmed(opts: Any) -> bool:
    if not sys.stdin.isatty():
        _cli()._console(stderr=True).print(
            "[yellow]Plan only: no terminal to confirm on and no --yes. Nothing was changed; "
            "run again with --yes to execute.[/]")
        return False
    return bool(typer.confirm("Execute this erasure plan?", default=False, err=True))


def _execute_and_report(opts: Any, settings: HubSettings, connectors: Any, subject: Any,
                        request: LedgerRequest, ledger: Ledger, elog: ErasureLedger,
                        secret: Path, lookup: Any, proposal: Any, include_weak: bool,
                        lang: str, today: date) -> int:
    from hub.reports.files import write_private, write_report
    from hub.requests.access import look_up
    from hub.requests.erasure import erasure_report, execute, notifications, open_work, verify
    from hub.requests.fanout import open_connectors
    from hub.store.ledger import bind_report
    from hub.store.suppression import SuppressionList

    plan = elog.save_plan(request.id, proposal.actions, replace_reviews=include_weak)

    async def run() -> list[PlannedAction]:
        async with open_connectors(settings, connectors, **opts.connector_options) as (
                opened, _):
            return await execute(plan, lookup, opened, elog)

    plan = asyncio.run(run())
    SuppressionList(ledger.engine, secret).add(
        subject.email, f"erasure request {request.id} (GDPR Art. 17, Art. 21(3))")
    if not _has_event(ledger, request.id, "erasure.suppressed"):
        ledger.attach(request.id, "erasure.suppressed", {"list": "suppression"})

    after = asyncio.run(look_up(subject, settings, connectors, **opts.connector_options))
    verification, plan = verify(plan, after, elog)
    ledger.attach(request.id, "erasure.verified", {
        "ok": verification.ok, "checked": verification.checked,
        "problems": len(verification.problems), "unverified": verification.unverified})
    told = notifications(plan, today)
    recorded = {e.details.get("recipient") for e in ledger.get(request.id).events
                if e.kind == "erasure.art19"}
    for notice in told:
        if notice.recipient not in recorded:
            ledger.attach(request.id, "erasure.art19", {
                "recipient": notice.recipient, "how": notice.how, "on": notice.on.isoformat(),
                "records": notice.records})

    report = erasure_report(lookup, plan, request_id=request.id, verification=verification,
                            suppressed=True, today=today, inventory=settings.inventory)
    report = bind_report(report, request)
    folder = write_report(report, opts.out or settings.reports_dir, lang=lang, settings=settings)
    open_actions = open_work(plan)
    code = EXIT_OK if (not open_actions and not proposal.unreachable and verification.ok) \
        else EXIT_PARTIAL
    summary = _summary(request.id, plan, proposal.unreachable, verification, told, folder,
                       code)
    write_private(folder / "erasure.json", json.dumps(summary, ensure_ascii=False, indent=2))
    ledger.attach_report(request.id, report, folder, kind="erasure.report")
    if code == EXIT_OK:
        close_request(ledger, request.id, secret, note="erasure complete")
        summary["closed"] = True
    if opts.json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_result(summary)
    return code


def _has_event(ledger: Ledger, request_id: str, kind: str) -> bool:
    return any(e.kind == kind for e in ledger.get(request_id).events)


def close_request(ledger: Ledger, request_id: str, secret: Path, *, note: str) -> None:
    """Close an erasure request and replace the subject's address by its keyed hash in the
    ledger and the audit log."""
    from hub.store.audit import AuditLog
    from hub.store.keyed import Pseudonymiser

    request = ledger.get(request_id)
    audit = AuditLog(ledger.engine, secret)
    audit.append("request.closed", request_id=request_id, subject_email=request.subject_email,
                 details={"note": note})
    ledger.close(request_id, note=note)
    ledger.pseudonymise(request_id, Pseudonymiser(ledger.engine, secret).hash)
    if request.subject_email:
        audit.pseudonymise(request.subject_email)


def _summary(request_id: str, plan: Sequence[PlannedAction], unreachable: dict[str, str],
             verification: Any, told: Sequence[Any], folder: Path | None, code: int
             ) -> dict[str, Any]:
    from hub.requests.erasure import open_work
    from hub.store.erasure_actions import summarise

    return {
        "request_id": request_id, "type": "erasure", "exit_code": code, "executed": True,
        "states": summarise(plan), "open": open_work(plan),
        "unreachable": unreachable,
        "verification": None if verification is None else {
            "ok": verification.ok, "checked": verification.checked,
            "problems": verification.problems, "unverified": verification.unverified},
        "art19": [{"recipient": n.recipient, "how": n.how, "on": n.on.isoformat(),
                   "records": n.records} for n in told],
        "suppressed": True,
        "report": str(folder / "report.json") if folder else None,
        "report_html": str(folder / "report.html") if folder else None,
        "closed": False,
        "actions": [a.as_dict() for a in plan],
    }


def _emit_plan_only(opts: Any, plan: Sequence[PlannedAction], unreachable: dict[str, str],
                    why: str) -> None:
    if not opts.json:
        if why == "dry-run":
            _cli()._console(stderr=True).print("Dry run: nothing was changed.")
        return
    typer.echo(json.dumps({"type": "erasure", "executed": False, "reason": why,
                           "exit_code": EXIT_OK if why == "dry-run" else EXIT_PARTIAL,
                           "unreachable": unreachable,
                           "actions": [a.as_dict() for a in plan]}, ensure_ascii=False))


_STATE_STYLE = {"planned": "cyan", "done": "green", "failed": "red", "manual-open": "yellow",
                "manual-done": "green", "retained": "magenta"}


def _wide_console() -> Any:
    """stdout; at least 150 columns when not a terminal (files, pipes, CI logs)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=150)
    return console


def _print_plan(plan: Sequence[PlannedAction], unreachable: dict[str, str],
                request_id: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from hub.requests.erasure import plan_rows

    title = f"Erasure plan{f' (request {request_id})' if request_id else ''}"
    table = Table(title=title)
    for column in ("processor", "record", "action", "legal basis", "retained until", "state"):
        table.add_column(column, overflow="fold")
    for row in plan_rows(plan):
        style = _STATE_STYLE.get(row["state"], "")
        table.add_row(row["processor"], escape(row["record"]), row["action"],
                      escape(row["legal_basis"]), row["retained_until"],
                      f"[{style}]{row['state']}[/]" if style else row["state"])
    console = _wide_console()
    console.print(table)
    for name, error in unreachable.items():
        console.print(f"[red]{name}: could not be searched ({_cli()._redacted(error)}); its "
                      "records are not in the plan: resume the request later[/]")


def _print_result(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    console = _wide_console()
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items()))
    console.print(f"Request [bold]{summary['request_id']}[/]: {states}")
    verification = summary["verification"]
    if verification:
        mark = "[green]ok[/]" if verification["ok"] else "[red]problems[/]"
        console.print(f"Verification by a second lookup: {mark} ({verification['checked']} "
                      "records checked)")
        for problem in verification["problems"]:
            console.print(f"  [red]{problem}[/]")
    for notice in summary["art19"]:
        console.print(f"Art. 19: {notice['recipient']} told through its API on {notice['on']}")
    console.print("The address is on the suppression list (keyed hash; Art. 21(3)).")
    for action in summary["actions"]:
        if action["state"] in ("failed", "manual-open"):
            what = action["detail"] or action["instructions"] or ""
            console.print(f"  [{_STATE_STYLE[action['state']]}]{action['state']}[/] "
                          f"#{action['id']} {escape(action['task'])}: "
                          f"{escape(_cli()._redacted(what))}")
    console.print(f"Report: {summary['report_html']}\n        {summary['report']}")
    if summary["closed"]:
        console.print("Everything erasable is gone; the request is closed.")
    else:
        console.print("Open work remains: `dsar requests resume ID` after fixing it, "
                      "`dsar requests task done ID TASK --note ...` for manual tasks.")


# ---------------------------------------------------------------------------------------------
# dsar requests resume / task
# ---------------------------------------------------------------------------------------------


def resume_command(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The erasure request id.")],
    lang: Annotated[str, typer.Option("--lang", help="Report language (sv, en).")] = "sv",
) -> None:
    """Continue an erasure request where it stopped (never repeats a completed action)."""
    from hub.config.registry import discover
    from hub.config.settings import load_settings
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject

    cli = _cli()
    opts = ctx.obj
    try:
        settings = load_settings(discover(), opts.config)
        ledger, _, _ = _ledgers(settings, opts.sandbox)
        request = ledger.get(request_id)
    except InvalidInput as exc:
        raise cli._fail(str(exc), EXIT_USAGE) from None
    if request.type != "erasure":
        raise cli._fail(f"request {request_id} is an {request.type} request, not an erasure",
                        EXIT_USAGE)
    if request.status != "open" or not request.subject_email:
        raise cli._fail(f"request {request_id} is closed; nothing to resume", EXIT_USAGE)
    subject = Subject.from_email(request.subject_email)
    raise typer.Exit(run_erasure(opts, subject, yes=True, dry_run=False, include_weak=False,
                                 lang=lang, request_id=request_id))


@task_app.command("list")
def task_list(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
) -> None:
    """The manual tasks (and failed actions) of an erasure request."""
    from rich.markup import escape
    from rich.table import Table

    plan = _plan_of(ctx, request_id)
    rows = [a for a in plan if a.state in ("manual-open", "manual-done", "failed")]
    if ctx.obj.json:
        typer.echo(json.dumps([a.as_dict() for a in rows], ensure_ascii=False))
        return
    table = Table(title=f"Tasks of {request_id}")
    for column in ("#", "task", "state", "what to do"):
        table.add_column(column, overflow="fold")
    for a in rows:
        table.add_row(str(a.id), escape(a.task), a.state,
                      escape(a.instructions or a.detail or ""))
    _cli()._console().print(table)


def _plan_of(ctx: typer.Context, request_id: str) -> list[PlannedAction]:
    from hub.config.registry import discover
    from hub.config.settings import load_settings
    from hub.core.errors import InvalidInput

    cli = _cli()
    try:
        settings = load_settings(discover(), ctx.obj.config)
        ledger, elog, _ = _ledgers(settings, ctx.obj.sandbox)
        ledger.get(request_id)
    except InvalidInput as exc:
        raise cli._fail(str(exc), EXIT_USAGE) from None
    return elog.plan(request_id)


@task_app.command("done")
def task_done(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    task: Annotated[str, typer.Argument(help="The task number or name (`task list`).")],
    note: Annotated[str, typer.Option("--note", help="What was done (no personal data).")],
) -> None:
    """Close a manual task; when nothing is left open the request closes (exit 0), else 3."""
    from hub.config.registry import discover
    from hub.config.settings import load_settings
    from hub.core.errors import InvalidInput
    from hub.requests.erasure import open_work
    from hub.store.erasure_actions import ActionState

    cli = _cli()
    opts = ctx.obj
    if not note.strip():
        raise cli._fail("--note must say what was done", EXIT_USAGE)
    try:
        settings = load_settings(discover(), opts.config)
        ledger, elog, secret = _ledgers(settings, opts.sandbox)
        request = ledger.get(request_id)
        elog.subject_email = request.subject_email
        action = elog.find_task(request_id, task)
    except InvalidInput as exc:
        raise cli._fail(str(exc), EXIT_USAGE) from None
    if action.state not in (ActionState.MANUAL_OPEN, ActionState.FAILED):
        raise cli._fail(f"task {action.task} is {action.state}, not open", EXIT_USAGE)
    elog.set_state(action.id or 0, ActionState.MANUAL_DONE, note=note.strip(),
                   detail=f"done by hand: {note.strip()}")
    left = open_work(elog.plan(request_id))
    closed = False
    if not left and request.status == "open":
        close_request(ledger, request_id, secret, note="all erasure tasks done")
        closed = True
    if opts.json:
        typer.echo(json.dumps({"request_id": request_id, "task": action.task,
                               "state": "manual-done", "open": left, "closed": closed}))
    else:
        console = cli._console()
        console.print(f"Task {action.task} of {request_id} done.")
        console.print("The request is closed." if closed else
                      "Still open: " + ", ".join(f"{n} {s}" for s, n in left.items()))
    raise typer.Exit(EXIT_OK if not left else EXIT_PARTIAL)


# ---------------------------------------------------------------------------------------------
# dsar retention due
# ---------------------------------------------------------------------------------------------


@retention_app.command("due")
def retention_due(
    ctx: typer.Context,
    execute: Annotated[bool, typer.Option(
        "--execute", help="Erase them now (the policy's action after the hold).")] = False,
) -> None:
    """Retained records whose legal hold has ended (run from cron with --execute)."""
    from hub.store.ledger import local_today

    cli = _cli()
    opts = ctx.obj
    with cli._environment(opts) as (settings, connectors):
        today = local_today()
        _, elog, _ = _ledgers(settings, opts.sandbox)
        due = elog.due(today)
        results = asyncio.run(_erase_due(due, settings, connectors, elog, opts)) \
            if execute and due else due
    open_count = sum(1 for a in results if a.state not in ("done", "manual-done")) \
        if execute else 0
    code = EXIT_OK if open_count == 0 else EXIT_PARTIAL
    if opts.json:
        typer.echo(json.dumps({"today": today.isoformat(), "executed": execute,
                               "exit_code": code, "due": [
                                   {**a.as_dict(), "request_id": a.request_id} for a in results]},
                              ensure_ascii=False))
        raise typer.Exit(code)
    from rich.table import Table

    console = cli._console()
    if not results:
        console.print(f"No retained record is due for erasure (today {today}).")
        raise typer.Exit(code)
    table = Table(title=f"Retention ended (today {today})")
    for column in ("request", "processor", "record", "kept until", "state", "detail"):
        table.add_column(column, overflow="fold")
    for a in results:
        table.add_row(a.request_id or "", a.processor, f"{a.record_type} {a.record_id}",
                      a.retained_until.isoformat() if a.retained_until else "", a.state,
                      cli._redacted(a.detail or ""))
    console.print(table)
    raise typer.Exit(code)


async def _erase_due(due: Sequence[PlannedAction], settings: HubSettings, connectors: Any,
                     elog: ErasureLedger, opts: Any) -> list[PlannedAction]:
    """Erase each due record with the policy's ``after`` action (manual: a task)."""
    from connectors.sdk.base import ErasureAction
    from hub.core.models import Record
    from hub.requests.erasure import _call, _record_outcome
    from hub.requests.fanout import open_connectors
    from hub.store.erasure_actions import ActionState, idempotency_key

    done: list[PlannedAction] = []
    async with open_connectors(settings, connectors, **opts.connector_options) as (opened, _):
        for action in due:
            assert action.id is not None
            entry = settings.retention.for_record(action.processor, action.record_type)
            after = entry.after.value if entry and entry.after else "manual"
            if after == "manual" or after not in ("delete", "anonymise"):
                done.append(elog.set_state(
                    action.id, ActionState.MANUAL_OPEN,
                    detail="retention ended: "
                           + ((entry.instructions if entry else None) or "erase by hand")))
                continue
            connector = opened.get(action.processor)
            if connector is None:
                done.append(elog.set_state(action.id, ActionState.FAILED, detail=(
                    f"retention ended, but {action.processor} is not enabled; run again")))
                continue
            record = Record(type=action.record_type, id=action.record_id,
                            matched_on=action.matched_on)
            key = idempotency_key(action.request_id or "", *action.key, after)
            elog.mark_attempt(action.id)
            outcome = await _call(connector, record, ErasureAction(after), key,
                                  entry.anonymise_fields if entry else ())
            done.append(_record_outcome(elog, action.id, outcome))
    return done
