"""checks and their pings

A check is a heartbeat a job pings (or a probe the scheduler runs) with a
schedule and a stored, indexed deadline `due_at`; `pings` keeps what each
ping said (kind, exit status, run id, the first 100 KB of its body, who sent
it) and the run time it measured.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKED: dict[str, dict[str, tuple[str, ...]]] = {
    "checks": {
        "kind": ("heartbeat", "http", "tcp", "tls", "dns", "sip", "ami"),
        "schedule": ("period", "cron", "oncalendar"),
        "status": ("new", "up", "started", "late", "down", "paused"),
    },
    "pings": {"kind": ("success", "start", "fail", "log")},
}


def _checked(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=f"ck_{table}_{column}")
        for column, values in CHECKED[table].items()
    ]


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("ping_key", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("schedule", sa.String(16), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("expression", sa.String(200), nullable=True),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("service", sa.String(200), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("success_keywords", sa.JSON(), nullable=False),
        sa.Column("failure_keywords", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_ping_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_rid", sa.String(64), nullable=True),
        sa.Column("last_duration_seconds", sa.Float(), nullable=True),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_checks_customer_id_customers"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_checks_name"),
        sa.UniqueConstraint("uuid", name="uq_checks_uuid"),
        sa.UniqueConstraint("ping_key", "slug", name="uq_checks_ping_key_slug"),
        *_checked("checks"),
    )
    op.create_index("ix_checks_due_at", "checks", ["due_at"], unique=False)
    op.create_index("ix_checks_ping_key", "checks", ["ping_key"], unique=False)
    op.create_index("ix_checks_customer_id", "checks", ["customer_id"], unique=False)
    op.create_table(
        "pings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("rid", sa.String(64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name="fk_pings_check_id_checks", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        *_checked("pings"),
    )
    op.create_index("ix_pings_check_id_at", "pings", ["check_id", "at"], unique=False)
    op.create_index("ix_pings_at", "pings", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pings_at", "pings")
    op.drop_index("ix_pings_check_id_at", "pings")
    op.drop_table("pings")
    op.drop_index("ix_checks_customer_id", "checks")
    op.drop_index("ix_checks_ping_key", "checks")
    op.drop_index("ix_checks_due_at", "checks")
    op.drop_table("checks")
