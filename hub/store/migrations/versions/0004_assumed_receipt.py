"""Whether a request's receipt date was only assumed: ``requests.received_at_assumed``.

``dsar lookup`` and ``dsar erase`` open a request themselves when the owner did not (``dsar
requests open --received``); its receipt is then the moment it was opened, which may be later
than the day the request really arrived, and so is its deadline. The flag keeps that visible
(``dsar requests show``). Existing requests are marked as not assumed: nothing recorded says
otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_assumed_receipt"
down_revision = "0003_rate_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as table:
        table.add_column(sa.Column("received_at_assumed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("requests") as table:
        table.drop_column("received_at_assumed")
