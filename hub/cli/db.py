"""``dsar db upgrade``: bring the hub's database to the current schema.

Run it once per deploy when several machines share one PostgreSQL database, before the new
version's workers start. Every command also checks the schema when it opens the database and
migrates under a lock if needed, so a single SQLite installation never has to run this.

On PostgreSQL it also creates or migrates the job queue of ``dsar worker`` (procrastinate's
tables, when procrastinate is installed); workers and ``dsar jobs defer`` do the same when they
start, so this is the step that makes a deploy's schema change happen once, before them.
"""

from __future__ import annotations

import typer

from hub.cli.shared import ExitCode, console, fail, options, settings_only

db_app = typer.Typer(help="The hub's database: schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema revision (safe to run at any time)."""
    from sqlalchemy.exc import SQLAlchemyError

    from hub.store.db import make_engine
    from hub.store.schema import current_revision, upgrade, upgrade_job_schema

    opts = options(ctx)
    settings = settings_only(opts)
    try:
        engine = make_engine(settings.ledger_url)
        with engine.connect() as connection:
            before = current_revision(connection)
        after = upgrade(engine)
        queue = upgrade_job_schema(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise fail(f"cannot upgrade the database: {type(exc).__name__}", ExitCode.ERROR) from None
    if before == after:
        console().print(f"database schema is current ({after})")
    else:
        console().print(f"database schema upgraded: {before or 'empty'} → {after}")
    if queue is not None:
        console().print(f"job queue schema is current (procrastinate {queue})")
