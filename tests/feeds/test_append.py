"""Files that grow (Asterisk's Master.csv): only what was appended is counted, across rotations.

Every test runs on SQLite and PostgreSQL, on real files appended to,
renamed and truncated as cdr_csv and logrotate do.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from watchkeeper.db import transaction
from watchkeeper.feeds import arrival, parse
from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction
from watchkeeper.feeds.models import FileFinding, IngestedFile, Service
from watchkeeper.feeds.parse import Format


def call(n: int, account: str = "acme") -> str:
    """One Master.csv line (16 fields): a call of n seconds at 09:MM, Berlin time."""
    return (
        f'"{account}","100","200","from-trunk","""Smith"" <100>","SIP/a-{n:04d}","SIP/b","Dial","SIP/200,30",'
        f'"2026-11-23 09:{n % 60:02d}:00","","",{n + 5},{n},"ANSWERED","DOCUMENTATION"\n'
    )


def calls(first: int, last: int, account: str = "acme") -> str:
    return "".join(call(n, account) for n in range(first, last))


def ingest(db, clock, path: Path, **options):
    options.setdefault("format", Format.ASTERISK_CSV)
    return ingest_file_in_transaction(
        path,
        db.sessions,
        clock=clock,
        settings=db.settings,
        options=FileOptions(feed="pbx", timezone="Europe/Berlin", **options),
    )


def totals(db) -> dict[str, int]:
    with transaction(db.sessions) as session:
        return dict(session.execute(select(Service.name, Service.total_count)).all())


def kinds(db) -> list[str]:
    with transaction(db.sessions) as session:
        return list(session.scalars(select(FileFinding.kind).order_by(FileFinding.id)))


def test_a_grown_master_csv_dropped_again_counts_only_its_new_calls(db, clock, tmp_path):
    """Hour 1 (20 calls), then the same file grown by hour 2 (26 calls): 26 counted, not 46."""
    (tmp_path / "h1").mkdir()
    (tmp_path / "h2").mkdir()
    (tmp_path / "h1" / "Master.csv").write_text(calls(0, 20))
    (tmp_path / "h2" / "Master.csv").write_text(calls(0, 26))

    first = ingest(db, clock, tmp_path / "h1" / "Master.csv")
    grown = ingest(db, clock, tmp_path / "h2" / "Master.csv")

    assert (first.status, first.accepted) == ("ingested", 20)
    assert (grown.status, grown.accepted, grown.records) == ("ingested", 6, 6)
    assert totals(db) == {"acme": 26}
    assert grown.note.startswith("appended: lines 1 to 20 were counted before, as Master.csv (feed pbx)")
    assert grown.findings == [
        "appended_file: lines 1 to 20 were counted before, as Master.csv (feed pbx) at 2026-11-23 12:00 UTC; only "
        "the lines after them are counted. If the feed's files grow, say so: watchkeeper feeds add pbx --append"
    ]
    assert kinds(db) == ["appended_file"]  # a note, not a refusal
    with transaction(db.sessions) as session:
        rows = session.execute(
            select(IngestedFile.size, IngestedFile.counted_from, IngestedFile.accepted).order_by(IngestedFile.id)
        ).all()
    size_20 = len(calls(0, 20).encode())
    assert [tuple(r) for r in rows] == [(size_20, 0, 20), (len(calls(0, 26).encode()), size_20, 6)]


def test_a_usage_csv_that_grows_is_counted_once_with_its_bad_rows_named_by_their_line(db, clock, tmp_path):
    header = "timestamp,service,count\n"
    rows = [f"2026-11-23T09:{m:02d}:00Z,sms,2\n" for m in range(8)]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "usage.csv").write_text(header + "".join(rows[:5]))
    ingest(db, clock, tmp_path / "a" / "usage.csv", format=None)
    (tmp_path / "usage.csv").write_text(header + "".join(rows) + "2026-11-23T09:30:00Z,sms,many\n")

    grown = ingest(db, clock, tmp_path / "usage.csv", format=None)

    assert (grown.status, grown.accepted, grown.rejected, grown.records) == ("ingested", 3, 1, 6)
    assert [(e.line, e.field) for e in grown.errors] == [(10, "count")]  # the line in the whole file
    assert totals(db) == {"sms": 16}


