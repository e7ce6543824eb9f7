"""file content hashed with BLAKE3: ingested_files.sha256 becomes content_hash, which names its algorithm

A file's content hash is now BLAKE3, four to five times quicker than SHA-256
on a 250 MB Master.csv (see feeds/arrival.py). The hashes already stored
stay as they are, prefixed "sha256:", new ones are "blake3:<hex>"; an ingest
compares a file with those older ones by SHA-256 where the sizes match
(feeds.ingest._counted_before), which the new index on size serves.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = "accepted + rejected > 0"
PREFIX_LENGTH = len("sha256:")  # as long as "blake3:"


def upgrade() -> None:
    op.drop_index("uq_ingested_files_sha256", "ingested_files")
    # RENAME COLUMN: SQLite since 3.25 and PostgreSQL alike, no table rebuild.
    op.execute("ALTER TABLE ingested_files RENAME COLUMN sha256 TO content_hash")
    if op.get_bind().dialect.name != "sqlite":  # SQLite does not hold a string to its declared length
        op.alter_column(
            "ingested_files", "content_hash", type_=sa.String(80), existing_type=sa.String(64), existing_nullable=False
        )
    op.execute("UPDATE ingested_files SET content_hash = 'sha256:' || content_hash")
    op.create_index(
        "uq_ingested_files_content_hash",
        "ingested_files",
        ["content_hash"],
        unique=True,
        sqlite_where=sa.text(COUNTED),
        postgresql_where=sa.text(COUNTED),
    )
    op.create_index("ix_ingested_files_size", "ingested_files", ["size"], unique=False)


def downgrade() -> None:
    # A BLAKE3 hash goes back without its prefix into a column that the code
    # before 0013 reads as a SHA-256: that code will not recognise a copy of
    # such a file, and counts it again.
    op.drop_index("ix_ingested_files_size", "ingested_files")
    op.drop_index("uq_ingested_files_content_hash", "ingested_files")
    op.execute(f"UPDATE ingested_files SET content_hash = substr(content_hash, {PREFIX_LENGTH + 1})")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "ingested_files", "content_hash", type_=sa.String(64), existing_type=sa.String(80), existing_nullable=False
        )
    op.execute("ALTER TABLE ingested_files RENAME COLUMN content_hash TO sha256")
    op.create_index(
        "uq_ingested_files_sha256",
        "ingested_files",
        ["sha256"],
        unique=True,
        sqlite_where=sa.text(COUNTED),
        postgresql_where=sa.text(COUNTED),
    )
