"""Ingest throughput: `watchkeeper ingest` against a plain pyarrow/DuckDB group-by.

Generates 1,000,000-row usage-csv files and 1,000,000-row Asterisk Master.csv
files (10,000 services, one hour of traffic each, like one supplier's hourly
file; 2 x --repeats + 1 consecutive hours per format) and prints records per
second for:

- watchkeeper on the first file, into an empty database: every service is
  new. End to end in process: read, hash, parse, check, fold, write, commit;
- the same on each of the next --repeats hours' files (3), the steady state:
  the services exist and the database holds `--history-days` of minute counts
  before them (14 by default, the minute retention; the first file's counts
  copied back in time), as a server that has run for two weeks does;
- `watchkeeper ingest` as a command in a new process on each of the
  --repeats hours after those, which adds interpreter start-up, imports and
  exit (printed on their own, as the ingest of a one-record file), with the
  command's peak memory;
- what importing the libraries the command is built on takes in a bare
  Python (SQLAlchemy with its ORM, pyarrow, pydantic-settings, Typer): the
  floor under any start-up of the command;
- the reference, DuckDB's read_csv + GROUP BY service, minute on the second
  file (duckdb comes with `.[test]`), and for comparison pyarrow's
  read_csv + group_by, three times each;
- whether `watchkeeper ingest` as a command meets the targets set for it:
  1,000,000 records/s end to end, and a third or more of the reference's
  speed (the ratio is printed for the in-process runs, and for pyarrow, too).

The reference is DuckDB's group-by, with pyarrow's beside it. Both read the
same CSV and group it, but DuckDB, like watchkeeper, is a database that
types every value it reads. pyarrow's group-by of a 34 MB usage-csv takes
0.05-0.12 s in memory on two cores: a third of that speed, end to end,
would leave the command less time than importing its libraries takes (the
floor above). Both ratios are printed; bench/README.md has the latest
figures.

A fixed piece of pure-Python work (the yardstick) is timed before and after
the runs: a shared machine's speed can vary by a factor of two from day to
day, and that line tells a slow machine from slower code.

Repeated timings are printed as their median and range: on a busy 2-core
machine the same work varies by a third from run to run.

Traffic per service is heavy-tailed (Zipf, s=1.1) by default, as supplier
traffic across accounts is; `--distribution uniform` spreads it evenly, the
worst case for the writer (every service active in almost every minute).

Usage: python bench/ingest.py [--rows 1000000] [--services 10000]
       [--distribution zipf|uniform] [--history-days 14] [--repeats 3]
       [--database-url URL] [--workdir DIR] [--format usage-csv|asterisk-csv]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import text

from watchkeeper.clock import SystemClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, upgrade
from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction
from watchkeeper.feeds.parse import Format
from watchkeeper.wiring import sessionmaker as wired_sessions


def service_indexes(rng: np.random.Generator, rows: int, services: int, distribution: str) -> np.ndarray:
    if distribution == "uniform":
        return rng.integers(0, services, rows)
    weights = 1.0 / np.arange(1, services + 1) ** 1.1
    return rng.choice(services, size=rows, p=weights / weights.sum())


def traffic(
    rows: int, services: int, distribution: str, hours_ago: int, seed: int = 7
) -> tuple[np.ndarray, np.ndarray, datetime]:
    rng = np.random.default_rng(seed + hours_ago)
    hour = (datetime.now(UTC) - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
    offsets = np.sort(rng.integers(0, 3600, rows))
    return service_indexes(rng, rows, services, distribution), offsets, hour


def write_usage_csv(path: Path, rows: int, services: int, distribution: str, hours_ago: int) -> None:
    svc, offsets, hour = traffic(rows, services, distribution, hours_ago)
    stamps = pa.array(int(hour.timestamp()) + offsets, pa.timestamp("s", tz="UTC"))
    stamp_text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")
    names = pc.binary_join_element_wise("svc-", pc.cast(pa.array(svc), pa.string()), "")
    table = pa.table(
        {
            "timestamp": stamp_text,
            "service": names,
            "count": pa.array(np.ones(rows, np.int64)),
            "quantity": pa.array(np.random.default_rng(1).integers(1, 600, rows)),
        }
    )
    pcsv.write_csv(table, str(path), pcsv.WriteOptions(quoting_style="none"))


def write_asterisk_csv(path: Path, rows: int, services: int, distribution: str, hours_ago: int) -> None:
    svc, offsets, hour = traffic(rows, services, distribution, hours_ago)
    billsec = np.random.default_rng(2).integers(0, 900, rows)
    base = int(hour.timestamp())
    with path.open("w") as out:
        for i in range(rows):
            start = datetime.fromtimestamp(base + int(offsets[i]), UTC).strftime("%Y-%m-%d %H:%M:%S")
            end = datetime.fromtimestamp(base + int(offsets[i]) + int(billsec[i]), UTC).strftime("%Y-%m-%d %H:%M:%S")
            out.write(
                f'"acct-{svc[i]}","+4930{i % 10**7:07d}","+4940{(i * 7) % 10**7:07d}","from-trunk",'
                f'"""Caller {i % 997}"" <+4930{i % 10**7:07d}>","SIP/trunk-{i:08x}","SIP/pbx-{i:08x}",'
                f'"Dial","SIP/100,30,tT","{start}","{start}","{end}",{billsec[i] + 4},{billsec[i]},'
                '"ANSWERED","DOCUMENTATION"\n'
            )


