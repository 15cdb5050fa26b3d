"""``dsar restrict``: the restriction request (Art. 18) and its lifting on the command line.

    dsar restrict EMAIL --reason TEXT [--yes] [--dry-run] [--lang sv|en]
    dsar restrict EMAIL --lift --notified-on YYYY-MM-DD [--yes] [--dry-run] [--lang sv|en]

The work is :mod:`hub.requests.restriction`: this module parses the options, shows the plan
(which record at which processor gets the visible marker, which needs a person), asks for
confirmation, runs the use-case and prints its result. After a restriction it stops marketing
through the consent withdrawal (:mod:`hub.consent.withdrawal`, channel ``restriction``): the
use-cases may not import the consent package, so the command joins the two.

Exit codes (the README): ``0`` restricted (or lifted) and every marker set (``--dry-run``: it
only planned); ``2`` bad input (no ``--reason``; ``--lift`` without ``--notified-on`` or with a
future date; nothing to lift; the other kind of restriction request still open), nothing
contacted; ``3`` a marker failed, a processor could not be reached, a manual step is open, or
the plan was not confirmed (nothing changed then).
"""

from __future__ import annotations

import json
import sys
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
    wide_console,
)
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_choices

if TYPE_CHECKING:
    from hub.core.subject import Subject
    from hub.requests.context import RequestContext
    from hub.requests.restriction import RestrictionProposal, RestrictionResult


def restrict_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why the processing is restricted (Art. 18(1)(a)-(d), e.g. "
        "'accuracy contested'); recorded for the operator, never in the letter.",
        show_default=False)] = None,
    lift: Annotated[bool, typer.Option(
        "--lift", help="Lift the restriction (the person must have been told first).")
    ] = False,
    notified_on: Annotated[str | None, typer.Option(
        "--notified-on", metavar="YYYY-MM-DD", help="With --lift: the day the person was told "
        "that the restriction will be lifted (Art. 18(3)).", show_default=False)] = None,
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
    """Restriction of processing (Art. 18): record, mark, stop marketing, answer; or lift it."""
    from hub.core.errors import InvalidInput
    from hub.core.subject import Subject
    from hub.requests.restriction import check_input
    from hub.store.ledger import local_today

    if lang not in LANGUAGES:
        raise fail(f"unsupported language {lang!r}; choose {language_choices()}",
                   ExitCode.USAGE)
    try:
        subject = Subject.from_email(email)
        told = _day(notified_on)
        check_input(lift=lift, reason=reason, notified_on=told, today=local_today())
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    raise typer.Exit(_restrict(options(ctx), subject, reason=reason, lift=lift,
                               notified_on=told, yes=yes, dry_run=dry_run, lang=lang,
                               draft=draft))


def _day(text: str | None) -> date | None:
    from hub.core.errors import InvalidInput

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--notified-on {text!r} is not a date (YYYY-MM-DD)") from None


def _restrict(opts: Options, subject: Subject, *, reason: str | None, lift: bool,
              notified_on: date | None, yes: bool, dry_run: bool, lang: str,
              draft: bool) -> ExitCode:
    import asyncio

    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.requests.restriction import carry_out, propose_restriction

    register_secret(subject.email, "subject")
    if not dry_run:
        refuse_placeholders(opts, draft=draft)
    with request_context(opts, draft=draft) as env:
        try:
            proposal = asyncio.run(propose_restriction(env, subject, reason=reason, lift=lift,
                                                       notified_on=notified_on))
        except InvalidInput as exc:  # nothing to lift, or the other kind still open
            raise fail(str(exc), ExitCode.USAGE) from None
        if not opts.json:
            _print_plan(proposal)
        why = None
        if dry_run:
            why, code = "dry-run", ExitCode.OK
        elif not yes and not _confirmed(lift):
            why, code = "not-confirmed", ExitCode.PARTIAL
        if why is not None:
            if opts.json:
                typer.echo(json.dumps({**proposal.as_dict(), "executed": False,
                                       "reason": why, "exit_code": code},
                                      ensure_ascii=False))
            elif dry_run:
                console(stderr=True).print("Dry run: nothing was changed.")
            return code
        result = asyncio.run(carry_out(env, proposal, lang=lang))
        marketing = None if lift else asyncio.run(_stop_marketing(opts, env, subject, result))
    code = result.code
    if marketing is not None and not marketing.get("ok", False):
        code = ExitCode.PARTIAL
    if opts.json:
        typer.echo(json.dumps({**result.as_dict(), "marketing": marketing,
                               "exit_code": code}, ensure_ascii=False))
    else:
        _print_result(result, marketing)
    return ExitCode(code)


