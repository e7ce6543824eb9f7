"""Scheduler cost: 100,000 services with live silence deadlines, on SQLite and PostgreSQL.

Not a test: a script that prints figures. For each database it fills
`services` and `feed_states` with N services (default 100,000), every one
holding a real learned feed model, and measures the live watcher
(`watchkeeper.feeds.watch.watch_feeds`, run the way `watchkeeper serve` runs
it: batches of 200, each its own transaction, until a batch comes back short):

* **idle tick** (nothing due): `claim_due` alone and a whole tick
  (transaction, claim, commit) at 1,000 / 10,000 / N services, and the query
  plan of the claim, to show a tick costs O(due), not O(all);
* **busy tick**: one tick with k = 10 / 100 / 1,000 services due, and its
  cost per evaluated service;
* **lateness**: silence deadlines spread evenly over 20 s of real time, with
  the real `Scheduler` loop (`run_forever`) on the real clock, for each
  (tick period, deadline rate) given: by default the default tick
  (`scheduler_tick_seconds` = 0.5) and 1.0 s, at 100 deadlines/s (2,000 in
  20 s: a mass outage) and at 10/s (200 in 20 s: with 100,000 services, each
  going silent every ~2.8 h, still far above a real rate). Lateness =
  wall-clock time the batch holding the service's silence alert committed,
  minus the service's `due_at`. Nothing else (ingest touches, other jobs)
  competes for the scheduler here;
* **memory**: stored model bytes per service, database growth per service
  (SQLite file; PostgreSQL relation sizes), and the Python memory of one
  loaded model (its arrays, and all it allocates, by tracemalloc).

The model: one `FeedModel` learned by replaying three weeks of a busy
synthetic feed (Poisson, 10 records/min on weekdays 08-18 UTC, 0.5/min
otherwise) whose last record is just far enough back that its silence
deadline has passed when the benchmark starts, but not yet evaluated. All N
services share those bytes, so evaluating any of them raises a silence alert
(checked: every evaluated service must raise exactly one). The services not
under test are due 1-8 days ahead, as services with a deadline but nothing
wrong are.

On PostgreSQL the loaded tables are VACUUM ANALYZEd and CHECKPOINTed before
measuring, and `alerts` is ANALYZEd before each busy measurement, as
autovacuum would in a running system (`analyze_alerts` says why it matters).

Targets: a tick costs O(due), not O(all); p99 lateness at
most 1 s; model state at most a few KB per service (judged here as: the
stored model at most 8 KB).

Run: ``.venv/bin/python bench/scheduler.py [--services N] [--skip-postgres]
[--runs 0.5@100,1.0@100,0.5@10,1.0@10] [--seconds 20] [--postgres-url URL]``
(a run is tick-seconds@deadlines-per-second). About 5 minutes for 100,000
services on both databases. SQLite uses a temp file (deleted); PostgreSQL a
schema `wk_bench_sched` in the given database, dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.service import record_all
from watchkeeper.clock import SystemClock
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.feeds.model import FeedModel
from watchkeeper.feeds.models import FeedState, Service, ServiceStage
from watchkeeper.feeds.rhythm import Kind, Params, instant, minute_of
from watchkeeper.feeds.watch import claim_due, watch_feeds
from watchkeeper.scheduler import Job, Scheduler
from watchkeeper.wiring import sessionmaker as wired_sessions

BATCH = 200  # as `watchkeeper serve` claims
INSERT_CHUNK = 5_000
SCHEMA = "wk_bench_sched"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
K_DUE = (10, 100, 1_000)
MODEL_TARGET_BYTES = 8 * 1024


# -- the model ---------------------------------------------------------------


def synthetic_counts(start: int, last: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute counts from `start` to `last` (inclusive): busy weekday office hours, quiet otherwise."""
    minutes = np.arange(start, last + 1, dtype=np.int64)
    hours = (minutes // 60) % 24
    weekday = (minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday
    busy = (weekday < 5) & (hours >= 8) & (hours < 18)
    counts = np.random.default_rng(seed).poisson(np.where(busy, 10.0, 0.5)).astype(np.float64)
    counts[-1] = max(counts[-1], 1.0)  # `last` holds the last record
    keep = counts > 0
    return minutes[keep], counts[keep]


def learned_model(last: int, params: Params) -> FeedModel:
    """Three weeks replayed up to a last record at minute `last`, evaluated to just after it."""
    start = last - 21 * 1440
    model = FeedModel(params, start=start)
    model.observe_ahead(*synthetic_counts(start, last))
    model.advance(last + 1)
    return model


def overdue_model(now_minute: int, params: Params) -> FeedModel:
    """A learned model whose silence deadline is at or before `now_minute` but not yet judged."""
    last = now_minute - 2
    for _ in range(10):
        model = learned_model(last, params)
        deadline = model.silence_deadline()
        assert deadline is not None and Kind.SILENCE not in model.open
        if deadline <= now_minute:
            return model
        last -= deadline - now_minute + 1  # the limit depends on the hour: step back and retry
    raise RuntimeError("could not place the last record before a passed deadline")


def loaded_model_memory(data: bytes, params: Params) -> tuple[int, int]:
    """(bytes held by the loaded model's arrays, bytes tracemalloc saw allocated by loading it)."""
    tracemalloc.start()
    model = FeedModel.from_bytes(data, params)
    allocated, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrays = sum(a.nbytes for a in (model.counts, model.expect, model.gaps, model.rate, model.weeks))
    return arrays, allocated


# -- databases ---------------------------------------------------------------


@dataclass
class Backend:
    name: str
    engine: Engine
    sessions: sessionmaker[Session]
    file: Path | None = None  # SQLite only
    cleanup: Callable[[], None] = lambda: None


def sqlite_backend(workdir: Path) -> Backend:
    file = workdir / "scheduler.db"
    engine = make_engine(f"sqlite:///{file}")
    upgrade(engine)
    return Backend("SQLite", engine, wired_sessions(engine), file=file, cleanup=engine.dispose)


def postgres_backend(url: str) -> Backend:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options=-csearch_path%3D{SCHEMA}")
    upgrade(engine)

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.dispose()

    return Backend("PostgreSQL", engine, wired_sessions(engine), cleanup=cleanup)


def name_of(service_id: int) -> str:
    return f"svc-{service_id:06d}"


def insert_services(backend: Backend, ids: range, model: bytes, seen: datetime, rng: np.random.Generator) -> None:
    """Services `ids` with the shared model, each due 1-8 days from now (nothing wrong with them)."""
    now = datetime.now(UTC)
    for lo in range(ids.start, ids.stop, INSERT_CHUNK):
        chunk = range(lo, min(lo + INSERT_CHUNK, ids.stop))
        ahead = rng.uniform(86_400, 8 * 86_400, len(chunk))
        services = [
            {
                "id": i,
                "name": name_of(i),
                "stage": ServiceStage.PRODUCTION,
                "settings": {},
                "first_seen": seen,
                "last_seen": seen,
                "last_received_at": seen,
                "total_count": 1000,
                "total_quantity": 1000.0,
                "created_at": now,
            }
            for i in chunk
        ]
        states = [
            {"service_id": i, "model": model, "due_at": now + timedelta(seconds=float(s)), "evaluated_at": now}
            for i, s in zip(chunk, ahead, strict=True)
        ]
        with transaction(backend.sessions) as session:
            session.execute(insert(Service.__table__), services)
            session.execute(insert(FeedState.__table__), states)


def set_due(backend: Backend, due: dict[int, datetime]) -> None:
    with transaction(backend.sessions) as session:
        session.execute(update(FeedState), [{"service_id": i, "due_at": at} for i, at in due.items()])


def settle(backend: Backend) -> None:
    """PostgreSQL: VACUUM ANALYZE and CHECKPOINT (done in the background in a running system; here, before measuring).

    SQLite: fold the WAL into the file.
    """
    if backend.name == "PostgreSQL":
        with backend.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE services")
            conn.exec_driver_sql("VACUUM ANALYZE feed_states")
            conn.exec_driver_sql("CHECKPOINT")  # the bulk load's dirty pages written now, not mid-measurement
        return
    raw = backend.engine.raw_connection()  # outside SQLAlchemy's BEGIN IMMEDIATE, which a checkpoint cannot run in
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def analyze_alerts(backend: Backend) -> None:
    """PostgreSQL: statistics for the alerts table, as autovacuum keeps them in a running system.

    Without them, psycopg's prepared "firing alert for this key?" lookup keeps the
    plan made while the table was empty: a sequential scan, so each evaluation
    costs more with every alert recorded (0.5 ms a lookup at none, 2 ms at 6,000).
    """
    if backend.name == "PostgreSQL":
        with backend.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE alerts")


def storage_bytes(backend: Backend) -> int:
    """Database size: the SQLite file (after a checkpoint), or the PostgreSQL tables with indexes and TOAST."""
    settle(backend)
    if backend.file is not None:
        wal = backend.file.with_name(backend.file.name + "-wal")
        return backend.file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    with backend.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT pg_total_relation_size('services') + pg_total_relation_size('feed_states')"
            ).scalar_one()
        )


