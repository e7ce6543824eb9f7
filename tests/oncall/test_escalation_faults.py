"""Two `serve` workers on one PostgreSQL database, one killed with SIGKILL mid-escalation: every page
(incident, level, pass, person, rule) reaches a real SMTP server on loopback exactly once."""

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

from watchkeeper.auth.users import add_user
from watchkeeper.clock import SystemClock
from watchkeeper.db import transaction
from watchkeeper.finding import Urgency
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
        incidents = [fire(db, SystemClock().now(), service=f"voip-{n}", key=f"voip/{n}") for n in range(INCIDENTS)]
        time.sleep(2.5)  # level 1 sent, level 2 under way
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
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
