"""secrets sealed under the server key: channel URLs and notification bodies encrypted, link key out of the database

Apprise URLs hold passwords and tokens (contacts.channel, users.channels,
notifications.url) and a notification's body may hold live answer links:
each is sealed with AES-GCM under a key derived from the server's key
(keys.py), which lives in WATCHKEEPER_SECRET_KEY or a key file, never in the
database. The key enquiry links were signed with, kept in clear in
server_secrets as `links`, is removed; it survives only sealed, as
`links-legacy` with the last enquiry it signed, so links already sent work
until their enquiry expires (support.enquiries._legacy) and no later ones
can be signed with it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from watchkeeper.db import server_key

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sealed text is about 4/3 of the plain text plus 40 characters: wider than the old limits.
WIDENED = (("contacts", "channel", 500), ("notifications", "url", 1000), ("notifications", "body", 8000))


def _rewrite(change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    for table, column in (("contacts", "channel"), ("notifications", "url"), ("notifications", "body")):
        rows = sa.table(table, sa.column("id"), sa.column(column, sa.Text))
        for row_id, value in bind.execute(sa.select(rows.c.id, rows.c[column])).all():
            if value is not None:
                bind.execute(rows.update().where(rows.c.id == row_id).values({column: change(value)}))
    users = sa.table("users", sa.column("id"), sa.column("channels", sa.JSON))
    for row_id, channels in bind.execute(sa.select(users.c.id, users.c.channels)).all():
        if channels:
            bind.execute(users.update().where(users.c.id == row_id).values(channels=[change(str(c)) for c in channels]))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not hold a VARCHAR to its length
        for table, column, _ in WIDENED:
            op.alter_column(table, column, type_=sa.Text())
    key = server_key(op.get_bind())  # read (or its file made) only where there is something to seal
    _rewrite(lambda value: key.seal(value))
    bind = op.get_bind()
    secrets = sa.table("server_secrets", sa.column("name"), sa.column("value"))
    old = bind.execute(sa.select(secrets.c.value).where(secrets.c.name == "links")).scalar()
    last = bind.execute(sa.text("SELECT max(id) FROM enquiries")).scalar()
    bind.execute(secrets.delete().where(secrets.c.name.in_(["links", "links-legacy"])))
    if last is not None:
        # Empty after the colon: the links were signed with WATCHKEEPER_SECRET_KEY itself.
        bind.execute(secrets.insert().values(name="links-legacy", value=f"{last}:{key.seal(old) if old else ''}"))


def downgrade() -> None:
    key = server_key(op.get_bind())
    _rewrite(lambda value: key.unseal(value))
    bind = op.get_bind()
    secrets = sa.table("server_secrets", sa.column("name"), sa.column("value"))
    legacy = bind.execute(sa.select(secrets.c.value).where(secrets.c.name == "links-legacy")).scalar()
    bind.execute(secrets.delete().where(secrets.c.name == "links-legacy"))
    if legacy and legacy.partition(":")[2]:
        bind.execute(secrets.insert().values(name="links", value=key.unseal(legacy.partition(":")[2])))
    if bind.dialect.name == "postgresql":
        for table, column, length in WIDENED:
            op.alter_column(table, column, type_=sa.String(length))
