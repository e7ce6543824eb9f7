"""Why the minute table is keyed by time first: one hour's upsert against the history kept.

Not a test: a script that prints figures, on SQLite (the embedded default).
For each history length it builds a minute table holding that many hours of
Zipf traffic (10,000 services, 1,000,000 records an hour, about 180,000
(service, minute) rows an hour), then times the additive upsert and commit
of the next hour's rows, for both key orders:

- service first, (service_id, minute): the next hour's rows go in at one
  place per service, in the middle of the table, so the pages touched, and
  the WAL written, grow with the history;
- time first, (hour, service_id, minute): watchkeeper's layout. The next
  hour appends at the end of the table, whatever it holds.

The statements are watchkeeper's own shape (multi-row VALUES of 500 rows,
ON CONFLICT DO UPDATE adding up, in key order, WAL, synchronous=NORMAL, a
64 MB page cache), but written here so the layout watchkeeper does not use can
be measured next to the one it uses. 14 days (336 hours, the default minute retention) takes several
minutes to build: `--hours 1,24,96,336`.

Usage: python bench/count_layout.py [--hours 1,24,96] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

SERVICES = 10_000
RECORDS_PER_HOUR = 1_000_000
ROWS_PER_STATEMENT = 500
LAYOUTS = {
    "service first (service_id, minute)": ("service_id, minute", False),
    "time first (hour, service_id, minute)": ("hour, service_id, minute", True),
}


def hour_keys(rng: np.random.Generator, hour: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (service, minute) pairs of one hour of Zipf traffic."""
    weights = 1.0 / np.arange(1, SERVICES + 1) ** 1.1
    services = rng.choice(SERVICES, size=RECORDS_PER_HOUR, p=weights / weights.sum()) + 1
    minutes = hour * 60 + rng.integers(0, 60, RECORDS_PER_HOUR)
    packed = np.unique(services.astype(np.int64) << 32 | minutes)
    return packed >> 32, packed & 0xFFFFFFFF


def rows(services: np.ndarray, minutes: np.ndarray, time_first: bool) -> list[tuple[int, ...]]:
    """Rows in the layout's key order, as the writer sends them."""
    if time_first:
        order = np.lexsort((minutes, services, minutes // 60))
        return list(
            zip((minutes // 60)[order].tolist(), services[order].tolist(), minutes[order].tolist(), strict=True)
        )
    order = np.lexsort((minutes, services))
    return list(zip(services[order].tolist(), minutes[order].tolist(), strict=True))


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def measure(workdir: Path, hours: int, key: str, time_first: bool) -> tuple[float, float, float, float]:
    """Build `hours` of history, then upsert the next hour: (upsert s, commit s, WAL MB, file MB)."""
    path = workdir / f"layout-{hours}-{int(time_first)}.db"
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(hours)
    columns = key + ", count, quantity"
    width = key.count(",") + 1
    connection = connect(path)
    connection.execute(
        f"CREATE TABLE m ({'hour INTEGER NOT NULL, ' if time_first else ''}"
        "service_id INTEGER NOT NULL, minute INTEGER NOT NULL, count BIGINT NOT NULL, "
        f"quantity FLOAT NOT NULL, PRIMARY KEY ({key})) WITHOUT ROWID"
    )
    history = [hour_keys(rng, h) for h in range(hours)]
    services = np.concatenate([s for s, _ in history])
    minutes = np.concatenate([m for _, m in history])
    connection.execute("BEGIN")
    connection.executemany(
        f"INSERT INTO m ({columns}) VALUES ({', '.join('?' * width)}, 1, 1.0)", rows(services, minutes, time_first)
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()

    batch = rows(*hour_keys(rng, hours), time_first)
    connection = connect(path)
    one = f"({', '.join('?' * width)}, ?, ?)"
    started = time.perf_counter()
    connection.execute("BEGIN")
    for i in range(0, len(batch), ROWS_PER_STATEMENT):
        part = batch[i : i + ROWS_PER_STATEMENT]
        connection.execute(
            f"INSERT INTO m ({columns}) VALUES {', '.join([one] * len(part))} ON CONFLICT ({key}) "
            "DO UPDATE SET count = count + excluded.count, quantity = quantity + excluded.quantity",
            [value for row in part for value in (*row, 1, 1.0)],
        )
    upserted = time.perf_counter()
    connection.execute("COMMIT")
    committed = time.perf_counter()
    wal = Path(f"{path}-wal").stat().st_size / 1e6
    size = path.stat().st_size / 1e6
    connection.close()
    for leftover in workdir.glob(f"{path.name}*"):
        leftover.unlink()
    return upserted - started, committed - upserted, wal, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="1,24,96", help="history lengths to measure, in hours")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wk-layout-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"{SERVICES:,} services, {RECORDS_PER_HOUR:,} records an hour (Zipf); "
        "one hour's upsert and commit on SQLite, against the history already stored"
    )
    print(f"  {'history':>9}  {'layout':<38} {'upsert':>8} {'commit':>8} {'WAL':>8} {'table':>9}")
    for hours in (int(h) for h in args.hours.split(",")):
        for label, (key, time_first) in LAYOUTS.items():
            upsert, commit, wal, size = measure(workdir, hours, key, time_first)
            print(
                f"  {hours:>7} h  {label:<38} {upsert:6.3f} s {commit:6.3f} s {wal:5.0f} MB {size:6.0f} MB", flush=True
            )


if __name__ == "__main__":
    main()