def mean_model_bytes(backend: Backend) -> float:
    with backend.sessions() as session:
        return float(session.scalar(select(func.avg(func.length(FeedState.model)))) or 0.0)


# -- ticks -------------------------------------------------------------------


@dataclass
class TickResult:
    evaluated: int = 0
    silences: list[tuple[str, float]] = field(default_factory=list)  # (service, wall time committed)
    other_findings: int = 0


def tick(backend: Backend, result: TickResult | None = None) -> TickResult:
    """One scheduler tick of the feeds job, as `watchkeeper serve` runs it."""
    result = TickResult() if result is None else result
    while True:
        with transaction(backend.sessions) as session:
            now = datetime.now(UTC)
            report = watch_feeds(session=session, now=now, limit=BATCH)
            record_all(report.findings, session=session, now=now)
        committed = time.time()
        result.evaluated += report.evaluated
        for finding in report.findings:
            if finding.labels.get("kind") == Kind.SILENCE and finding.state == "firing":
                result.silences.append((finding.service or "", committed))
            else:
                result.other_findings += 1
        if report.evaluated < BATCH:
            return result


def timed(fn: Callable[[], object], repeats: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def claim_only(backend: Backend) -> None:
    with transaction(backend.sessions) as session:
        assert claim_due(session=session, now=datetime.now(UTC), limit=BATCH) == []


def idle_costs(backend: Backend, repeats: int = 500) -> tuple[float, float]:
    """Median seconds of (claim_due in its transaction, a whole idle tick) with nothing due."""
    claim = timed(lambda: claim_only(backend), repeats)
    whole = timed(lambda: tick(backend), repeats)
    return statistics.median(claim), statistics.median(whole)


@contextmanager
def captured_claims(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM feed_states" in statement and "due_at <=" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def claim_plan(backend: Backend) -> list[str]:
    """The plan of the very statement `claim_due` sends (captured, then EXPLAINed)."""
    with captured_claims(backend.engine) as seen:
        claim_only(backend)
    statement, parameters = seen[0]
    explain = "EXPLAIN QUERY PLAN " if backend.name == "SQLite" else "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) "
    with backend.engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()
        conn.rollback()
    lines = [" ".join(str(c) for c in row[-1:]) for row in rows]
    return [" ".join(statement.split())] + lines


def busy_tick(backend: Backend, ids: list[int]) -> tuple[float, TickResult]:
    """Seconds of one tick with `ids` due a second ago."""
    analyze_alerts(backend)
    past = datetime.now(UTC) - timedelta(seconds=1)
    set_due(backend, dict.fromkeys(ids, past))
    started = time.perf_counter()
    result = tick(backend)
    elapsed = time.perf_counter() - started
    check(result, ids)
    return elapsed, result


def check(result: TickResult, ids: list[int]) -> None:
    names = sorted(s for s, _ in result.silences)
    if result.evaluated != len(ids) or result.other_findings or names != sorted(name_of(i) for i in ids):
        raise AssertionError(
            f"expected {len(ids)} silence alerts, got {len(names)} (and {result.other_findings} "
            f"other findings) from {result.evaluated} evaluated"
        )


@dataclass(frozen=True)
class Run:
    tick: float  # scheduler period, seconds
    rate: float  # deadlines per second

    def deadlines(self, seconds: float) -> int:
        return round(self.rate * seconds)

    def __str__(self) -> str:
        return f"tick {self.tick:g} s, {self.rate:g}/s"


def lateness_run(backend: Backend, ids: list[int], spread: float, tick_seconds: float) -> np.ndarray:
    """Deadlines spread evenly over `spread` s from 3 s ahead; the real Scheduler loop on the real clock."""
    analyze_alerts(backend)
    first = datetime.now(UTC) + timedelta(seconds=3)
    due = {i: first + timedelta(seconds=spread * n / len(ids)) for n, i in enumerate(ids)}
    set_due(backend, due)
    result = TickResult()
    stop = threading.Event()

    def feeds() -> None:
        tick(backend, result)
        if len(result.silences) >= len(ids):
            stop.set()

    timeout = threading.Timer(spread + 30, stop.set)
    timeout.start()
    Scheduler([Job("feeds", timedelta(seconds=tick_seconds), feeds)], clock=SystemClock()).run_forever(
        stop, tick_seconds
    )
    timeout.cancel()
    check(result, ids)
    by_name = {name_of(i): at.timestamp() for i, at in due.items()}
    return np.array([committed - by_name[name] for name, committed in result.silences])


# -- the run -----------------------------------------------------------------


@dataclass
class Figures:
    name: str
    idle: dict[int, tuple[float, float]] = field(default_factory=dict)  # services -> (claim, tick)
    plan: list[str] = field(default_factory=list)
    busy: dict[int, float] = field(default_factory=dict)  # k -> tick seconds
    lateness: dict[Run, np.ndarray] = field(default_factory=dict)  # seconds late, per alert
    model_bytes: float = 0.0
    storage_per_service: float = 0.0
    insert_seconds: float = 0.0


def populate(backend: Backend, total: int, model: bytes, seen: datetime, figures: Figures) -> None:
    """Grow to each size of the idle table, timing an idle tick at each, and the storage growth."""
    rng = np.random.default_rng(3)
    sizes = sorted({s for s in (1_000, 10_000, total) if s <= total})
    have, bytes_before, services_before = 0, storage_bytes(backend), 0
    for size in sizes:
        started = time.perf_counter()
        insert_services(backend, range(have + 1, size + 1), model, seen, rng)
        figures.insert_seconds += time.perf_counter() - started
        have = size
        after = storage_bytes(backend)
        if size == sizes[-1]:
            figures.storage_per_service = (after - bytes_before) / (size - services_before)
        bytes_before, services_before = after, size
        figures.idle[size] = idle_costs(backend)
        print(f"  {size:>7,} services: idle tick {figures.idle[size][1] * 1e3:.2f} ms", flush=True)


def measure(backend: Backend, total: int, model: bytes, seen: datetime, runs: list[Run], seconds: float) -> Figures:
    figures = Figures(backend.name)
    print(f"{backend.name}:", flush=True)
    populate(backend, total, model, seen, figures)
    print(f"  inserted {total:,} services in {figures.insert_seconds:.1f} s", flush=True)
    figures.plan = claim_plan(backend)
    figures.model_bytes = mean_model_bytes(backend)
    next_id = 1
    for k in K_DUE:
        elapsed, _ = busy_tick(backend, list(range(next_id, next_id + k)))
        figures.busy[k] = elapsed
        next_id += k
        print(f"  tick with {k:>5,} due: {elapsed:.3f} s", flush=True)
    for run in runs:
        count = run.deadlines(seconds)
        late = lateness_run(backend, list(range(next_id, next_id + count)), seconds, run.tick)
        figures.lateness[run] = late
        next_id += count
        print(
            f"  lateness, {run}: p50 {np.percentile(late, 50):.3f} s, p99 {np.percentile(late, 99):.3f} s", flush=True
        )
    return figures


def report(
    all_figures: list[Figures], total: int, seconds: float, arrays: int, allocated: int, raw: int, advanced: int
) -> None:
    print("\n== idle tick (nothing due), median of 500 ==")
    print(f"{'database':<11} {'services':>9} {'claim_due':>11} {'whole tick':>11}")
    for f in all_figures:
        for size, (claim, whole) in f.idle.items():
            print(f"{f.name:<11} {size:>9,} {claim * 1e3:>8.3f} ms {whole * 1e3:>8.3f} ms")
    for f in all_figures:
        print(f"\n{f.name} claim query and plan (at {total:,} services, nothing due):")
        for line in f.plan:
            print(f"  {line}")
    print("\n== one tick with k services due (each raises a silence alert) ==")
    print(f"{'database':<11} {'k':>6} {'tick':>9} {'per service':>12}")
    for f in all_figures:
        for k, elapsed in f.busy.items():
            print(f"{f.name:<11} {k:>6,} {elapsed:>7.3f} s {elapsed / k * 1e3:>9.2f} ms")
    print(f"\n== silence alert lateness (commit of the alert minus due_at), deadlines spread over {seconds:g} s ==")
    print(
        f"{'database':<11} {'tick':>6} {'rate':>6} {'alerts':>7} {'p50':>8} {'p99':>8} {'max':>8} "
        f"{'each service silent every':>26}"
    )
    for f in all_figures:
        for run, late in f.lateness.items():
            p50, p99, top = np.percentile(late, 50), np.percentile(late, 99), late.max()
            every = total / run.rate / 60
            print(
                f"{f.name:<11} {run.tick:>4g} s {run.rate:>4g}/s {len(late):>7,} {p50:>6.3f} s {p99:>6.3f} s "
                f"{top:>6.3f} s {every:>20,.0f} min"
            )
    print(
        "(run_forever sleeps until the next tick is due, so a deadline waits up to one tick plus the work "
        "queued ahead of it)"
    )
    print("\n== memory per service ==")
    print(f"stored model (feed_states.model): {raw:,} bytes built; mean in the database:")
    for f in all_figures:
        print(
            f"  {f.name:<11} model {f.model_bytes:,.0f} B; database growth {f.storage_per_service:,.0f} B/service "
            f"(services + feed_states rows, indexes{', TOAST' if f.name == 'PostgreSQL' else ''})"
        )
    print(
        f"one loaded model in Python: arrays {arrays:,} B; tracemalloc {allocated:,} B allocated by from_bytes "
        "(held only while the service is evaluated: the scheduler keeps no model in memory)"
    )
    print(f"each evaluation advanced the model over ~{advanced} min of silence")
    targets(all_figures, raw)


def targets(all_figures: list[Figures], raw: int) -> None:
    print("\n== targets ==")
    for f in all_figures:
        idle = [whole for _, whole in f.idle.values()]
        growth = idle[-1] / idle[0]
        indexed = any("ix_feed_states_due_at" in line or "INDEX" in line.upper() for line in f.plan[1:])
        small, large = min(f.busy), max(f.busy)
        per = (f.busy[large] / large) / (f.busy[small] / small)  # above 1: worse than linear in due
        verdict = "MET" if growth < 2 and indexed and per <= 1.5 else "NOT MET"
        sizes = list(f.idle)
        print(
            f"{f.name}: tick O(due), not O(all): {verdict} (idle tick x{growth:.2f} from {sizes[0]:,} to "
            f"{sizes[-1]:,} services; claim by index: {indexed}; cost per due service at k={large:,} is "
            f"x{per:.2f} that at k={small})"
        )
        for run, late in f.lateness.items():
            p99 = float(np.percentile(late, 99))
            print(f"{f.name}: p99 lateness <= 1 s, {run}: {'MET' if p99 <= 1.0 else 'NOT MET'} ({p99:.3f} s)")
        ok = f.model_bytes <= MODEL_TARGET_BYTES
        print(
            f"{f.name}: model state <= a few KB (stored model <= {MODEL_TARGET_BYTES:,} B): "
            f"{'MET' if ok else 'NOT MET'} ({f.model_bytes:,.0f} B stored; "
            f"{f.storage_per_service:,.0f} B per service on disk with the row and indexes)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument(
        "--runs",
        default="0.5@100,1.0@100,0.5@10,1.0@10",
        help="lateness runs: scheduler tick seconds @ deadlines per second, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="real seconds each run's deadlines span")
    args = parser.parse_args()
    args.runs = [Run(*(float(x) for x in run.split("@"))) for run in args.runs.split(",")]
    needed = sum(K_DUE) + sum(run.deadlines(args.seconds) for run in args.runs)
    if args.services < needed:
        parser.error(f"--services must be at least {needed:,} for these runs")
    return args


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    params = Params()
    now_minute = minute_of(datetime.now(UTC))
    model = overdue_model(now_minute, params)
    raw = model.to_bytes()
    arrays, allocated = loaded_model_memory(raw, params)
    deadline = model.silence_deadline()
    print(
        f"model: 3 weeks learned, last record {instant(model.last_end - 1):%a %H:%M} UTC, silence deadline "
        f"{instant(deadline or 0):%H:%M} UTC, {len(raw):,} bytes; {args.services:,} services"
    )
    backends = [lambda: sqlite_backend(Path(tempfile.mkdtemp(prefix="wk-bench-sched-")))]
    if not args.skip_postgres:
        backends.append(lambda: postgres_backend(args.postgres_url))
    all_figures = []
    seen = instant(model.last_end - 1)
    for make in backends:
        backend = make()
        try:
            all_figures.append(measure(backend, args.services, raw, seen, args.runs, args.seconds))
        finally:
            backend.cleanup()
            if backend.file is not None:
                for leftover in backend.file.parent.glob("*"):
                    leftover.unlink()
                backend.file.parent.rmdir()
    advanced = minute_of(datetime.now(UTC)) - model.now
    report(all_figures, args.services, args.seconds, arrays, allocated, len(raw), advanced)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
