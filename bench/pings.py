"""Heartbeat pings: `GET /ping/<uuid>` into watchkeeper and into Healthchecks v3.13, side by side.

Not a test: a script that prints figures. For each database (SQLite, then
PostgreSQL) it sets up both systems on databases of their own, with 100
checks each (`--checks`), starts both servers on loopback, and sends pings
for `--seconds` to each in turn from the same load generator at the same
concurrency (8 requests in flight, `--concurrency`), spread round-robin over
the checks. It prints pings per second and the p50/p99 latency of a ping as
the client saw it, and after each run counts the rows in each database
(watchkeeper's `pings`, Healthchecks' `api_ping`): every ping answered must
be stored, or the run is reported WRONG. The target is 2x Healthchecks'
pings/s on each database.

How each is served, and why that is fair:

* watchkeeper as `watchkeeper serve` serves it: one process, uvicorn, the
  scheduler beside it in the same process (it ticks while the pings come, as
  in production);
* Healthchecks as its documentation deploys it behind a WSGI server: gunicorn
  `hc.wsgi` with one worker process, the number of processes watchkeeper
  uses. That worker runs 8 threads (gunicorn's gthread worker, `--hc-threads`),
  as many as there are requests in flight, so it may wait on its database for
  8 requests at once as watchkeeper's thread pool does; a single-threaded
  sync worker is slower (`--hc-threads 1` shows it). Healthchecks keeps its
  database connections open between requests (DB_CONN_MAX_AGE=600, its
  default being a new connection per request), as watchkeeper's pool does.
  Its SQLite database is as Healthchecks makes it (a rollback journal: each
  commit waits for the disk; `--hc-sqlite-wal` switches it to WAL, as
  watchkeeper's is, to show how much of the gap that is). On SQLite its 8
  threads may meet "database is locked" after its 5 s busy timeout: those
  pings are answered 500, not stored, and counted out of its pings/s.
  Its owner's ping log limit is raised so that it keeps every ping (it prunes
  a check's pings past the limit every 100 pings; the pruning query still
  runs, as in production).

The load generator is a small asyncio HTTP/1.1 client in this process, the
same for both: one connection per in-flight request, kept alive while the
server keeps it, a new one when the server closes it. A client cheaper than
httpx keeps the client's own CPU time (on the same machine) from capping
both servers alike.

Healthchecks is set up in `--hc-dir` (default /tmp/hc) when it is not there
yet: copied from ../shared/peers/healthchecks (or `--hc-source`), with a
virtualenv of its own holding its requirements.txt and gunicorn (from PyPI).
PostgreSQL databases `bench_wk` and `bench_hc` are made on `--pg-url`'s
server and dropped at the end; SQLite files live in a temporary directory.

Usage: python bench/pings.py [--seconds 10] [--concurrency 8] [--database sqlite|postgresql|both]
       [--checks 100] [--repeats 1] [--hc-threads 8] [--hc-sqlite-wal] [--hc-dir /tmp/hc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from watchkeeper.checks import service
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.wiring import sessionmaker as wired_sessions

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "healthchecks"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Run in Healthchecks' own Django shell: a user, a project, `checks` checks; prints their uuids.
HC_CHECKS = """
import json
from django.contrib.auth.models import User
from hc.accounts.models import Profile, Project
from hc.api.models import Check
user = User.objects.create_user("bench", "bench@example.org", "bench-pass")
profile = Profile.objects.for_user(user)
profile.ping_log_limit = 10**9
profile.check_limit = 10**6
profile.save()
project = Project.objects.create(owner=user, name="bench", badge_key="bench")
codes = [str(Check.objects.create(project=project, name="job-" + str(i)).code) for i in range(CHECKS)]
print("CODES=" + json.dumps(codes))
"""


@dataclass
class Run:
    database: str
    system: str
    sent: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    stored: int

    @property
    def answered_ok(self) -> int:
        return self.sent - self.errors

    @property
    def rate(self) -> float:
        """Pings answered OK per second."""
        return self.answered_ok / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the load generator ----------------------------------------------------------------------


async def _exchange(
    port: int, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, request: bytes
) -> tuple[int, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
    """One request on `conn` (opened if None); the answer's status and the connection, if still open."""
    if conn is None:
        conn = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    if headers.get("connection") == "close":
        writer.close()
        return status, None
    return status, conn


