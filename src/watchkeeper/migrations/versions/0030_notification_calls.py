"""notifications.call: a voice page, claimed by the calls lane

Calls ring for up to a minute, so they are claimed apart from messages; the
URL that says which a row is is sealed, so the kind is a column of its own.
Rows written before it are messages to the claim; a voice page among them
is still rung, by the messages' lane.

Revision ID: 0030
Revises: 0025
Create Date: 2026-12-02 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        table.add_column(sa.Column("call", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        table.drop_column("call")
