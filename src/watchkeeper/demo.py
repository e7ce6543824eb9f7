"""`watchkeeper demo`: simulated supplier feeds through the real API and inbox.

Starts the real server on a loopback port with a fresh SQLite file, feeds it
two weeks of usage from six supplier services with daily and weekly rhythm
(posted as JSON batches with idempotency keys, one retried), drops Asterisk
Master.csv files into the inbox (one with a broken line, one duplicate, one
after a gap in the file sequence), has two cron jobs ping their heartbeat
URLs (one succeeds, one fails), probes a live SBC and a PBX that stopped
answering by SIP OPTIONS (the PBX's other alerts muted by it), and shows
what watchkeeper made of it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.mutes import add_dependency, add_silence
from watchkeeper.alerts.service import RoutingConfig, list_alerts, record_all
from watchkeeper.auth.service import create_token
from watchkeeper.auth.signin import set_password
from watchkeeper.auth.users import add_user
from watchkeeper.checks import service as checks
from watchkeeper.checks.models import CheckKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.cli.common import console
from watchkeeper.cli.feeds import hourly_profile, sparkline
from watchkeeper.clock import Clock, SystemClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.feeds.inbox import scan_inbox
from watchkeeper.feeds.ingest import ingest_batch
from watchkeeper.feeds.models import Service
from watchkeeper.feeds.parse import Format
from watchkeeper.feeds.service import add_feed, learned, list_findings, list_services, service_counts
from watchkeeper.feeds.watch import watch_feeds
from watchkeeper.finding import Finding
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.intake.service import Kind
from watchkeeper.intake.service import create as create_integration
from watchkeeper.wiring import sessionmaker as wired_sessions
from watchkeeper.words import count


@dataclass(frozen=True)
class Supplier:
    """A simulated service: records per 5 minutes by local hour and weekday."""

    name: str
    zone: str
    peak: float  # records per 5 minutes at the busiest hour
    busy_hours: tuple[int, int]  # local hours of the daily peak, [start, end)
    night_floor: float  # share of the peak at night
    weekend: float  # share of a weekday on Saturday and Sunday
    every_minutes: int = 5  # 60 for a supplier that drops an hourly file
    irregular: bool = False
    stopped_minutes_ago: int = 0  # a feed that failed quietly before the demo starts

    def expected(self, at: datetime) -> float:
        local = at.astimezone(ZoneInfo(self.zone))
        hour = local.hour + local.minute / 60
        start, end = self.busy_hours
        centre, width = (start + end) / 2, (end - start) / 2
        day_shape = max(self.night_floor, math.exp(-(((hour - centre) / width) ** 2)))
        scale = self.weekend if local.weekday() >= 5 else 1.0
        return self.peak * day_shape * scale * self.every_minutes / 5


SUPPLIERS = (
    Supplier("voip-de-wholesale", "Europe/Berlin", 900, (8, 19), 0.03, 0.25),
    Supplier("sms-uk-retail", "Europe/London", 400, (17, 23), 0.05, 1.3),
    # Busy at every hour of the week, so its outage is news whenever the demo runs.
    Supplier("mobile-data-fr", "Europe/Paris", 600, (6, 24), 0.35, 0.9, stopped_minutes_ago=40),
    Supplier("sip-trunk-acme-us", "America/New_York", 250, (9, 17), 0.0, 0.02),
    Supplier("iot-metering-nl", "Europe/Amsterdam", 150, (0, 24), 1.0, 1.0, every_minutes=60),
    Supplier("test-lab-feed", "UTC", 40, (10, 16), 0.0, 0.0, irregular=True),
)


def simulate(
    suppliers: tuple[Supplier, ...], start: datetime, end: datetime, seed: int = 42
) -> list[dict[str, object]]:
    """Usage records (one per supplier per delivery interval) between two instants."""
    rng = random.Random(seed)
    records = []
    for supplier in suppliers:
        step = timedelta(minutes=supplier.every_minutes)
        at = start
        stop = end - timedelta(minutes=supplier.stopped_minutes_ago)
        while at < stop:
            mean = supplier.expected(at)
            if supplier.irregular and rng.random() < 0.85:
                mean = 0.0  # a test feed: short bursts on a few days, silence otherwise
            count = _poisson(rng, mean)
            if count:
                records.append(
                    {
                        "service": supplier.name,
                        "ts": at.isoformat().replace("+00:00", "Z"),
                        "count": count,
                        "quantity": round(count * rng.uniform(60, 240), 1),
                    }
                )
            at += step
    return records


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def asterisk_lines(account: str, start: datetime, calls: int, rng: random.Random) -> list[str]:
    lines = []
    for i in range(calls):
        at = start + timedelta(seconds=rng.randrange(3600))
        billsec = rng.randrange(5, 600)
        stamp = at.strftime("%Y-%m-%d %H:%M:%S")
        end = (at + timedelta(seconds=billsec + 3)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f'"{account}","+4930{i:07d}","+4940555{i % 1000:04d}","from-pbx",'
            f'"""Desk {i % 40}"" <+4930{i:07d}>","PJSIP/desk-{i:08x}","PJSIP/trunk-{i:08x}",'
            f'"Dial","PJSIP/+4940555{i % 1000:04d}@trunk,60","{stamp}","{stamp}","{end}",'
            f'{billsec + 3},{billsec},"ANSWERED","DOCUMENTATION"'
        )
    return lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(settings: Settings, port: int) -> tuple[object, threading.Thread]:
    import uvicorn

    from watchkeeper.web.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings=settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the demo server did not start")
        time.sleep(0.05)
    return server, thread


