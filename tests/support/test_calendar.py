"""Business-time arithmetic: DST, midnight, weekends, holidays, split days, 24x7. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.support.calendar import Calendar

BERLIN_8X5 = Calendar.parse("Mon-Fri 08:00-17:00", timezone="Europe/Berlin", holidays="DE")
SPLIT = Calendar.parse("Mon-Fri 08:00-12:00,13:00-17:00; Sat 09:00-13:00", timezone="America/New_York")
ALWAYS = Calendar.parse("24x7")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_four_hours_from_friday_afternoon_land_on_monday_morning():
    friday_1600 = utc(2026, 11, 20, 15, 0)  # 16:00 in Berlin (UTC+1)
    assert BERLIN_8X5.add(friday_1600, timedelta(hours=4)) == utc(2026, 11, 23, 10, 0)  # Monday 11:00 local


def test_a_case_opened_at_night_starts_its_clock_at_opening():
    night = utc(2026, 11, 24, 1, 0)  # Tuesday 02:00 Berlin
    assert BERLIN_8X5.add(night, timedelta(minutes=30)) == utc(2026, 11, 24, 7, 30)
    assert BERLIN_8X5.next_open(night) == utc(2026, 11, 24, 7, 0)


def test_public_holidays_are_closed():
    # Thursday 24 and Friday 25 December 2026 are holidays in Germany only on the 25th (and the 26th, a Saturday).
    christmas_eve = utc(2026, 12, 24, 15, 0)  # 16:00 local
    assert BERLIN_8X5.add(christmas_eve, timedelta(hours=2)) == utc(2026, 12, 28, 8, 0)  # Monday 09:00
    assert not BERLIN_8X5.is_open(utc(2026, 12, 25, 10, 0))


def test_extra_closed_days_are_closed():
    calendar = Calendar.parse("Mon-Fri 09:00-17:00", closed=frozenset({date(2026, 11, 23)}))
    assert calendar.add(utc(2026, 11, 20, 16, 0), timedelta(hours=2)) == utc(2026, 11, 24, 10, 0)


def test_across_the_spring_forward_a_day_keeps_its_wall_clock_hours():
    calendar = Calendar.parse("Mon-Sun 00:00-24:00", timezone="Europe/Berlin")
    # 29 March 2026 has 23 real hours in Berlin; all of them are business time.
    day = calendar.between(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0))
    assert day == timedelta(hours=23)
    opening_8x5 = Calendar.parse("Mon-Fri 08:00-17:00", timezone="Europe/Berlin")
    # Friday 27 March 16:00 CET + 2 h: 1 h on Friday, then Monday 30 March opens at 08:00 CEST (06:00 UTC).
    assert opening_8x5.add(utc(2026, 3, 27, 15, 0), timedelta(hours=2)) == utc(2026, 3, 30, 7, 0)


def test_split_days_skip_the_lunch_break_and_saturdays_count():
    friday_1130 = utc(2026, 11, 20, 16, 30)  # 11:30 in New York (UTC-5)
    assert SPLIT.add(friday_1130, timedelta(hours=1)) == utc(2026, 11, 20, 18, 30)  # 13:30 after lunch
    friday_1630 = utc(2026, 11, 20, 21, 30)
    assert SPLIT.add(friday_1630, timedelta(hours=1)) == utc(2026, 11, 21, 14, 30)  # Saturday 09:30


def test_24x7_is_wall_time():
    start = utc(2026, 3, 29, 0, 30)
    assert ALWAYS.add(start, timedelta(hours=5)) == start + timedelta(hours=5)
    assert ALWAYS.between(start, start + timedelta(days=3)) == timedelta(days=3)


@pytest.mark.parametrize(
    "text,message",
    [
        ("Mon-Fri 17:00-09:00", "must open before it closes"),
        ("Mon-Fri 9-17", "not a time range"),
        ("Mon-Fri 08:00-12:00,11:00-17:00", "overlap"),
        ("Mon-Fri 08:00-12:00; Fri 13:00-17:00", "Fri is given twice"),
        ("Moonday 08:00-12:00", "days are Mon..Sun"),
    ],
)
def test_bad_calendars_are_refused_with_what_to_fix(text, message):
    with pytest.raises(ValueError, match=message):
        Calendar.parse(text)


def test_unknown_zone_or_holiday_country_is_refused():
    with pytest.raises(ValueError, match="IANA time zone"):
        Calendar.parse("Mon-Fri 09:00-17:00", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="no public holiday calendar"):
        Calendar.parse("Mon-Fri 09:00-17:00", holidays="XX")


instants = st.integers(min_value=0, max_value=3 * 365 * 24 * 60).map(lambda m: utc(2025, 1, 1) + timedelta(minutes=m))
durations = st.integers(min_value=0, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from(
    [BERLIN_8X5, SPLIT, ALWAYS, Calendar.parse("Mon,Wed,Fri 22:00-24:00; Tue 00:00-06:00", timezone="Australia/Sydney")]
)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations)
def test_adding_then_measuring_gives_the_duration_back(calendar, start, duration):
    assert calendar.between(start, calendar.add(start, duration)) == duration


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations.filter(lambda d: d > timedelta(0)))
def test_a_deadline_always_lands_inside_opening_hours(calendar, start, duration):
    due = calendar.add(start, duration)
    assert calendar.is_open(due - timedelta(seconds=1))


@settings(max_examples=200, deadline=None)
@given(calendars, instants, durations, durations)
def test_business_time_adds_up_over_consecutive_spans(calendar, start, first, second):
    middle, end = start + first, start + first + second
    assert calendar.between(start, middle) + calendar.between(middle, end) == calendar.between(start, end)
    assert timedelta(0) <= calendar.between(start, end) <= end - start


@given(instants, durations)
def test_24x7_business_time_is_wall_time(start, duration):
    assert ALWAYS.add(start, duration) == start + duration
    assert ALWAYS.between(start, start + duration) == duration


BERLIN_9_TO_5 = Calendar.parse("Mon-Fri 09:00-17:00", timezone="Europe/Berlin", holidays="DE")
FOUR_HOURS = timedelta(hours=4)


def berlin(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


def test_friday_afternoon_cases_under_berlin_8x5_are_due_on_monday():
    assert BERLIN_9_TO_5.add(berlin(2026, 11, 20, 16, 0), FOUR_HOURS) == berlin(2026, 11, 23, 12, 0)
    assert BERLIN_9_TO_5.add(berlin(2026, 11, 20, 17, 30), FOUR_HOURS) == berlin(2026, 11, 23, 13, 0)


def test_easter_monday_is_closed_in_germany():
    # Easter 2026: Good Friday 3 April and Easter Monday 6 April are public holidays.
    assert BERLIN_9_TO_5.add(berlin(2026, 4, 2, 16, 0), FOUR_HOURS) == berlin(2026, 4, 7, 12, 0)


@pytest.mark.parametrize("friday,monday", [((2026, 3, 27), (2026, 3, 30)), ((2026, 10, 23), (2026, 10, 26))])
def test_the_dst_weekends_keep_local_opening_hours(friday, monday):
    assert BERLIN_9_TO_5.add(berlin(*friday, 16, 0), FOUR_HOURS) == berlin(*monday, 12, 0)
    assert BERLIN_9_TO_5.between(berlin(*friday, 16, 0), berlin(*monday, 12, 0)) == FOUR_HOURS


def test_a_customer_in_sydney_runs_on_sydney_hours_whatever_the_operators_zone():
    from zoneinfo import ZoneInfo

    sydney = Calendar.parse("Mon-Fri 09:00-17:00", timezone="Australia/Sydney", holidays="AU-NSW")
    # Friday 16:00 in Sydney is 06:00 the same day in Berlin (CET, AEDT).
    opened = datetime(2026, 11, 20, 16, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    due = sydney.add(opened, FOUR_HOURS)
    assert due.astimezone(ZoneInfo("Australia/Sydney")) == datetime(
        2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Australia/Sydney")
    )
    assert due == berlin(2026, 11, 23, 2, 0)
