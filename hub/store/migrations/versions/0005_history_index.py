"""The local index of histories that cannot be searched by person (hub.store.history_index).

Zettle's receipts and Stripe's guest charges name nobody the processor can search for, so a
lookup reads the whole history. The index keeps, per history, how far it was read (a mark)
and, per object, its id, day, amount and currency and keyed hashes of the identifiers found in
it, so the next lookup reads only what is newer. Nothing here is readable personal data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_history_index"
down_revision = "0004_assumed_receipt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_marks",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("mark", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "history_objects",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("object_id", sa.String(200), primary_key=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
    )
    op.create_table(
        "history_terms",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("object_id", sa.String(200), primary_key=True),
        sa.Column("term_hash", sa.String(64), primary_key=True),
    )
    op.create_index("ix_history_terms_hash", "history_terms", ["term_hash"])


def downgrade() -> None:
    op.drop_index("ix_history_terms_hash", table_name="history_terms")
    op.drop_table("history_terms")
    op.drop_table("history_objects")
    op.drop_table("history_marks")