async def _load(port: int, codes: list[str], seconds: float, concurrency: int) -> tuple[list[float], int, float]:
    """Pings for `seconds` from `concurrency` clients; latencies (s) of the answers, errors, time taken."""
    requests = [
        f"GET /ping/{code} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench/pings\r\n\r\n".encode()
        for code in codes
    ]
    latencies: list[float] = []
    errors = 0
    next_check = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, next_check
        conn = None
        while time.perf_counter() < deadline:
            request = requests[next_check % len(requests)]
            next_check += 1
            started = time.perf_counter()
            try:
                status, conn = await _exchange(port, conn, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn = None
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
        if conn is not None:
            conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def load(database: str, system: str, port: int, codes: list[str], seconds: float, concurrency: int, count) -> Run:
    before = count()
    asyncio.run(_load(port, codes, 1.0, concurrency))  # warm-up: connections, caches; stored, not timed
    warm = count() - before
    latencies, errors, taken = asyncio.run(_load(port, codes, seconds, concurrency))
    latencies.sort()
    stored = count() - before - warm
    return Run(
        database,
        system,
        len(latencies),
        errors,
        taken,
        1000 * latencies[len(latencies) // 2],
        1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        stored,
    )


# -- the two servers -------------------------------------------------------------------------


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"FAILED: the server exited; its log:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"FAILED: no answer from {url} in 60 s")


def start_watchkeeper(url: str, checks: int, workdir: Path) -> tuple[subprocess.Popen, int, list[str]]:
    engine = make_engine(url, key_file=str(workdir / "watchkeeper.key"))
    upgrade(engine)
    now = datetime.now(UTC)
    with transaction(wired_sessions(engine, Settings(database_url=url))) as session:
        codes = [service.add(f"job-{i}", session=session, now=now).uuid for i in range(checks)]
    engine.dispose()
    port = free_port()
    log = workdir / f"wk-{port}.log"
    env = {**os.environ, "WATCHKEEPER_DATABASE_URL": url, "WATCHKEEPER_KEY_FILE": str(workdir / "watchkeeper.key")}
    server = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_ready(f"http://127.0.0.1:{port}/healthz", server, log)
    return server, port, codes


def setup_healthchecks(hc_dir: Path, source: Path) -> Path:
    """Healthchecks' Python, with its requirements and gunicorn installed (once)."""
    python = hc_dir / ".venv" / "bin" / "python"
    if (hc_dir / ".venv" / "bin" / "gunicorn").exists():
        return python
    if not (hc_dir / "manage.py").exists():
        print(f"copying Healthchecks from {source} to {hc_dir}")
        shutil.copytree(source, hc_dir, dirs_exist_ok=True)
    print(f"making {hc_dir}/.venv with Healthchecks' requirements and gunicorn (from PyPI; a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(hc_dir / ".venv")], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(hc_dir / "requirements.txt"), "gunicorn"],
        check=True,
    )
    return python


def hc_env(database: str, where: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "*",
        "SITE_ROOT": "http://127.0.0.1",
        "DB_NAME": where,
        "DB_CONN_MAX_AGE": "600",
    }
    if database == "postgresql":
        env |= {"DB": "postgres", "DB_HOST": "127.0.0.1", "DB_USER": "postgres", "DB_SSLMODE": "disable"}
    return env


def start_healthchecks(
    python: Path, hc_dir: Path, database: str, where: str, checks: int, threads: int, workdir: Path, wal: bool
) -> tuple[subprocess.Popen, int, list[str]]:
    env = hc_env(database, where)
    manage = [str(python), "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0", "--skip-checks"], cwd=hc_dir, env=env, check=True)
    made = subprocess.run(
        [*manage, "shell", "-c", HC_CHECKS.replace("CHECKS", str(checks))],
        cwd=hc_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise SystemExit(f"FAILED: making Healthchecks' checks:\n{made.stderr[-3000:]}")
    codes = json.loads(made.stdout.split("CODES=", 1)[1])
    if database == "sqlite" and wal:
        with sqlite3.connect(where) as db:
            db.execute("PRAGMA journal_mode=WAL")  # kept by the file, for every connection after
    port = free_port()
    log = workdir / f"hc-{port}.log"
    gunicorn = [str(hc_dir / ".venv" / "bin" / "gunicorn"), "hc.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
    if threads > 1:
        gunicorn += ["--worker-class", "gthread", "--threads", str(threads)]
    server = subprocess.Popen(gunicorn, cwd=hc_dir, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/ping/{codes[0]}/log", server, log)
    return server, port, codes


def counter(url: str, table: str):
    engine = create_engine(url)

    def count() -> int:
        with engine.connect() as c:
            return int(c.scalar(text(f"SELECT count(*) FROM {table}")))

    return count


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# -- the runs ---------------------------------------------------------------------------------


def bench_database(database: str, args: argparse.Namespace, python: Path, workdir: Path) -> list[Run]:
    if database == "sqlite":
        wk_url, wk_count_url = (f"sqlite:///{workdir / 'wk.db'}",) * 2
        hc_where = str(workdir / "hc.sqlite")
        hc_count_url = f"sqlite:///{hc_where}"
    else:
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            for name in ("bench_wk", "bench_hc"):
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                c.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        base = args.pg_url.rsplit("/", 1)[0]
        wk_url = wk_count_url = f"{base}/bench_wk"
        hc_where, hc_count_url = "bench_hc", f"{base}/bench_hc"
    runs: list[Run] = []
    servers: list[subprocess.Popen] = []
    try:
        wk, wk_port, wk_codes = start_watchkeeper(wk_url, args.checks, workdir)
        servers.append(wk)
        hc, hc_port, hc_codes = start_healthchecks(
            python, args.hc_dir, database, hc_where, args.checks, args.hc_threads, workdir, args.hc_sqlite_wal
        )
        servers.append(hc)
        systems = [
            ("watchkeeper", wk_port, wk_codes, counter(wk_count_url, "pings")),
            ("Healthchecks", hc_port, hc_codes, counter(hc_count_url, "api_ping")),
        ]
        for repeat in range(args.repeats):
            for system, port, codes, count in systems if repeat % 2 == 0 else systems[::-1]:
                run = load(database, system, port, codes, args.seconds, args.concurrency, count)
                print(
                    f"  {database:<10} {system:<12} {run.rate:7,.0f} pings/s  p50 {run.p50_ms:6.1f} ms  "
                    f"p99 {run.p99_ms:6.1f} ms  stored {run.stored:,}/{run.sent:,}  errors {run.errors}",
                    flush=True,
                )
                runs.append(run)
    finally:
        for server in servers:
            stop(server)
        if database == "postgresql":
            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                for name in ("bench_wk", "bench_hc"):
                    c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    return runs


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def report(runs: list[Run]) -> bool:
    print()
    print(f"| {'database':<10} | {'system':<12} | pings/s | p50 ms | p99 ms | stored/sent     | wk/HC pings/s |")
    print(f"|{'-' * 12}|{'-' * 14}|---------|--------|--------|-----------------|---------------|")
    ok = True
    for database in dict.fromkeys(r.database for r in runs):
        wk = median_run([r for r in runs if r.database == database and r.system == "watchkeeper"])
        hc = median_run([r for r in runs if r.database == database and r.system == "Healthchecks"])
        ratio = wk.rate / hc.rate
        for run, said in ((wk, f"**{ratio:.2f}**"), (hc, "")):
            print(
                f"| {database:<10} | {run.system:<12} | {run.rate:7,.0f} | {run.p50_ms:6.1f} | {run.p99_ms:6.1f} | "
                f"{run.stored:>6,}/{run.sent:<6,}   | {said:<13} |"
            )
        ok = ok and ratio >= 2
    every = all(r.stored == r.answered_ok for r in runs)
    clean = all(r.errors == 0 for r in runs if r.system == "watchkeeper")
    failed = sum(r.errors for r in runs if r.system == "Healthchecks")
    print(f"\nevery ping answered OK was stored, by both: {'yes' if every else 'NO: WRONG'}")
    print(f"watchkeeper answered every ping OK: {'yes' if clean else 'NO: WRONG'}")
    if failed:
        print(f"Healthchecks answered {failed:,} pings with an error (not stored; counted out of its pings/s)")
    print(f"watchkeeper at least 2x Healthchecks' pings/s on each database: {'met' if ok else 'NOT met'}")
    return every and clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds of pings per run")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--checks", type=int, default=100, help="checks the pings are spread over")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each system, interleaved; medians shown")
    parser.add_argument("--hc-threads", type=int, default=8, help="threads of Healthchecks' gunicorn worker")
    parser.add_argument("--hc-sqlite-wal", action="store_true", help="Healthchecks' SQLite in WAL mode")
    parser.add_argument("--hc-dir", type=Path, default=Path("/tmp/hc"))
    parser.add_argument("--hc-source", type=Path, default=PEER)
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server to make the bench databases on")
    args = parser.parse_args()
    python = setup_healthchecks(args.hc_dir, args.hc_source)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"{args.seconds:g} s of GET /ping/<uuid> per run, {args.concurrency} in flight, over {args.checks} checks; "
        f"watchkeeper serve (1 process) and Healthchecks on gunicorn (1 worker, {args.hc_threads} threads)"
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        for database in databases:
            runs += bench_database(database, args, python, Path(tmp))
    sys.exit(0 if report(runs) else 1)


if __name__ == "__main__":
    main()