def reference_pyarrow(path: Path, fmt: Format) -> float:
    in_page_cache(path)
    started = time.perf_counter()
    if fmt is Format.USAGE_CSV:
        table = pcsv.read_csv(
            path, convert_options=pcsv.ConvertOptions(column_types={"timestamp": pa.timestamp("s", tz="UTC")})
        )
        key, ts = "service", table.column("timestamp")
    else:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(autogenerate_column_names=True),
            convert_options=pcsv.ConvertOptions(include_columns=["f0", "f9"], column_types={"f9": pa.timestamp("s")}),
        )
        key, ts = "f0", table.column("f9")
    minute = pc.divide(pc.cast(ts, pa.int64()), 60)
    grouped = (
        pa.table({"service": table.column(key), "minute": minute})
        .group_by(["service", "minute"])
        .aggregate([([], "count_all")])
    )
    assert grouped.num_rows > 0
    return time.perf_counter() - started


def reference_duckdb(path: Path, fmt: Format) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    in_page_cache(path)
    started = time.perf_counter()
    if fmt is Format.USAGE_CSV:
        sql = (
            f"SELECT service, epoch(timestamp::TIMESTAMPTZ) // 60 AS m, sum(count) FROM read_csv('{path}') GROUP BY ALL"
        )
    else:
        sql = (
            f"SELECT column00, epoch(column09::TIMESTAMP) // 60 AS m, count(*) FROM "
            f"read_csv('{path}', header=false) GROUP BY ALL"
        )
    duckdb.sql(sql).fetchall()
    return time.perf_counter() - started


def fresh_database(url: str | None, workdir: Path, label: str) -> tuple[str, Callable[[], None]]:
    """A new SQLite file, or a new schema in the PostgreSQL database given,
    and what drops it again."""
    if url is None:
        path = workdir / f"bench-{label}-{time.monotonic_ns()}.db"
        url = f"sqlite:///{path}"

        def drop() -> None:
            for leftover in workdir.glob(f"{path.name}*"):
                leftover.unlink()
    else:
        schema = f"wk_bench_{label.replace('-', '_')}_{time.monotonic_ns()}"
        admin = make_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))

        def drop() -> None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, drop


def fill_history(url: str, days: int) -> tuple[float, int]:
    """Copy the counts of the file ingested so far back in time, hour by hour,
    until the minute table holds `days` of them. Hour counts get the same days."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        low, high = connection.execute(text("SELECT min(hour), max(hour) FROM minute_counts")).one()
    span = high - low + 1
    for back in range(span, days * 24, span):
        with engine.begin() as connection:  # a transaction per hour keeps the WAL small
            connection.execute(
                text(
                    "INSERT INTO minute_counts (hour, service_id, minute, count, quantity) "
                    "SELECT hour - :back, service_id, minute - :back * 60, count, quantity FROM minute_counts "
                    "WHERE hour BETWEEN :low AND :high ORDER BY 1, 2, 3"
                ),
                {"back": back, "low": low, "high": high},
            )
            connection.execute(
                text(
                    "INSERT INTO hour_counts (day, service_id, hour, count, quantity) "
                    "SELECT (hour - :back) / 24, service_id, hour - :back, count, quantity FROM hour_counts "
                    "WHERE day BETWEEN :low / 24 AND :high / 24 AND hour BETWEEN :low AND :high ORDER BY 1, 2, 3"
                ),
                {"back": back, "low": low, "high": high},
            )
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT count(*) FROM minute_counts")).scalar_one()
    if engine.dialect.name == "sqlite":  # start from a small WAL, as after a quiet hour
        raw = engine.raw_connection()
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        raw.close()
    engine.dispose()
    return time.perf_counter() - started, rows


def in_page_cache(path: Path) -> None:
    """Read `path` once, so a timed run starts with it in the page cache, as a
    file that has just arrived is. A machine may page out memory untouched for
    a few seconds (Linux's DAMON does), and the files are written minutes
    before they are timed: without this, some runs would read them from the
    host again and others not."""
    with path.open("rb") as source:
        while source.read(16 << 20):
            pass


def run_watchkeeper(path: Path, fmt: Format, url: str) -> tuple[float, int, int]:
    """Read, hash, parse, check, fold, write and commit one file, in this process."""
    in_page_cache(path)
    engine = make_engine(url)
    started = time.perf_counter()
    report = ingest_file_in_transaction(
        path,
        wired_sessions(engine),
        clock=SystemClock(),
        settings=Settings(database_url=url),
        options=FileOptions(format=fmt),
    )
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert report.status == "ingested", report.message
    return elapsed, report.accepted, report.rejected


def _installed_env(**extra: str) -> dict[str, str]:
    """The environment of an installed watchkeeper, whose byte code is compiled
    once. Where PYTHONDONTWRITEBYTECODE is set (as in this workplace), every
    start would compile watchkeeper's modules again, about 0.3 s no user pays."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | extra


def run_cli(path: Path, fmt: Format, url: str) -> tuple[float, int | None]:
    """`watchkeeper ingest` in a new process, on a database that is already
    set up: its seconds, and its peak memory (resident set) in bytes where
    /proc shows it."""
    env = _installed_env(WATCHKEEPER_DATABASE_URL=url)
    in_page_cache(path)
    started = time.perf_counter()
    command = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "ingest", str(path), "--format", fmt, "--quiet"], env=env
    )
    peak: list[int] = []
    done = threading.Event()
    watcher = threading.Thread(target=_watch_peak_memory, args=(command.pid, done, peak))
    watcher.start()
    returncode = command.wait()
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    assert returncode == 0, f"watchkeeper ingest exited with {returncode}"
    return elapsed, max(peak) if peak else None


