"""The shared rate budget: one row per processor credential (``rate_budget``).

Workers on several machines draw from one budget per processor credential, so that together
they stay within the processor's documented rate (see hub.store.rate_budget).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_rate_budget"
down_revision = "0002_claims_and_open_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_budget",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("starts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_budget")
