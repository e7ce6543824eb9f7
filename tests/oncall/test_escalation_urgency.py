"""Urgency decides how hard an escalation pages: low never calls and never goes on; raised to high, it starts over."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from watchkeeper import wiring
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import make_engine, transaction
from watchkeeper.feeds.models import Service
from watchkeeper.incidents.models import TimelineEntry
from watchkeeper.incidents.service import get
from watchkeeper.notify.models import Notification
from watchkeeper.oncall.paging import Paging
from watchkeeper.scheduler import drain
from watchkeeper.support import service as desk
from watchkeeper.wiring import sessionmaker as wired_sessions

from ..conftest import NOW
from .escalation_helpers import Mailbox, deliver, engineers, escalate, fire, pages, policy, runtime, said


@pytest.fixture
def mailbox():
    box = Mailbox()
    box.controller.start()
    try:
        yield box
    finally:
        box.controller.stop()


SATURDAY_3AM = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def acme_8x5(db) -> None:
    """Acme on an 8x5 plan owns voip-core (a service added before its customer, as a feed's first record does)."""
    with transaction(db.sessions) as session:
        session.add(
            Service(
                name="voip-core",
                stage="production",
                first_seen=SATURDAY_3AM,
                last_seen=SATURDAY_3AM,
                last_received_at=SATURDAY_3AM,
                created_at=SATURDAY_3AM,
            )
        )
        session.flush()
        desk.add_plan(session=session, now=SATURDAY_3AM, name="8x5", hours="Mon-Fri 09:00-17:00", timezone="UTC")
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Acme", plan="8x5", service_pattern="voip-.*")


def test_low_urgency_emails_level_one_once_never_calls_and_never_escalates(db):
    clock = SimulatedClock(SATURDAY_3AM)
    engineers(db, SATURDAY_3AM)
    policy(db, SATURDAY_3AM, "users=alice;timeout=15m", "users=bob", repeat=2)
    acme_8x5(db)
    incident = fire(db, SATURDAY_3AM)
    for _ in range(8):
        escalate(db, clock)
        clock.advance(timedelta(minutes=15))
    assert pages(db, incident) == [("alice", "alice", 0, "pending")]  # her low rules: the email, not the call
    assert any("low urgency: no further levels" in m for m in said(db, incident))


def test_support_hours_raise_the_urgency_and_the_escalation_goes_on_as_high(db, mailbox):
    clock = SimulatedClock(SATURDAY_3AM)
    engineers(db, SATURDAY_3AM, mailbox.port)
    policy(db, SATURDAY_3AM, "users=alice;timeout=15m", "users=bob")
    acme_8x5(db)
    incident = fire(db, SATURDAY_3AM)
    escalate(db, clock)
    deliver(db, clock)
    assert mailbox.received == [("alice", "[low] incident 1: voip-core is down")]
    clock.advance(MONDAY_9AM - SATURDAY_3AM)
    rt = runtime(db, clock)
    for job in wiring.due_jobs(rt):
        if job.name == "cases":  # the desk's job: support hours began
            drain(job, rt.sessions, clock)
    with transaction(db.sessions) as session:
        assert get(incident, session=session).urgency == "high"
    escalate(db, clock)
    monday = int((MONDAY_9AM - SATURDAY_3AM).total_seconds() // 60)
    assert pages(db, incident) == [
        ("alice", "alice", 0, "sent"),
        ("alice", "alice", monday, "pending"),
        ("alice", "alice-phone", monday + 2, "pending"),
        ("alice", "sip:+4930111", monday + 5, "pending"),
    ]
    clock.advance(timedelta(minutes=15))
    escalate(db, clock)
    assert pages(db, incident)[-1] == ("bob", "bob", monday + 15, "pending")
    assert "escalation starts again from level 1 (high): urgency raised to high" in said(db, incident)


@dataclass(frozen=True)
class Answered:
    acknowledged: bool
    reason: str
    escalated: bool = False


class PressesOne:
    """A dialer whose callee presses 1: what a voice channel reports when the page is acknowledged by DTMF."""

    def __init__(self) -> None:
        self.called: list[tuple[str, str]] = []

    async def place_call(self, to: str, text: str) -> Answered:
        self.called.append((to, text))
        return Answered(True, "pressed 1")


def test_a_call_acknowledged_by_dtmf_acknowledges_the_incident_and_stops_the_escalation(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=alice;timeout=15m", "users=bob")
    incident = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:  # the emails went (say): only the call is left to place
        session.execute(
            update(Notification).where(Notification.due_at < NOW + timedelta(minutes=5)).values(status="sent")
        )
    dialer = PressesOne()
    clock.advance(timedelta(minutes=5))
    rt = runtime(db, clock)
    for job in wiring.due_jobs(rt, paging=Paging(dialer=dialer)):
        if job.name == "calls":
            drain(job, rt.sessions, clock)
    assert dialer.called == [("+4930111", "[high] incident 1: voip-core is down")]
    with transaction(db.sessions) as session:
        assert get(incident, session=session).acknowledged_by == "alice"
    assert "called alice at sip:+4930111: acknowledged by phone (pressed 1)" in said(db, incident)
    assert "escalation stopped: acknowledged by alice" in said(db, incident)[-1]


def test_without_a_voice_channel_a_call_page_says_so_on_the_timeline(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=alice")
    incident = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:
        session.execute(
            update(Notification).where(Notification.due_at < NOW + timedelta(minutes=5)).values(status="sent")
        )
    clock.advance(timedelta(minutes=5))
    rt = runtime(db, clock)
    for job in wiring.due_jobs(rt):
        if job.name == "calls":
            drain(job, rt.sessions, clock)
    assert "could not call alice at sip:+4930111 (attempt 1): no voice channel is set up" in said(db, incident)[-1]


def test_each_step_and_page_once_when_two_workers_run_the_due_job_at_once(db, tmp_path):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=alice;timeout=15m", "users=bob")
    incidents = [fire(db, NOW, key=f"voip/core/{n}", service=f"voip-{n}") for n in range(12)]
    engine = make_engine(db.url, key_file=str(tmp_path / "watchkeeper.key"))  # a second process's own
    other = wired_sessions(engine, db.settings)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(sessions):
        try:
            start.wait()
            escalate(db, clock, sessions)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (db.sessions, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    with transaction(db.sessions) as session:
        paged = session.scalar(select(func.count()).select_from(Notification))
        steps = session.scalars(
            select(TimelineEntry.incident_id).where(TimelineEntry.message.like("level 1 of ops%"))
        ).all()
    assert paged == 3 * len(incidents)
    assert sorted(steps) == incidents
