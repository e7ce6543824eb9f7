"""Ingest use cases against real storage: every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from watchkeeper.db import transaction
from watchkeeper.feeds.ingest import FileOptions, IdempotencyConflict, ingest_batch, ingest_file_in_transaction
from watchkeeper.feeds.models import FileFinding, HourCount, IngestedFile, MinuteCount, Service
from watchkeeper.feeds.parse import Format
from watchkeeper.feeds.service import apply_retention, service_counts

from ..conftest import NOW


def post(db, clock, records, key=None, content_type="application/json"):
    body = records if isinstance(records, bytes) else json.dumps(records).encode()
    with transaction(db.sessions) as session:
        return ingest_batch(body, content_type, idempotency_key=key, session=session, clock=clock, settings=db.settings)


def minute_counts(db, name):
    with transaction(db.sessions) as session:
        service = session.scalar(select(Service).where(Service.name == name))
        rows = session.execute(
            select(MinuteCount.minute, MinuteCount.count, MinuteCount.quantity)
            .where(MinuteCount.service_id == service.id)
            .order_by(MinuteCount.minute)
        )
        return [tuple(r) for r in rows]


def service(db, name):
    with transaction(db.sessions) as session:
        return session.scalar(select(Service).where(Service.name == name))


def test_first_record_discovers_a_new_service_with_first_and_last_seen(db, clock):
    answer, _ = post(
        db,
        clock,
        [
            {"service": "voip-de", "ts": "2026-11-23T09:15:30Z", "count": 4, "quantity": 60},
            {"service": "voip-de", "ts": "2026-11-23T09:17:10Z"},
        ],
    )
    assert (answer["accepted"], answer["records"], answer["new_services"]) == (2, 5, ["voip-de"])
    s = service(db, "voip-de")
    assert (s.stage, s.total_count, s.total_quantity) == ("new", 5, 60.0)
    assert (s.first_seen.isoformat(), s.last_seen.isoformat()) == (
        "2026-11-23T09:15:30+00:00",
        "2026-11-23T09:17:10+00:00",
    )
    assert s.last_received_at == NOW


def test_records_fold_into_one_row_per_service_minute_and_add_up_across_batches(db, clock):
    post(
        db,
        clock,
        [
            {"service": "a", "ts": "2026-11-23T09:15:01Z", "count": 2, "quantity": 1.5},
            {"service": "a", "ts": "2026-11-23T09:15:59Z", "count": 3},
        ],
    )
    post(db, clock, [{"service": "a", "ts": "2026-11-23T09:15:30Z", "count": 1, "quantity": 0.5}])
    minute = int(NOW.replace(hour=9, minute=15).timestamp()) // 60
    assert minute_counts(db, "a") == [(minute, 6, 2.0)]
    with transaction(db.sessions) as session:
        assert session.scalar(select(func.sum(HourCount.count))) == 6


def test_a_retried_batch_with_the_same_idempotency_key_counts_once(db, clock):
    batch = [{"service": "a", "ts": "2026-11-23T09:15:00Z", "count": 10}]
    first, replayed_first = post(db, clock, batch, key="batch-1")
    second, replayed_second = post(db, clock, batch, key="batch-1")
    assert (replayed_first, replayed_second) == (False, True)
    assert first == second
    assert service(db, "a").total_count == 10
    assert minute_counts(db, "a")[0][1] == 10


def test_an_idempotency_key_reused_for_other_data_is_refused(db, clock):
    post(db, clock, [{"service": "a", "ts": "2026-11-23T09:15:00Z"}], key="k")
    with pytest.raises(IdempotencyConflict, match="different batch"):
        post(db, clock, [{"service": "b", "ts": "2026-11-23T09:15:00Z"}], key="k")


def test_bad_rows_are_reported_by_index_and_field_and_good_rows_kept(db, clock):
    answer, _ = post(
        db,
        clock,
        [
            {"service": "a", "ts": "2026-11-23T09:15:00Z"},
            {"service": "a", "ts": "nope"},
            {"ts": "2026-11-23T09:15:00Z"},
            "not an object",
            {"service": "a", "ts": "2026-11-23T09:16:00Z", "count": True},
        ],
    )
    assert answer["accepted"] == 1
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (1, "timestamp"),
        (2, "service"),
        (3, "row"),
        (4, "count"),
    ]
    assert service(db, "a").total_count == 1


def test_csv_batches_report_rejected_rows_by_line(db, clock):
    body = b"timestamp,service,count\n2026-11-23T09:15:00Z,a,2\n2026-11-23T09:15:00Z,a,x\n"
    answer, _ = post(db, clock, body, content_type="text/csv")
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert (answer["errors"][0]["line"], answer["errors"][0]["field"]) == (3, "count")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def ingest(db, clock, path, **options):
    return ingest_file_in_transaction(
        path, db.sessions, clock=clock, settings=db.settings, options=FileOptions(**options)
    )


def test_a_duplicate_file_is_refused_reported_and_never_double_counted(db, clock, tmp_path):
    text = "timestamp,service,count\n2026-11-23T09:15:00Z,a,5\n"
    first = ingest(db, clock, write(tmp_path, "one.csv", text))
    again = ingest(db, clock, write(tmp_path, "copy-of-one.csv", text))
    assert (first.status, again.status) == ("ingested", "duplicate")
    assert "one.csv" in again.message
    assert service(db, "a").total_count == 5
    with transaction(db.sessions) as session:
        kinds = session.scalars(select(FileFinding.kind)).all()
    assert kinds == ["duplicate_file"]


def test_header_only_files_of_quiet_hours_are_taken_each_with_its_sequence_number(db, clock, tmp_path):
    """Two quiet hours' files have the same bytes; neither carries a record to count twice."""
    pattern = r"cdr_(?P<seq>\d+)\.csv"
    quiet = "timestamp,service,count\n"
    reports = [
        ingest(db, clock, write(tmp_path, name, text), sequence_pattern=pattern, feed="supplier-x")
        for name, text in (
            ("cdr_0002.csv", quiet),
            ("cdr_0003.csv", quiet),
            ("cdr_0004.csv", "timestamp,service\n2026-11-23T09:15:00Z,a\n"),
        )
    ]
    assert [(r.status, r.accepted, r.findings) for r in reports] == [
        ("ingested", 0, []),
        ("ingested", 0, []),
        ("ingested", 1, []),
    ]
    again = ingest(db, clock, write(tmp_path, "copy.csv", "timestamp,service\n2026-11-23T09:15:00Z,a\n"))
    assert again.status == "duplicate"  # a file with rows still is, whatever it is called
    with transaction(db.sessions) as session:
        assert session.scalars(select(FileFinding.kind)).all() == ["duplicate_file"]
        assert sorted(session.scalars(select(IngestedFile.sequence)).all()) == [2, 3, 4]


