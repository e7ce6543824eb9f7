"""files without records are never duplicates: the content hash is unique only among files with rows

A supplier's header-only file for a quiet hour has the same bytes as the one
for the hour before. With the hash unique over every file, the second was
refused as a duplicate, quarantined by the inbox, and its sequence number
went unrecorded, so the next file reported a false gap.

SQLite cannot drop a constraint, so there the table is rebuilt; PostgreSQL
drops the constraint by the name it gave it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchkeeper.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = "accepted + rejected > 0"
COLUMNS = "id, feed, name, sha256, size, sequence, format, status, accepted, rejected, errors, received_at"


def _rebuild_sqlite(*, unique_hash: bool) -> None:
    op.create_table(
        "ingested_files_rebuilt",
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
        *([sa.UniqueConstraint("sha256")] if unique_hash else []),
    )
    op.execute(f"INSERT INTO ingested_files_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM ingested_files")
    op.drop_table("ingested_files")
    op.rename_table("ingested_files_rebuilt", "ingested_files")
    op.create_index("ix_ingested_files_feed", "ingested_files", ["feed"], unique=False)
    op.create_index("ix_ingested_files_received_at", "ingested_files", ["received_at"], unique=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique_hash=False)
    else:
        op.drop_constraint("ingested_files_sha256_key", "ingested_files", type_="unique")
    op.create_index(
        "uq_ingested_files_sha256",
        "ingested_files",
        ["sha256"],
        unique=True,
        sqlite_where=sa.text(COUNTED),
        postgresql_where=sa.text(COUNTED),
    )


def downgrade() -> None:
    # Files without records that share their bytes keep the first of them.
    op.drop_index("uq_ingested_files_sha256", "ingested_files")
    op.execute("DELETE FROM ingested_files WHERE id NOT IN (SELECT min(id) FROM ingested_files GROUP BY sha256)")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique_hash=True)
    else:
        op.create_unique_constraint("ingested_files_sha256_key", "ingested_files", ["sha256"])
