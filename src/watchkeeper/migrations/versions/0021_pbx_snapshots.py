"""pbx snapshots

What each look at a PBX's manager interface (an `ami` check) saw: its start
and reload times, its trunks' states, its configuration files' hashes, its
channels and calls, and what changed since the look before. The last one is
what the next look compares with; the rest are the channels and calls time
series, read by (check_id, at).

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-02 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pbx_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reloaded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("trunks", sa.JSON(), nullable=False),
        sa.Column("config_hashes", sa.JSON(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name="fk_pbx_snapshots_check_id_checks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pbx_snapshots_check_id_at", "pbx_snapshots", ["check_id", "at"], unique=False)
    op.create_index("ix_pbx_snapshots_at", "pbx_snapshots", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pbx_snapshots_at", "pbx_snapshots")
    op.drop_index("ix_pbx_snapshots_check_id_at", "pbx_snapshots")
    op.drop_table("pbx_snapshots")
