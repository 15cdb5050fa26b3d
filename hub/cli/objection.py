"""``dsar object``: the objection (GDPR Art. 21) on the command line.

    dsar object EMAIL --to marketing [--reason TEXT] [--lang sv|en]
    dsar object EMAIL --to other [--reason TEXT]
    dsar object EMAIL --decide upheld|rejected --reason TEXT [--lang sv|en]

Against direct marketing the objection is absolute (Art. 21(3)): the command opens (or
continues) the subject's objection request, runs the consent withdrawal with the channel
``objection`` (:mod:`hub.consent.withdrawal`: suppression list, MailerLite unsubscribed, the
booking system's newsletter flag cleared, Paloma's manual task), writes the answer naming the
systems and closes the request once no opt-out task is open; run it again after the manual
task is done (``dsar consent resolve``). Against other processing (Art. 21(1)) it opens the
request with an ``assessment`` task due on the request's deadline; ``--decide`` records the
decision, writes the decision letter and closes the request. The use-case is
:mod:`hub.requests.objection`; this module joins it with the consent package, which the
use-cases may not import.

Exit codes (the README): 0 done (the request closed); 2 bad input (an invalid address, no
``--to``/``--decide``, no open objection to decide, the other kind of objection still open),
nothing contacted; 3 open work (an opt-out failed or a manual task is open, or the assessment
is waiting for the decision).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

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
)
from hub.core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_choices

if TYPE_CHECKING:
    from hub.core.subject import Subject
    from hub.requests.context import RequestContext
    from hub.requests.erasure.stores import ErasureStores


def object_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The data subject's verified e-mail address.",
                                         show_default=False)],
    to: Annotated[str | None, typer.Option(
        "--to", help="What the person objects to: marketing (direct marketing: stopped at "
        "once, everywhere) or other (another processing: assessed by a person).",
        show_default=False)] = None,
    decide: Annotated[str | None, typer.Option(
        "--decide", help="Record the decision on the open objection to other processing: "
        "upheld or rejected.", show_default=False)] = None,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why (the person's words, or the grounds of the decision); kept in "
        "the request's history, never in the letter.", show_default=False)] = None,
    lang: Annotated[str, typer.Option(
        "--lang", help=f"Language of the answer letter ({', '.join(LANGUAGES)}).")
    ] = DEFAULT_LANGUAGE,
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the letter although the configuration still has unfilled "
        "placeholders; it is stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Objection (Art. 21): to direct marketing (stop everywhere, answer) or to other
    processing (an assessment task with a deadline, then --decide)."""
    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.core.subject import Subject
    from hub.requests.objection import check_objection

    opts = options(ctx)
    try:
        if lang not in LANGUAGES:
            raise InvalidInput(f"unsupported language {lang!r}; choose {language_choices()}")
        subject = Subject.from_email(email)
        check_objection(to=to, decide=decide, reason=reason)
    except InvalidInput as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    register_secret(subject.email, "subject")
    register_secret(email.strip(), "subject")
    refuse_placeholders(opts, draft=draft)
    with request_context(opts, draft=draft) as env:
        try:
            document = _run(opts, env, subject, to=to, decide=decide, reason=reason,
                            lang=lang)
        except InvalidInput as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
    if opts.json:
        typer.echo(json.dumps(document, ensure_ascii=False))
    else:
        _print(document)
    raise typer.Exit(int(document["exit_code"]))


def _run(opts: Options, env: RequestContext, subject: Subject, *, to: str | None,
         decide: str | None, reason: str | None, lang: str) -> dict[str, Any]:
    from hub.requests.erasure.stores import open_stores
    from hub.requests.objection import decide_objection, open_objection

    stores = open_stores(env.settings, sandbox=env.sandbox, email=subject.email)
    controller = env.settings.controller
    if decide is not None:
        answer = decide_objection(stores, subject, env.reports_dir, decision=decide,
                                  reason=reason or "", controller=controller,
                                  draft=env.draft, lang=lang)
        return {"request_id": answer.request_id, "to": "other", "decision": decide,
                "answer": answer.as_dict(), "closed": True, "exit_code": int(ExitCode.OK)}
    request = open_objection(stores, subject, to="marketing" if to == "marketing" else "other",
                             reason=reason)
    if to == "other":
        tasks = [a.as_dict() for a in stores.actions.plan(request.id)]
        return {"request_id": request.id, "to": "other", "deadline":
                request.deadline.isoformat(), "tasks": tasks, "closed": False,
                "exit_code": int(ExitCode.PARTIAL)}
    return _stop_marketing(opts, env, stores, request, subject, lang=lang)


def _stop_marketing(opts: Options, env: RequestContext, stores: ErasureStores, request: Any,
                    subject: Subject, *, lang: str) -> dict[str, Any]:
    """The withdrawal under the channel ``objection``, then the answer; the request closes
    when every destination confirmed."""
    import asyncio

    from hub.config.consent import load_consent_settings
    from hub.config.settings import resolve_config_path
    from hub.consent.withdrawal import withdraw_consent
    from hub.core.errors import ConfigurationError
    from hub.requests.objection import answer_marketing

    try:
        consent = load_consent_settings(env.settings, resolve_config_path(opts.config))
    except ConfigurationError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    outcome = asyncio.run(withdraw_consent(
        env.settings, env.connectors, consent, stores.ledger.engine, subject.email,
        channel="objection", recorded_by="dsar object", note=f"objection request {request.id}"))
    answer = answer_marketing(
        stores, request, env.reports_dir, kind="marketing", destinations=outcome.keyed_systems(),
        confirmed=outcome.confirmed, settings=env.settings, draft=env.draft,
        lang=lang, details={"destinations": {d.key: d.state for d in outcome.destinations}})
    withdrawal = {k: v for k, v in outcome.as_dict().items() if k != "email"}
    return {"request_id": request.id, "to": "marketing", "withdrawal": withdrawal,
            "answer": answer.as_dict(), "closed": answer.closed,
            "exit_code": int(ExitCode.OK if answer.closed else ExitCode.PARTIAL)}


def _print(document: dict[str, Any]) -> None:
    out = console()
    request_id = escaped(document["request_id"])
    if "decision" in document:
        out.print(f"Request [bold]{request_id}[/]: objection {escaped(document['decision'])}; "
                  f"letter {escaped(document['answer']['letters'][0])}; the request is closed.")
        return
    if document["to"] == "other":
        out.print(f"Request [bold]{request_id}[/]: objection to other processing, to be "
                  f"assessed by {escaped(document['deadline'])}.")
        for task in document["tasks"]:
            out.print(f"  {escaped(task['state'])} #{task['id']} {escaped(task['task'])}: "
                      f"{escaped(task['instructions'] or '')}")
        return
    withdrawal = document["withdrawal"]
    out.print(f"Request [bold]{request_id}[/]: objection to direct marketing; marketing "
              + ("stopped everywhere." if withdrawal["confirmed"] else "not yet stopped "
                 "everywhere:"))
    for d in withdrawal["destinations"]:
        out.print(f"  {escaped(d['title'])}: {escaped(d['state'])}"
                  + (f" - {escaped(d['detail'])}" if d["detail"] else ""))
    for warning in withdrawal["warnings"]:
        console(stderr=True).print(f"[yellow]warning:[/] {escaped(warning)}")
    out.print(f"Answer: {escaped(document['answer']['letters'][0])}")
    out.print("The request is closed." if document["closed"] else
              "Open work remains: dsar consent tasks (then `dsar consent resolve`), and run "
              "this command again.")