def test_a_file_found_unreadable_after_its_counts_were_written_leaves_none_of_them(db, clock, tmp_path, monkeypatch):
    """The hash, and so a file that grew while it was read, is known only once
    its rows are parsed and written: all of them must go again, and only the
    finding stays."""
    from watchkeeper.feeds import ingest as ingest_module

    from .test_arrival import Shrunk

    good = "timestamp,service,count\n2026-11-23T09:15:00Z,a,5\n2026-11-23T09:16:00Z,b,2\n"
    path = write(tmp_path, "growing.csv", good + "2026-11-23T09:17:00Z,c,1\n")
    real = ingest_module.Arrival
    monkeypatch.setattr(real, "of", classmethod(lambda cls, p: real(Shrunk(p, len(good)))))
    report = ingest(db, clock, path)
    assert (report.status, report.records) == ("unreadable", 0)
    assert "grew" in report.message
    with transaction(db.sessions) as session:
        assert session.scalars(select(Service.name)).all() == []
        assert session.scalar(select(func.count()).select_from(MinuteCount)) == 0
        assert session.scalar(select(func.count()).select_from(HourCount)) == 0
        assert session.execute(select(FileFinding.file_name, FileFinding.kind)).all() == [
            ("growing.csv", "unreadable_file")
        ]
    monkeypatch.undo()
    assert ingest(db, clock, path).status == "ingested"  # once complete, the same file goes in
    assert service(db, "c").total_count == 1


