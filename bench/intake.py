"""Alert intake burst: 10,000 events from 8 concurrent clients against a running `watchkeeper serve`.

Not a test: a script that prints figures. It starts `watchkeeper serve` as a
subprocess on loopback (SQLite by default; `--database-url` for PostgreSQL,
in a schema of its own that is dropped afterwards), creates a PagerDuty
integration, and sends PagerDuty Events v2 to `/v2/enqueue` from 8 client
threads, each with its own keep-alive connection, at most one request in
flight per client (bounded concurrency 8).

The events (default 10,000 = 1,000 dedup keys x (9 triggers + 1 resolve)):

* phase 1, 9,000 triggers: every key triggered 9 times, rounds interleaved
  over the keys. Keys fall into 100 groups (source `sbc-NN`), so the right end
  state is 1,000 alerts with count 9 each and 100 incidents;
* the script waits until the scheduler has opened the 100 incidents (group
  wait 1 s);
* phase 2, 1,000 resolves: every key resolved once; all 100 incidents must
  then be resolved by themselves.

A key's events all go through one client, in order, so "trigger before
resolve" holds; different keys of one group race on different clients, which
is the case the unique open-incident key and the transaction retry are for.

"No event lost" is checked from the database after each phase: the sum of
the alerts' counts must equal the triggers sent, every alert resolved after
phase 2, and every answer must have been 202 (a 5xx would be retried by a real
sender; here it is counted and reported as a failure).

Usage: .venv/bin/python bench/intake.py [--events 10000] [--clients 8] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

from watchkeeper.alerts.models import Alert
from watchkeeper.auth.service import create_token
from watchkeeper.clock import SystemClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.incidents.models import Incident
from watchkeeper.intake.service import Kind, create
from watchkeeper.wiring import sessionmaker as wired_sessions

GROUPS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(routing_key: str, key: int, action: str) -> dict:
    body: dict = {"routing_key": routing_key, "event_action": action, "dedup_key": f"trunk-{key}"}
    if action == "trigger":
        body["payload"] = {
            "summary": f"SIP trunk {key} down",
            "source": f"sbc-{key % GROUPS:02d}",
            "severity": "critical",
            "class": "TrunkDown",
        }
    return body


def send(base: str, batches: list[list[dict]]) -> tuple[float, Counter]:
    """Each client sends its own list in order; returns seconds taken and answer codes."""
    codes: Counter = Counter()
    lock = threading.Lock()

    def client(events: list[dict]) -> None:
        local: Counter = Counter()
        with httpx.Client(base_url=base, timeout=60) as http:
            for body in events:
                local[http.post("/v2/enqueue", json=body).status_code] += 1
        with lock:
            codes.update(local)

    threads = [threading.Thread(target=client, args=(b,)) for b in batches]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, codes


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return {
                "alerts": c.scalar(select(func.count()).select_from(Alert)),
                "firing": c.scalar(select(func.count()).select_from(Alert).where(Alert.status == "firing")),
                "repeats": c.scalar(select(func.coalesce(func.sum(Alert.count), 0))),
                "incidents": c.scalar(select(func.count()).select_from(Incident)),
                "open_incidents": c.scalar(
                    select(func.count()).select_from(Incident).where(Incident.status.in_(["triggered", "acknowledged"]))
                ),
            }
    finally:
        engine.dispose()


def wait_until(url: str, check, what: str, timeout: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check(counts(url)):
            return time.perf_counter() - started
        time.sleep(0.2)
    raise SystemExit(f"FAILED: {what} not reached in {timeout} s: {counts(url)}")


def run(url: str, events: int, clients: int, workdir: Path) -> bool:
    keys = events // 10
    engine = make_engine(url)
    upgrade(engine)
    with transaction(wired_sessions(engine)) as session:
        create_token(session=session, clock=SystemClock(), name="bench")
        routing_key = create(session=session, clock=SystemClock(), kind=Kind.PAGERDUTY, name="bench").key
    engine.dispose()
    port = free_port()
    env = {**os.environ, "WATCHKEEPER_DATABASE_URL": url, "WATCHKEEPER_GROUP_WAIT_SECONDS": "1"}
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        per_client: list[list[dict]] = [[] for _ in range(clients)]
        for _round in range(9):
            for key in range(keys):
                per_client[key % clients].append(event(routing_key, key, "trigger"))
        seconds1, codes1 = send(base, per_client)
        after1 = counts(url)
        settle = wait_until(url, lambda c: c["open_incidents"] == GROUPS, f"{GROUPS} open incidents")
        resolves: list[list[dict]] = [[] for _ in range(clients)]
        for key in range(keys):
            resolves[key % clients].append(event(routing_key, key, "resolve"))
        seconds2, codes2 = send(base, resolves)
        wait_until(url, lambda c: c["open_incidents"] == 0, "all incidents resolved")
        after2 = counts(url)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()

    sent = 9 * keys + keys
    seconds = seconds1 + seconds2
    print(f"  events sent          {sent:,} from {clients} clients ({9 * keys:,} triggers, {keys:,} resolves)")
    print(f"  answers              {dict(codes1 + codes2)}")
    print(f"  triggers             {9 * keys / seconds1:,.0f} events/s ({seconds1:.2f} s)")
    print(f"  resolves             {keys / seconds2:,.0f} events/s ({seconds2:.2f} s)")
    print(f"  overall              {sent / seconds:,.0f} events/s ({seconds:.2f} s of sending)")
    print(
        f"  incidents open after {settle:.2f} s more (group wait 1 s, scheduler tick "
        f"{Settings().scheduler_tick_seconds} s)"
    )
    print(f"  after triggers       {after1}")
    print(f"  after resolves       {after2}")
    ok = (
        codes1 + codes2 == Counter({202: sent})
        and after1["alerts"] == keys
        and after1["repeats"] == 9 * keys
        and after2["firing"] == 0
        and after2["incidents"] == GROUPS
        and after2["alerts"] == keys
    )
    print(
        f"  end state            {'RIGHT' if ok else 'WRONG'}: expected {keys:,} alerts (count 9 each, "
        f"all resolved), {GROUPS} incidents (all resolved), every answer 202"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.database_url is None:
            print("SQLite (WAL), one serve process")
            ok = run(f"sqlite:///{workdir / 'bench.db'}", args.events, args.clients, workdir)
        else:
            schema = f"wk_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.database_url)
            with admin.begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                print(f"PostgreSQL ({schema}), one serve process")
                ok = run(f"{args.database_url}?options=-csearch_path%3D{schema}", args.events, args.clients, workdir)
            finally:
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
