from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from watchkeeper.db import transaction
from watchkeeper.feeds.inbox import scan_inbox
from watchkeeper.feeds.models import FileFinding, IngestedFile
from watchkeeper.feeds.parse import Format
from watchkeeper.feeds.service import add_feed, get_service


def test_inbox_moves_good_files_to_done_and_refused_ones_to_quarantine_with_a_reason(db, clock, tmp_path):
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    (inbox / "pbx").mkdir(parents=True)
    with transaction(db.sessions) as session:
        add_feed(session=session, clock=clock, name="pbx", format=Format.ASTERISK_CSV, timezone="Europe/Berlin")
    call = '"acme","1","2","ctx","c","ch","dch","Dial","x","2026-11-23 10:15:00","","",5,3,"ANSWERED","DOCUMENTATION"\n'
    (inbox / "pbx" / "Master-1.csv").write_text(call * 2)
    (inbox / "pbx" / "Master-2.csv").write_text(call * 2)  # same bytes: a duplicate
    (inbox / "usage.csv").write_text("timestamp,service,count\n2026-11-23T09:00:00Z,sms,4\n")
    (inbox / "broken.csv").write_text("this is not a usage file\n")
    (inbox / "upload.csv.part").write_text("still arriving")
    # The files were written a minute before the frozen clock's now, whatever the wall clock says.
    written = clock.now().timestamp() - 60
    for path in inbox.rglob("*"):
        os.utime(path, (written, written))

    reports = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)

    assert sorted((r.source.split("/")[-1], r.status) for r in reports) == [
        ("Master-1.csv", "ingested"),
        ("Master-2.csv", "duplicate"),
        ("broken.csv", "unreadable"),
        ("usage.csv", "ingested"),
    ]
    assert (inbox / "pbx" / "done" / "Master-1.csv").exists()
    assert "same content as Master-1.csv" in (inbox / "pbx" / "quarantine" / "Master-2.csv.error.txt").read_text()
    assert (inbox / "quarantine" / "broken.csv.error.txt").read_text().startswith("unreadable:")
    assert (inbox / "done" / "usage.csv").exists()
    assert (inbox / "upload.csv.part").exists()
    with transaction(db.sessions) as session:
        acme = get_service(session=session, name="acme")
        assert (acme.total_count, acme.first_seen.hour) == (2, 9)  # 10:15 in Berlin is 09:15 UTC
    assert scan_inbox(inbox, db.sessions, clock=clock, settings=settings) == []


def test_a_file_still_being_written_waits_for_the_next_scan(db, clock, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fresh.csv").write_text("timestamp,service\n2026-11-23T09:00:00Z,a\n")
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 10**9})
    assert scan_inbox(inbox, db.sessions, clock=clock, settings=settings) == []
    assert (inbox / "fresh.csv").exists()


