"""Paging under load: 1,000 incidents opening within a minute against 50 on-call schedules, each page
timed from the incident's opening to its arrival at a real SMTP server.

Not a test: a script that prints figures. Target: p99 from an incident opened
(its `created_at`, the server's clock) to its first page received by the mail
server at most 2 s, every incident paged, and no page received twice.

What it sets up, through the services a user's commands call, before the
server starts: 50 schedules in four time zones, each of two layers (a weekly
rotation of four engineers, and above it a daily rotation of two of them
restricted to Mon-Fri 08:00-18:00) and a few overrides; 200 engineers, each
with one high-urgency notification rule, an email (`mailto://` through
Apprise) to an SMTP server the script runs on loopback (aiosmtpd); 50
escalation policies, each paging whoever is on call for its schedule, and a
route per policy (`group="team-NN"`), so incidents spread evenly over them.

Then it starts `watchkeeper serve` as a subprocess (SQLite by default;
`--database-url` for PostgreSQL, in a schema of its own that is dropped
afterwards) and sends PagerDuty Events v2 to `/v2/enqueue`: 1,000 triggers
over 60 s, evenly (one every 60 ms; `--bursts N` sends them in N bursts
instead, evenly spaced over the minute), from 4 client threads. Each event
has a source of its own, so each opens an incident of its own (group wait
`--group-wait`, 1 s by default).

Why so: it is a user's server as it runs, every step on its path (intake,
the group wait, the escalation step, the outbox, Apprise, SMTP) in the
figure; "handed to its channel" is measured where the channel receives it.
The incident's opened time is read from the database afterwards; the mail
server stamps each message as it arrives; both clocks are this machine's.

A page is named (incident, level, pass, user) by its subject, body and
recipient (each user has one rule); received twice is a duplicate, an
incident with no page at all is missing.

Usage: .venv/bin/python bench/paging.py [--incidents 1000] [--seconds 60] [--bursts 0] [--database-url URL]
"""

from __future__ import annotations

import argparse
import email
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

from watchkeeper.auth.service import create_token
from watchkeeper.auth.users import add_user
from watchkeeper.clock import SystemClock
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.finding import Urgency
from watchkeeper.incidents.models import Incident
from watchkeeper.intake.service import Kind, create
from watchkeeper.notify.models import Notification
from watchkeeper.oncall import policies
from watchkeeper.oncall import service as schedules
from watchkeeper.oncall.escalation import parse_level
from watchkeeper.oncall.policies import EscalationStep
from watchkeeper.wiring import sessionmaker as wired_sessions

