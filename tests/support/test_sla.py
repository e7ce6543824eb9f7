"""SLA clocks in business time and support-hours urgency. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.finding import Urgency
from watchkeeper.support.calendar import Calendar
from watchkeeper.support.sla import (
    CaseFacts,
    CaseStatus,
    ClockState,
    Plan,
    Priority,
    Target,
    Targets,
    reading,
    readings,
    support_urgency,
)

H = timedelta(hours=1)
OFFICE = Calendar.parse("Mon-Fri 09:00-17:00", timezone="Europe/London", holidays="GB-ENG")
PLAN = Plan(
    "8x5 standard",
    OFFICE,
    {
        Priority.P1: Targets(first_response=1 * H, update=4 * H, resolution=8 * H),
        Priority.P3: Targets(first_response=8 * H),
    },
)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 10:00 in London


def opened(at=MONDAY_10, *changes, replies=()):
    return CaseFacts(at, [(at, CaseStatus.NEW), *changes], replies)


def test_a_running_clock_says_when_it_warns_and_when_it_breaches():
    clock = reading(PLAN, Priority.P1, Target.FIRST_RESPONSE, opened(), MONDAY_10 + timedelta(minutes=30))
    assert clock.state is ClockState.RUNNING
    assert clock.elapsed == timedelta(minutes=30)
    assert clock.warn_at == MONDAY_10 + timedelta(minutes=48)
    assert clock.due_at == MONDAY_10 + H
    assert clock.next_due == clock.warn_at


def test_a_case_opened_at_5pm_friday_breaches_on_monday_morning():
    friday_1630 = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    clock = reading(PLAN, Priority.P1, Target.FIRST_RESPONSE, opened(friday_1630), friday_1630)
    assert clock.due_at == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    late = reading(
        PLAN, Priority.P1, Target.FIRST_RESPONSE, opened(friday_1630), datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    )
    assert late.state is ClockState.BREACHED
    assert late.breached_at == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_the_clock_pauses_while_waiting_on_the_customer():
    facts = opened(
        MONDAY_10,
        (MONDAY_10 + 2 * H, CaseStatus.PENDING_CUSTOMER),
        (MONDAY_10 + 24 * H, CaseStatus.OPEN),
        replies=[MONDAY_10 + timedelta(minutes=20)],
    )
    paused = reading(PLAN, Priority.P1, Target.RESOLUTION, facts, MONDAY_10 + 5 * H)
    assert (paused.state, paused.elapsed, paused.due_at) == (ClockState.PAUSED, 2 * H, None)
    back = reading(PLAN, Priority.P1, Target.RESOLUTION, facts, MONDAY_10 + 25 * H)  # Tuesday 11:00
    assert back.state is ClockState.RUNNING and back.elapsed == 3 * H
    assert back.due_at == MONDAY_10 + 25 * H + 5 * H


def test_a_reply_in_time_meets_the_first_response_and_starts_the_update_clock():
    facts = opened(replies=[MONDAY_10 + timedelta(minutes=40)])
    now = MONDAY_10 + 2 * H
    first, update, resolution = readings(PLAN, Priority.P1, facts, now)
    assert (first.target, first.state, first.elapsed) == (Target.FIRST_RESPONSE, ClockState.MET, timedelta(minutes=40))
    assert (update.target, update.state) == (Target.UPDATE, ClockState.RUNNING)
    assert update.due_at == MONDAY_10 + timedelta(minutes=40) + 4 * H
    assert resolution.due_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 7 h on Monday, 1 h on Tuesday


def test_resolving_stops_every_clock():
    facts = opened(MONDAY_10, (MONDAY_10 + 3 * H, CaseStatus.RESOLVED), replies=[MONDAY_10 + timedelta(minutes=5)])
    states = {r.target: r.state for r in readings(PLAN, Priority.P1, facts, MONDAY_10 + 30 * H)}
    assert states == {
        Target.FIRST_RESPONSE: ClockState.MET,
        Target.UPDATE: ClockState.MET,
        Target.RESOLUTION: ClockState.MET,
    }


def test_a_reopened_case_runs_on_without_counting_the_time_it_was_resolved():
    facts = opened(
        MONDAY_10,
        (MONDAY_10 + 2 * H, CaseStatus.RESOLVED),
        (MONDAY_10 + 4 * H, CaseStatus.OPEN),
        replies=[MONDAY_10 + timedelta(minutes=5)],
    )
    clock = reading(PLAN, Priority.P1, Target.RESOLUTION, facts, MONDAY_10 + 5 * H)
    assert (clock.state, clock.elapsed) == (ClockState.RUNNING, 3 * H)


def test_a_plan_without_a_target_has_no_clock_for_it():
    assert [r.target for r in readings(PLAN, Priority.P3, opened(), MONDAY_10)] == [Target.FIRST_RESPONSE]
    assert readings(PLAN, Priority.P4, opened(), MONDAY_10) == []


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=60 * 24 * 20), st.integers(min_value=1, max_value=60 * 40))
def test_a_running_clock_breaches_exactly_at_its_due_instant(minutes_later, limit_minutes):
    plan = Plan("p", OFFICE, {Priority.P2: Targets(resolution=timedelta(minutes=limit_minutes))})
    facts = opened()
    now = MONDAY_10 + timedelta(minutes=minutes_later)
    clock = reading(plan, Priority.P2, Target.RESOLUTION, facts, now)
    if clock.state is ClockState.RUNNING:
        at_due = reading(plan, Priority.P2, Target.RESOLUTION, facts, clock.due_at)
        assert at_due.state is ClockState.BREACHED and at_due.breached_at == clock.due_at
    else:
        assert clock.state is ClockState.BREACHED and clock.breached_at <= now


def test_outside_8x5_hours_high_urgency_waits_for_opening():
    saturday = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    decision = support_urgency(OFFICE, Urgency.HIGH, saturday)
    assert decision.urgency is Urgency.LOW
    assert decision.raise_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert "outside the customer's support hours" in decision.reason
    assert support_urgency(OFFICE, Urgency.HIGH, MONDAY_10).urgency is Urgency.HIGH


def test_24x7_pages_at_any_hour_and_low_stays_low():
    always = Calendar.twenty_four_seven()
    assert support_urgency(always, Urgency.HIGH, datetime(2026, 11, 21, 3, 0, tzinfo=UTC)).urgency is Urgency.HIGH
    assert support_urgency(always, Urgency.LOW, MONDAY_10).urgency is Urgency.LOW
