"""Replay speed: one year of 5-minute rows for 100 services (target: under 30 s).

Not a test: a script that prints figures. It writes a usage-csv file of
100 services x 365 days x 288 five-minute rows (10.5 million rows, a count of
0 where an interval was observed and empty), then times:

* the model alone: `watchkeeper.feeds.replay.replay` over the series already
  in memory, on all cores (2 here), as `watchkeeper replay` runs it;
* the whole command, `watchkeeper replay FILE --output ALERTS.jsonl`, as an
  operator runs it: reading and parsing the CSV, replaying, writing alerts.

The services have a daily and weekly rhythm (Poisson counts, a weekday peak,
quiet nights and weekends), a few with growth, and every one has two
injected one-hour outages so the replay also raises and resolves alerts.

Usage: .venv/bin/python bench/replay.py [--services 100] [--days 365] [--skip-cli]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from watchkeeper.feeds.replay import Series, replay
from watchkeeper.feeds.rhythm import Params, minute_of

START = datetime(2025, 1, 6, tzinfo=UTC)
STEP = 5


def make_series(services: int, days: int, seed: int = 1) -> list[Series]:
    rng = np.random.default_rng(seed)
    start = minute_of(START)
    minutes = np.arange(start, start + days * 1440, STEP, dtype=np.int64)
    hour = (minutes // 60) % 24
    weekday = (minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday
    out = []
    for i in range(services):
        peak = rng.uniform(5, 200)
        shape = np.where((hour >= 8) & (hour < 19), 1.0, rng.uniform(0.02, 0.3))
        shape = np.where(weekday >= 5, shape * rng.uniform(0.2, 1.0), shape)
        growth = 1 + rng.uniform(0, 0.5) * (minutes - start) / (days * 1440)
        counts = rng.poisson(peak * shape * growth).astype(np.float64)
        for _ in range(2):
            cut = rng.integers(len(minutes) // 4, len(minutes) - 24)
            counts[cut : cut + 12] = 0.0
        out.append(Series(f"svc-{i:03d}", minutes, counts))
    return out


def write_csv(series: list[Series], path: Path) -> int:
    rows = 0
    with path.open("w") as f:
        f.write("timestamp,service,count\n")
        for s in series:
            stamps = np.datetime_as_string(s.minutes.astype("datetime64[m]"), unit="s")
            f.writelines(f"{t}Z,{s.service},{int(c)}\n" for t, c in zip(stamps, s.counts, strict=True))
            rows += len(s.minutes)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    series = make_series(args.services, args.days)
    rows = sum(len(s.minutes) for s in series)
    print(f"{args.services} services x {args.days} days of {STEP}-minute rows: {rows:,} rows; {os.cpu_count()} cores")

    started = time.perf_counter()
    alerts = replay(series, {}, default=Params())
    model = time.perf_counter() - started
    print(
        f"  model only (in memory, {os.cpu_count()} processes): {model:.1f} s, {len(alerts):,} alerts "
        f"({model / args.services * 1000:.0f} ms per service-year)"
    )

    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as tmp:
            path, output = Path(tmp) / "history.csv", Path(tmp) / "alerts.jsonl"
            write_csv(series, path)
            size = path.stat().st_size / 1e6
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "watchkeeper", "replay", str(path), "--output", str(output)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            whole = time.perf_counter() - started
            lines = sum(1 for _ in output.open())
            print(f"  watchkeeper replay on a {size:.0f} MB usage-csv file: {whole:.1f} s, {lines:,} alerts written")
    verdict = "MET" if model < 30 else "NOT MET"
    print(f"target: under 30 s for 100 services x 1 year: {verdict} (model {model:.1f} s)")


if __name__ == "__main__":
    main()
