"""plans may ask the customer about a silent feed by themselves

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_plans", schema=None) as batch_op:
        # Off for existing plans: nobody agreed to mail their customers.
        batch_op.add_column(sa.Column("auto_enquire", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("support_plans", schema=None) as batch_op:
        batch_op.drop_column("auto_enquire")
