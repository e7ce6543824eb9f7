"""When a check's next ping is due, and when it is late. Pure: no clock, no database.

Three ways to say when a job runs: a period (every N seconds since the last
ping), a cron expression in an IANA time zone (cronsim), or a systemd
OnCalendar expression (the subset of it that cron can say, read into a cron
expression). A ping is late once the grace after its expected time is over.

Local time is where daylight saving bites: a 02:30 job does not exist on the
spring-forward day (cron, and so cronsim, runs it at 03:00, the first minute
after the gap), and it exists twice on the fall-back day (it runs once, at the
first). Deadlines are computed in the check's zone and returned in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from watchkeeper.checks.models import ScheduleKind


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message says what to write instead."""


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind = ScheduleKind.PERIOD
    period: timedelta = timedelta(days=1)
    grace: timedelta = timedelta(hours=1)
    expression: str | None = None  # cron or OnCalendar
    tz: str = "UTC"


def expected_after(schedule: Schedule, moment: datetime) -> datetime:
    """When the ping after one at `moment` is expected (UTC)."""
    if schedule.kind is ScheduleKind.PERIOD:
        return moment + schedule.period
    zone = _zone(schedule.tz)
    when = next(CronSim(cron_of(schedule), moment.astimezone(zone)))
    return when.astimezone(UTC)


def deadline(schedule: Schedule, moment: datetime) -> datetime:
    """When a check last pinged at `moment` is late: the next expected ping plus the grace."""
    return expected_after(schedule, moment) + schedule.grace


def validate(schedule: Schedule) -> Schedule:
    """`schedule` if it can be read; ScheduleError saying why not."""
    if schedule.grace < timedelta(0):
        raise ScheduleError("the grace must not be negative")
    if schedule.kind is ScheduleKind.PERIOD:
        if schedule.period < timedelta(minutes=1):
            raise ScheduleError("the period must be at least a minute (e.g. --period 1h)")
        return schedule
    _zone(schedule.tz)
    expression = cron_of(schedule)
    try:
        CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ScheduleError(f"cannot read the cron expression {expression!r}: {exc}") from exc
    return schedule


def cron_of(schedule: Schedule) -> str:
    """The cron expression of a cron or OnCalendar schedule."""
    if not schedule.expression:
        raise ScheduleError(f"a {schedule.kind} schedule needs an expression")
    if schedule.kind is ScheduleKind.ONCALENDAR:
        return oncalendar_to_cron(schedule.expression)
    return schedule.expression


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin") from exc


# -- OnCalendar ----------------------------------------------------------------------------

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
}
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBERS = re.compile(r"^(\*|\d+(\.\.\d+)?(,\d+(\.\.\d+)?)*)(/\d+)?$")
UNREADABLE = (
    "cannot read the OnCalendar expression {text!r} ({why}); write e.g. 'daily', 'hourly', "
    "'Mon..Fri *-*-* 02:30:00' or '*-*-* 04:00'"
)


def oncalendar_to_cron(text: str) -> str:
    """The cron expression of an OnCalendar expression: [weekdays] [*-month-day] hour:minute[:00]."""
    words = SHORTHANDS.get(text.strip().lower(), text).split()
    if not words or len(words) > 3:
        raise ScheduleError(UNREADABLE.format(text=text, why="expected [weekdays] [date] time"))
    weekdays = "*"
    if words[0][0].isalpha():
        weekdays = _weekdays(words.pop(0), text)
    if not words:
        raise ScheduleError(UNREADABLE.format(text=text, why="there is no time of day"))
    clock = words.pop()
    month, day = _date(words[0], text) if words else ("*", "*")
    if weekdays != "*" and day != "*":
        # cron runs when either matches; systemd only when both do.
        raise ScheduleError(UNREADABLE.format(text=text, why="both weekdays and a day of the month"))
    hour, minute = _time(clock, text)
    return f"{minute} {hour} {day} {month} {weekdays}"


def _weekdays(word: str, text: str) -> str:
    parts = []
    for part in word.lower().split(","):
        ends = part.split("..")
        if len(ends) > 2 or any(end[:3] not in DAYS for end in ends):
            raise ScheduleError(UNREADABLE.format(text=text, why=f"{part!r} is not a weekday like Mon or Mon..Fri"))
        parts.append("-".join(str(DAYS.index(end[:3])) for end in ends))
    return ",".join(parts)


def _field(value: str, text: str, what: str) -> str:
    if not _NUMBERS.match(value):
        raise ScheduleError(UNREADABLE.format(text=text, why=f"{value!r} is not a {what}"))
    return re.sub(r"\d+", lambda number: str(int(number.group())), value.replace("..", "-"))


def _date(word: str, text: str) -> tuple[str, str]:
    parts = word.split("-")
    if len(parts) == 2:
        parts = ["*", *parts]
    if len(parts) != 3:
        raise ScheduleError(UNREADABLE.format(text=text, why=f"{word!r} is not a date like *-*-*"))
    year, month, day = parts
    if year != "*":
        raise ScheduleError(UNREADABLE.format(text=text, why="a year other than * is not supported"))
    return _field(month, text, "month"), _field(day, text, "day of the month")


def _time(word: str, text: str) -> tuple[str, str]:
    parts = word.split(":")
    if len(parts) not in (2, 3):
        raise ScheduleError(UNREADABLE.format(text=text, why=f"{word!r} is not a time like 02:30 or 02:30:00"))
    if len(parts) == 3 and parts[2] not in ("0", "00"):
        raise ScheduleError(UNREADABLE.format(text=text, why="seconds other than :00 are not supported"))
    hour, minute = (_field(part, text, "time") for part in parts[:2])
    return hour, minute
