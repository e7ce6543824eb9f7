"""Migrations that move data keep it: run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from watchkeeper.db import _alembic_config, transaction, upgrade
from watchkeeper.feeds.service import service_counts

from .conftest import NOW


def _counts(db, resolution):
    with transaction(db.sessions) as session:
        points = service_counts(session=session, name="voip-de", resolution=resolution,
                                since=NOW - timedelta(days=3), until=NOW)  # fmt: skip
        return [(p.at, p.count, p.quantity) for p in points]


def test_0011_keeps_every_count_when_it_reorders_the_count_tables(db):
    command.downgrade(_alembic_config(db.engine), "0010")
    minute = int(NOW.timestamp()) // 60
    stamp = "2026-11-20 00:00:00"
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO services (id, name, stage, settings, first_seen, last_seen, last_received_at, "
            f"total_count, total_quantity, created_at) VALUES (1, 'voip-de', 'production', '{{}}', '{stamp}', "
            f"'{stamp}', '{stamp}', 10, 25.0, '{stamp}')"
        ))  # fmt: skip
        # The 0010 layout: (service_id, minute) and (service_id, hour).
        for offset, count in ((0, 4), (-1, 3), (-61, 2), (-60 * 24 - 5, 1)):
            connection.execute(text(f"INSERT INTO minute_counts VALUES (1, {minute + offset}, {count}, {count * 2.5})"))
        for hour, count in ((minute // 60, 7), (minute // 60 - 1, 2), (minute // 60 - 25, 1)):
            connection.execute(text(f"INSERT INTO hour_counts VALUES (1, {hour}, {count}, {count * 2.5})"))

    upgrade(db.engine)

    def at(minutes_ago):
        return datetime.fromtimestamp((minute - minutes_ago) * 60, UTC)

    assert _counts(db, "minute") == [(at(60 * 24 + 5), 1, 2.5), (at(61), 2, 5.0), (at(1), 3, 7.5), (at(0), 4, 10.0)]
    assert _counts(db, "hour") == [(at(60 * 25), 1, 2.5), (at(60), 2, 5.0), (at(0), 7, 17.5)]
    # And back: the downgrade keeps them too.
    command.downgrade(_alembic_config(db.engine), "0010")
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT service_id, minute, count FROM minute_counts ORDER BY minute")).all()
    assert [tuple(r) for r in rows] == [(1, minute - 60 * 24 - 5, 1), (1, minute - 61, 2), (1, minute - 1, 3), (1, minute, 4)]
