"""Two `serve` workers on one PostgreSQL database, one killed with SIGKILL mid-escalation: every page
(incident, level, pass, person, rule) reaches a real SMTP server on loopback exactly once.

The worker is killed while its sends wait at the SMTP server, before any of them was accepted. A
worker killed between a server accepting a message and its recording it sent would send that
message again (the outbox's one case of twice, see watchkeeper.notify.outbox): no channel can be
asked whether it already has a message, so no test of this could demand exactly once there."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from watchkeeper.auth.users import add_user
from watchkeeper.clock import SystemClock
from watchkeeper.db import transaction
from watchkeeper.finding import Urgency
from watchkeeper.notify.models import Notification
from watchkeeper.oncall import policies
from watchkeeper.oncall.escalation import parse_duration, parse_level

from .escalation_helpers import Mailbox, fire, mail

# A worker as `serve` runs the escalation and outbox jobs, on the wall clock, ticking every 0.1 s.
# The outbox's lease is cut to 3 s so that a send the killed worker had claimed is taken over
# within the test rather than after the 2 minutes a real server waits.
WORKER = """
import sys, threading
from datetime import timedelta
from watchkeeper.notify import outbox
outbox.LEASE = timedelta(seconds=3)
from watchkeeper import wiring
from watchkeeper.clock import SystemClock
from watchkeeper.config import Settings
from watchkeeper.db import make_engine
from watchkeeper.scheduler import Scheduler

class Runtime:
    pass

rt = Runtime()
rt.settings = Settings(database_url=sys.argv[1], scheduler_tick_seconds=0.1)
rt.clock = SystemClock()
rt.sessions = wiring.sessionmaker(make_engine(sys.argv[1], key_file=sys.argv[2]), rt.settings)
jobs = [job for job in wiring.due_jobs(rt) if job.name in ("escalation", "notify")]
print("ready", flush=True)
Scheduler(jobs, clock=rt.clock, sessions=rt.sessions).run_forever(threading.Event(), 0.1)
"""
INCIDENTS = 6
PAGED = re.compile(r"Paged: level (\d+), pass (\d+)")


def worker(db, key: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, db.url, str(key)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def sockets_to(pid: int, port: int) -> set[int]:
    """The local ports of the process's TCP connections to `port` on loopback (Linux's /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == port:
            ports.add(int(local.split(":")[1], 16))
    return ports


def test_a_worker_killed_mid_escalation_leaves_every_page_sent_exactly_once(db, tmp_path):
    if db.kind != "postgresql":
        pytest.skip("two processes sharing the work is PostgreSQL's case")
    box = Mailbox()
    box.controller.start()
    now = SystemClock().now()
    with transaction(db.sessions) as session:
        for name in ("ann", "ben"):
            add_user(session=session, now=now, name=name, role="engineer")
            for who, after in ((name, "0s"), (f"{name}-phone", "1s")):
                policies.add_rule(
                    name,
                    session=session,
                    now=now,
                    urgency=Urgency.HIGH,
                    channel=mail(who, box.port),
                    delay=parse_duration(after),
                )
        levels = [parse_level("users=ann;timeout=2s"), parse_level("users=ben;timeout=2s")]
        policies.add_policy(session=session, now=now, name="ops", levels=levels, repeat=1)
        policies.add_route(session=session, now=now, policy="ops", matchers=[])
    workers = [worker(db, tmp_path / "watchkeeper.key") for _ in range(2)]
    try:
        box.hold()
        incidents = [fire(db, SystemClock().now(), service=f"voip-{n}", key=f"voip/{n}") for n in range(INCIDENTS)]
        # The first worker to hold a claimed send at the server is killed there; the other's
        # sends wait too, and go on once the server answers again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            killed = next((w for w in workers if sockets_to(w.pid, box.port) & box.held), None)
            if killed is not None:
                break
            time.sleep(0.05)
        assert killed is not None, "no worker sent a page within 10 s"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        box.release()
        expected = INCIDENTS * 2 * 2 * 2  # levels x passes x rules
        deadline = time.monotonic() + 60
        while len(box.bodies) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(4)  # anything sent twice would arrive by now (lease 3 s)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        box.controller.stop()
    sent = Counter(
        (int(re.search(r"incidents ack (\d+)", body).group(1)), *PAGED.search(body).groups(), to)  # type: ignore[union-attr]
        for to, body in box.bodies
    )
    want = {
        (incident, str(level), str(round_), f"{person}{phone}")
        for incident in incidents
        for level, person in ((1, "ann"), (2, "ben"))
        for round_ in (1, 2)
        for phone in ("", "-phone")
    }
    assert len(box.bodies) >= expected, f"{len(box.bodies)} of {expected} pages arrived"
    assert set(sent) == want
    assert [key for key, times in sent.items() if times != 1] == []
    with transaction(db.sessions) as session:
        taken_over = session.scalars(select(Notification.id).where(Notification.attempts > 1)).all()
    assert taken_over, "the killed worker's claimed sends were sent by the other one"