def run_demo(*, days: int, database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    # No group wait in the demo: incidents open the moment their first alert is raised.
    settings = Settings(database_url=f"sqlite:///{database}", inbox_settle_seconds=0, group_wait_seconds=0)
    clock = SystemClock()
    engine = make_engine(settings.database_url, secret_key=settings.secret_key, key_file=settings.key_file)
    upgrade(engine)
    sessions = wired_sessions(engine, settings)
    password = secrets.token_urlsafe(12)
    with transaction(sessions) as session:
        token = create_token(session=session, clock=clock, name="demo").token
        set_password(add_user(session=session, now=clock.now(), name="demo", role="admin"), password)
    port = _free_port()
    server, thread = _start_server(settings, port)
    console.rule("[bold]watchkeeper demo")
    console.print(f"API on http://127.0.0.1:{port} (docs at /docs), database {database}")
    console.print(f"API token for this database (shown once; `serve` on {database} takes it): [bold]{token}[/bold]")
    console.print(
        f"web desk: http://127.0.0.1:{port}/signin while the demo runs, and under `serve` on this database; "
        f"name [bold]demo[/bold], password [bold]{password}[/bold] (shown once)\n"
    )
    try:
        _feed_api(port, token, clock.now(), days)
        _feed_inbox(database.parent / "demo-inbox", sessions, settings, clock.now())
        _show(sessions, clock.now(), port, token)
        _heartbeats(sessions, port)
        _probes(sessions, settings)
        _incidents(sessions, port)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def _feed_api(port: int, token: str, now: datetime, days: int) -> None:
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    records = simulate(SUPPLIERS, start, end)
    total = sum(int(r.get("count", 1)) for r in records)  # type: ignore[call-overload]
    console.print(
        f"posting {len(records):,} rows, {total:,} usage records ({days} days, {len(SUPPLIERS)} services; "
        "a row carries a count) to POST /api/v1/usage ..."
    )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        batch_size = 2000
        for n, i in enumerate(range(0, len(records), batch_size)):
            batch = records[i : i + batch_size]
            answer = client.post("/api/v1/usage", json=batch, headers={"Idempotency-Key": f"demo-{n}"})
            answer.raise_for_status()
        retry = client.post("/api/v1/usage", json=records[:batch_size], headers={"Idempotency-Key": "demo-0"})
        console.print(f"  retried batch demo-0: replayed={retry.headers.get('idempotent-replayed')}, counted once")
        bad = client.post(
            "/api/v1/usage",
            json=[
                {"service": "voip-de-wholesale", "ts": "yesterday", "count": 3},
                {"service": "", "ts": end.isoformat(), "count": 1},
                {"service": "voip-de-wholesale", "ts": end.isoformat(), "count": -2},
            ],
        ).json()
        console.print(f"  a batch with bad rows: accepted {bad['accepted']}, rejected {bad['rejected']}:")
        for error in bad["errors"]:
            console.print(f"    row {error['index']} {error['field']}: {error['reason']}")
        unauthorised = httpx.post(f"http://127.0.0.1:{port}/api/v1/usage", json=[])
        console.print(f"  without a token: HTTP {unauthorised.status_code}\n")


def _feed_inbox(inbox: Path, sessions: sessionmaker[Session], settings: Settings, now: datetime) -> None:
    import shutil

    shutil.rmtree(inbox, ignore_errors=True)
    folder = inbox / "pbx-berlin"
    folder.mkdir(parents=True)
    clock = SystemClock()
    with transaction(sessions) as session:
        add_feed(
            session=session,
            clock=clock,
            name="pbx-berlin",
            format=Format.ASTERISK_CSV,
            timezone="Europe/Berlin",
            sequence_pattern=r"Master-(?P<seq>\d+)\.csv",
        )
    rng = random.Random(7)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    local = ZoneInfo("Europe/Berlin")
    files = {}
    for seq, offset in ((1, 0), (2, 1), (4, 2)):  # number 3 never arrives
        lines = asterisk_lines("pbx-berlin-sales", (hour + timedelta(hours=offset)).astimezone(local), 300, rng)
        if seq == 2:
            lines.insert(
                100,
                '"pbx-berlin-sales","+4930","+4940","from-pbx","x","y","z","Dial","",'
                '"2026-02-30 25:61:00","","",1,1,"ANSWERED","DOCUMENTATION"',
            )
        files[seq] = "\n".join(lines) + "\n"
        (folder / f"Master-{seq:04d}.csv").write_text(files[seq])
    # The supplier re-sends an old file under a new number: same content, refused.
    (folder / "Master-0005.csv").write_text(files[1])
    console.print(f"dropping 4 Asterisk Master.csv files into {folder} (feed pbx-berlin) ...")
    routing = RoutingConfig(group_wait=timedelta(0))

    def file_alerts(session: Session, findings: list[Finding]) -> None:
        record_all(findings, session=session, now=clock.now(), config=routing)

    for report in scan_inbox(inbox, sessions, clock=clock, settings=settings, on_findings=file_alerts):
        name = Path(report.source).name
        if report.status == "ingested":
            console.print(f"  [green]ingested[/green] {name}: {report.accepted} calls, {report.rejected} rejected")
            for error in report.errors:
                console.print(f"    line {error.line} {error.field}: {error.reason}")
        else:
            console.print(f"  [yellow]{report.status}[/yellow] {name}: {report.message}")
        for finding in report.findings:
            console.print(f"    [yellow]finding[/yellow] {finding}")
    console.print()


def _show(sessions: sessionmaker[Session], now: datetime, port: int, token: str) -> None:
    with transaction(sessions) as session:
        services = list_services(session=session)
        # Stage left out (every service starts as new): the table fits 80 columns.
        table = Table(title="services discovered (last 7 days in 6-hour steps, UTC)", title_justify="left")
        table.add_column("service", no_wrap=True)
        table.add_column("last record", no_wrap=True)
        table.add_column("records", no_wrap=True, justify="right")
        table.add_column("last 7 days", no_wrap=True, min_width=28)
        for s in services:
            points = service_counts(
                session=session, name=s.name, resolution="hour", since=now - timedelta(days=7), until=now
            )
            week = [v for _, values in hourly_profile(points, now) for v in values]
            daily = [sum(week[i : i + 6]) for i in range(0, len(week), 6)]
            table.add_row(s.name, f"{s.last_seen:%a %H:%M}", f"{s.total_count:,}", sparkline(daily))
        console.print(table)
        findings = list_findings(session=session)
        table = Table("feed", "file", "kind", "detail", title="file controls", title_justify="left")
        for f in findings:
            table.add_row(f.feed, f.file_name, f.kind, f.detail)
        console.print(table)
    _watch(sessions, now)


def _watch(sessions: sessionmaker[Session], now: datetime) -> None:
    """Run the feed watcher as the scheduler would: learn each service's week, alert on what is off now."""
    with transaction(sessions) as session:
        report = watch_feeds(session=session, now=now, limit=1000)
        record_all(report.findings, session=session, now=now, config=RoutingConfig(group_wait=timedelta(0)))
        rows = list_alerts(session=session)
        deadlines = {s.name: learned(session=session, name=s.name) for s in list_services(session=session)}
    console.print(f"\nfeed watcher: learned {count(report.evaluated, 'service')} from their history")
    table = Table("service", "silence alert due if nothing arrives", title="live deadlines", title_justify="left")
    for name, state in deadlines.items():
        table.add_row(name, f"{state.due_at:%a %d %b %H:%M} UTC" if state and state.due_at else "-")
    console.print(table)
    table = Table("status", "service", "kind", "summary", title="alerts", title_justify="left")
    for alert in rows:
        table.add_row(alert.status, alert.service or "", alert.labels.get("kind", ""), alert.summary)
    console.print(table if rows else "no alerts: every feed is within its learned rhythm right now")


def _heartbeats(sessions: sessionmaker[Session], port: int) -> None:
    """Two cron jobs ping their heartbeat URLs as `curl URL/$?` would: the nightly rating
    run starts and succeeds (its run time measured), the backup exits 3 with its error."""
    clock = SystemClock()
    with transaction(sessions) as session:
        rating = checks.add(
            "nightly-rating",
            session=session,
            now=clock.now(),
            schedule=Schedule(ScheduleKind.CRON, grace=timedelta(hours=1), expression="30 2 * * *", tz="Europe/Berlin"),
            service="rating",
        ).uuid
        backup = checks.add(
            "db-backup",
            session=session,
            now=clock.now(),
            schedule=Schedule(ScheduleKind.PERIOD, period=timedelta(days=1), grace=timedelta(hours=2)),
            service="billing-db",
            failure_keywords=["FATAL"],
        ).uuid
    console.print("\ncron jobs ping their heartbeat URLs (the Healthchecks ping API) ...")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        client.get(f"/ping/{rating}/start").raise_for_status()
        time.sleep(1.2)
        client.post(f"/ping/{rating}/0", content=b"rated 48,210 calls into 1,904 invoices\n").raise_for_status()
        error = b"pg_dump: error: connection to server failed: FATAL: too many connections\n"
        client.post(f"/ping/{backup}/3", content=error).raise_for_status()
        unknown = client.get("/ping/00000000-0000-4000-8000-000000000000")
        console.print(f"  a ping to an unknown uuid: HTTP {unknown.status_code} {unknown.text}, nothing stored")
    with transaction(sessions) as session:
        table = Table("check", "schedule", "status", "last run", "last ping", title="checks", title_justify="left")
        for check in checks.list_checks(session=session):
            last = checks.last_pings(check, session=session, limit=1)
            said = last[0].body.decode(errors="replace").strip() if last else ""
            took = f"{check.last_duration_seconds:.1f} s" if check.last_duration_seconds is not None else "-"
            when = check.expression or f"every {count(check.period_seconds // 3600, 'hour')}"
            table.add_row(check.name, f"{when} ({check.tz})", check.status, took, said)
        console.print(table)


class _DemoSbc(asyncio.DatagramProtocol):
    """A session border controller on loopback that answers SIP OPTIONS with 200, as a live one does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        lines = data.decode(errors="replace").split("\r\n")
        if not lines[0].startswith("OPTIONS "):
            return
        keep = ("via:", "from:", "to:", "call-id:", "cseq:")
        echoed = [line for line in lines[1:] if line.lower().startswith(keep)]
        answer = "\r\n".join(["SIP/2.0 200 OK", *echoed, "Server: demo-sbc", "Content-Length: 0", "", ""])
        self.transport.sendto(answer.encode(), addr)  # type: ignore[attr-defined]


def _start_sbc() -> tuple[int, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    bound: list[int] = []
    ready = threading.Event()

    async def serve() -> None:
        transport, _ = await loop.create_datagram_endpoint(_DemoSbc, local_addr=("127.0.0.1", 0))
        bound.append(transport.get_extra_info("sockname")[1])
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True).start()
    ready.wait(10)
    return bound[0], loop


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Runtime:
    settings: Settings
    clock: Clock
    sessions: sessionmaker[Session]


def _probes(sessions: sessionmaker[Session], settings: Settings) -> None:
    """A SIP OPTIONS probe of a live SBC, and a PBX that stopped answering: its OPTIONS
    check goes down after two runs, and the alert of its manager link is muted by it."""
    from watchkeeper import wiring
    from watchkeeper.checks import pbxes
    from watchkeeper.checks.models import Check
    from watchkeeper.checks.runner import ProbeRunner
    from watchkeeper.scheduler import drain

    clock = SystemClock()
    sbc_port, loop = _start_sbc()
    dead = _closed_udp_port()
    with transaction(sessions) as session:
        checks.add_probe(
            "sbc-fra1",
            "sip",
            {"host": "127.0.0.1", "port": sbc_port, "transport": "udp", "timeout": 2},
            session=session,
            now=clock.now(),
            service="sbc",
        ).due_at = clock.now()
        spec = pbxes.PbxInput(
            name="pbx-hamburg",
            ami=f"127.0.0.1:{_free_port()}",  # nothing listens: the manager link is down too
            username="watchkeeper",
            secret="demo",
            sip=f"127.0.0.1:{dead}",
            timeout=1.0,
            service="pbx-hamburg",
        )
        pbxes.add(spec, session=session, now=clock.now())
    console.print("\nprobes: SIP OPTIONS to a live SBC, and to a PBX that stopped answering (run twice) ...")
    ctx = _Runtime(settings, clock, sessions)
    # Each run's results stored before the next: the runner waits for its probes.
    listed = wiring.due_jobs(ctx, runner=ProbeRunner(settle=10.0))
    due = {job.name: job for job in listed if job.name in ("probes", "pbx", "alerts")}
    for _ in range(2):  # two runs, as two minutes would bring: one lost packet pages nobody
        with transaction(sessions) as session:
            for check in session.scalars(select(Check).where(Check.name.in_(["sbc-fra1", "pbx-hamburg-options"]))):
                check.due_at = clock.now()
        drain(due["probes"], sessions, clock)
    drain(due["pbx"], sessions, clock)
    drain(due["alerts"], sessions, clock)
    loop.call_soon_threadsafe(loop.stop)
    with transaction(sessions) as session:
        table = Table("check", "kind", "status", "last result", title="probes", title_justify="left")
        for check in checks.list_checks(session=session):
            if check.kind in (CheckKind.SIP, CheckKind.AMI):
                if check.kind is CheckKind.AMI:
                    said = "looked at by the PBX watch, not probed"
                elif check.last_up:
                    said = f"up, {check.last_latency * 1000:.0f} ms" if check.last_latency is not None else "up"
                else:
                    said = f"down: {check.last_error or ''}"
                table.add_row(check.name, check.kind, check.status, said)
        console.print(table)
        table = Table("alert", "status", "summary", title="the PBX's alerts", title_justify="left")
        for a in list_alerts(session=session):
            if a.labels.get("pbx") == "pbx-hamburg":
                state = a.status + (f" (muted: {a.muted_reason})" if a.muted else "")
                table.add_row(str(a.id), state, a.summary)
        console.print(table)


def _incidents(sessions: sessionmaker[Session], port: int) -> None:
    """External monitors push alerts: a PBX down mutes its trunks, a repeat is counted, a silence holds one back."""
    clock = SystemClock()
    with transaction(sessions) as session:
        am_key = create_integration(session=session, clock=clock, kind=Kind.ALERTMANAGER, name="prometheus").key
        pd_key = create_integration(session=session, clock=clock, kind=Kind.PAGERDUTY, name="zabbix").key
        add_dependency(
            session=session,
            now=clock.now(),
            name="SIP trunks depend on their PBX",
            parent=["alertname=PBXDown"],
            child=["alertname=TrunkDown"],
            equal=["instance"],
        )
        add_silence(
            session=session,
            now=clock.now(),
            matchers=["instance=sbc-2"],
            ends_at=clock.now() + timedelta(hours=2),
            created_by="demo",
            comment="SBC firmware upgrade tonight",
        )
    started = (clock.now() - timedelta(minutes=3)).isoformat()

    def am(name: str, instance: str, summary: str) -> dict[str, object]:
        return {
            "status": "firing",
            "labels": {"alertname": name, "instance": instance, "severity": "critical"},
            "annotations": {"summary": summary},
            "startsAt": started,
            "fingerprint": f"{name}-{instance}",
        }

    console.print("\nexternal monitors push alerts (Alertmanager webhook, PagerDuty Events v2) ...")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        client.post(
            f"/api/v1/intake/alertmanager/{am_key}",
            json={
                "version": "4",
                "status": "firing",
                "alerts": [
                    am("PBXDown", "pbx-hamburg", "PBX pbx-hamburg does not answer SIP OPTIONS"),
                    am("TrunkDown", "pbx-hamburg", "SIP trunk carrier-a on pbx-hamburg unregistered"),
                ],
            },
        ).raise_for_status()
        for source in ("sbc-1", "sbc-1", "sbc-2"):
            client.post(
                "/v2/enqueue",
                json={
                    "routing_key": pd_key,
                    "event_action": "trigger",
                    "dedup_key": f"cpu-{source}",
                    "payload": {
                        "summary": f"CPU above 95% on {source}",
                        "source": source,
                        "severity": "error",
                        "class": "HighCpu",
                    },
                },
            ).raise_for_status()
    with transaction(sessions) as session:
        rows = list_alerts(session=session)
        table = Table("alert", "source", "status", "count", "incident", "summary", title="alerts", title_justify="left")
        for a in rows:
            state = a.status + (f" (muted: {a.muted_reason})" if a.muted else "")
            table.add_row(str(a.id), a.source, state, str(a.count), str(a.incident_id or "-"), a.summary)
        console.print(table)
        opened = list_incidents(session=session)
        table = Table("incident", "status", "urgency", "group", "title", title="incidents", title_justify="left")
        for i in opened:
            table.add_row(str(i.id), i.status, i.urgency, i.group_key, i.title)
        console.print(table)
        pbx = next((i for i in opened if "PBXDown" in i.group_key), None)
        if pbx is not None:
            console.print(f"timeline of incident {pbx.id}:")
            for entry in timeline(pbx.id, session=session):
                console.print(f"  {entry.at:%H:%M:%S} {entry.kind}: {entry.message}")
    command = _command()
    console.print("\nTry, on the demo's database:")
    console.print("  export WATCHKEEPER_DATABASE_URL=sqlite:///watchkeeper-demo.db", soft_wrap=True)
    for args in (
        "incidents list",
        "incidents show 1",
        "alerts list",
        "services show voip-de-wholesale",
        "checks show db-backup",
        "serve --demo    # the API and scheduler on :8080, with the token above",
    ):
        console.print(f"  {command} {args}", soft_wrap=True, highlight=False)
    console.print(
        "  (--demo keeps the simulated suppliers sending; without it they have stopped with the demo, "
        "and their silence alerts follow within minutes)",
        soft_wrap=True,
        highlight=False,
    )


def _command() -> str:
    """How to run watchkeeper from here, as this run was started: `watchkeeper`
    where it is on PATH, else the path to it (`.venv/bin/watchkeeper`)."""
    script = Path(sys.argv[0])
    if script.name != "watchkeeper":
        return "python -m watchkeeper"
    found = shutil.which("watchkeeper")
    if found is not None and Path(found).resolve() == script.resolve():
        return "watchkeeper"
    return os.path.relpath(script) if script.absolute().is_relative_to(Path.cwd()) else str(script)


# -- serve --demo ---------------------------------------------------------------------


class DemoDatabaseMissing(ValueError):
    """`serve --demo` on a database the demo did not make."""


class LiveFeeds:
    """While `serve --demo` runs, the demo's suppliers keep sending, each from its last
    record on, so only the feed the demo stopped on purpose (mobile-data-fr) is silent.
    Without it, every feed stopped when the demo ended and `serve` raised their silences."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
        self.sessions, self.settings, self.clock = sessions, settings, clock
        self.live = tuple(s for s in SUPPLIERS if not s.stopped_minutes_ago)
        with transaction(sessions) as session:
            found = session.execute(
                select(Service.name, Service.last_seen).where(Service.name.in_([s.name for s in self.live]))
            )
            last = {name: seen for name, seen in found if seen is not None}
        if not last:
            raise DemoDatabaseMissing(
                "--demo serves the demo's database, and this one has none of its services: "
                "run `watchkeeper demo` first and point WATCHKEEPER_DATABASE_URL at "
                "watchkeeper-demo.db"
            )
        self.sent_until = {name: at + timedelta(seconds=1) for name, at in last.items()}

    def __call__(self) -> int:
        """Send what each supplier delivered since its last record; the number of rows."""
        now = self.clock.now()
        rng = random.Random(int(now.timestamp()))
        rows: list[dict[str, object]] = []
        for supplier in self.live:
            since = self.sent_until.get(supplier.name)
            if since is None:
                continue
            step = supplier.every_minutes * 60
            at = datetime.fromtimestamp(-(-int(since.timestamp()) // step) * step, UTC)  # the next delivery
            while at <= now:
                count = _poisson(rng, 0.0 if supplier.irregular and rng.random() < 0.85 else supplier.expected(at))
                if count:
                    rows.append(
                        {
                            "service": supplier.name,
                            "ts": at.isoformat().replace("+00:00", "Z"),
                            "count": count,
                            "quantity": round(count * rng.uniform(60, 240), 1),
                        }
                    )
                at += timedelta(seconds=step)
            self.sent_until[supplier.name] = at
        if rows:
            with transaction(self.sessions) as session:
                ingest_batch(
                    json.dumps(rows).encode(),
                    "application/json",
                    idempotency_key=None,
                    session=session,
                    clock=self.clock,
                    settings=self.settings,
                )
        return len(rows)
