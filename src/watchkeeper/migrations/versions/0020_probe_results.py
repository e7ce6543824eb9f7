"""probes: their damping and last result on the check, their results kept

A probe check (http, tcp, tls, dns, sip) keeps what the damping needs between
runs (`probe_state`, `fail_after`, `recover_after`) and its last result on
the row; `probe_results` keeps every run (up, latency, status code, reason),
indexed by check and time, pruned by retention.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fail_after", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("recover_after", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("probe_state", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("last_run_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_up", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("last_latency", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(300), nullable=True))
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("latency", sa.Float(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name="fk_probe_results_check_id_checks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_probe_results_check_id_at", "probe_results", ["check_id", "at"], unique=False)
    op.create_index("ix_probe_results_at", "probe_results", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_probe_results_at", "probe_results")
    op.drop_index("ix_probe_results_check_id_at", "probe_results")
    op.drop_table("probe_results")
    with op.batch_alter_table("checks", schema=None) as batch_op:
        for column in ("last_error", "last_latency", "last_up", "last_run_at", "probe_state", "recover_after"):
            batch_op.drop_column(column)
        batch_op.drop_column("fail_after")
