"""The jobs of `serve`, listed in one place: the due work, then retention and the inbox."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

import watchkeeper.feeds
from watchkeeper.alerts.models import Alert
from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.feeds.models import FeedState
from watchkeeper.feeds.schemas import ServicePatch
from watchkeeper.feeds.service import add_service
from watchkeeper.scheduler import DueJob, Scheduler
from watchkeeper.wiring import jobs

from .conftest import NOW


def test_serve_runs_every_job_of_one_list_in_its_order(db, tmp_path):
    ctx = Context(settings=db.settings, clock=SimulatedClock(NOW))
    listed = jobs(ctx, inbox=tmp_path, live=lambda: 0)
    assert [j.name for j in listed] == [
        "demo-feeds",
        "feeds",
        "checks",
        "pbx",
        "alerts",
        "cases",
        "cases",
        "escalation",
        "escalation",
        "notify",
        "calls",
        "probes",
        "probe-results",
        "retention",
        "inbox",
    ]
    assert {j.name: j.batch for j in listed if isinstance(j, DueJob)} == {
        "feeds": 200,
        "checks": 200,
        "pbx": 50,
        "alerts": 20,
        "cases": 200,
        "escalation": 200,
        "notify": 20,
        "calls": 10,
        "probes": 1000,
        "probe-results": 500,
    }
    # Paging runs beside the rest, so neither waits on the other.
    assert {j.name: j.lane for j in listed if isinstance(j, DueJob) and j.lane} == {
        "escalation": "paging",
        "notify": "notify",
        "calls": "calls",
    }
    assert [j.name for j in jobs(ctx)] == [
        "feeds",
        "checks",
        "pbx",
        "alerts",
        "cases",
        "cases",
        "escalation",
        "escalation",
        "notify",
        "calls",
        "probes",
        "probe-results",
        "retention",
    ]


def test_what_the_feed_watcher_finds_is_recorded_as_an_alert_by_its_job(db):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        patch = ServicePatch(stage="production", settings={"max_silence": "1h"})
        add_service(session=session, name="sup-x", patch=patch, now=NOW)
    ctx = Context(settings=db.settings, clock=clock)
    scheduler = Scheduler(jobs(ctx), clock=clock, sessions=db.sessions)
    scheduler.run_due()
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    clock.advance((due - NOW).total_seconds() + 1)
    scheduler.run_due()
    with transaction(db.sessions) as session:
        found = [(a.dedup_key, a.status) for a in session.scalars(select(Alert))]
    assert found == [("feed/sup-x/silence", "firing")]
    assert clock.now() - NOW > timedelta(hours=1)


FACES = {"api.py"}
# The Finding shape and the tenants (customers) sit below every domain.
BELOW = {"watchkeeper.finding", "watchkeeper.auth.customers"}


def test_the_feeds_signal_imports_no_alerts_incidents_or_desk_beyond_the_shapes_below_them():
    higher = ("watchkeeper.alerts", "watchkeeper.incidents", "watchkeeper.support")
    found = []
    for path in sorted(Path(watchkeeper.feeds.__file__).parent.glob("*.py")):
        if path.name in FACES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [(path.name, n) for n in names if n.startswith(higher) and n not in BELOW]
    assert found == []
