"""The restriction register (hub.store.restrictions): whose processing is restricted (GDPR
Art. 18), by keyed hash only, with the reason, since when, the request, and when it was lifted
after the person was told (Art. 18(3)). A partial unique index keeps one restriction in force
per person.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_restrictions"
down_revision = "0006_history_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restrictions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_on", sa.Date(), nullable=True),
        sa.Column("lift_request_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_restrictions_email_hash", "restrictions", ["email_hash"])
    op.create_index("ux_restrictions_in_force", "restrictions", ["email_hash"], unique=True,
                    sqlite_where=sa.text("lifted_at IS NULL"),
                    postgresql_where=sa.text("lifted_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ux_restrictions_in_force", table_name="restrictions")
    op.drop_index("ix_restrictions_email_hash", table_name="restrictions")
    op.drop_table("restrictions")