def _watch_peak_memory(pid: int, done: threading.Event, peak: list[int]) -> None:
    """The process's own high-water mark of resident memory (VmHWM), read
    every 5 ms until it ends. (wait4's ru_maxrss is no good here: the child
    is spawned from this big process, whose resident set it counts too.)"""
    while not done.is_set():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak.append(int(line.split()[1]) * 1024)
        done.wait(0.005)


def startup_seconds(url: str, workdir: Path) -> float:
    """What the ingest command costs besides its work on a big file: the
    interpreter, the imports, opening the database, one small transaction and
    the exit, as `watchkeeper ingest` of a one-record file (the best of three).
    (`ingest --help` would also load and render the help, which an ingest
    never does.)"""
    best = float("inf")
    for run in range(3):
        path = workdir / f"one-record-{time.monotonic_ns()}.csv"
        path.write_text(f"timestamp,service,count\n{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ},bench-start-up,{run + 1}\n")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "watchkeeper", "ingest", str(path), "--quiet"],
            check=True,
            env=_installed_env(WATCHKEEPER_DATABASE_URL=url),
        )
        best = min(best, time.perf_counter() - started)
        path.unlink()
    return best


# The libraries an ingest cannot start without: storage (SQLAlchemy 2 and its
# ORM, as watchkeeper stores with), the parser (pyarrow), settings (pydantic-settings) and the
# command line (Typer). The cycle collector is off while they load, as in
# watchkeeper's launcher.
LIBRARIES = (
    "import gc; gc.disable(); import sqlalchemy, sqlalchemy.orm, pyarrow, pyarrow.csv, pyarrow.compute, "
    "pydantic_settings, typer"
)