def test_a_file_that_only_begins_like_one_counted_is_counted_whole(db, clock, tmp_path):
    """The same first lines, then other calls (a corrected re-export): not appended to, a file of its own."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Master.csv").write_text(calls(0, 20))
    ingest(db, clock, tmp_path / "a" / "Master.csv")
    (tmp_path / "Master.csv").write_text(calls(0, 10) + calls(10, 25, account="globex"))

    again = ingest(db, clock, tmp_path / "Master.csv")

    assert (again.status, again.accepted, again.note) == ("ingested", 25, None)
    assert totals(db) == {"acme": 30, "globex": 15}


def test_a_followed_master_csv_is_counted_once_across_a_rename_rotation(db, clock, tmp_path):
    """cdr_csv appends; logrotate renames Master.csv to Master.csv.1 and Asterisk starts a new one."""
    master = tmp_path / "Master.csv"
    master.write_text(calls(0, 20))
    assert ingest(db, clock, master, follow=True).accepted == 20
    with master.open("a") as log:
        log.write(calls(20, 23))
    later = ingest(db, clock, master, follow=True)
    assert (later.status, later.accepted) == ("ingested", 3)
    assert later.findings == []  # following, an appended file is what is expected
    idle = ingest(db, clock, master, follow=True)
    assert (idle.status, idle.accepted, idle.findings) == ("unchanged", 0, [])
    assert idle.note.endswith("nothing new since")
    # Two more calls, then the rotation.
    with master.open("a") as log:
        log.write(calls(23, 25))
    master.rename(tmp_path / "Master.csv.1")
    master.write_text(calls(25, 29, account="globex"))

    rotated_copy = ingest(db, clock, tmp_path / "Master.csv.1", follow=True)
    new_file = ingest(db, clock, master, follow=True)

    assert (rotated_copy.status, rotated_copy.accepted) == ("ingested", 2)  # only the calls not counted yet
    assert (new_file.status, new_file.accepted) == ("ingested", 4)
    assert new_file.note.startswith(
        f"rotated since it was last ingested (it shrank from {len(calls(0, 23)):,} "
        f"to {len(calls(25, 29, 'globex'))} bytes): counted as a new file"
    )
    assert totals(db) == {"acme": 25, "globex": 4}
    assert kinds(db) == []


def test_a_followed_file_truncated_by_copytruncate_starts_over(db, clock, tmp_path):
    master = tmp_path / "Master.csv"
    master.write_text(calls(0, 20))
    ingest(db, clock, master, follow=True)
    with master.open("r+") as log:  # logrotate copytruncate: copied away, cut to nothing, written again
        log.truncate(0)
    empty = ingest(db, clock, master, follow=True)
    assert (empty.status, empty.accepted, empty.findings) == ("unchanged", 0, [])
    master.write_text(calls(40, 70))  # longer than before: its first bytes differ from what was counted

    again = ingest(db, clock, master, follow=True)

    assert (again.status, again.accepted) == ("ingested", 30)
    assert "its first" in again.note and "bytes are not those counted" in again.note
    assert totals(db) == {"acme": 50}


def test_a_followed_line_still_being_written_is_counted_once_it_is_complete(db, clock, tmp_path):
    master = tmp_path / "Master.csv"
    half = call(20)[:40]
    master.write_text(calls(0, 20) + half)
    first = ingest(db, clock, master, follow=True)
    assert (first.accepted, first.rejected) == (20, 0)  # the half line is neither counted nor refused
    with master.open("a") as log:
        log.write(call(20)[40:])

    rest = ingest(db, clock, master, follow=True)

    assert (rest.status, rest.accepted, rest.rejected) == ("ingested", 1, 0)
    assert totals(db) == {"acme": 21}


def test_a_grown_file_bigger_than_the_read_window_is_counted_from_where_it_was(db, clock, tmp_path, monkeypatch):
    """The counted start is hashed in blocks and let go beyond the window: memory stays bounded,
    and the format is still read from the file's head."""
    monkeypatch.setattr(arrival, "BLOCK", 4096)
    monkeypatch.setattr(arrival, "WINDOW", 16384)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MIN", 4096)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MAX", 4096)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Master.csv").write_text(calls(0, 400))
    assert ingest(db, clock, tmp_path / "a" / "Master.csv", format=None).accepted == 400
    (tmp_path / "Master.csv").write_text(calls(0, 430))
    readings = []
    real_of = arrival.Arrival.of
    monkeypatch.setattr(
        arrival.Arrival, "of", classmethod(lambda cls, p, **k: readings.append(real_of(p, **k)) or readings[-1])
    )

    grown = ingest(db, clock, tmp_path / "Master.csv", format=None)

    assert (grown.status, grown.format, grown.accepted, grown.rejected) == ("ingested", "asterisk-csv", 30, 0)
    assert totals(db) == {"acme": 430}
    assert readings[0].size > 4 * 16384 and readings[0].most_held <= 16384 + parse.SAMPLE_BYTES + 3 * 4096


def test_a_copy_of_a_followed_file_under_another_name_is_a_duplicate(db, clock, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Master.csv").write_text(calls(0, 20))
    ingest(db, clock, tmp_path / "a" / "Master.csv", follow=True)
    (tmp_path / "copy.csv").write_text(calls(0, 20))
    copy = ingest(db, clock, tmp_path / "copy.csv", follow=True)
    assert copy.status == "duplicate"  # not the followed file: a copy of it
    assert totals(db) == {"acme": 20}


def test_the_same_bytes_in_the_same_place_but_written_anew_are_a_duplicate(db, clock, tmp_path):
    master = tmp_path / "Master.csv"
    master.write_text(calls(0, 5))
    ingest(db, clock, master)
    os.utime(master)  # touched: another modification time, so not provably the same file
    assert ingest(db, clock, master).status == "duplicate"


def test_a_big_file_that_only_begins_like_one_counted_is_read_again_and_counted_whole(db, clock, tmp_path, monkeypatch):
    """Its start was hashed and let go before it turned out not to be the counted file: it is read anew."""
    monkeypatch.setattr(arrival, "BLOCK", 4096)
    monkeypatch.setattr(arrival, "WINDOW", 16384)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MIN", 4096)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MAX", 4096)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Master.csv").write_text(calls(0, 400))
    ingest(db, clock, tmp_path / "a" / "Master.csv", format=None)
    (tmp_path / "Master.csv").write_text(calls(0, 300) + calls(300, 430, account="globex"))

    other = ingest(db, clock, tmp_path / "Master.csv", format=None)

    assert (other.status, other.accepted, other.rejected, other.note) == ("ingested", 430, 0, None)
    assert totals(db) == {"acme": 700, "globex": 130}


def test_a_file_that_shrinks_before_its_first_lines_are_read_is_unreadable_not_a_defect(
    db, clock, tmp_path, monkeypatch
):
    from .test_arrival import Shrunk

    path = tmp_path / "Master.csv"
    path.write_text(calls(0, 3))
    real = arrival.Arrival
    monkeypatch.setattr(real, "of", classmethod(lambda cls, p, **k: real(Shrunk(p, 10_000))))
    report = ingest(db, clock, path)
    assert report.status == "unreadable"
    assert "shrank" in report.message and "defect" not in report.message
