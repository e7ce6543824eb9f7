"""appended files and file-control alerts: what of a file was counted, where it came from, open findings

- ingested_files.head_hash: the BLAKE3 hash of a file's first lines, by
  which a file that begins with one counted before (an appended Master.csv)
  is found; counted_from: the byte offset its counting began at (0 for a
  whole file); origin: a hash of the path, device, inode and modification
  time it was read from, so the inbox knows a file it counted before a crash.
- feeds.append: the feed's files grow (Asterisk's Master.csv): each is
  followed by name, and only what was appended is counted.
- file_findings.resolved_at: when the alert a finding raised resolved (a
  late file filled the gap, the feed's next good file came); first_missing
  and last_missing: the numbers a sequence gap misses. Findings recorded
  before raised no alert: they are taken as resolved when they were made.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchkeeper.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD and DROP COLUMN, no table rebuilt: SQLite since 3.35 and PostgreSQL alike.
    op.add_column("ingested_files", sa.Column("head_hash", sa.String(length=80), nullable=True))
    op.add_column("ingested_files", sa.Column("counted_from", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("ingested_files", sa.Column("origin", sa.String(length=80), nullable=True))
    op.create_index("ix_ingested_files_head_hash", "ingested_files", ["head_hash"], unique=False)
    op.create_index("ix_ingested_files_feed_name", "ingested_files", ["feed", "name"], unique=False)
    op.add_column("feeds", sa.Column("append", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("file_findings", sa.Column("resolved_at", watchkeeper.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("file_findings", sa.Column("first_missing", sa.BigInteger(), nullable=True))
    op.add_column("file_findings", sa.Column("last_missing", sa.BigInteger(), nullable=True))
    op.execute("UPDATE file_findings SET resolved_at = created_at")
    op.create_index("ix_file_findings_open", "file_findings", ["feed", "resolved_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_file_findings_open", "file_findings")
    for column in ("last_missing", "first_missing", "resolved_at"):
        op.drop_column("file_findings", column)
    op.drop_column("feeds", "append")
    op.drop_index("ix_ingested_files_feed_name", "ingested_files")
    op.drop_index("ix_ingested_files_head_hash", "ingested_files")
    for column in ("origin", "counted_from", "head_hash"):
        op.drop_column("ingested_files", column)
