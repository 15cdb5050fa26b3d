"""One open request per subject and type; claimed erasure actions; versioned consent rows.

- ``requests.subject_key`` and the partial unique index ``uq_requests_open_subject``: two
  erasures of one subject started at once end up in one request.
- ``erasure_actions.claimed_by`` / ``claimed_at``: an action is claimed before its external
  call, so two runs never send it twice.
- ``consent_subscribers.version``: optimistic locking of the consent register's rows.
- ``uq_consent_propagation_open_task``: one open opt-out task per subscriber and destination.

Existing open requests get their key; where an older version had already opened several for
one subject and type, only the newest gets it (the others keep working, unkeyed, until closed).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

from hub.store.keyed import normalise_email

revision = "0002_claims_and_open_requests"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

OPEN_TASK_STATES = "state IN ('pending', 'failed', 'manual-open')"


def upgrade() -> None:
    with op.batch_alter_table("requests") as table:
        table.add_column(sa.Column("subject_key", sa.String(length=64), nullable=True))
    with op.batch_alter_table("erasure_actions") as table:
        table.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("consent_subscribers") as table:
        table.add_column(sa.Column("version", sa.Integer(), nullable=False,
                                   server_default=sa.text("1")))
    _key_open_requests()
    op.create_index("uq_requests_open_subject", "requests", ["type", "subject_key"],
                    unique=True, sqlite_where=sa.text("status = 'open'"),
                    postgresql_where=sa.text("status = 'open'"))
    _close_duplicate_open_tasks()
    op.create_index("uq_consent_propagation_open_task", "consent_propagation",
                    ["system", "subscriber_id", "destination", "action"], unique=True,
                    sqlite_where=sa.text(OPEN_TASK_STATES),
                    postgresql_where=sa.text(OPEN_TASK_STATES))


def _key_open_requests() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, type, subject_email FROM requests WHERE status = 'open' "
        "AND subject_email IS NOT NULL ORDER BY created_at DESC, id DESC")).all()
    taken: set[tuple[str, str]] = set()
    for request_id, kind, email in rows:
        key = hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()
        if (kind, key) in taken:
            continue
        taken.add((kind, key))
        connection.execute(sa.text("UPDATE requests SET subject_key = :key WHERE id = :id"),
                           {"key": key, "id": request_id})


def _close_duplicate_open_tasks() -> None:
    """Older versions could queue one opt-out twice; keep the first open task of each."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, system, subscriber_id, destination, action FROM consent_propagation "
        "WHERE state IN ('pending', 'failed', 'manual-open') ORDER BY id")).all()
    seen: set[tuple[str, str, str, str]] = set()
    for task_id, system, subscriber_id, destination, action in rows:
        identity = (system, subscriber_id, destination, action)
        if identity in seen:
            connection.execute(sa.text(
                "UPDATE consent_propagation SET state = 'done', "
                "last_error = 'duplicate of an earlier task (schema upgrade)' WHERE id = :id"),
                {"id": task_id})
        seen.add(identity)


def downgrade() -> None:
    op.drop_index("uq_consent_propagation_open_task", table_name="consent_propagation")
    op.drop_index("uq_requests_open_subject", table_name="requests")
    with op.batch_alter_table("consent_subscribers") as table:
        table.drop_column("version")
    with op.batch_alter_table("erasure_actions") as table:
        table.drop_column("claimed_at")
        table.drop_column("claimed_by")
    with op.batch_alter_table("requests") as table:
        table.drop_column("subject_key")
