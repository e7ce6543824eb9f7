"""Escalations on a simulated clock, on SQLite and PostgreSQL: levels, timeouts, acknowledgement, repeats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.incidents.lifecycle import Action
from watchkeeper.incidents.service import act, get

from ..conftest import NOW
from .escalation_helpers import Mailbox, deliver, engineers, escalate, fire, pages, policy, said

PORT = 25  # where the engineers' email goes: nowhere, unless a test starts a Mailbox


@pytest.fixture
def mailbox():
    box = Mailbox()
    box.controller.start()
    try:
        yield box
    finally:
        box.controller.stop()


def setup(db, *levels, port=PORT, **options):
    clock = SimulatedClock(NOW)
    engineers(db, NOW, port)
    policy(db, NOW, *levels, **options)
    return clock, fire(db, NOW)


def ack(db, clock, incident_id, who="alice"):
    with transaction(db.sessions) as session:
        act(incident_id, Action.ACKNOWLEDGE, actor=who, session=session, now=clock.now())


def test_level_one_is_paged_at_once_by_each_persons_rules(db):
    clock, incident = setup(db, "users=alice;timeout=15m", "users=bob;timeout=30m")
    assert pages(db, incident) == []
    escalate(db, clock)
    assert pages(db, incident) == [
        ("alice", "alice", 0, "pending"),
        ("alice", "alice-phone", 2, "pending"),
        ("alice", "sip:+4930111", 5, "pending"),
    ]
    assert (
        "level 1 of ops, pass 1: paging alice (mailto://127.0.0.1:25 at once, mailto://127.0.0.1:25 after 2m, "
        "sip:+4930111 after 5m); level 2 at 12:15 UTC unless acknowledged" in said(db, incident)
    )


def test_level_two_is_paged_after_the_timeout_when_nobody_acknowledges(db):
    clock, incident = setup(db, "users=alice;timeout=15m", "users=bob;timeout=30m")
    escalate(db, clock)
    clock.advance(timedelta(minutes=14, seconds=59))
    escalate(db, clock)
    assert [p[0] for p in pages(db, incident)] == ["alice"] * 3
    clock.advance(timedelta(seconds=1))
    escalate(db, clock)
    assert pages(db, incident)[3:] == [("bob", "bob", 15, "pending")]
    assert "the policy's last step" in said(db, incident)[-1]


def test_acknowledgement_stops_the_escalation_and_its_pages_not_sent(db, mailbox):
    clock, incident = setup(db, "users=alice;timeout=15m", "users=bob;timeout=30m", port=mailbox.port)
    escalate(db, clock)
    deliver(db, clock)
    clock.advance(timedelta(minutes=1))
    ack(db, clock, incident)
    # The email at once went; the two later rules never go, nor does level 2.
    assert pages(db, incident) == [("alice", "alice", 0, "sent")]
    assert said(db, incident)[-1] == (
        "escalation stopped: acknowledged by alice; 1 step(s) and 2 page(s) not sent cancelled"
    )
    clock.advance(timedelta(hours=2))
    escalate(db, clock)
    deliver(db, clock)
    assert mailbox.received == [("alice", "[high] incident 1: voip-core is down")]


def test_the_policy_repeats_as_often_as_it_says_then_stops(db):
    clock, incident = setup(db, "users=bob;timeout=10m", "users=carol;timeout=10m", repeat=1)
    for _ in range(6):
        escalate(db, clock)
        clock.advance(timedelta(minutes=10))
    assert pages(db, incident) == [
        ("bob", "bob", 0, "pending"),
        ("carol", "carol", 10, "pending"),
        ("bob", "bob", 20, "pending"),
        ("carol", "carol", 30, "pending"),
    ]
    assert any("level 2 of ops, pass 2" in m and "the policy's last step" in m for m in said(db, incident))


def test_an_acknowledgement_not_resolved_in_time_pages_again_from_level_one(db, mailbox):
    clock, incident = setup(db, "users=bob;timeout=10m", "users=carol", ack_timeout="4h", port=mailbox.port)
    escalate(db, clock)
    deliver(db, clock)
    ack(db, clock, incident, who="bob")
    clock.advance(timedelta(hours=3, minutes=59))
    escalate(db, clock)
    assert len(pages(db, incident)) == 1
    clock.advance(timedelta(minutes=1))
    escalate(db, clock)  # the acknowledgement times out: level 1 is due again at once
    escalate(db, clock)
    with transaction(db.sessions) as session:
        assert get(incident, session=session).status == "triggered"
    assert pages(db, incident) == [("bob", "bob", 0, "sent"), ("bob", "bob", 240, "pending")]
    assert "triggered again: acknowledged 4h ago and not resolved" in said(db, incident)
    clock.advance(timedelta(minutes=10))
    escalate(db, clock)
    assert pages(db, incident)[-1] == ("carol", "carol", 250, "pending")


def test_a_resolved_incident_is_paged_no_more(db):
    clock, incident = setup(db, "users=bob;timeout=10m", "users=carol")
    escalate(db, clock)
    with transaction(db.sessions) as session:
        act(incident, Action.RESOLVE, actor="bob", session=session, now=clock.now())
    assert "escalation ended: resolved by bob; 1 step(s), 1 page(s) cancelled" in said(db, incident)
    clock.advance(timedelta(minutes=30))
    escalate(db, clock)
    assert pages(db, incident) == []


def test_editing_the_policy_does_not_change_a_page_on_its_way(db):
    from watchkeeper.oncall import policies
    from watchkeeper.oncall.escalation import parse_level

    clock, incident = setup(db, "users=bob;timeout=10m", "users=carol")
    escalate(db, clock)
    with transaction(db.sessions) as session:
        policies.edit_policy("ops", session=session, levels=[parse_level("users=alice;timeout=1h")])
    clock.advance(timedelta(minutes=10))
    escalate(db, clock)
    assert [p[0] for p in pages(db, incident)] == ["bob", "carol"]
    second = fire(db, clock.now(), key="voip/core/other", service="voip-edge")
    escalate(db, clock)
    assert [p[0] for p in pages(db, second)] == ["alice"] * 3


def test_a_schedule_level_without_schedules_says_so_and_pages_the_users(db):
    clock, incident = setup(db, "users=bob;schedule=primary")
    escalate(db, clock)
    assert [p[0] for p in pages(db, incident)] == ["bob"]
    assert "no schedule 'primary'; `watchkeeper oncall schedules list` shows them" in said(db, incident)[-1]


def test_a_schedule_level_pages_whoever_the_schedule_has_on_call(db):
    from watchkeeper.oncall import service as schedules

    clock = SimulatedClock(NOW)
    engineers(db, NOW, PORT)
    with transaction(db.sessions) as session:
        schedules.add_schedule("primary", session=session, now=NOW, tz="Europe/Berlin")
        start = (NOW - timedelta(days=7)).date()
        schedules.add_layer("primary", session=session, now=NOW, users=["bob", "alice"], shift="1w", start=start)
        on_call = [u.name for u in schedules.who_is_on_call(session, "primary", NOW)]
    policy(db, NOW, "schedule=primary")
    incident = fire(db, NOW)
    escalate(db, clock)
    assert len(on_call) == 1
    assert {p[0] for p in pages(db, incident)} == set(on_call)


def test_an_edited_schedule_pages_the_new_person_at_once(db):
    from watchkeeper.oncall import service as schedules

    clock = SimulatedClock(NOW)
    engineers(db, NOW, PORT)
    with transaction(db.sessions) as session:
        schedules.add_schedule("primary", session=session, now=NOW, tz="Europe/Berlin")
        schedules.add_layer("primary", session=session, now=NOW, users=["bob"], shift="1w", start=NOW.date())
    policy(db, NOW, "schedule=primary")
    first = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:
        end = NOW + timedelta(hours=4)
        schedules.add_override("primary", "alice", session=session, now=NOW, start=NOW - timedelta(hours=1), end=end)
    second = fire(db, NOW, service="voip-edge", key="voip/edge/down")
    escalate(db, clock)
    assert [p[0] for p in pages(db, first)] == ["bob"]
    assert {p[0] for p in pages(db, second)} == {"alice"}


def test_an_incident_no_route_takes_pages_nobody_and_says_so(db):
    clock, _ = setup(db, "users=bob")
    other = fire(db, NOW, service="billing-core", key="billing/down")
    escalate(db, clock)
    assert pages(db, other) == []
    assert "no escalation policy routes this incident: nobody is paged" in said(db, other)