TARGET_P99 = 2.0
ZERO = timedelta()
CLIENTS = 4
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
SUBJECT = re.compile(r"incident (\d+):")
PAGED = re.compile(r"Paged: level (\d+), pass (\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An SMTP server on loopback that stamps each message with the time it arrived."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[tuple[float, int, int, int, str]] = []  # at, incident, level, pass, user
        self.unread = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        at = time.time()
        message = email.message_from_bytes(envelope.original_content)
        body = next(
            (p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain"), ""
        )
        incident, paged = SUBJECT.search(message["Subject"] or ""), PAGED.search(body)
        with self.lock:
            if incident is None or paged is None:
                self.unread += 1
                return "250 OK"
            for to in envelope.rcpt_tos:
                user = to.split("@")[0]
                self.received.append((at, int(incident[1]), int(paged[1]), int(paged[2]), user))
        return "250 OK"

    def incidents(self) -> set[int]:
        with self.lock:
            return {r[1] for r in self.received}


def mail(user: str, port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=wk@operator.example&to={user}@operator.example&mode=insecure&format=text"


def set_up(url: str, teams: int, port: int) -> str:
    """Engineers, schedules, policies and routes; the PagerDuty integration's routing key."""
    engine = make_engine(url)
    upgrade(engine)
    now = SystemClock().now()
    monday = (now - timedelta(days=now.weekday() + 7)).date()
    with transaction(wired_sessions(engine)) as session:
        create_token(session=session, clock=SystemClock(), name="bench")
        key = create(session=session, clock=SystemClock(), kind=Kind.PAGERDUTY, name="bench").key
        for team in range(teams):
            people = [f"t{team:02d}-eng{i}" for i in range(4)]
            for person in people:
                add_user(session=session, now=now, name=person, role="engineer")
                channel = mail(person, port)
                policies.add_rule(person, session=session, now=now, urgency=Urgency.HIGH, channel=channel, delay=ZERO)
            name = f"sched-{team:02d}"
            schedules.add_schedule(name, session=session, now=now, tz=ZONES[team % len(ZONES)])
            schedules.add_layer(name, session=session, now=now, users=people, shift="1w", start=monday)
            schedules.add_layer(
                name,
                session=session,
                now=now,
                users=people[:2],
                shift="1d",
                start=monday,
                handoff="08:00",
                restrict="Mon-Fri 08:00-18:00",
            )
            for week in range(4):
                begins = now + timedelta(days=7 * week - 3, hours=team % 24)
                schedules.add_override(
                    name, people[week % 4], session=session, now=now, start=begins, end=begins + timedelta(hours=6)
                )
            policies.add_policy(
                session=session,
                now=now,
                name=f"team-{team:02d}",
                levels=[parse_level(f"schedule={name};timeout=30m"), parse_level(f"users={people[3]};timeout=30m")],
                repeat=0,
                ack_timeout=None,
            )
            team_route = [f'group="team-{team:02d}"']
            policies.add_route(session=session, now=now, policy=f"team-{team:02d}", matchers=team_route)
    engine.dispose()
    return key


def event(routing_key: str, n: int, teams: int) -> dict:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": f"node-{n}",
        "payload": {
            "summary": f"node {n} down",
            "source": f"node-{n:04d}",
            "severity": "critical",
            "class": "NodeDown",
            "group": f"team-{n % teams:02d}",
        },
    }


def plan(count: int, seconds: float, bursts: int) -> list[float]:
    """When each event is sent, in seconds from the start: evenly, or in `bursts` evenly spaced bursts."""
    if bursts <= 0:
        return [i * seconds / count for i in range(count)]
    return [(i * bursts // count) * seconds / bursts for i in range(count)]


def send(base: str, routing_key: str, count: int, teams: int, at: list[float]) -> Counter:
    codes: Counter = Counter()
    lock = threading.Lock()
    began = time.perf_counter()

    def client(mine: range) -> None:
        local: Counter = Counter()
        with httpx.Client(base_url=base, timeout=60) as http:
            for n in mine:
                wait = began + at[n] - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                local[http.post("/v2/enqueue", json=event(routing_key, n, teams)).status_code] += 1
        with lock:
            codes.update(local)

    threads = [threading.Thread(target=client, args=(range(c, count, CLIENTS),)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def opened(url: str) -> tuple[dict[int, datetime], dict[str, list[float]]]:
    """Each incident's opening, and where the time to its first page went, from the server's own records."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            at = {row.id: row.created_at for row in c.execute(select(Incident.id, Incident.created_at))}
            ran = dict(
                c.execute(
                    select(EscalationStep.incident_id, func.min(EscalationStep.ran_at)).group_by(
                        EscalationStep.incident_id
                    )
                ).all()
            )
            sent = dict(
                c.execute(
                    select(Notification.subject_id, func.min(Notification.sent_at))
                    .where(Notification.subject == "incident")
                    .group_by(Notification.subject_id)
                ).all()
            )
    finally:
        engine.dispose()
    stages = {
        "opened -> step ran": sorted((ran[i] - at[i]).total_seconds() for i in at if ran.get(i)),
        "step ran -> sent": sorted((sent[i] - ran[i]).total_seconds() for i in at if ran.get(i) and sent.get(i)),
    }
    return at, stages


def start_server(url: str, group_wait: float, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "WATCHKEEPER_DATABASE_URL": url, "WATCHKEEPER_GROUP_WAIT_SECONDS": str(group_wait)}
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit(f"FAILED: serve did not start; see {workdir / 'serve.log'}")


def run(url: str, args: argparse.Namespace, workdir: Path) -> bool:
    box = Mailbox()
    box.controller.start()
    routing_key = set_up(url, args.schedules, box.port)
    server, base = start_server(url, args.group_wait, workdir)
    try:
        codes = send(base, routing_key, args.incidents, args.schedules, plan(args.incidents, args.seconds, args.bursts))
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline and len(box.incidents()) < args.incidents:
            time.sleep(0.2)
        time.sleep(1)  # a duplicate would come soon after
        cpu = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        box.controller.stop()
    opened_at, stages = opened(url)
    print(f"  serve's CPU          {cpu:.1f} s, {cpu / max(len(opened_at), 1) * 1000:.0f} ms an incident")
    return report(opened_at, stages, box, codes, args)


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used (Linux), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantiles(values: list[float]) -> str:
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"p50 {statistics.median(values):.3f} s   p99 {p99:.3f} s   max {values[-1]:.3f} s   count {len(values):,}"


def report(
    opened_at: dict[int, datetime],
    stages: dict[str, list[float]],
    box: Mailbox,
    codes: Counter,
    args: argparse.Namespace,
) -> bool:
    keys = Counter((r[1], r[2], r[3], r[4]) for r in box.received)
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    first: dict[int, float] = {}
    for at, incident, *_ in box.received:
        first[incident] = min(at, first.get(incident, at))
    waits = sorted(first[i] - opened_at[i].timestamp() for i in first if i in opened_at)
    missing = len(set(opened_at) - set(first)) + max(0, args.incidents - len(opened_at))
    how = "evenly" if args.bursts <= 0 else f"in {args.bursts} bursts"
    print(f"  sent                 {args.incidents:,} triggers over {args.seconds:.0f} s, {how}; answers {dict(codes)}")
    spread = (max(opened_at.values()) - min(opened_at.values())).total_seconds() if opened_at else 0.0
    print(f"  incidents opened     {len(opened_at):,} over {spread:.1f} s; pages received {len(box.received):,}")
    if not waits:
        print("  no page received: FAILED")
        return False
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    for stage, values in stages.items():
        if values:
            print(f"  {stage:<20} {quantiles(values)}")
    print(f"  opened -> received   {quantiles(waits)}")
    print(f"  duplicates           {duplicates}")
    print(f"  missing              {missing}" + (f" (unreadable mails {box.unread})" if box.unread else ""))
    met = p99 <= TARGET_P99 and duplicates == 0 and missing == 0 and codes == Counter({202: args.incidents})
    verdict = "MET" if met else "NOT MET"
    print(f"  target               p99 <= {TARGET_P99:.0f} s, no duplicate, none missing: {verdict}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--schedules", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the triggers take to send")
    parser.add_argument("--bursts", type=int, default=0, help="send in this many bursts (0: evenly)")
    parser.add_argument("--group-wait", type=float, default=1.0, help="WATCHKEEPER_GROUP_WAIT_SECONDS of serve")
    parser.add_argument("--settle", type=float, default=60.0, help="how long to wait for the last pages")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", type=Path, default=None, help="keep the SQLite file and serve's log in this folder")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "bench.db").unlink(missing_ok=True)
        if args.database_url is None:
            print("SQLite (WAL), one serve process")
            ok = run(f"sqlite:///{workdir / 'bench.db'}", args, workdir)
        else:
            schema = f"wk_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.database_url)
            with admin.begin() as c:
                c.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                print(f"PostgreSQL ({schema}), one serve process")
                ok = run(f"{args.database_url}?options=-csearch_path%3D{schema}", args, workdir)
            finally:
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