def test_sequence_gaps_and_reused_numbers_are_findings(db, clock, tmp_path):
    pattern = r"cdr_(?P<seq>\d+)\.csv"
    reports = []
    for seq, minute in ((1, 1), (2, 2), (5, 3)):
        reports.append(
            ingest(
                db,
                clock,
                write(tmp_path, f"cdr_{seq:03d}.csv", f"timestamp,service\n2026-11-23T09:{minute:02d}:00Z,a\n"),
                sequence_pattern=pattern,
                feed="supplier-x",
            )
        )
    assert reports[2].findings == ["sequence_gap: 2 files missing before 5: number 3 to 4"]
    late = ingest(
        db,
        clock,
        write(tmp_path, "cdr_003.csv", "timestamp,service\n2026-11-23T09:09:00Z,a\n"),
        sequence_pattern=pattern,
        feed="supplier-x",
    )
    assert late.findings == []  # a late file fills its gap
    other = tmp_path / "again"
    other.mkdir()
    again = ingest(
        db,
        clock,
        write(other, "cdr_002.csv", "timestamp,service\n2026-11-23T09:30:00Z,a\n"),
        sequence_pattern=pattern,
        feed="supplier-x",
    )
    assert again.findings == ["sequence_reused: sequence number 2 was already used by cdr_002.csv"]


def test_asterisk_file_with_a_bad_line_keeps_its_good_calls(db, clock, tmp_path):
    good = '"acme","100","200","from-trunk","""Smith, J"" <100>","SIP/a","SIP/b","Dial","SIP/200,30","{}","","",5,3,"ANSWERED","DOCUMENTATION"'
    lines = (
        [good.format("2026-11-23 09:15:00")] * 3
        + [good.format("23/11/2026 09:15")]
        + [good.format("2026-11-23 09:16:00")]
    )
    report = ingest(db, clock, write(tmp_path, "Master.csv", "\n".join(lines) + "\n"), format=Format.ASTERISK_CSV)
    assert (report.accepted, report.rejected) == (4, 1)
    assert (report.errors[0].line, report.errors[0].field) == (4, "start")
    assert service(db, "acme").total_quantity == 12.0


def test_a_format_named_in_text_is_read_as_that_format(db, clock, tmp_path):
    # As a feed's settings or a script name it: "usage-csv", not Format.USAGE_CSV.
    report = ingest(
        db, clock, write(tmp_path, "u.csv", "timestamp,service,count\n2026-11-23T09:15:00Z,a,5\n"), format="usage-csv"
    )
    assert (report.status, report.format, report.accepted, report.records) == ("ingested", "usage-csv", 1, 5)
    with pytest.raises(ValueError, match="unknown file format 'xml'; known: usage-csv, asterisk-csv"):
        FileOptions(format="xml")


def test_a_file_with_no_good_row_is_unreadable_and_stores_nothing(db, clock, tmp_path):
    report = ingest(db, clock, write(tmp_path, "junk.csv", "timestamp,service\nx,\ny,\n"))
    assert report.status == "unreadable"
    with transaction(db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Service)) == 0
    # The same bytes may be retried once the feed is fixed: nothing claimed them.
    assert ingest(db, clock, write(tmp_path, "junk.csv", "timestamp,service\nx,\ny,\n")).status == "unreadable"


