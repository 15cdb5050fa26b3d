"""The consent commands: ``dsar consent-sync``, ``dsar consent show|tasks|resolve`` and
``dsar webhook serve`` (the README conventions: results on stdout, ``--json`` prints one
JSON document, messages and logs on stderr).

Exit codes of ``consent-sync``: 0 done (also: another run holds the lock, see below); 3 partial:
MailerLite could not be read to the end (the next run resumes), an opt-out could not be pushed
(retried by the next run) or a new manual step is needed (a task for a system without an API);
2 bad usage or configuration; 1 unexpected error.

A run that finds another one holding the lock exits **0** at once, saying so on stderr (and
``"status": "locked"`` with ``--json``): with a timer every minute an overlapping start is the
normal case, not a failure, and the running one does the work. When the lock has been held
longer than ``lock_warn_after_minutes`` (default 120) the same run exits **3**, so monitoring
notices a stuck sync.

Heavy modules are imported inside the commands so ``dsar --help`` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.cli import shared

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.config.consent import ConsentSettings
    from hub.config.settings import HubSettings
    from hub.consent.summary import SyncSummary

consent_app = typer.Typer(
    help="The consent register: a person's consent history and the open opt-out tasks.",
    no_args_is_help=True,
)
webhook_app = typer.Typer(help="Receive MailerLite webhooks (push instead of poll).",
                          no_args_is_help=True)


def _consent_settings(settings: HubSettings, opts: shared.Options) -> ConsentSettings:
    from hub.config.consent import load_consent_settings
    from hub.config.settings import resolve_config_path
    from hub.core.errors import ConfigurationError

    try:
        return load_consent_settings(settings, resolve_config_path(opts.config))
    except ConfigurationError as exc:
        raise shared.fail(str(exc), shared.ExitCode.USAGE) from None


def _database(settings: HubSettings, opts: shared.Options) -> Engine:
    """The hub's database (``--sandbox`` runs: the throw-away one the CLI set up), so invented
    people never enter the real consent register."""
    from hub.consent.database import open_consent_database

    return open_consent_database(settings.ledger_url)


# ---------------------------------------------------------------------------------------------
# dsar consent-sync
# ---------------------------------------------------------------------------------------------


def consent_sync_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read and compare, show what would be recorded; write nothing.")
    ] = False,
    every: Annotated[str | None, typer.Option(
        "--every", metavar="INTERVAL",
        help="Keep running, one sync per interval (e.g. 5m, 30s, 1h): for containers. "
             "With --json one JSON document per line.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Full reconciliation: read every list whole (also done every "
                       "reconcile_every_hours).")] = False,
) -> None:
    """Pull consent changes from MailerLite, record them, propagate opt-outs.

    Safe to start every minute from cron or a systemd timer: a second run exits at once while
    one is running, and an interrupted run is resumed by the next one.
    """
    import asyncio
    import signal
    import threading
    import time

    from hub.consent.job import parse_interval, sleep_until_next, sync_once
    from hub.core.errors import InvalidInput

    opts = shared.options(ctx)
    try:
        interval = parse_interval(every) if every else None
    except InvalidInput as exc:
        raise shared.fail(str(exc), shared.ExitCode.USAGE) from None
    stop = threading.Event()
    if interval is not None:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code: int = shared.ExitCode.OK
    with shared.environment(opts) as (settings, connectors):
        consent = _consent_settings(settings, opts)
        engine = _database(settings, opts)
        while True:
            started = time.monotonic()
            summary = asyncio.run(sync_once(
                settings, connectors, consent, engine, dry_run=dry_run, full=full,
                lock_name="consent-sync-sandbox" if opts.sandbox else "consent-sync"))
            _emit(summary, opts.json)
            code = summary.exit_code
            if interval is None or stop.is_set() or not sleep_until_next(started, interval,
                                                                         stop):
                break
            full = False  # --full applies to the first run of a --every loop only
    raise typer.Exit(code)


def _emit(summary: SyncSummary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    err = shared.console(stderr=True)
    for warning in summary.warnings:
        err.print(f"[yellow]warning:[/] {shared.escaped(warning)}")
    if summary.status == "locked":
        err.print(shared.escaped(summary.line()))
        return
    if summary.status == "failed":
        err.print(f"[bold red]error:[/] {shared.escaped(summary.error or '')}")
    typer.echo(shared.redacted(summary.line()))


# ---------------------------------------------------------------------------------------------
# dsar consent show / tasks / resolve
# ---------------------------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    from hub.store.consent_register import aware

    moment = aware(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else None


def _short(stamp: Any) -> str:
    """``2021-09-08T20:02:35Z`` → ``2021-09-08 20:02`` for tables."""
    return str(stamp).replace("T", " ")[:16] if stamp else ""


def _evidence_text(evidence: dict[str, Any]) -> str:
    parts = []
    if evidence.get("opted_in_at") or evidence.get("subscribed_at"):
        when = _short(evidence.get("opted_in_at") or evidence.get("subscribed_at"))
        ip = evidence.get("optin_ip") or evidence.get("ip_address")
        parts.append(f"opt-in {when}" + (f" from {ip}" if ip else ""))
    if evidence.get("unsubscribed_at"):
        parts.append(f"unsubscribed {_short(evidence['unsubscribed_at'])}")
    return "; ".join(parts)


def _task_dict(task: Any) -> dict[str, Any]:
    return {"id": task.id, "destination": task.destination, "system": task.destination_title,
            "action": task.action, "state": task.state, "attempts": task.attempts,
            "created_at": _time(task.created_at), "updated_at": _time(task.updated_at),
            "receipt": task.receipt, "error": task.last_error,
            "instructions": task.instructions, "subscriber_id": task.subscriber_id,
            "source": task.system}


@consent_app.command("show")
def consent_show(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's e-mail address.",
                                         show_default=False)],
) -> None:
    """A person's consent history across systems: what they agreed to, when they withdrew,
    and where the withdrawal was pushed ("why did I get this mail?")."""
    from hub.core.errors import InvalidInput
    from hub.core.logs import register_secret
    from hub.core.subject import Subject
    from hub.store.consent_register import ConsentRegister

    opts = shared.options(ctx)
    try:
        subject = Subject.from_email(email)
    except InvalidInput as exc:
        raise shared.fail(str(exc), shared.ExitCode.USAGE) from None
    register_secret(subject.email, "subject")
    register_secret(email.strip(), "subject")
    with shared.environment(opts) as (settings, _connectors):
        engine = _database(settings, opts)
        history = ConsentRegister(engine).history(subject.email)
        suppressed = _is_suppressed(engine, settings, subject.email)
    current = [{"system": s.system, "subscriber_id": s.subscriber_id, "email": s.email,
                "status": s.status, "evidence": s.evidence,
                "recorded_at": _time(s.changed_at)} for s in history["subscribers"]]
    events = [{"id": e.id, "system": e.system, "subscriber_id": e.subscriber_id,
               "email": e.email, "kind": e.kind, "status": e.status,
               "previous_status": e.previous_status, "changed_at": _time(e.changed_at),
               "evidence": e.evidence, "learned_at": _time(e.learned_at),
               "learned_via": e.learned_via, "note": e.note} for e in history["events"]]
    tasks = [_task_dict(t) for t in history["tasks"]]
    if opts.json:
        typer.echo(json.dumps({"email": subject.email, "suppressed": suppressed,
                               "current": current, "events": events, "tasks": tasks},
                              ensure_ascii=False))
        return
    _print_history(subject.email, suppressed, current, events, tasks)


def _is_suppressed(engine: Engine, settings: HubSettings, email: str) -> bool | None:
    from hub.store.keyed import secret_path
    from hub.store.suppression import SuppressionList

    path = secret_path(settings.state_dir)
    if not path.exists():
        return False
    return SuppressionList(engine, path).is_suppressed(email)


def _print_history(email: str, suppressed: bool | None, current: list[dict[str, Any]],
                   events: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from hub.cli.shared import shown

    console = shared.console()
    if not events:
        console.print(f"No consent records for {shown(email)}.")
        if suppressed:
            console.print("The address is on the suppression list: it is never re-subscribed.")
        return
    now = Table(title=f"Consent of {shown(email)}")
    for column in ("system", "status", "evidence", "subscriber id"):
        now.add_column(column)
    for row in current:
        now.add_row(shown(row["system"]), shown(row["status"]),
                    shown(_evidence_text(row["evidence"])), shown(row["subscriber_id"] or ""))
    console.print(now)
    if suppressed:
        console.print("[yellow]On the suppression list[/]: the hub never re-subscribes "
                      "this address.")
    history = Table(title="History (times in UTC)")
    for column in ("learned", "system", "change", "at the source", "via"):
        history.add_column(column)
    for event in events:
        status = (f"{event['previous_status']} → {event['status']}"
                  if event["previous_status"] else event["status"])
        change = f"{event['kind'].replace('_', ' ')}: {status}" + (
            f" ({event['note']})" if event["note"] else "")
        history.add_row(_short(event["learned_at"]), shown(event["system"]),
                        shared.escaped(change), _short(event["changed_at"]),
                        shown(event["learned_via"] or ""))
    console.print(history)
    if tasks:
        _print_tasks(tasks, "Opt-out propagation")


def _print_tasks(tasks: list[dict[str, Any]], title: str, with_email: bool = False) -> None:
    from rich.table import Table

    from hub.cli.shared import shown

    table = Table(title=title)
    columns = ["task", "system", "action", "state", "updated", "result"]
    if with_email:
        columns.insert(1, "address")
    for column in columns:
        table.add_column(column)
    styles = {"done": "green", "manual-done": "green", "failed": "red", "pending": "yellow",
              "manual-open": "yellow"}
    instructions: dict[str, str] = {}
    for task in tasks:
        result = task["receipt"] or task["error"] or ""
        if task["state"] == "manual-open" and task["instructions"]:
            instructions.setdefault(task["system"], task["instructions"])
            result = result or "to do by hand (see below)"
        # a failed push's error is the processor's own text: never markup
        row = [str(task["id"]), shown(task["system"]), task["action"].replace("_", "-"),
               f"[{styles.get(task['state'], 'white')}]{shown(task['state'])}[/]",
               _short(task["updated_at"]), shared.escaped(result)]
        if with_email:
            row.insert(1, shown(task.get("email") or ""))
        table.add_row(*row)
    console = shared.console()
    console.print(table)
    for system, text in instructions.items():
        console.print(f"[bold]{shown(system)}[/]: {shown(text)}")
    if instructions:
        console.print("When done: dsar consent resolve TASK [--note TEXT]")


@consent_app.command("tasks")
def consent_tasks(
    ctx: typer.Context,
    all_tasks: Annotated[bool, typer.Option("--all", help="Also finished tasks.")] = False,
) -> None:
    """Opt-out tasks still open: manual ones (systems without an API) and failed pushes."""
    from hub.store.consent_register import ConsentRegister

    opts = shared.options(ctx)
    with shared.environment(opts) as (settings, _connectors):
        tasks = ConsentRegister(_database(settings, opts)).open_tasks(include_closed=all_tasks)
    rows = [_task_dict(t) | {"email": t.email} for t in tasks]
    if opts.json:
        typer.echo(json.dumps({"tasks": rows}, ensure_ascii=False))
        return
    if not rows:
        shared.console().print("No open consent tasks.")
        return
    _print_tasks(rows, "Consent tasks" if all_tasks else "Open consent tasks", with_email=True)


@consent_app.command("resolve")
def consent_resolve(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(
        help="The task number (dsar consent tasks).", min=1, max=2**63 - 1)],
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
) -> None:
    """Mark a manual opt-out task as done (after unsubscribing the person by hand)."""
    from hub.store.consent_register import ConsentRegister

    opts = shared.options(ctx)
    with shared.environment(opts) as (settings, _connectors):
        try:
            task = ConsentRegister(_database(settings, opts)).resolve_task(task_id, note)
        except KeyError:
            raise shared.fail(f"no consent task {task_id}", shared.ExitCode.USAGE) from None
    if opts.json:
        typer.echo(json.dumps(_task_dict(task), ensure_ascii=False))
        return
    shared.console().print(f"Task {task.id} ({shared.escaped(task.destination_title)}): "
                           f"{shared.escaped(task.state)}")


@consent_app.command("withdraw")
def consent_withdraw(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's e-mail address.",
                                         show_default=False)],
    channel: Annotated[str, typer.Option(
        "--channel", help="How the withdrawal reached you: email, phone, letter, in-person.",
        show_default=False)],
    recorded_by: Annotated[str | None, typer.Option(
        "--recorded-by", help="Who recorded it (default: your login name).")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="Kept with the evidence, e.g. which mail or call.")] = None,
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of the confirmation letter (sv, en).")] = "sv",
    draft: Annotated[bool, typer.Option(
        "--draft", help="Write the letter although the configuration still has unfilled "
        "placeholders; it is stamped UTKAST / DRAFT and must not be sent.")] = False,
) -> None:
    """Record a withdrawal of marketing consent that came by e-mail, phone, letter or in
    person, and stop the marketing everywhere: MailerLite unsubscribed, the booking system's
    newsletter flag cleared, a task for systems without an API; a request of type
    consent-withdrawal with a confirmation letter, closed once every system confirmed. Exit 0
    when every system confirmed it, 3 while one failed (run it again, or let the consent sync
    retry) or a manual task is open (dsar consent tasks, then run it again)."""
    from hub.consent.withdrawal import CHANNELS, withdrawal_in_force
    from hub.core.errors import InvalidInput
    from hub.core.languages import LANGUAGES
    from hub.core.logs import register_secret
    from hub.core.request_types import RequestType
    from hub.core.subject import Subject
    from hub.requests.erasure.stores import open_stores

    opts = shared.options(ctx)
    people_channels = [c for c in CHANNELS if c not in ("objection", "restriction")]
    try:
        subject = Subject.from_email(email)
        if channel not in people_channels:
            raise InvalidInput(f"unknown channel {channel!r} (use one of "
                               f"{', '.join(people_channels)})")
        if lang not in LANGUAGES:
            raise InvalidInput(f"unsupported language {lang!r} ({', '.join(LANGUAGES)})")
    except InvalidInput as exc:
        raise shared.fail(str(exc), shared.ExitCode.USAGE) from None
    register_secret(subject.email, "subject")
    register_secret(email.strip(), "subject")
    shared.refuse_placeholders(opts, draft=draft)
    with shared.request_context(opts, draft=draft) as env:
        consent = _consent_settings(env.settings, opts)
        stores = open_stores(env.settings, sandbox=opts.sandbox, email=subject.email)
        kind = RequestType.CONSENT_WITHDRAWAL
        request = stores.ledger.find_open_request(subject.email, kind)
        if request is None and not withdrawal_in_force(env.settings, stores.ledger.engine,
                                                       subject.email):
            request = stores.ledger.find_or_open(subject.email, kind)[0]
        document = _withdraw_and_answer(env, consent, stores, request, subject.email,
                                        channel=channel, note=note, lang=lang,
                                        recorded_by=recorded_by)
    if opts.json:
        typer.echo(json.dumps(document, ensure_ascii=False))
        raise typer.Exit(int(document["exit_code"]))
    _print_withdrawal(document)
    raise typer.Exit(int(document["exit_code"]))


def _withdraw_and_answer(env: Any, consent: ConsentSettings, stores: Any, request: Any,
                         email: str, *, channel: str, note: str | None, lang: str,
                         recorded_by: str | None) -> dict[str, Any]:
    """Run the withdrawal; with an open request, write its letter and close it when every
    system confirmed. Without one (the withdrawal was recorded and answered before) nothing
    is opened or written again."""
    import asyncio
    import getpass

    from hub.consent.withdrawal import withdraw_consent
    from hub.requests.objection import answer_marketing

    who = recorded_by if recorded_by is not None else getpass.getuser()
    outcome = asyncio.run(withdraw_consent(
        env.settings, env.connectors, consent, stores.ledger.engine, email, channel=channel,
        recorded_by=who, note=note or (f"request {request.id}" if request else None)))
    document = {k: v for k, v in outcome.as_dict().items() if k != "email"}
    document["request_id"] = request.id if request else None
    document["answer"] = None
    if request is not None:
        answer = answer_marketing(
            stores, request, env.reports_dir, kind="withdrawal",
            destinations=outcome.keyed_systems(), confirmed=outcome.confirmed,
            settings=env.settings, draft=env.draft, lang=lang,
            details={"destinations": {d.key: d.state for d in outcome.destinations}})
        document["answer"] = answer.as_dict()
    return document


def _print_withdrawal(document: dict[str, Any]) -> None:
    err = shared.console(stderr=True)
    for warning in document["warnings"]:
        err.print(f"[yellow]warning:[/] {shared.escaped(warning)}")
    console = shared.console()
    console.print(("Already recorded" if document["already_recorded"] else "Recorded")
                  + f": consent withdrawn by {shared.escaped(document['channel'])} at "
                  f"{shared.escaped(document['recorded_at'][:16].replace('T', ' '))} UTC, "
                  f"recorded by {shared.escaped(document['recorded_by'])}; the address is on "
                  "the suppression list.")
    for d in document["destinations"]:
        console.print(f"  {shared.escaped(d['title'])}: {shared.escaped(d['state'])}"
                      + (f" - {shared.escaped(d['detail'])}" if d["detail"] else ""))
    answer = document["answer"]
    if answer is not None:
        console.print(f"Request {shared.escaped(answer['request_id'])}: letter "
                      f"{shared.escaped(answer['letters'][0])}"
                      + ("; the request is closed." if answer["closed"] else ""))
    if not document["confirmed"]:
        console.print("Open tasks: dsar consent tasks; failed pushes are retried by the next "
                      "run of this command or of dsar consent-sync.")


# ---------------------------------------------------------------------------------------------
# dsar webhook serve
# ---------------------------------------------------------------------------------------------


@webhook_app.command("serve")
def webhook_serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to bind [default: [consent] webhook_host, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="Port [default: [consent] webhook_port, 8787].")] = None,
) -> None:
    """Receive MailerLite's subscriber webhooks, verify their Signature, record consent changes
    and push opt-outs; runs until stopped. Put it behind a TLS reverse proxy. The same route
    as ``dsar serve`` answers at [consent] webhook_path when the secret is set; this command
    serves that route alone (no inbox)."""
    import signal
    import threading

    from hub.consent.webhook import build
    from hub.core.errors import ConfigurationError

    opts = shared.options(ctx)
    try:
        from hub.web.webhook import WebhookServer
    except ImportError as exc:  # installed without the web extra
        raise shared.fail(f"the webhook needs the web extra ({exc.name} is missing): "
                          "pip install 'dsar-hub[web]'") from None
    with shared.environment(opts) as (settings, connectors):
        consent = _consent_settings(settings, opts)
        engine = _database(settings, opts)
        try:
            app, worker = build(settings, connectors, consent, engine)
        except ConfigurationError as exc:
            raise shared.fail(str(exc), shared.ExitCode.USAGE) from None
        server = WebhookServer(app, host or consent.webhook_host,
                               consent.webhook_port if port is None else port, worker=worker)
        try:
            server.start()
        except OSError as exc:
            raise shared.fail(f"cannot listen on {host or consent.webhook_host}:"
                              f"{port if port is not None else consent.webhook_port}: "
                              f"{exc.strerror}", shared.ExitCode.USAGE) from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        err = shared.console(stderr=True)
        err.print(f"Listening for MailerLite webhooks on {shared.escaped(server.url)} "
                  "(Ctrl+C to stop)", soft_wrap=True)
        if server.host not in ("127.0.0.1", "::1", "localhost"):
            err.print("[yellow]warning:[/] serving on a public address: terminate TLS in a "
                      "reverse proxy in front of it")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()  # the worker stops with it
        counts = server.app.counts
        err.print(f"Stopped: {counts['accepted']} deliveries applied, {counts['duplicate']} "
                  f"duplicates, {counts['rejected']} rejected")


# ---------------------------------------------------------------------------------------------
# Wiring into the main app
# ---------------------------------------------------------------------------------------------


def wire(app: typer.Typer) -> None:
    """Add ``consent-sync``, ``consent`` and ``webhook`` to ``app`` (idempotent)."""
    groups = {group.name for group in app.registered_groups}
    commands = {command.name for command in app.registered_commands}
    if "consent" not in groups:
        app.add_typer(consent_app, name="consent")
    if "webhook" not in groups:
        app.add_typer(webhook_app, name="webhook")
    if "consent-sync" not in commands:
        app.command("consent-sync")(consent_sync_command)
