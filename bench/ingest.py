"""Ingest throughput: `watchkeeper ingest` against a plain pyarrow/DuckDB group-by.

Generates a 1,000,000-row usage-csv file and a 1,000,000-row Asterisk Master.csv
(10,000 services, one hour of traffic, like one supplier's hourly file) and
prints records per second for:

- watchkeeper, in process: read, hash, parse, check, fold, write, commit;
- watchkeeper, the real CLI in a fresh process (adds interpreter start-up);
- the reference: pyarrow read_csv + group_by(service, minute) on the same
  file, and DuckDB's read_csv + GROUP BY when duckdb is installed.

Traffic per service is heavy-tailed (Zipf, s=1.1) by default, as supplier
traffic across accounts is; `--distribution uniform` spreads it evenly, the
worst case for the writer (every service active in almost every minute).

Usage: python bench/ingest.py [--rows 1000000] [--services 10000]
       [--distribution zipf|uniform] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from watchkeeper.clock import SystemClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, make_sessionmaker, upgrade
from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction
from watchkeeper.feeds.parse import Format


def service_indexes(rng: np.random.Generator, rows: int, services: int, distribution: str) -> np.ndarray:
    if distribution == "uniform":
        return rng.integers(0, services, rows)
    weights = 1.0 / np.arange(1, services + 1) ** 1.1
    return rng.choice(services, size=rows, p=weights / weights.sum())


def traffic(rows: int, services: int, distribution: str, seed: int = 7) -> tuple[np.ndarray, np.ndarray, datetime]:
    rng = np.random.default_rng(seed)
    hour = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    offsets = np.sort(rng.integers(0, 3600, rows))
    return service_indexes(rng, rows, services, distribution), offsets, hour


def write_usage_csv(path: Path, rows: int, services: int, distribution: str) -> None:
    svc, offsets, hour = traffic(rows, services, distribution)
    stamps = pa.array(int(hour.timestamp()) + offsets, pa.timestamp("s", tz="UTC"))
    text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")
    names = pc.binary_join_element_wise("svc-", pc.cast(pa.array(svc), pa.string()), "")
    table = pa.table({"timestamp": text, "service": names, "count": pa.array(np.ones(rows, np.int64)),
                      "quantity": pa.array(np.random.default_rng(1).integers(1, 600, rows))})
    pcsv.write_csv(table, str(path), pcsv.WriteOptions(quoting_style="none"))


def write_asterisk_csv(path: Path, rows: int, services: int, distribution: str) -> None:
    svc, offsets, hour = traffic(rows, services, distribution)
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
    started = time.perf_counter()
    if fmt is Format.USAGE_CSV:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={"timestamp": pa.timestamp("s", tz="UTC")}))
        key, ts = "service", table.column("timestamp")
    else:
        table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(autogenerate_column_names=True),
                              convert_options=pcsv.ConvertOptions(include_columns=["f0", "f9"],
                                                                  column_types={"f9": pa.timestamp("s")}))
        key, ts = "f0", table.column("f9")
    minute = pc.divide(pc.cast(ts, pa.int64()), 60)
    grouped = pa.table({"service": table.column(key), "minute": minute}).group_by(
        ["service", "minute"]).aggregate([([], "count_all")])
    assert grouped.num_rows > 0
    return time.perf_counter() - started


def reference_duckdb(path: Path, fmt: Format) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    started = time.perf_counter()
    if fmt is Format.USAGE_CSV:
        sql = (f"SELECT service, epoch(timestamp::TIMESTAMPTZ) // 60 AS m, sum(count) FROM "
               f"read_csv('{path}') GROUP BY ALL")
    else:
        sql = (f"SELECT column00, epoch(column09::TIMESTAMP) // 60 AS m, count(*) FROM "
               f"read_csv('{path}', header=false) GROUP BY ALL")
    duckdb.sql(sql).fetchall()
    return time.perf_counter() - started


def run_watchkeeper(path: Path, fmt: Format, url: str) -> tuple[float, int, int]:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    report = ingest_file_in_transaction(path, make_sessionmaker(engine), clock=SystemClock(),
                                        settings=Settings(database_url=url),
                                        options=FileOptions(format=fmt))
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert report.status == "ingested", report.message
    return elapsed, report.accepted, report.rejected


def run_cli(path: Path, fmt: Format, url: str) -> float:
    env = dict(os.environ, WATCHKEEPER_DATABASE_URL=url)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "watchkeeper", "ingest", str(path), "--format", fmt, "--quiet"],
                   check=True, env=env)
    return time.perf_counter() - started


def distinct_minutes(path: Path, fmt: Format) -> int:
    if fmt is Format.USAGE_CSV:
        t = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(include_columns=["service", "timestamp"]))
        return t.group_by(["service", "timestamp"]).aggregate([]).num_rows  # not used for asterisk
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--distribution", choices=["zipf", "uniform"], default="zipf")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per run")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wk-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{args.rows:,} rows, {args.services:,} services, one hour, {args.distribution} traffic; "
          f"files in {workdir}")
    for fmt, writer in ((Format.USAGE_CSV, write_usage_csv), (Format.ASTERISK_CSV, write_asterisk_csv)):
        path = workdir / f"{args.distribution}-{args.rows}-{fmt}.csv"
        if not path.exists():
            writer(path, args.rows, args.services, args.distribution)
        size = path.stat().st_size / 1e6
        figures = {}
        for label in ("in-process", "cli"):
            url = args.database_url or f"sqlite:///{workdir}/bench-{fmt}-{label}-{time.monotonic_ns()}.db"
            if label == "in-process":
                elapsed, accepted, rejected = run_watchkeeper(path, fmt, url)
                assert accepted == args.rows and rejected == 0, (accepted, rejected)
            else:
                if args.database_url:
                    continue  # the same rows again would be refused as a duplicate file
                elapsed = run_cli(path, fmt, url)
            figures[label] = elapsed
        ref = reference_pyarrow(path, fmt)
        duck = reference_duckdb(path, fmt)
        rate = args.rows / figures["in-process"]
        print(f"\n{fmt}: {size:.0f} MB")
        print(f"  watchkeeper ingest (in process) {figures['in-process']:6.2f} s  {rate:>12,.0f} records/s")
        if "cli" in figures:
            print(f"  watchkeeper ingest (CLI process) {figures['cli']:5.2f} s  "
                  f"{args.rows / figures['cli']:>12,.0f} records/s")
        print(f"  reference pyarrow group-by       {ref:6.2f} s  {args.rows / ref:>12,.0f} records/s")
        if duck is not None:
            print(f"  reference duckdb group-by        {duck:6.2f} s  {args.rows / duck:>12,.0f} records/s")
        best = min(ref, duck or ref)
        print(f"  watchkeeper / fastest reference: {best / figures['in-process']:.2f}")


if __name__ == "__main__":
    main()
