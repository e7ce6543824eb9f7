"""Feed states remember their recent outages, to tell when late records fill them

A silence or drop that resolved with records missing is kept for a week with
what was seen of its minutes then; records that arrive for those minutes
later (a supplier re-sending its files) are set against it, and its
incident's timeline says how much of the gap was filled.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_states") as table:
        table.add_column(sa.Column("outages", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_states") as table:
        table.drop_column("outages")