async def _stop_marketing(opts: Options, env: RequestContext, subject: Subject,
                          result: RestrictionResult) -> dict[str, object]:
    """Marketing stops with a restriction (the data may only be stored): the consent
    withdrawal records the opt-out in the consent register, unsubscribes at MailerLite, sets
    the booking system's newsletter flag and opens the manual task for the rest. Run on
    every restriction run: a second run finds everything withdrawn already."""
    from hub.config.consent import load_consent_settings
    from hub.config.settings import resolve_config_path
    from hub.consent.withdrawal import withdraw_consent
    from hub.core.errors import ConfigurationError
    from hub.store.db import open_database
    from hub.store.ledger import ledger_url

    try:
        consent = load_consent_settings(env.settings, resolve_config_path(opts.config))
    except ConfigurationError as exc:
        return {"ok": False, "error": f"marketing not stopped: {exc}"}
    engine = open_database(ledger_url(env.settings, sandbox=env.sandbox))
    outcome = await withdraw_consent(
        env.settings, env.connectors, consent, engine,
        subject.email, channel="restriction", recorded_by="dsar restrict",
        note=f"restriction request {result.request_id}")
    found = {k: v for k, v in outcome.as_dict().items() if k != "email"}
    return {**found, "ok": outcome.exit_code == ExitCode.OK}


def _confirmed(lift: bool) -> bool:
    if not sys.stdin.isatty():
        console(stderr=True).print(
            "[yellow]Plan only: no terminal to confirm on and no --yes. Nothing was changed; "
            "run again with --yes to execute.[/]")
        return False
    question = "Lift the restriction?" if lift else "Restrict the processing and mark it?"
    return bool(typer.confirm(question, default=False, err=True))


def _print_plan(proposal: RestrictionProposal) -> None:
    """Per record: the marker set or removed, the manual step, or why nothing happens."""
    from rich.table import Table

    what = "Lift of the restriction" if proposal.lift else "Restriction plan"
    table = Table(title=what + (f" (request {proposal.existing.id})" if proposal.existing
                                else ""))
    for name in ("processor", "record", "action", "detail"):
        table.add_column(name, overflow="fold")
    for line in proposal.lines:
        table.add_row(escaped(line.processor), escaped(f"{line.record_type} {line.record_id}"),
                      escaped(line.action), escaped(line.reason))
    out = wide_console()
    out.print(table)
    if proposal.restriction is not None:
        r = proposal.restriction
        state = "in force" if r.in_force else "lifted"
        out.print(f"Restriction {state} since {r.since.date().isoformat()} (request "
                  f"{escaped(r.request_id or '-')}).")
    for name, error in proposal.unreachable.items():
        out.print(f"[red]{escaped(name)}: could not be searched ({escaped(error)}); run again "
                  "later[/]")


def _print_result(result: RestrictionResult, marketing: dict[str, object] | None) -> None:
    out = wide_console()
    if result.already:
        out.print(f"Already restricted since {result.restriction.since.date().isoformat()} "
                  f"(request {escaped(result.request_id)}, answered): nothing was sent again.")
    else:
        states = ", ".join(f"{n} {s}" for s, n in sorted(
            {a.state: sum(1 for b in result.actions if b.state == a.state)
             for a in result.actions}.items())) or "no markers"
        verb = "lifted" if result.lift else "in force"
        out.print(f"Request [bold]{escaped(result.request_id)}[/]: restriction {verb}; {states}")
        for action in result.actions:
            if action.state in ("failed", "manual-open"):
                out.print(f"  {action.state} #{action.id} {escaped(action.task)}: "
                          f"{escaped(action.detail or action.instructions or '')}")
        out.print(f"Answer: {escaped(str(result.folder / 'restriction-letter.txt'))}")
    if marketing is not None:
        mark = "[green]stopped[/]" if marketing.get("ok") else "[red]not fully stopped[/]"
        out.print(f"Marketing: {mark}")
    out.print("The request is closed." if result.closed else
              "Open work remains: run the same command again after fixing it, or "
              "`dsar requests task done ID TASK --note ...` for manual steps.")
