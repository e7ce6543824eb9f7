"""services added before their first record: first_seen, last_seen and last_received_at may be null

An operator adds a supplier's service before it sends (`services add`); until
its first record, it has no first or last record and no data received.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("first_seen", "last_seen", "last_received_at")


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, existing_type=UTCDateTime(timezone=True), nullable=True)


def downgrade() -> None:
    op.execute(
        "UPDATE services SET first_seen = created_at, last_seen = created_at, "
        "last_received_at = created_at WHERE first_seen IS NULL"
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, existing_type=UTCDateTime(timezone=True), nullable=False)
