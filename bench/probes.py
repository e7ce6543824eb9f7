"""Probe scheduling: N HTTP probe checks at a 60 s interval, run by the real due job.

Not a test: a script that prints figures. It starts a small asyncio HTTP/1.1
server (keep-alive, 200 "ok") in a subprocess on loopback, adds N http
checks against it (`checks.service.add_probe`, interval 60 s, each in its own
slot), and runs `watchkeeper serve`'s scheduler (`wiring.jobs` and the real
`Scheduler.run_forever` on the system clock) for `--minutes`. Then:

Each check starts at its first slot after all were added (the slots that passed
while adding are not run; with ``--catch-up`` they are, first, as after a restart).

* **lateness**: for every stored result, the time its probe started (the
  result's `at`) minus its scheduled slot (the check's grid, probe_rules);
  p50, p99 and the worst, and how many runs were due in the window against
  how many ran. Target: p99 at most 2 s;
* **CPU**: the scheduler process's CPU seconds (user + system, every thread,
  from getrusage) per minute of running; the HTTP server's are its own;
* **memory**: the process's resident memory (/proc/self/status) after the
  run minus before the checks were added, per check.

Run: ``.venv/bin/python bench/probes.py [--checks 10000] [--minutes 3]
[--database-url URL] [--concurrency 200]``. SQLite by default (a temp file,
deleted); with a PostgreSQL URL it uses a schema `wk_bench_probes`, dropped
at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

SERVER = r"""
import asyncio, sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="run the slots that passed while the checks were being added too, as after a restart",
    )
    args = parser.parse_args()

    from watchkeeper import models  # noqa: F401  (every table)
    from watchkeeper.checks import probe_rules, service
    from watchkeeper.checks.models import Check, ProbeResultRow
    from watchkeeper.checks.runner import ProbeRunner
    from watchkeeper.cli.common import Context
    from watchkeeper.clock import SystemClock
    from watchkeeper.config import Settings
    from watchkeeper.db import make_engine, transaction, upgrade
    from watchkeeper.scheduler import Scheduler
    from watchkeeper.wiring import jobs

    work = tempfile.TemporaryDirectory()
    schema = None
    if args.database_url is None:
        url = f"sqlite:///{work.name}/bench.db"
    else:
        schema = "wk_bench_probes"
        admin = create_engine(args.database_url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    time.sleep(0.5)
    try:
        settings = Settings(
            database_url=url, key_file=f"{work.name}/watchkeeper.key", probe_concurrency=args.concurrency
        )
        upgrade(make_engine(url, key_file=settings.key_file))
        clock = SystemClock()
        ctx = Context(settings=settings, clock=clock)
        before = rss_kb()
        interval = timedelta(seconds=60)
        started_adding = time.perf_counter()
        with transaction(ctx.sessions) as session:
            for number in range(args.checks):
                service.add_probe(
                    f"shop-{number:05d}",
                    "http",
                    {"url": f"http://127.0.0.1:{port}/health/{number}", "timeout": 5.0},
                    session=session,
                    now=clock.now(),
                    interval=interval,
                )
        print(f"{args.checks} checks added in {time.perf_counter() - started_adding:.1f} s ({url.split(':')[0]})")
        if not args.catch_up:
            # Slots that passed while the checks were being added are not a backlog to run:
            # each check starts at its first slot from now, as on a server that was running.
            with transaction(ctx.sessions) as session:
                now = clock.now()
                for check in session.scalars(select(Check)):
                    check.due_at = service.next_probe_at(check, now)
        runner = ProbeRunner(limit=args.concurrency)
        scheduler = Scheduler(jobs(ctx, runner=runner), clock=clock, sessions=ctx.sessions)
        stop = threading.Event()
        window_start = clock.now()
        cpu_before = cpu_seconds()
        server_before = child_cpu_seconds(server.pid)
        loop = threading.Thread(target=scheduler.run_forever, args=(stop, settings.scheduler_tick_seconds))
        loop.start()
        time.sleep(args.minutes * 60)
        stop.set()
        loop.join()
        window_end = clock.now()
        cpu = cpu_seconds() - cpu_before
        server_cpu = child_cpu_seconds(server.pid) - server_before
        after = rss_kb()
        with transaction(ctx.sessions) as session:
            names = {check_id: name for check_id, name in session.execute(select(Check.id, Check.name))}
            rows = session.execute(
                select(ProbeResultRow.check_id, ProbeResultRow.at, ProbeResultRow.up).where(
                    ProbeResultRow.at >= window_start
                )
            ).all()
        offsets = {check_id: probe_rules.jitter(name, interval) for check_id, name in names.items()}
        lateness = []
        for check_id, at, _ in rows:
            slot = probe_rules.next_run(at, interval, offsets[check_id]) - interval
            if slot >= window_start:  # slots that passed while the checks were being added are not counted
                lateness.append((at - slot).total_seconds())
        tick = timedelta(microseconds=1)
        due = 0
        for offset in offsets.values():
            first = probe_rules.next_run(window_start - tick, interval, offset)
            due += 0 if first >= window_end else (window_end - first - tick) // interval + 1
        down = sum(1 for *_, up in rows if not up)
        minutes = (window_end - window_start).total_seconds() / 60
        print(
            f"ran {minutes:.1f} min: {len(lateness)} probes ran of {due} due in the window ({down} down; "
            f"{runner.dropped} timed out on a late loop, not judged)"
        )
        if lateness:
            p99 = percentile(lateness, 0.99)
            print(
                f"lateness: p50 {statistics.median(lateness):.3f} s, p99 {percentile(lateness, 0.99):.3f} s, "
                f"worst {max(lateness):.3f} s (target p99 <= 2 s: {'met' if p99 <= 2 else 'MISSED'})"
            )
        print(f"scheduler CPU: {cpu / minutes:.1f} s per minute ({cpu / max(1, len(rows)) * 1e3:.2f} ms per probe)")
        print(f"HTTP server CPU (its own process): {server_cpu / minutes:.1f} s per minute")
        print(
            f"memory: RSS {before / 1024:.0f} -> {after / 1024:.0f} MB, "
            f"{(after - before) / args.checks:.2f} KB per check"
        )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if schema is not None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        work.cleanup()


if __name__ == "__main__":
    main()
