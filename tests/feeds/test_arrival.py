"""Files parsed while they are still being read: counts, hash and a file that changes under the reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from blake3 import blake3
from sqlalchemy import select

from watchkeeper.db import transaction
from watchkeeper.feeds import arrival, parse
from watchkeeper.feeds import ingest as ingest_module
from watchkeeper.feeds.arrival import Arrival
from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction
from watchkeeper.feeds.models import IngestedFile, Service
from watchkeeper.feeds.parse import UnreadableFile


def ingest(db, clock, path):
    return ingest_file_in_transaction(path, db.sessions, clock=clock, settings=db.settings, options=FileOptions())


def test_a_file_read_in_small_blocks_is_counted_whole_and_hashed(db, clock, tmp_path, monkeypatch):
    # Blocks of 1 KB and chunks of 4 KB: the parser waits for bytes many times, and
    # rows straddle both block and chunk boundaries.
    monkeypatch.setattr(arrival, "BLOCK", 1024)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MIN", 4096)
    monkeypatch.setattr(parse, "SAMPLE_BYTES", 512)
    lines = ["timestamp,service,count"]
    lines += [
        f"2026-11-23T{h:02d}:{m:02d}:00Z,trunk-{i % 7},{i % 5 + 1}"
        for i, (h, m) in enumerate((h, m) for h in range(9) for m in range(60))
    ]
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 15_000  # 16 blocks, 4 chunks

    report = ingest(db, clock, path)

    assert (report.status, report.accepted, report.rejected) == ("ingested", 540, 0)
    with transaction(db.sessions) as session:
        totals = {name: total for name, total in session.execute(select(Service.name, Service.total_count))}
        stored = session.scalar(select(IngestedFile.content_hash))
    assert totals == {f"trunk-{k}": sum(i % 5 + 1 for i in range(540) if i % 7 == k) for k in range(7)}
    assert stored == "blake3:" + blake3(path.read_bytes()).hexdigest()  # as `b3sum FILE` prints it


def test_a_file_bigger_than_the_window_is_read_in_bounded_memory(db, clock, tmp_path, monkeypatch):
    # A window of 16 KB over a 650 KB file: the reader waits for the parser,
    # hands back what was parsed, and every row still counts once.
    monkeypatch.setattr(arrival, "BLOCK", 4096)
    monkeypatch.setattr(arrival, "WINDOW", 16384)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MIN", 4096)
    monkeypatch.setattr(parse, "CHUNK_BYTES_MAX", 4096)
    for looks_at_the_start in (parse, ingest_module):
        monkeypatch.setattr(looks_at_the_start, "SAMPLE_BYTES", 1024)
    lines = ["timestamp,service,count"]
    lines += [
        f"2026-11-23T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,trunk-{i % 11},1" for i in range(20_000)
    ]
    # A line far longer than the window: rejected, and the reading does not wait for room forever.
    lines.insert(10_000, "2026-11-23T09:00:00Z,trunk-x," + "9" * 40_000)
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 650_000
    readings = []
    real_of = Arrival.of
    monkeypatch.setattr(Arrival, "of", classmethod(lambda cls, p: readings.append(real_of(p)) or readings[-1]))

    report = ingest(db, clock, path)

    assert (report.status, report.accepted, report.rejected) == ("ingested", 20_000, 1)
    assert [(e.line, e.field) for e in report.errors] == [(10_001, "count")]
    with transaction(db.sessions) as session:
        totals = dict(session.execute(select(Service.name, Service.total_count)).all())
        stored = session.scalar(select(IngestedFile.content_hash))
    assert totals == {f"trunk-{k}": len(range(k, 20_000, 11)) for k in range(11)}
    assert stored == "blake3:" + blake3(path.read_bytes()).hexdigest()  # as `b3sum FILE` prints it
    # Held at once: the window and a block, but for the long line, which needs all of itself.
    assert 16384 < readings[0].most_held <= 40_000 + 16384 + 2 * 4096


class Shrunk:
    """A file whose size was taken before it was cut short (a supplier rewriting it in place)."""

    def __init__(self, path: Path, claimed: int) -> None:
        self.path, self.claimed = path, claimed

    def stat(self):
        return type("Stat", (), {"st_size": self.claimed, "st_mode": self.path.stat().st_mode})()

    def open(self, mode: str):
        return self.path.open(mode)


def test_a_file_that_shrinks_while_read_is_refused_not_half_counted(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,a,1\n")
    with Arrival(Shrunk(path, path.stat().st_size + 100)) as reading:
        reading.arrived(10)  # what did arrive can be read
        with pytest.raises(UnreadableFile, match="shrank"):
            reading.arrived(reading.size)
        with pytest.raises(UnreadableFile, match="shrank"):
            reading.digest()


def test_a_file_that_grows_while_read_is_refused(tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,a,1\n")
    with Arrival(Shrunk(path, 10)) as reading:
        reading.arrived(10)
        with pytest.raises(UnreadableFile, match="grew"):
            reading.digest()


def test_an_empty_file_is_unreadable_and_nothing_is_stored(db, clock, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    report = ingest(db, clock, path)
    assert report.status == "unreadable"
    with transaction(db.sessions) as session:
        assert session.scalars(select(IngestedFile)).all() == []


def test_a_file_read_early_is_taken_when_unchanged_and_read_again_when_changed(db, clock, tmp_path):
    """`watchkeeper ingest FILE` starts reading FILE before the command has
    loaded; the ingest uses that reading only if the file is still the same."""
    from watchkeeper.launch import _read_early

    path = tmp_path / "usage.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,a,1\n")
    _read_early(["ingest", "--format", "usage-csv", str(path)])
    _, early = arrival._early[str(path.resolve())]
    taken = Arrival.of(path)
    assert taken is early and arrival._early == {}
    with taken:
        assert taken.digest() == blake3(path.read_bytes()).hexdigest()

    _read_early(["ingest", str(path)])
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,b,2\n2026-11-23T09:01:00Z,b,2\n")
    report = ingest(db, clock, path)  # the file changed after the early read began: read again
    assert (report.status, report.records) == ("ingested", 4)
    with transaction(db.sessions) as session:
        assert session.execute(select(Service.name, Service.total_count)).all() == [("b", 4)]
    assert arrival._early == {}


def test_only_the_ingest_command_reads_early(tmp_path):
    from watchkeeper.launch import _read_early

    path = tmp_path / "usage.csv"
    path.write_text("timestamp,service\n")
    for args in (
        ["services", "list"],
        ["replay", str(path)],
        ["ingest", "--format", "usage-csv"],
        ["ingest"],
        ["ingest", str(tmp_path / "missing.csv")],
        ["ingest", str(tmp_path)],
    ):
        _read_early(args)
        assert arrival._early == {}, args