def test_a_service_name_with_a_control_character_is_a_bad_row_on_every_database(db, clock, tmp_path):
    # PostgreSQL refuses a NUL in text outright: the row must be turned away before it gets there.
    text = "timestamp,service,count\n2026-11-23T09:15:00Z,a\x00b,1\n2026-11-23T09:15:00Z,good,4\n"
    report = ingest(db, clock, write(tmp_path, "nul.csv", text))
    assert (report.status, report.accepted, report.rejected) == ("ingested", 1, 1)
    assert (report.errors[0].line, report.errors[0].field) == (2, "service")
    answer, _ = post(
        db,
        clock,
        [{"service": "x\u0000y", "ts": "2026-11-23T09:15:00Z"}, {"service": "good", "ts": "2026-11-23T09:15:00Z"}],
    )
    assert (answer["accepted"], answer["errors"][0]["field"]) == (1, "service")
    with transaction(db.sessions) as session:
        assert session.scalars(select(Service.name)).all() == ["good"]
    assert service(db, "good").total_count == 5


def test_a_defect_met_on_one_file_refuses_that_file_and_counts_none_of_it(db, clock, tmp_path, monkeypatch):
    """No input may stop the process: an exception no check foresaw refuses
    the file it happened on, rolls back its counts, and says so."""
    from watchkeeper.feeds import store

    def broken(self):
        raise ValueError("cannot convert float NaN to integer")

    path = write(tmp_path, "a.csv", "timestamp,service,count\n2026-11-23T09:15:00Z,a,5\n")
    monkeypatch.setattr(store.UsageWriter, "finish", broken)
    report = ingest(db, clock, path)
    assert report.status == "unreadable"
    assert report.message.startswith("could not be ingested: ValueError: cannot convert float NaN to integer.")
    assert "defect in watchkeeper" in report.message
    with transaction(db.sessions) as session:
        assert session.scalars(select(Service.name)).all() == []
        assert session.execute(select(FileFinding.file_name, FileFinding.kind)).all() == [("a.csv", "unreadable_file")]
    monkeypatch.undo()
    assert ingest(db, clock, path).status == "ingested"  # nothing claimed the file: once fixed, it goes in
    assert service(db, "a").total_count == 5


def test_retention_drops_old_minutes_keeps_hours_and_totals(db, clock):
    old = (NOW - timedelta(days=20)).isoformat()
    post(db, clock, [{"service": "a", "ts": old, "count": 3}, {"service": "a", "ts": NOW.isoformat(), "count": 1}])
    assert len(minute_counts(db, "a")) == 1  # minutes past retention are never written
    clock.set(NOW + timedelta(days=15))
    with transaction(db.sessions) as session:
        removed = apply_retention(session=session, clock=clock, settings=db.settings)
    assert removed["minute_counts"] == 1
    assert minute_counts(db, "a") == []
    with transaction(db.sessions) as session:
        assert session.scalar(select(func.sum(HourCount.count))) == 4
    assert service(db, "a").total_count == 4


def test_hours_are_kept_13_months_by_default_and_a_services_first_and_last_record_always(db, clock):
    assert (db.settings.minute_retention_days, db.settings.hour_retention_days) == (14, 396)
    year_ago = NOW - timedelta(days=390)
    post(db, clock, [{"service": "a", "ts": year_ago.isoformat(), "count": 2}, {"service": "a", "ts": NOW.isoformat()}])
    for days_later, hours_left in ((5, 3), (7, 1)):  # the old hour is 395, then 397 days old
        clock.set(NOW + timedelta(days=days_later))
        with transaction(db.sessions) as session:
            apply_retention(session=session, clock=clock, settings=db.settings)
            assert session.scalar(select(func.sum(HourCount.count))) == hours_left
    kept = service(db, "a")
    assert (kept.first_seen, kept.last_seen, kept.total_count) == (year_ago, NOW, 3)


def counts(db, name, resolution, since, until):
    with transaction(db.sessions) as session:
        points = service_counts(session=session, name=name, resolution=resolution, since=since, until=until)
        return [(p.at, p.count) for p in points]


