"""The pure schedule: periods, cron in a zone across daylight saving, OnCalendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.checks.models import ScheduleKind
from watchkeeper.checks.schedule import Schedule, ScheduleError, deadline, expected_after, oncalendar_to_cron, validate


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_period_is_due_a_period_after_the_last_ping_and_late_after_its_grace() -> None:
    schedule = Schedule(period=timedelta(hours=1), grace=timedelta(minutes=5))
    assert expected_after(schedule, utc("2026-11-23 12:00")) == utc("2026-11-23 13:00")
    assert deadline(schedule, utc("2026-11-23 12:00")) == utc("2026-11-23 13:05")


@pytest.mark.parametrize(
    ("zone", "pinged", "expected"),
    [
        # The day before spring-forward: 02:30 local as usual.
        ("Europe/Berlin", "2026-03-28 00:00", "2026-03-28 01:30"),
        # Spring-forward (02:00 -> 03:00): 02:30 does not exist; it runs at 03:00 CEST.
        ("Europe/Berlin", "2026-03-28 02:00", "2026-03-29 01:00"),
        # The day after: 02:30 CEST.
        ("Europe/Berlin", "2026-03-29 02:00", "2026-03-30 00:30"),
        # Fall-back (03:00 -> 02:00): 02:30 happens twice; it runs once, at the first (CEST).
        ("Europe/Berlin", "2026-10-24 02:00", "2026-10-25 00:30"),
        ("Europe/Berlin", "2026-10-25 00:31", "2026-10-26 01:30"),
        ("America/New_York", "2026-03-07 08:00", "2026-03-08 07:00"),  # 03:00 EDT
        ("America/New_York", "2026-03-08 08:00", "2026-03-09 06:30"),  # 02:30 EDT
        ("America/New_York", "2026-10-31 08:00", "2026-11-01 07:30"),  # 02:30 EST, after fall-back
    ],
)
def test_a_0230_cron_job_across_daylight_saving(zone: str, pinged: str, expected: str) -> None:
    schedule = Schedule(kind=ScheduleKind.CRON, expression="30 2 * * *", tz=zone, grace=timedelta(minutes=10))
    assert expected_after(schedule, utc(pinged)) == utc(expected)
    assert deadline(schedule, utc(pinged)) == utc(expected) + timedelta(minutes=10)


def test_an_hourly_cron_job_runs_both_0200s_of_the_fall_back_night() -> None:
    schedule = Schedule(kind=ScheduleKind.CRON, expression="0 * * * *", tz="Europe/Berlin")
    first = expected_after(schedule, utc("2026-10-24 23:30"))  # 01:30 CEST
    second = expected_after(schedule, first)
    assert (first, second) == (utc("2026-10-25 00:00"), utc("2026-10-25 01:00"))


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("daily", "0 0 * * *"),
        ("weekly", "0 0 * * 1"),
        ("hourly", "0 * * * *"),
        ("Mon..Fri *-*-* 02:30:00", "30 2 * * 1-5"),
        ("*-*-* 04:00", "0 4 * * *"),
        ("Sat,Sun 06:15", "15 6 * * 6,0"),
        ("*-*-01 00:00:00", "0 0 1 * *"),
        ("*-*-* *:0/15:00", "0/15 * * * *"),
    ],
)
def test_oncalendar_reads_as_cron(text: str, cron: str) -> None:
    assert oncalendar_to_cron(text) == cron


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2027-*-* 00:00", "a year other than"),
        ("*-*-* 02:30:15", "seconds other than"),
        ("Mon *-*-01 00:00", "both weekdays and a day"),
        ("Funday 02:00", "not a weekday"),
        ("0230", "not a time"),
        ("soon", "not a weekday"),
    ],
)
def test_oncalendar_it_cannot_read_is_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(ScheduleError, match=why):
        validate(Schedule(kind=ScheduleKind.ONCALENDAR, expression=text))


def test_oncalendar_weekdays_run_in_the_checks_zone() -> None:
    schedule = Schedule(kind=ScheduleKind.ONCALENDAR, expression="Mon..Fri *-*-* 02:30:00", tz="Europe/Berlin")
    # Friday 2026-11-27 03:00 CET: the next run is Monday 02:30 CET.
    assert expected_after(schedule, utc("2026-11-27 02:00")) == utc("2026-11-30 01:30")


def test_an_unknown_zone_and_a_bad_cron_are_refused() -> None:
    with pytest.raises(ScheduleError, match="IANA"):
        validate(Schedule(kind=ScheduleKind.CRON, expression="* * * * *", tz="Mars/Olympus"))
    with pytest.raises(ScheduleError, match="cron expression"):
        validate(Schedule(kind=ScheduleKind.CRON, expression="61 * * * *"))
