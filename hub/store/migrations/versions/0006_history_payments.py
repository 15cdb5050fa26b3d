"""An index for asking the history index by payment (amount, currency, day).

Zettle's receipts name nobody, so a lookup ties them to the subject by the payments found at
other processors (same day and amount). With ~150,000 receipts indexed that question must not
read the whole history: the index on (source, amount_minor, day) answers it directly.
"""

from __future__ import annotations

from alembic import op

revision = "0006_history_payments"
down_revision = "0005_history_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_history_objects_payment", "history_objects",
                    ["source", "amount_minor", "day"])


def downgrade() -> None:
    op.drop_index("ix_history_objects_payment", table_name="history_objects")
