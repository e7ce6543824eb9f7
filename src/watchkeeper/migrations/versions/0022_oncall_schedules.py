"""on-call schedules

A schedule (name, IANA zone) has layers, each a rotation of users in order
(`oncall_members`) with a shift length, a handoff time, a start date and
optional weekly restrictions; overrides let a user cover a span; calendar
keys are the hashed secrets of the iCalendar URLs.

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-02 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKED: dict[str, dict[str, tuple[str, ...]]] = {"oncall_layers": {"shift_unit": ("h", "d", "w")}}


def upgrade() -> None:
    op.create_table(
        "oncall_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_oncall_schedules_name"),
    )
    op.create_table(
        "oncall_layers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("shift_count", sa.Integer(), nullable=False),
        sa.Column("shift_unit", sa.String(8), nullable=False),
        sa.Column("handoff_minute", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("restrictions", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["oncall_schedules.id"], name="fk_oncall_layers_schedule_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "position", name="uq_oncall_layers_schedule_id_position"),
        sa.CheckConstraint("shift_unit IN ('h', 'd', 'w')", name="ck_oncall_layers_shift_unit"),
    )
    op.create_table(
        "oncall_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["layer_id"], ["oncall_layers.id"], name="fk_oncall_members_layer_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_oncall_members_user_id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("layer_id", "position", name="uq_oncall_members_layer_id_position"),
    )
    op.create_index("ix_oncall_members_user_id", "oncall_members", ["user_id"], unique=False)
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["oncall_schedules.id"], name="fk_oncall_overrides_schedule_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_oncall_overrides_user_id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_oncall_overrides_user_id", "oncall_overrides", ["user_id"], unique=False)
    op.create_index(
        "ix_oncall_overrides_schedule_id_ends_at", "oncall_overrides", ["schedule_id", "ends_at"], unique=False
    )
    op.create_table(
        "oncall_calendar_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["oncall_schedules.id"], name="fk_oncall_calendar_keys_schedule_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_oncall_calendar_keys_user_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_oncall_calendar_keys_key_hash"),
    )
    op.create_index("ix_oncall_calendar_keys_schedule_id", "oncall_calendar_keys", ["schedule_id"], unique=False)
    op.create_index("ix_oncall_calendar_keys_user_id", "oncall_calendar_keys", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_oncall_calendar_keys_user_id", "oncall_calendar_keys")
    op.drop_index("ix_oncall_calendar_keys_schedule_id", "oncall_calendar_keys")
    op.drop_table("oncall_calendar_keys")
    op.drop_index("ix_oncall_overrides_schedule_id_ends_at", "oncall_overrides")
    op.drop_index("ix_oncall_overrides_user_id", "oncall_overrides")
    op.drop_table("oncall_overrides")
    op.drop_index("ix_oncall_members_user_id", "oncall_members")
    op.drop_table("oncall_members")
    op.drop_table("oncall_layers")
    op.drop_table("oncall_schedules")
