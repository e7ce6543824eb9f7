"""foundation: services, usage counts, files, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:21:12.038110
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchkeeper.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("service_column", sa.String(length=32), nullable=True),
        sa.Column("sequence_pattern", sa.String(length=200), nullable=True),
        sa.Column("created_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "file_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("created_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_findings_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_findings_feed"), ["feed"], unique=False)

    op.create_table(
        "ingested_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("received_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("ingested_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingested_files_feed"), ["feed"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingested_files_received_at"), ["received_at"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("first_seen", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("total_count", sa.BigInteger(), nullable=False),
        sa.Column("total_quantity", sa.Float(), nullable=False),
        sa.Column("created_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "usage_batches",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    with op.batch_alter_table("usage_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_batches_created_at"), ["created_at"], unique=False)

    op.create_table(
        "hour_counts",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "hour"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "minute_counts",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "minute"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("minute_counts")
    op.drop_table("hour_counts")
    with op.batch_alter_table("usage_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_batches_created_at"))

    op.drop_table("usage_batches")
    op.drop_table("services")
    with op.batch_alter_table("ingested_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingested_files_received_at"))
        batch_op.drop_index(batch_op.f("ix_ingested_files_feed"))

    op.drop_table("ingested_files")
    with op.batch_alter_table("file_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_findings_feed"))
        batch_op.drop_index(batch_op.f("ix_file_findings_created_at"))

    op.drop_table("file_findings")
    op.drop_table("feeds")
    op.drop_table("api_tokens")