def test_binary_files_are_quarantined_and_a_stray_nul_costs_only_its_row(db, clock, tmp_path):
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "photo.jpg").write_bytes(bytes(range(256)) * 40)
    (inbox / "cdrs.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(200))
    (inbox / "nul.csv").write_bytes(
        b"timestamp,service,count\n2026-11-23T09:00:00Z,a\x00,1\n2026-11-23T09:00:00Z,b,3\n"
    )
    written = clock.now().timestamp() - 60
    for path in inbox.iterdir():
        os.utime(path, (written, written))

    reports = {r.source.split("/")[-1]: r for r in scan_inbox(inbox, db.sessions, clock=clock, settings=settings)}

    assert {name: r.status for name, r in reports.items()} == {
        "photo.jpg": "unreadable",
        "cdrs.csv.gz": "unreadable",
        "nul.csv": "ingested",
    }
    assert "binary data" in (inbox / "quarantine" / "photo.jpg.error.txt").read_text()
    assert "gunzip" in (inbox / "quarantine" / "cdrs.csv.gz.error.txt").read_text()
    assert (reports["nul.csv"].accepted, reports["nul.csv"].rejected) == (1, 1)
    assert (inbox / "done" / "nul.csv").exists()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []


def test_a_pipe_or_a_link_to_nothing_in_the_inbox_is_quarantined_not_passed_over(db, clock, tmp_path):
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (inbox / "future.csv").write_text("timestamp,service\n2030-01-01T00:00:00Z,a\n")
    written = clock.now().timestamp() - 60
    for path in inbox.iterdir():
        os.utime(path, (written, written), follow_symlinks=False)
    reports = {r.source.split("/")[-1]: r for r in scan_inbox(inbox, db.sessions, clock=clock, settings=settings)}
    assert {name: r.status for name, r in reports.items()} == {
        "pipe.csv": "unreadable",
        "gone.csv": "unreadable",
        "future.csv": "unreadable",
    }
    assert "not a regular file but a pipe" in (inbox / "quarantine" / "pipe.csv.error.txt").read_text()
    assert "No such file" in (inbox / "quarantine" / "gone.csv.error.txt").read_text()
    # why nothing could be taken is said, by the first row's reason
    assert reports["future.csv"].message == (
        "none of its 1 rows could be read as usage-csv; the first, line 2, timestamp: "
        "'2030-01-01T00:00:00Z' is in the future: check the sender's clock"
    )
    assert sorted(p.name for p in inbox.iterdir()) == ["quarantine"]


def test_a_file_that_keeps_failing_is_quarantined_but_a_database_outage_is_waited_out(db, clock, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from watchkeeper.feeds import inbox as inbox_module

    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "usage.csv").write_text("timestamp,service\n2026-11-23T09:00:00Z,a\n")
    written = clock.now().timestamp() - 60
    os.utime(inbox / "usage.csv", (written, written))

    def database_away(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(inbox_module, "ingest_file_in_transaction", database_away)
    for _ in range(inbox_module.ATTEMPTS + 2):
        assert scan_inbox(inbox, db.sessions, clock=clock, settings=settings) == []
    assert (inbox / "usage.csv").exists()

    def defect(*args, **kwargs):
        raise RuntimeError("something no check foresaw")

    monkeypatch.setattr(inbox_module, "ingest_file_in_transaction", defect)
    for _ in range(inbox_module.ATTEMPTS - 1):
        assert scan_inbox(inbox, db.sessions, clock=clock, settings=settings) == []
        assert (inbox / "usage.csv").exists()
    (report,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)
    assert report.status == "unreadable"
    assert "RuntimeError: something no check foresaw" in (inbox / "quarantine" / "usage.csv.error.txt").read_text()


def _drop(inbox, name, text, clock):
    path = inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    written = clock.now().timestamp() - 60
    os.utime(path, (written, written))
    return path


def _call(n):
    return (
        f'"acme","1","2","ctx","c","ch-{n}","dch","Dial","x","2026-11-23 10:{n % 60:02d}:00","","",5,3,'
        '"ANSWERED","DOCUMENTATION"\n'
    )


def test_a_master_csv_dropped_again_grown_is_counted_once(db, clock, tmp_path):
    """Hour 1 (20 calls), then the grown file (26): 26 records, not 46, and a note that says why."""
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    _drop(inbox, "Master.csv", "".join(_call(n) for n in range(20)), clock)
    (first,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)
    _drop(inbox, "Master.csv", "".join(_call(n) for n in range(26)), clock)

    (grown,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)

    assert (first.status, first.accepted, grown.status, grown.accepted) == ("ingested", 20, "ingested", 6)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["Master.1.csv", "Master.csv"]
    assert [f.split(":")[0] for f in grown.findings] == ["appended_file"]
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="acme").total_count == 26


def test_a_feed_of_appended_files_follows_them_without_findings(db, clock, tmp_path):
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    with transaction(db.sessions) as session:
        add_feed(session=session, clock=clock, name="pbx", format=Format.ASTERISK_CSV, append=True)
    for last in (20, 26, 26, 31):  # the third time nothing was added
        _drop(inbox / "pbx", "Master.csv", "".join(_call(n) for n in range(last)), clock)
        (report,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)
        assert report.findings == []
    assert report.accepted == 5
    assert len(list((inbox / "pbx" / "done").iterdir())) == 4
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="acme").total_count == 31
        assert session.scalars(select(FileFinding)).all() == []


class Crash(BaseException):
    """kill -9 between the ingest's commit and the move to done/."""


def test_a_file_counted_before_a_crash_goes_to_done_quietly_after_it(db, clock, tmp_path, monkeypatch):
    from watchkeeper.feeds import inbox as inbox_module

    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    _drop(inbox, "usage.csv", "timestamp,service,count\n2026-11-23T09:00:00Z,sms,4\n", clock)

    def crash(path, report):
        raise Crash

    monkeypatch.setattr(inbox_module, "settle_file", crash)
    with pytest.raises(Crash):
        scan_inbox(inbox, db.sessions, clock=clock, settings=settings)
    monkeypatch.undo()
    assert (inbox / "usage.csv").exists()  # committed, not moved

    (report,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)

    assert (report.status, report.findings) == ("unchanged", [])
    assert (inbox / "done" / "usage.csv").exists() and not (inbox / "quarantine").exists()
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="sms").total_count == 4
        assert session.scalars(select(FileFinding)).all() == []
        assert session.scalar(select(func.count()).select_from(IngestedFile)) == 1


def test_the_same_file_sent_again_under_its_name_is_still_a_duplicate(db, clock, tmp_path):
    settings = db.settings.model_copy(update={"inbox_settle_seconds": 0})
    inbox = tmp_path / "inbox"
    text = "timestamp,service,count\n2026-11-23T09:00:00Z,sms,4\n"
    _drop(inbox, "usage.csv", text, clock)
    scan_inbox(inbox, db.sessions, clock=clock, settings=settings)
    _drop(inbox, "usage.csv", text, clock)  # the same name and bytes, but another file: a supplier's resend

    (report,) = scan_inbox(inbox, db.sessions, clock=clock, settings=settings)

    assert report.status == "duplicate"
    assert (inbox / "quarantine" / "usage.csv").exists()
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="sms").total_count == 4
