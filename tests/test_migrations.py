"""Migrations that move data keep it: run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from watchkeeper.db import _alembic_config, transaction, upgrade
from watchkeeper.feeds.service import service_counts

from .conftest import NOW


def _counts(db, resolution):
    with transaction(db.sessions) as session:
        points = service_counts(
            session=session, name="voip-de", resolution=resolution, since=NOW - timedelta(days=3), until=NOW
        )
        return [(p.at, p.count, p.quantity) for p in points]


def test_0011_keeps_every_count_when_it_reorders_the_count_tables(db):
    command.downgrade(_alembic_config(db.engine), "0010")
    minute = int(NOW.timestamp()) // 60
    stamp = "2026-11-20 00:00:00"
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO services (id, name, stage, settings, first_seen, last_seen, last_received_at, "
                f"total_count, total_quantity, created_at) VALUES (1, 'voip-de', 'production', '{{}}', '{stamp}', "
                f"'{stamp}', '{stamp}', 10, 25.0, '{stamp}')"
            )
        )
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
    assert [tuple(r) for r in rows] == [
        (1, minute - 60 * 24 - 5, 1),
        (1, minute - 61, 2),
        (1, minute - 1, 3),
        (1, minute, 4),
    ]


def test_0012_keeps_every_file_and_refuses_a_second_counted_copy_only(db, clock, tmp_path):
    from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction

    command.downgrade(_alembic_config(db.engine), "0011")
    row = (
        "INSERT INTO ingested_files (feed, name, sha256, size, sequence, format, status, accepted, rejected, "
        "errors, received_at) VALUES ('default', '{}', '{}', 10, {}, 'usage-csv', 'ingested', {}, 0, '[]', "
        "'2026-11-20 00:00:00')"
    )
    with db.engine.begin() as connection:
        connection.execute(text(row.format("cdr_0001.csv", "a" * 64, 1, 5)))
        connection.execute(text(row.format("cdr_0002.csv", "b" * 64, 2, 0)))

    upgrade(db.engine)

    with db.engine.connect() as connection:
        kept = connection.execute(text("SELECT id, name, sequence, accepted FROM ingested_files ORDER BY id")).all()
    assert [tuple(r) for r in kept] == [(1, "cdr_0001.csv", 1, 5), (2, "cdr_0002.csv", 2, 0)]
    for name in ("cdr_0003.csv", "cdr_0004.csv"):
        (tmp_path / name).write_text("timestamp,service,count\n")
        report = ingest_file_in_transaction(
            tmp_path / name,
            db.sessions,
            clock=clock,
            settings=db.settings,
            options=FileOptions(sequence_pattern=r"cdr_(\d+)"),
        )
        assert (report.status, report.findings) == ("ingested", [])
    with db.engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM ingested_files ORDER BY id")).scalars().all()
    assert ids == [1, 2, 3, 4]  # new files take new ids after the rebuild
    copy = row.replace("sha256", "content_hash").format("copy.csv", "sha256:" + "a" * 64, "NULL", 3)  # 0013's names
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(text(copy))


def test_0013_a_file_counted_under_its_sha256_is_still_refused_when_it_comes_again(db, clock, tmp_path):
    import hashlib

    from watchkeeper.feeds.ingest import ingest_file_in_transaction
    from watchkeeper.feeds.service import list_files

    content = b"timestamp,service,count\n2026-11-23T09:00:00Z,voip-de,3\n"
    command.downgrade(_alembic_config(db.engine), "0012")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ingested_files (feed, name, sha256, size, format, status, accepted, rejected, errors, "
                f"received_at) VALUES ('default', 'cdr_0001.csv', '{hashlib.sha256(content).hexdigest()}', "
                f"{len(content)}, 'usage-csv', 'ingested', 1, 0, '[]', '2026-11-20 00:00:00')"
            )
        )

    upgrade(db.engine)

    with transaction(db.sessions) as session:
        assert [f.content_hash for f in list_files(session=session)] == [
            "sha256:" + hashlib.sha256(content).hexdigest()
        ]
    (tmp_path / "again.csv").write_bytes(content)
    (tmp_path / "other.csv").write_bytes(content.replace(b"voip-de", b"voip-fr"))  # the same size, other content
    again, other = (
        ingest_file_in_transaction(tmp_path / name, db.sessions, clock=clock, settings=db.settings)
        for name in ("again.csv", "other.csv")
    )
    assert (again.status, again.message) == (
        "duplicate",
        "same content as cdr_0001.csv (feed default), ingested 2026-11-20 00:00:00 UTC; nothing counted",
    )
    assert (other.status, other.accepted) == ("ingested", 1)
    with transaction(db.sessions) as session:
        hashes = [f.content_hash for f in list_files(session=session)]
    assert hashes[0].startswith("blake3:") and len(hashes[0]) == len("blake3:") + 64

    # Back to 0012: each hash without its prefix, in the sha256 column.
    command.downgrade(_alembic_config(db.engine), "0012")
    with db.engine.connect() as connection:
        kept = connection.execute(text("SELECT name, sha256 FROM ingested_files ORDER BY id")).all()
    assert [tuple(r) for r in kept] == [
        ("cdr_0001.csv", hashlib.sha256(content).hexdigest()),
        ("other.csv", hashes[0].removeprefix("blake3:")),
    ]


def test_0017_lets_a_service_wait_for_its_first_record_and_back_gives_it_its_creation_time(db):
    from watchkeeper.feeds.schemas import ServicePatch
    from watchkeeper.feeds.service import add_service

    with transaction(db.sessions) as session:
        add_service(session=session, name="sup-x", patch=ServicePatch(), now=NOW)
    command.downgrade(_alembic_config(db.engine), "0016")
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM services WHERE first_seen IS NULL")).scalar() == 0
    upgrade(db.engine)
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(text("UPDATE services SET name = NULL"))  # the rebuilt table keeps its other rules