def test_retention_cuts_inside_an_hour_and_inside_a_day(db, clock):
    settings = db.settings.model_copy(update={"minute_retention_days": 1, "hour_retention_days": 2})
    at = [NOW, NOW + timedelta(minutes=5), NOW + timedelta(hours=1)]  # 12:00, 12:05, 13:00 of one day
    post(db, clock, [{"service": "a", "ts": t.isoformat()} for t in at])
    window = (NOW - timedelta(days=1), NOW + timedelta(days=3))

    clock.set(NOW + timedelta(days=1, minutes=2))
    with transaction(db.sessions) as session:
        removed = apply_retention(session=session, clock=clock, settings=settings)
    assert (removed["minute_counts"], removed["hour_counts"]) == (1, 0)
    assert counts(db, "a", "minute", *window) == [(at[1], 1), (at[2], 1)]

    clock.set(NOW + timedelta(days=2, minutes=90))
    with transaction(db.sessions) as session:
        removed = apply_retention(session=session, clock=clock, settings=settings)
    assert (removed["minute_counts"], removed["hour_counts"]) == (2, 1)
    assert counts(db, "a", "hour", *window) == [(at[2], 1)]
    assert service(db, "a").total_count == 3


def test_a_services_counts_read_back_across_hours_and_days(db, clock):
    # Counts are stored hour (or day) first; one service's are gathered bucket by bucket.
    at = [NOW - timedelta(days=2, minutes=1), NOW - timedelta(hours=5), NOW - timedelta(minutes=61), NOW]
    post(
        db,
        clock,
        [{"service": "a", "ts": t.isoformat(), "count": i + 1} for i, t in enumerate(at)]
        + [{"service": "b", "ts": t.isoformat(), "count": 100} for t in at],
    )
    minutes = counts(db, "a", "minute", NOW - timedelta(hours=6), NOW)
    assert minutes == [(at[1], 2), (at[2].replace(second=0), 3), (at[3], 4)]
    # Ten years back, at minute resolution: only the hours stored are looked at.
    assert [c for _, c in counts(db, "a", "minute", NOW - timedelta(days=3650), NOW)] == [1, 2, 3, 4]
    hours = counts(db, "a", "hour", NOW - timedelta(days=3), NOW)
    assert [(t.isoformat(), c) for t, c in hours] == [
        ("2026-11-21T11:00:00+00:00", 1),
        ("2026-11-23T07:00:00+00:00", 2),
        ("2026-11-23T10:00:00+00:00", 3),
        ("2026-11-23T12:00:00+00:00", 4),
    ]


def test_a_service_found_after_its_customer_was_added_is_that_customers_from_its_first_record(db, clock, caplog):
    from watchkeeper.support import service as desk

    with transaction(db.sessions) as session:
        desk.add_plan(session=session, now=NOW, name="p24", hours="24x7")
        desk.add_customer(session=session, now=NOW, name="Alpha", plan="p24", service_pattern="a-.*")
        desk.add_customer(session=session, now=NOW, name="Alpha Voice", plan="p24", service_pattern="a-voice-.*")
    records = [{"service": name, "ts": "2026-11-23T09:15:00Z"} for name in ("a-svc1", "a-voice-1", "b-svc1")]
    with caplog.at_level("WARNING", logger="watchkeeper.feeds.store"):
        post(db, clock, records)
    with transaction(db.sessions) as session:
        owners = {s.name: s.customer.name if s.customer else None for s in session.scalars(select(Service))}
        alpha = desk.get_customer("Alpha", session=session)
        assert desk.services_of(alpha, session=session) == ["a-svc1"]
    assert owners == {"a-svc1": "Alpha", "a-voice-1": "Alpha Voice", "b-svc1": None}
    assert "a-voice-1 matches the service rules of Alpha Voice, Alpha; it goes to Alpha Voice" in caplog.text


def test_a_service_added_before_its_first_record_is_claimed_by_its_customers_rule(db, clock):
    from watchkeeper.feeds.schemas import ServicePatch
    from watchkeeper.feeds.service import add_service, service_out
    from watchkeeper.support import service as desk

    with transaction(db.sessions) as session:
        desk.add_plan(session=session, now=NOW, name="p24", hours="24x7")
        desk.add_customer(session=session, now=NOW, name="Alpha", plan="p24", service_pattern="a-.*")
        assert service_out(add_service(session=session, name="a-svc2", patch=ServicePatch(), now=NOW)).customer == (
            "Alpha"
        )
