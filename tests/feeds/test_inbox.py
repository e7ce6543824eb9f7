from __future__ import annotations

import os

from watchkeeper.db import transaction
from watchkeeper.feeds.inbox import scan_inbox
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
        ("Master-1.csv", "ingested"), ("Master-2.csv", "duplicate"),
        ("broken.csv", "unreadable"), ("usage.csv", "ingested")]  # fmt: skip
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
