"""Migrations that move data keep it: run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from watchkeeper.db import _alembic_config, current_revision, transaction, upgrade
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


STAMP = "'2026-11-20 00:00:00'"


def _desk_at_0017(connection):
    """A customer with a case for incident 1, an enquiry, and timeline entries, as 0017 stored them."""
    for sql in (
        "INSERT INTO support_plans (id, name, hours, timezone, closed_days, targets, auto_case, created_at, "
        f"auto_enquire) VALUES (1, 'gold', '24x7', 'UTC', '[]', '{{}}', true, {STAMP}, false)",
        f"INSERT INTO customers (id, name, plan_id, created_at) VALUES (1, 'acme', 1, {STAMP})",
        *(
            "INSERT INTO incidents (id, title, status, urgency, severity, group_key, group_labels, created_at) "
            f"VALUES ({i}, 'feed silent', 'triggered', 'high', 'critical', 'g{i}', '{{}}', {STAMP})"
            for i in (1, 2)
        ),
        "INSERT INTO alerts (id, dedup_key, source, severity, urgency, status, summary, labels, started_at, "
        "first_seen, last_seen, count, details, group_key, incident_id, changes, flapping) VALUES (1, 'k', "
        f"'feeds', 'critical', 'high', 'firing', 'silent', '{{}}', {STAMP}, {STAMP}, {STAMP}, 1, '{{}}', 'g1', 1, "
        "'[]', false)",
        # Case 1 names incident 1 twice and an incident that is gone; case 2 names none.
        *(
            "INSERT INTO cases (id, customer_id, title, priority, status, opened_by, created_at, escalation_level, "
            f"incident_ids) VALUES ({i}, 1, 'case {i}', 'p1', 'new', 'watchkeeper', {STAMP}, 0, '{ids}')"
            for i, ids in ((1, "[1, 1, 99]"), (2, "[]"))
        ),
        *(
            "INSERT INTO enquiries (id, customer_id, service, incident_id, case_id, question, if_expected, "
            f"snooze_hours, created_at, expires_at) VALUES ({i}, 1, 'voip-de', {incident}, {case}, 'expected?', "
            f"'snooze', 24, {STAMP}, {STAMP})"
            for i, incident, case in ((1, 1, 1), (2, 99, 98))
        ),
        *(
            "INSERT INTO incident_timeline (id, incident_id, at, kind, actor, message, alert_id, data) VALUES "
            f"({i}, 1, {STAMP}, '{kind}', 'watchkeeper', 'm', {alert}, '{data}')"
            for i, kind, alert, data in ((1, "alert_joined", 1, "{}"), (2, "case_opened", 77, '{"case_id": 1}'))
        ),
    ):
        connection.execute(text(sql))


def test_0018_links_cases_enquiries_and_timeline_entries_by_foreign_keys_and_back(db):
    from watchkeeper.incidents.service import timeline
    from watchkeeper.support.models import Case, Enquiry

    command.downgrade(_alembic_config(db.engine), "0017")
    with db.engine.begin() as connection:
        _desk_at_0017(connection)

    upgrade(db.engine)

    with db.engine.connect() as connection:
        links = connection.execute(text("SELECT case_id, incident_id FROM case_incidents")).all()
    assert [tuple(r) for r in links] == [(1, 1)]  # once, and only to an incident that exists
    with transaction(db.sessions) as session:
        assert [session.get(Case, i).incident_ids for i in (1, 2)] == [[1], []]
        enquiries = [(e.incident_id, e.case_id) for e in session.query(Enquiry).order_by(Enquiry.id)]
        assert enquiries == [(1, 1), (None, None)]  # ids that named nothing are cleared
        entries = timeline(1, session=session)
        assert [(e.alert_id, e.data) for e in entries] == [(1, {}), (None, {"case_id": 1})]
    for sql in (
        "INSERT INTO case_incidents (case_id, incident_id) VALUES (2, 42)",
        "UPDATE enquiries SET case_id = 42 WHERE id = 1",
        "UPDATE incident_timeline SET alert_id = 42 WHERE id = 1",
    ):
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(text(sql))

    with transaction(db.sessions) as session:
        session.get(Case, 2).incident_ids = [2, 1]
    command.downgrade(_alembic_config(db.engine), "0017")
    with db.engine.connect() as connection:
        kept = connection.execute(text("SELECT id, incident_ids FROM cases ORDER BY id")).all()
    assert [(i, json.loads(ids) if isinstance(ids, str) else ids) for i, ids in kept] == [(1, [1]), (2, [1, 2])]


def test_0018_refuses_a_status_outside_its_enum_and_says_which(db):
    command.downgrade(_alembic_config(db.engine), "0017")
    with db.engine.begin() as connection:
        _desk_at_0017(connection)
        connection.execute(text("UPDATE cases SET status = 'parked' WHERE id = 2"))

    with pytest.raises(RuntimeError, match="cases.status holds 'parked', not one of new, open, pending_customer"):
        upgrade(db.engine)
    assert current_revision(db.engine) == "0017"


def test_migrations_on_sqlite_keep_the_rows_that_refer_to_a_copied_table(db):
    """SQLite alters a table by copying it; the rows of tables that refer to
    it (feed_states to services, ON DELETE CASCADE) stay."""
    command.downgrade(_alembic_config(db.engine), "0016")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO services (id, name, stage, settings, first_seen, last_seen, last_received_at, "
                f"total_count, total_quantity, created_at) VALUES (1, 'voip-de', 'production', '{{}}', {STAMP}, "
                f"{STAMP}, {STAMP}, 0, 0.0, {STAMP})"
            )
        )
        connection.execute(text(f"INSERT INTO feed_states (service_id, due_at) VALUES (1, {STAMP})"))

    upgrade(db.engine)

    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT service_id FROM feed_states")).scalars().all() == [1]
