"""The web desk's sign-in: users' password hashes, sessions, one-time sign-in links

A sign-in link goes out through the outbox, so a notification's subject may
now be `signin`.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import UTCDateTime

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECTS = ("incident", "case", "enquiry")
# The enum columns whose CHECK this migration sets (tests/test_enum_columns.py reads it).
CHECKED: dict[str, dict[str, tuple[str, ...]]] = {"notifications": {"subject": (*SUBJECTS, "signin")}}


def _subjects(values: Sequence[str]) -> None:
    with op.batch_alter_table("notifications") as table:
        table.drop_constraint("ck_notifications_subject", type_="check")
        table.create_check_constraint("ck_notifications_subject", f"subject IN ({', '.join(map(repr, values))})")


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
    for name in ("web_sessions", "signin_links"):
        columns: list[sa.Column[object]] = (
            [
                sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
                sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
            ]
            if name == "web_sessions"
            else [sa.Column("used_at", UTCDateTime(timezone=True), nullable=True)]
        )
        op.create_table(
            name,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
            sa.Column(
                "user_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name=f"fk_{name}_user_id_users", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
            sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
            *columns,
        )
        op.create_index(f"ix_{name}_user_id", name, ["user_id"])
    _subjects(CHECKED["notifications"]["subject"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE subject = 'signin'")
    _subjects(SUBJECTS)
    for name in ("signin_links", "web_sessions"):
        op.drop_index(f"ix_{name}_user_id", name)
        op.drop_table(name)
    with op.batch_alter_table("users") as table:
        table.drop_column("password_hash")
