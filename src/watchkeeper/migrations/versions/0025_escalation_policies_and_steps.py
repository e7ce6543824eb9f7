"""escalation policies, routes, personal notification rules, escalations and their steps

A policy is ordered levels (`escalation_levels`, their users in
`escalation_level_users`, or a schedule's name), a repeat count and an
optional acknowledgement timeout; routes pick a policy by label matchers,
first match first. Each person's `notification_rules` say which channel, how
long after their level is paged, for each urgency. An incident's escalation
keeps a JSON snapshot of its policy; each level of each pass is a due row of
`escalation_steps`, unique per (incident, level, repeat).

Revision ID: 0025
Revises: 0019
Create Date: 2026-12-02 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import Sealed, UTCDateTime

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKED: dict[str, dict[str, tuple[str, ...]]] = {
    "notification_rules": {"urgency": ("high", "low")},
    "escalations": {"urgency": ("high", "low"), "status": ("active", "acknowledged", "ended")},
    "escalation_steps": {"status": ("pending", "done", "cancelled")},
}


def _checked(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"ck_{table}_{column}")
        for column, values in CHECKED[table].items()
    ]


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("ack_timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_escalation_policies_name"),
    )
    op.create_table(
        "escalation_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(100), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["escalation_policies.id"],
            name="fk_escalation_levels_policy_id_escalation_policies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("policy_id", "position", name="uq_escalation_levels_policy_id_position"),
    )
    op.create_index("ix_escalation_levels_policy_id", "escalation_levels", ["policy_id"], unique=False)
    op.create_table(
        "escalation_level_users",
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["escalation_levels.id"],
            name="fk_escalation_level_users_level_id_escalation_levels",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_escalation_level_users_user_id_users"),
        sa.PrimaryKeyConstraint("level_id", "user_id"),
    )
    op.create_index("ix_escalation_level_users_user_id", "escalation_level_users", ["user_id"], unique=False)
    op.create_table(
        "escalation_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["escalation_policies.id"], name="fk_escalation_routes_policy_id_escalation_policies"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("position", name="uq_escalation_routes_position"),
    )
    op.create_index("ix_escalation_routes_policy_id", "escalation_routes", ["policy_id"], unique=False)
    op.create_table(
        "notification_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("channel", Sealed(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notification_rules_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        *_checked("notification_rules"),
    )
    op.create_index("ix_notification_rules_user_id", "notification_rules", ["user_id"], unique=False)
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_pass", sa.Integer(), nullable=False),
        sa.Column("last_pass", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ack_due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_escalations_incident_id_incidents"),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["escalation_policies.id"],
            name="fk_escalations_policy_id_escalation_policies",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", name="uq_escalations_incident_id"),
        *_checked("escalations"),
    )
    op.create_index("ix_escalations_ack_due_at", "escalations", ["ack_due_at"], unique=False)
    op.create_index("ix_escalations_status", "escalations", ["status"], unique=False)
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("planned_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ran_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"], ["escalations.id"], name="fk_escalation_steps_escalation_id_escalations"
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_escalation_steps_incident_id_incidents"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "level", "repeat", name="uq_escalation_steps_incident_id_level_repeat"),
        *_checked("escalation_steps"),
    )
    op.create_index("ix_escalation_steps_due_at", "escalation_steps", ["due_at"], unique=False)
    op.create_index("ix_escalation_steps_escalation_id", "escalation_steps", ["escalation_id"], unique=False)
    op.create_index("ix_escalation_steps_status", "escalation_steps", ["status"], unique=False)


def downgrade() -> None:
    for table in (
        "escalation_steps",
        "escalations",
        "notification_rules",
        "escalation_routes",
        "escalation_level_users",
        "escalation_levels",
        "escalation_policies",
    ):
        op.drop_table(table)
