"""count tables keyed by time first: (hour, service_id, minute), (day, service_id, hour)

Keyed by service first, every hourly file touched a page per service in the
middle of the minute table, and the cost grew with the history kept: 1.8 s
per hourly upsert on 14 days of minutes. Keyed by time first, an hour's rows
append at the end and retention deletes a range at the start.

The rebuilt tables carry no foreign key to services (see feeds.models); the
downgrade puts it back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: (bucket column, key column, bucket width in key units)
TABLES = {"minute_counts": ("hour", "minute", 60), "hour_counts": ("day", "hour", 24)}


def _rebuild(table: str, *, by_time: bool) -> None:
    """Copy `table` into a new one with the other key order, then swap them in."""
    bucket, key, width = TABLES[table]
    columns = [sa.Column(bucket, sa.Integer(), autoincrement=False, nullable=False)] if by_time else []
    primary = [bucket, "service_id", key] if by_time else ["service_id", key]
    new = f"{table}_rebuilt"
    op.create_table(
        new,
        *columns,
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column(key, sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        *([] if by_time else [sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE")]),
        sa.PrimaryKeyConstraint(*primary),
        sqlite_with_rowid=False,
    )
    head = f"{bucket}, " if by_time else ""
    source = f"{key} / {width}, " if by_time else ""
    op.execute(
        f"INSERT INTO {new} ({head}service_id, {key}, count, quantity) "
        f"SELECT {source}service_id, {key}, count, quantity FROM {table} "
        f"ORDER BY {', '.join(str(i + 1) for i in range(len(primary)))}"
    )
    op.drop_table(table)
    op.rename_table(new, table)
    if op.get_bind().dialect.name == "postgresql":
        # Constraint names keep the table name they were made under.
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {new}_pkey TO {table}_pkey")
        if not by_time:
            op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {new}_service_id_fkey TO {table}_service_id_fkey")


def upgrade() -> None:
    for table in TABLES:
        _rebuild(table, by_time=True)


def downgrade() -> None:
    for table in TABLES:
        _rebuild(table, by_time=False)