def libraries_seconds() -> float:
    """Seconds a bare Python takes to import LIBRARIES and exit (the best of
    three): the floor under the command's start-up, whatever watchkeeper does."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", LIBRARIES], check=True, env=_installed_env())
        best = min(best, time.perf_counter() - started)
    return best


def yardstick() -> float:
    """Seconds the machine takes now for a fixed piece of pure-Python work
    (ten million additions, the best of three). A shared machine's speed can
    vary by a factor of two from day to day: printed before and after the
    runs, it tells a slow machine from slower code when figures of two days
    are compared."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def spread(seconds: list[float]) -> tuple[float, str]:
    """The median, and the range when there is more than one run: on a busy
    machine the same work varies by a third from run to run."""
    ordered = sorted(seconds)
    middle = ordered[len(ordered) // 2]
    span = f" (runs: {ordered[0]:.2f}-{ordered[-1]:.2f} s)" if len(ordered) > 1 else ""
    return middle, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--distribution", choices=["zipf", "uniform"], default="zipf")
    parser.add_argument(
        "--history-days",
        type=int,
        default=14,
        help="minute counts already stored before the next hour's file (0: none)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="next-hour files, in process and as a command (each a new hour); medians are printed",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: fresh SQLite files; with a PostgreSQL URL, a new schema per format",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--format", choices=[f.value for f in Format], default=None, help="default: both")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wk-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"{args.rows:,} rows per file, {args.services:,} services, one hour each, {args.distribution} traffic; "
        f"files in {workdir}"
    )
    print(f"machine speed now: {yardstick():.2f} s for ten million pure-Python additions (lower is faster)")
    for fmt, writer in ((Format.USAGE_CSV, write_usage_csv), (Format.ASTERISK_CSV, write_asterisk_csv)):
        if args.format not in (None, fmt):
            continue
        paths = []
        for hours_ago in range(2 * args.repeats + 1, 0, -1):  # oldest first: each file a new hour
            path = workdir / f"{args.distribution}-{args.rows}-{fmt}-{hours_ago}h.csv"
            if not path.exists():
                writer(path, args.rows, args.services, args.distribution, hours_ago)
            paths.append(path)
        first, following, cli_files = paths[0], paths[1 : args.repeats + 1], paths[args.repeats + 1 :]
        url, drop = fresh_database(args.database_url, workdir, fmt)
        new_s, accepted, rejected = run_watchkeeper(first, fmt, url)
        assert accepted == args.rows and rejected == 0, (accepted, rejected)
        fill_s, history_rows = fill_history(url, args.history_days)
        known = []
        for path in following:
            seconds, accepted, _ = run_watchkeeper(path, fmt, url)
            assert accepted == args.rows
            known.append(seconds)
        startup = startup_seconds(url, workdir)  # first, so the byte code is compiled before the CLI runs
        libraries = libraries_seconds()
        cli_runs = [run_cli(path, fmt, url) for path in cli_files]
        cli = [seconds for seconds, _ in cli_runs]
        peaks = [rss for _, rss in cli_runs if rss is not None]
        ref = [reference_pyarrow(following[0], fmt) for _ in range(3)]
        duck_runs = [reference_duckdb(following[0], fmt) for _ in range(3)]
        duck = None if None in duck_runs else [d for d in duck_runs if d is not None]
        size = first.stat().st_size / 1e6
        print(f"\n{fmt}: {size:.0f} MB per file")
        line = "  {:<58} {:6.2f} s {:>12,.0f} records/s{}"
        print(line.format("watchkeeper ingest, first file (every service new)", new_s, args.rows / new_s, ""))
        known_s, known_span = spread(known)
        print(
            line.format(
                "watchkeeper ingest, next hour's file (services known)", known_s, args.rows / known_s, known_span
            )
        )
        print(f"    onto {args.history_days} days of history: {history_rows:,} minute rows (filled in {fill_s:.0f} s)")
        cli_s, cli_span = spread(cli)
        print(
            line.format("watchkeeper ingest as a CLI command, a later hour's file", cli_s, args.rows / cli_s, cli_span)
        )
        print(f"    of which start-up and exit (`watchkeeper ingest` of a one-record file): {startup:.2f} s")
        print(f"    importing its libraries alone, in a bare Python (the floor under that): {libraries:.2f} s")
        if peaks:
            print(f"    peak memory of the command (resident set): {max(peaks) / 1e6:,.0f} MB")
        duck_s = None
        if duck is not None:
            duck_s, duck_span = spread(duck)
            print(
                line.format(
                    "reference: DuckDB read_csv + GROUP BY service, minute", duck_s, args.rows / duck_s, duck_span
                )
            )
        ref_s, ref_span = spread(ref)
        print(line.format("for comparison: pyarrow read_csv + group_by", ref_s, args.rows / ref_s, ref_span))
        print(
            f"  target: 1,000,000 records/s end to end (the CLI command): {args.rows / cli_s:,.0f}, "
            f"{'met' if args.rows / cli_s >= 1e6 else 'NOT met'}"
        )
        if duck_s is None:
            print("  target: a third of DuckDB's speed: not judged, duckdb is not installed (pip install -e '.[test]')")
        else:
            ratio = duck_s / cli_s
            print(
                f"  target: a third or more of the reference's speed, watchkeeper's / DuckDB's (medians): "
                f"first file {duck_s / new_s:.2f}, next file {duck_s / known_s:.2f}, CLI command {ratio:.2f}, "
                f"{'met' if ratio >= 1 / 3 else 'NOT met'}"
            )
        print(
            f"  for comparison, watchkeeper's speed / pyarrow's (medians): first file {ref_s / new_s:.2f}, "
            f"next file {ref_s / known_s:.2f}, CLI command {ref_s / cli_s:.2f}; a third of pyarrow's speed "
            f"would be {3 * ref_s:.2f} s end to end, against {libraries:.2f} s to import the libraries"
        )
        drop()  # two weeks of minutes take about 1.5 GB
    print(f"\nmachine speed at the end: {yardstick():.2f} s for ten million pure-Python additions")


if __name__ == "__main__":
    main()
