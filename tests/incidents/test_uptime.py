"""Uptime by day from the spans something was down."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.incidents.uptime import days_back, down_by_day, merged, up_fraction

D = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_days_back_ends_today_oldest_first():
    assert days_back(date(2026, 11, 23), 3) == [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]


def test_overlapping_incidents_count_their_minutes_once():
    assert merged([(at(1), at(3)), (at(2), at(4)), (at(6), at(7))]) == [(at(1), at(4)), (at(6), at(7))]
    assert down_by_day([(at(1), at(3)), (at(2), at(4))], [D], NOW) == [timedelta(hours=3)]


def test_an_outage_over_midnight_is_split_between_its_days():
    down = down_by_day([(at(22), at(26))], [D, D + timedelta(days=1)], NOW)
    assert down == [timedelta(hours=2), timedelta(hours=2)]


def test_today_is_judged_on_its_hours_so_far():
    today = NOW.date()
    down = down_by_day([(NOW - timedelta(hours=3), NOW)], [today], NOW)
    assert down == [timedelta(hours=3)]
    assert up_fraction(down[0], today, NOW) == 0.75


def test_a_day_before_watching_began_has_no_data_and_its_first_day_counts_from_then():
    since = at(48 + 12)  # noon on the 22nd
    assert up_fraction(timedelta(), D, NOW, since=since) is None
    assert up_fraction(timedelta(hours=6), D + timedelta(days=2), NOW, since=since) == 0.5
    assert up_fraction(timedelta(), date(2026, 11, 24), NOW) is None  # not begun


@given(st.lists(st.tuples(st.integers(0, 96), st.integers(0, 24)), max_size=8))
def test_a_day_is_never_more_down_than_it_lasted(spans):
    found = down_by_day([(at(s), at(s + n)) for s, n in spans], days_back(date(2026, 11, 23), 4), NOW)
    assert all(timedelta() <= d <= timedelta(days=1) for d in found)
