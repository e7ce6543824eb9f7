"""Pressing 2 on a voice page escalates at once, and the calls of one batch ring together, on
SQLite and PostgreSQL and a simulated clock. The trunk and the phones are the in-process far
end (tests/notify/voice/far_end.py): the due jobs place real SIP calls to it through
`WATCHKEEPER_VOICE_TRUNK`, as `watchkeeper serve` ticks them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.notify.voice.far_end import FarEnd, Person
from watchkeeper import wiring
from watchkeeper.auth.users import add_user
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.finding import Urgency
from watchkeeper.incidents.lifecycle import Action
from watchkeeper.incidents.service import act, get
from watchkeeper.notify.models import Notification
from watchkeeper.oncall import policies
from watchkeeper.oncall.escalation import parse_duration
from watchkeeper.oncall.paging import Paging
from watchkeeper.scheduler import drain

from ..conftest import NOW
from .escalation_helpers import Mailbox, Runtime, fire, mail, pages, policy, said

ALICE, BOB, CAROL = "sip:+4930111", "sip:+4930222", "sip:+4930333"


def called_by_phone(db, *people: tuple[str, str]) -> None:
    with transaction(db.sessions) as session:
        for name, channel in people:
            add_user(session=session, now=NOW, name=name, role="engineer")
            policies.add_rule(
                name, session=session, now=NOW, urgency=Urgency.HIGH, channel=channel, delay=parse_duration("0m")
            )


def tick(db, far: FarEnd, clock: SimulatedClock, name: str, **settings: object) -> int:
    """One turn of the due jobs called `name`, with the voice trunk set to the far end."""
    rt = Runtime(db.settings.model_copy(update={"voice_trunk": far.url, **settings}), clock, db.sessions)
    jobs = wiring.due_jobs(rt, paging=wiring.paging_options(rt.settings))
    return sum(drain(job, rt.sessions, clock) for job in jobs if job.name == name)


def three_levels(db) -> tuple[SimulatedClock, int]:
    called_by_phone(db, ("alice", ALICE), ("bob", BOB), ("carol", CAROL))
    policy(db, NOW, "users=alice;timeout=15m", "users=bob;timeout=30m", "users=carol")
    return SimulatedClock(NOW), fire(db, NOW)


@pytest.mark.parametrize("dtmf", ["rtp", "info"])
def test_pressing_2_ends_the_call_and_pages_the_next_level_now(db, dtmf):
    clock, incident = three_levels(db)
    with FarEnd(default=Person(key="2", dtmf=dtmf)) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls")
        assert [(c.number, c.key_sent, c.bye is not None) for c in far.calls] == [("+4930111", "2", True)]
        timeline = said(db, incident)
        assert "called alice at sip:+4930111: escalated by phone (DTMF 2)" in timeline
        assert "escalated by phone (DTMF 2) by alice: level 2 of ops paged now instead of at 12:15 UTC" in timeline
        clock.advance(timedelta(seconds=1))  # the scheduler's next tick, not level 1's timeout
        tick(db, far, clock, "escalation")
    assert pages(db, incident) == [("alice", ALICE, 0, "sent"), ("bob", BOB, 0, "pending")]
    with transaction(db.sessions) as session:
        assert get(incident, session=session).status == "triggered"  # escalated, not acknowledged
    assert said(db, incident)[-1].startswith("level 2 of ops, pass 1: paging bob (sip:+4930222 at once)")


def test_2_pressed_on_the_last_level_with_no_pass_left_says_nobody_more_is_paged(db):
    called_by_phone(db, ("alice", ALICE))
    policy(db, NOW, "users=alice")
    clock, incident = SimulatedClock(NOW), fire(db, NOW)
    with FarEnd(default=Person(key="2")) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls")
    assert said(db, incident)[-1] == "escalated by phone (DTMF 2) by alice: ops has no level left, nobody more is paged"


def test_a_page_answered_with_2_again_when_its_call_is_placed_again_escalates_once(db):
    called_by_phone(db, ("alice", ALICE), ("bob", mail("bob")), ("carol", CAROL))
    policy(db, NOW, "users=alice;timeout=15m", "users=bob;timeout=30m", "users=carol")
    clock, incident = SimulatedClock(NOW), fire(db, NOW)
    with FarEnd(default=Person(key="2")) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls")
        clock.advance(timedelta(seconds=1))
        tick(db, far, clock, "escalation")  # bob paged; carol's level due 30 min on
        # The notify job again for alice's call, as when a worker placed it and died before its
        # outcome was stored: the lease runs out, the call goes again, and 2 is pressed again.
        with transaction(db.sessions) as session:
            session.execute(
                update(Notification)
                .where(Notification.recipient == "alice")
                .values(status="sending", due_at=clock.now(), sent_at=None)
            )
        tick(db, far, clock, "calls")
        assert [c.number for c in far.calls] == ["+4930111", "+4930111"]
        clock.advance(timedelta(minutes=29))
        tick(db, far, clock, "escalation")
    escalated = [m for m in said(db, incident) if m.startswith("escalated by phone")]
    assert escalated == ["escalated by phone (DTMF 2) by alice: level 2 of ops paged now instead of at 12:15 UTC"]
    assert [p[0] for p in pages(db, incident)] == ["alice", "bob"]  # carol waits for bob's 30 minutes


def test_the_calls_of_one_level_ring_together(db):
    called_by_phone(db, ("alice", ALICE), ("bob", BOB))
    policy(db, NOW, "users=alice,bob")
    clock, incident = SimulatedClock(NOW), fire(db, NOW)
    ring = 1.0
    with FarEnd(default=Person(ring=ring, key="1")) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls")
    first, second = sorted(far.calls, key=lambda c: c.invited)
    assert first.answered is not None and second.answered is not None
    assert second.invited < first.answered  # the second rang before the first was answered
    assert second.answered - first.invited < 2 * ring  # both answered within about one ring time
    timeline = said(db, incident)
    assert {
        "called alice at sip:+4930111: acknowledged by phone (DTMF 1)",
        "called bob at sip:+4930222: acknowledged by phone (DTMF 1)",
    } <= set(timeline)
    with transaction(db.sessions) as session:
        assert get(incident, session=session).acknowledged_by in ("alice", "bob")


def test_voice_calls_1_rings_one_phone_at_a_time_each_page_tried_once(db):
    called_by_phone(db, ("alice", ALICE), ("bob", BOB))
    policy(db, NOW, "users=alice,bob")
    clock = SimulatedClock(NOW)
    incident = fire(db, NOW)
    with FarEnd(default=Person(ring=0.3, key=None, wait=0.1)) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls", voice_calls=1)
    first, second = sorted(far.calls, key=lambda c: c.invited)
    assert first.bye is not None and second.invited > first.bye
    with transaction(db.sessions) as session:
        tries = session.scalars(select(Notification.attempts).where(Notification.subject_id == incident)).all()
    assert sorted(tries) == [1, 1]  # the page that waited its turn was claimed once, not twice


def test_a_message_page_never_waits_behind_a_ringing_phone(db):
    box = Mailbox()
    called_by_phone(db, ("alice", ALICE), ("bob", mail("bob", box.port)))
    policy(db, NOW, "users=alice,bob")
    clock = SimulatedClock(NOW)
    incident = fire(db, NOW)
    box.controller.start()
    try:
        with FarEnd(default=Person(ring=0.3, key="1")) as far:
            tick(db, far, clock, "escalation")
            tick(db, far, clock, "notify")  # the messages' lane: bob's email goes, alice's call waits for its lane
            assert far.calls == [] and [who for who, _ in box.received] == ["bob"]
            assert [(who, status) for who, _, _, status in pages(db, incident)] == [
                ("alice", "pending"),
                ("bob", "sent"),
            ]
            tick(db, far, clock, "calls")
        assert [c.number for c in far.calls] == ["+4930111"]
    finally:
        box.controller.stop()


def test_a_call_waiting_its_turn_is_not_placed_once_the_first_acknowledged(db):
    called_by_phone(db, ("alice", ALICE), ("bob", BOB))
    policy(db, NOW, "users=alice,bob")
    clock = SimulatedClock(NOW)
    incident = fire(db, NOW)
    with FarEnd(default=Person(ring=0.3, key="1")) as far:
        tick(db, far, clock, "escalation")
        tick(db, far, clock, "calls", voice_calls=1)
        tick(db, far, clock, "calls", voice_calls=1)
    assert len(far.calls) == 1
    assert [(who, status) for who, _, _, status in pages(db, incident) if status == "sent"] == [("alice", "sent")]
    assert (
        said(db, incident)[-1]
        == "escalation stopped: acknowledged by alice; 0 step(s) and 1 page(s) not sent cancelled"
    )


@dataclass(frozen=True)
class Answered:
    acknowledged: bool
    reason: str
    escalated: bool = False


def test_2_pressed_once_someone_else_acknowledged_says_so_and_pages_nobody_more(db):
    called_by_phone(db, ("alice", ALICE), ("bob", BOB))
    policy(db, NOW, "users=alice;timeout=15m", "users=bob")
    clock, incident = SimulatedClock(NOW), fire(db, NOW)

    class AcknowledgedMeanwhile:
        """While alice's phone rings, bob acknowledges on the command line; then she presses 2."""

        async def place_call(self, to: str, text: str) -> Answered:
            with transaction(db.sessions) as session:
                act(incident, Action.ACKNOWLEDGE, actor="bob", session=session, now=clock.now())
            return Answered(False, "DTMF 2", escalated=True)

    rt = Runtime(db.settings, clock, db.sessions)
    for name in ("escalation", "calls"):
        for job in wiring.due_jobs(rt, paging=Paging(dialer=AcknowledgedMeanwhile())):
            if job.name == name:
                drain(job, rt.sessions, clock)
    assert (
        "called alice at sip:+4930111: escalated by phone (DTMF 2); incident 1 is acknowledged: "
        "its escalation is not paging, nothing to hurry"
    ) in said(db, incident)
    clock.advance(timedelta(minutes=20))
    for job in wiring.due_jobs(rt):
        if job.name == "escalation":
            drain(job, rt.sessions, clock)
    assert [p[0] for p in pages(db, incident)] == ["alice"]
