"""``dsar rectify``: the rectification request (Art. 16) on the command line.

    dsar rectify EMAIL --set FIELD=VALUE [--set ...] [--yes] [--dry-run] [--lang sv|en]

The work is :mod:`hub.requests.rectification`: this module parses the options, shows the plan
(which record at which processor changes which field from what to what; old values masked),
asks for confirmation, runs the use-case and prints its result. Booked accounting records are
listed as kept: they are never altered.

Exit codes (the README): ``0`` everything corrected and verified (or nothing needed changing;
``--dry-run``: it only planned); ``2`` bad input (unknown field, invalid e-mail address or
phone number), nothing contacted; ``3`` something failed, a processor could not be reached, a
manual step is open, or the plan was not confirmed (nothing changed then).
"""

from __future__ import annotations

import json
import sys
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
    wide_console,
)
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_choices

if TYPE_CHECKING:
    from hub.core.subject import Subject
    from hub.requests.rectification import Changes, RectificationProposal, RectificationResult


def rectify_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="FIELD=VALUE", help="A corrected value: name, email, phone, "
        "address.street, address.postal_code, address.city or address.country. Repeatable.",
        show_default=False)] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Execute without asking (non-interactive use).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show the plan; change nothing anywhere.")] = False,
    lang: Annotated[str, typer.Option(
        "--lang", help=f"Language of the answer letter ({', '.join(LANGUAGES)}).")
    ] = DEFAULT_LANGUAGE,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the letter although the configuration still has unfilled "
        "placeholders; it is stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Rectification request (Art. 16): plan, confirm, correct, verify, write the answer."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject
    from hub.requests.rectification import parse_changes

    if lang not in LANGUAGES:
        raise fail(f"unsupported language {lang!r}; choose {language_choices()}",
                   ExitCode.USAGE)
    try:
        subject = Subject.from_email(email)
        changes = parse_changes(set_ or ())
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    raise typer.Exit(_rectify(options(ctx), subject, changes, yes=yes, dry_run=dry_run,
                              lang=lang, draft=draft))


def _rectify(opts: Options, subject: Subject, changes: Changes, *, yes: bool, dry_run: bool,
             lang: str, draft: bool) -> ExitCode:
    import asyncio

    from hub.core.logs import register_secret
    from hub.requests.rectification import carry_out, propose_rectification

    register_secret(subject.email, "subject")
    if not dry_run:
        refuse_placeholders(opts, draft=draft)
    with request_context(opts, draft=draft) as env:
        proposal = asyncio.run(propose_rectification(env, subject, changes))
        if not opts.json:
            _print_plan(proposal)
        reason = None
        if dry_run:
            reason, code = "dry-run", ExitCode.OK
        elif proposal.needs_confirmation and not yes and not _confirmed():
            reason, code = "not-confirmed", ExitCode.PARTIAL
        if reason is not None:
            if opts.json:
                typer.echo(json.dumps({**proposal.as_dict(), "executed": False,
                                       "reason": reason, "exit_code": code},
                                      ensure_ascii=False))
            elif dry_run:
                console(stderr=True).print("Dry run: nothing was changed.")
            return code
        result = asyncio.run(carry_out(env, proposal, lang=lang))
    if opts.json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        _print_result(result)
    return result.code


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        console(stderr=True).print(
            "[yellow]Plan only: no terminal to confirm on and no --yes. Nothing was changed; "
            "run again with --yes to execute.[/]")
        return False
    return bool(typer.confirm("Send these corrections?", default=False, err=True))


def _print_plan(proposal: RectificationProposal) -> None:
    """Per record: what changes from what to what (old values masked), or why nothing does."""
    from rich.table import Table

    table = Table(title="Rectification plan"
                  + (f" (request {proposal.existing.id})" if proposal.existing else ""))
    for name in ("processor", "record", "action", "change (old masked → new)"):
        table.add_column(name, overflow="fold")
    for line in proposal.lines:
        what = "; ".join(f"{c.field}: {c.as_dict()['from'] or '(empty)'} → {c.new}"
                         for c in line.changes) or line.reason
        table.add_row(escaped(line.processor), escaped(f"{line.record_type} {line.record_id}"),
                      escaped(line.action), escaped(what))
    out = wide_console()
    out.print(table)
    if not proposal.runnable:
        out.print("Nothing to change: every record found already holds the corrected values.")
    if proposal.restricted_since is not None:
        out.print(f"[yellow]Processing of this subject is restricted (GDPR Art. 18) since "
                  f"{proposal.restricted_since.isoformat()}. A correction is allowed (it may be "
                  "why the restriction was asked for); lift the restriction afterwards, once "
                  "the person has been told: `dsar restrict EMAIL --lift --notified-on "
                  "YYYY-MM-DD`.[/]")
    for name, error in proposal.unreachable.items():
        out.print(f"[red]{escaped(name)}: could not be searched ({escaped(error)}); run again "
                  "later[/]")


def _print_result(result: RectificationResult) -> None:
    out = wide_console()
    if result.request_id is None:
        out.print("Nothing was changed; no request was opened.")
        return
    states = ", ".join(f"{n} {s}" for s, n in sorted(
        {a.state: sum(1 for b in result.actions if b.state == a.state)
         for a in result.actions}.items()))
    out.print(f"Request [bold]{result.request_id}[/]: {states}")
    mark = "[green]ok[/]" if not result.problems else "[red]problems[/]"
    out.print(f"Verification by a second lookup: {mark}")
    for problem in result.problems:
        out.print(f"  [red]{escaped(problem)}[/]")
    for name in result.notified:
        out.print(f"Art. 19: {escaped(name)} told through its API")
    for action in result.actions:
        if action.state in ("failed", "manual-open"):
            out.print(f"  {action.state} #{action.id} {escaped(action.task)}: "
                      f"{escaped(action.detail or '')}")
    if result.folder:
        out.print(f"Answer: {result.folder / 'rectification-letter.txt'}")
    out.print("The request is closed." if result.closed else
              "Open work remains: run the same command again after fixing it, or "
              "`dsar requests task done ID TASK --note ...` for manual steps.")
