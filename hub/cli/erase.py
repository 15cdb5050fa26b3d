"""``dsar erase`` and ``dsar requests resume``: the erasure request (Art. 17) on the command line.

    dsar erase EMAIL [--yes] [--dry-run] [--approve REF ...] [--lang sv|en] [--draft]
    dsar requests resume ID [--draft]

The work is :mod:`hub.requests.erasure.job`: this module parses the options, shows the proposed
plan (stdout: a table, or with ``--json`` one document), asks for confirmation, runs the
use-case and prints its result. Re-running ``erase`` (or ``requests resume``) continues the
open erasure request of that subject and never repeats a completed action.

The plan shows for every record why it matched and whose it looks like (name, e-mail, phone,
masked personnummer). A record matched only by a weaker identifier than the verified address
(a ``+tag`` spelling, a phone number seen elsewhere) is erased only when the operator approves
that one record: ``--approve REF`` with its ref as the plan prints it (repeatable), or ``dsar
requests review ID --approve REF``. A record with another name and another e-mail address than
the subject's is someone else's and is never erased through this request.

Without a request opened by ``dsar requests open --received``, the erasure opens one whose
receipt date is assumed (today): a warning on stderr says so, and ``received_at_assumed`` in
``--json`` (:mod:`hub.requests.receipt`).

Confirmation: ``--yes``, or an interactive "y" on a terminal. Exit codes (the README):

* ``0`` everything erasable is gone, nothing is open (the request is closed and its address
  replaced by a keyed hash); ``--dry-run`` also exits 0 (it only plans, and did so);
* ``2`` invalid address or unknown request id, nothing contacted; an ``--approve`` ref that is
  not a weak match found for the subject, or is someone else's record (nothing written); the
  configuration still has placeholders that would reach the subject and ``--draft`` was not
  given (nothing contacted);
* ``3`` something failed, a processor could not be reached, or manual tasks are open (the
  report says which; resume later) -- and also when the plan was shown but **not confirmed**
  (no terminal and no ``--yes``, or answered "no"): nothing was executed, the erasure is still
  owed, so a scheduler must not read it as done. Nothing is written to the ledger then.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.shared import (
    ExitCode,
    Options,
    console,
    escaped,
    fail,
    options,
    refuse_placeholders,
    request_context,
    settings_only,
    wide_console,
)
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_choices

if TYPE_CHECKING:
    from hub.core.subject import Subject
    from hub.requests.erasure import ErasureProposal, ErasureResult

#: Rich styles of the action states in the tables.
STATE_STYLE = {"planned": "cyan", "done": "green", "failed": "red", "manual-open": "yellow",
               "manual-done": "green", "retained": "magenta", "not the subject": "dim",
               "in-progress": "blue"}


def erase_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Execute without asking (non-interactive use).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show the plan; change nothing anywhere.")] = False,
    approve: Annotated[list[str] | None, typer.Option(
        "--approve", metavar="REF", help="Also erase this record matched only by a weaker "
        "identifier (a +tag spelling of the address, a phone number found elsewhere), after "
        "checking in the plan that it is the subject's; REF as the plan prints it, e.g. "
        "fortnox:customer:10. Repeat for each record.", show_default=False)] = None,
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of report.html and the cover letter "
                       f"({', '.join(LANGUAGES)}).")] = DEFAULT_LANGUAGE,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the documents although the configuration still has unfilled "
        "placeholders; they are stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Erasure request (Art. 17): plan, confirm, execute, verify, write the erasure report."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject
    from hub.requests.erasure import parse_ref

    if lang not in LANGUAGES:
        raise fail(f"unsupported language {lang!r}; choose {language_choices()}",
                   ExitCode.USAGE)
    try:
        subject = Subject.from_email(email)
        refs = tuple(dict.fromkeys(parse_ref(ref) for ref in approve or ()))
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    code = _erase(options(ctx), subject, yes=yes, dry_run=dry_run, approve=refs, lang=lang,
                  draft=draft)
    raise typer.Exit(code)


def resume_command(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The erasure request id.")],
    lang: Annotated[str, typer.Option(
        "--lang", help=f"Report language ({', '.join(LANGUAGES)}).")] = DEFAULT_LANGUAGE,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the documents although the configuration still has unfilled "
        "placeholders; they are stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Continue an erasure request where it stopped (never repeats a completed action)."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject
    from hub.requests.erasure import open_stores
    from hub.requests.erasure.tasks import resumable_request

    opts = options(ctx)
    try:
        stores = open_stores(settings_only(opts), sandbox=opts.sandbox)
        request = resumable_request(stores, request_id)
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    subject = Subject.from_email(request.subject_email or "")
    raise typer.Exit(_erase(opts, subject, yes=True, dry_run=False, lang=lang,
                            request_id=request_id, draft=draft))


def _erase(opts: Options, subject: Subject, *, yes: bool, dry_run: bool, lang: str,
           approve: Sequence[str] = (), request_id: str | None = None,
           draft: bool = False) -> ExitCode:
    """Propose, show, confirm, carry out, print; returns the exit code. A dry run writes no
    document, so only a real run is refused while the configuration has placeholders."""
    import asyncio

    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.requests.erasure import NotExecuted, carry_out, propose_erasure
    from hub.requests.receipt import assumed_receipts

    register_secret(subject.email, "subject")
    if not dry_run:
        refuse_placeholders(opts, draft=draft)
    with request_context(opts, draft=draft) as env:
        try:
            proposal = asyncio.run(propose_erasure(env, subject, approve=approve,
                                                   request_id=request_id))
        except InvalidInput as exc:  # an --approve ref that cannot be approved
            raise fail(str(exc), ExitCode.USAGE) from None
        if not opts.json:
            _print_plan(proposal)
        if proposal.existing is None and (dry_run or not yes):  # before anyone confirms
            _warn_assumed(None)
        reason = None
        if dry_run:
            reason = NotExecuted.DRY_RUN
        elif proposal.needs_confirmation and not yes and not _confirmed():
            reason = NotExecuted.NOT_CONFIRMED
        if reason is not None:
            if opts.json:
                typer.echo(json.dumps({**proposal.not_executed(reason),
                                       "received_at_assumed": proposal.existing is None},
                                      ensure_ascii=False))
            elif reason is NotExecuted.DRY_RUN:
                console(stderr=True).print("Dry run: nothing was changed.")
            return reason.code
        result = asyncio.run(carry_out(env, proposal, lang=lang))
        assumed = assumed_receipts(env, [result.request_id])
    if result.request_id in assumed:
        _warn_assumed(result.request_id, assumed[result.request_id])
    if opts.json:
        typer.echo(json.dumps({**result.as_dict(),
                               "received_at_assumed": result.request_id in assumed},
                              ensure_ascii=False))
    else:
        _print_result(result)
    return result.code


def _warn_assumed(request_id: str | None, received_on: date | None = None) -> None:
    """On stderr: the receipt date is (or will be) assumed, not given (see
    :mod:`hub.requests.receipt`)."""
    from hub.requests.receipt import assumed_receipt_warning

    console(stderr=True).print(
        f"[yellow]warning:[/] {escaped(assumed_receipt_warning(request_id, received_on))}")


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        console(stderr=True).print(
            "[yellow]Plan only: no terminal to confirm on and no --yes. Nothing was changed; "
            "run again with --yes to execute.[/]")
        return False
    return bool(typer.confirm("Execute this erasure plan?", default=False, err=True))


def _print_plan(proposal: ErasureProposal) -> None:
    """The plan as a table: per row why the records matched and whose they look like, so the
    operator can tell two people apart before approving a weak match."""
    from rich.table import Table

    from hub.cli.shared import shown
    from hub.requests.erasure import EXCLUDED, plan_rows

    request_id = proposal.request_id
    title = f"Erasure plan{f' (request {request_id})' if request_id else ''}"
    table = Table(title=title)
    table.add_column("processor", overflow="fold", max_width=15)
    table.add_column("record", overflow="fold", min_width=16, max_width=20)
    table.add_column("matched on", overflow="fold", max_width=16)
    table.add_column("whose (name · e-mail · phone · personnummer)", overflow="fold",
                     min_width=24, ratio=2)
    table.add_column("action", no_wrap=True)
    table.add_column("legal basis", overflow="fold", max_width=18)
    table.add_column("retained until", overflow="fold", max_width=10)
    table.add_column("state", overflow="fold", max_width=11)
    rows = plan_rows([*proposal.preview, *proposal.plan.excluded], proposal.plan.matches,
                     proposal.approved)
    for row in rows:
        style = STATE_STYLE.get(row["state"], "")
        # Escaped, not redacted: the operator needs the other addresses to tell people apart
        # (the subject's own address is already shown as "subject's address").
        table.add_row(shown(row["processor"]), shown(row["ref"] or row["record"]),
                      shown(row["matched"]), shown(row["identity"]), shown(row["action"]),
                      shown(row["legal_basis"]), row["retained_until"],
                      f"[{style}]{row['state']}[/]" if style else shown(row["state"]))
    out = wide_console()
    out.print(table)
    waiting = [r for r in rows if r["ref"] and r["state"] != EXCLUDED]
    if waiting:
        out.print(f"[yellow]{len(waiting)} weak match(es) (found only by a +tag spelling of the "
                  "address or by a number seen elsewhere) are not erased unless approved one "
                  "by one: check each one's name, e-mail, phone and personnummer, then re-run "
                  "with --approve REF (repeatable) for those that are the subject's.[/]")
    others = sum(1 for r in rows if r["state"] == EXCLUDED)
    if others:
        out.print(f"{others} record(s) marked '{EXCLUDED}' have another name and another "
                  "e-mail address than the subject's: they are someone else's and are never "
                  "erased through this request.")
    for name, error in proposal.plan.unreachable.items():
        out.print(f"[red]{escaped(name)}: could not be searched ({escaped(error)}); its "
                  "records are not in the plan: resume the request later[/]")


def _print_result(result: ErasureResult) -> None:
    from hub.cli.shared import shown
    from hub.store.erasure_actions import summarise

    out = wide_console()
    states = ", ".join(f"{n} {s}" for s, n in sorted(summarise(result.plan).items()))
    out.print(f"Request [bold]{result.request_id}[/]: {states}")
    verification = result.verification
    mark = "[green]ok[/]" if verification.ok else "[red]problems[/]"
    out.print(f"Verification by a second lookup: {mark} ({verification.checked} "
              "records checked)")
    for problem in verification.problems:
        out.print(f"  [red]{shown(problem)}[/]")
    for notice in result.notices:
        out.print(f"Art. 19: {notice.recipient} told through its API on "
                  f"{notice.on.isoformat()}")
    out.print("The address is on the suppression list (keyed hash; Art. 21(3)).")
    for action in result.plan:
        if action.state in ("failed", "manual-open"):
            what = action.detail or action.instructions or ""
            out.print(f"  [{STATE_STYLE[action.state]}]{action.state}[/] "
                      f"#{action.id} {shown(action.task)}: {escaped(what)}")
    folder = result.folder
    out.print(f"Report: {folder / 'report.html'}\n        {folder / 'report.json'}")
    if result.closed:
        out.print("Everything erasable is gone; the request is closed.")
    else:
        out.print("Open work remains: `dsar requests resume ID` after fixing it, "
                  "`dsar requests task done ID TASK --note ...` for manual tasks.")
