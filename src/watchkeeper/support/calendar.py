"""Business calendars and business-time arithmetic for support plans. Pure.

A calendar is 24x7, or weekly opening hours (`watchkeeper.weekly`: one or
more ranges a day, "Mon-Fri 08:00-12:00,13:00-17:00; Sat 09:00-13:00") in an
IANA time zone, minus the public holidays of a country or subdivision
(`watchkeeper.public_holidays`) and any extra closed days. Instants in and
out are aware UTC datetimes; local time exists only inside.

Two operations carry the SLA clocks:

- `add(start, duration)`: the instant when `duration` of business time has
  passed after `start` (a 4-hour first response for a case opened on Friday
  at 16:00 in an 8x5 plan is due on Monday at 12:00);
- `between(start, end)`: the business time between two instants.

Opening hours are wall-clock hours: on the night clocks go forward an
opening at 02:30 means 03:30 local, and a day holds as many business hours
as the real time between its opening and closing instants. For 24x7 both
operations are plain elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from watchkeeper import public_holidays, weekly
from watchkeeper.clock import known_zone

DAY_NAMES = weekly.DAY_NAMES
SEARCH_DAYS = 3 * 366  # a calendar open less than once in three years is a mistake, said plainly


@dataclass(frozen=True)
class Calendar:
    timezone: str = "UTC"
    hours: weekly.WeeklyHours = weekly.NEVER
    holidays: str | None = None  # "DE", "US-CA"
    closed: frozenset[date] = field(default_factory=frozenset)
    always_open: bool = False

    @classmethod
    def twenty_four_seven(cls) -> Calendar:
        return cls(always_open=True)

    @classmethod
    def parse(
        cls, text: str, *, timezone: str = "UTC", holidays: str | None = None, closed: frozenset[date] = frozenset()
    ) -> Calendar:
        """Opening hours in the weekly grammar (`watchkeeper.weekly`): '24x7', or
        'Mon-Fri 09:00-17:00; Sat 10:00-12:00'; several ranges a day: 'Mon-Fri 08:00-12:00,13:00-17:00'.

        Each day is given once, its ranges apart and within the day: an overlap
        or a night shift written as one range is far more often a typo than meant.
        Raises ValueError saying what to fix.
        """
        if text.strip().lower() in ("24x7", "24/7"):
            return cls(timezone=timezone, always_open=True)
        hours = weekly.parse(text, overnight=False, overlap=False)
        calendar = cls(timezone=timezone, hours=hours, holidays=holidays, closed=closed)
        calendar.check()
        return calendar

    def check(self) -> None:
        known_zone(self.timezone)
        if self.holidays:
            public_holidays.check(self.holidays)
        if not self.always_open and self.hours.never:
            raise ValueError("the calendar is never open; give opening hours or 24x7")

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def closed_on(self, day: date) -> bool:
        # `if self.holidays`, as check() has it: "" means none (it once was stored, and
        # "is not None" then asked the holidays package for country "" on every alert).
        return day in self.closed or public_holidays.is_holiday(self.holidays, day)

    @property
    def _always(self) -> bool:
        return self.always_open or self.hours.always

    def intervals(self, start: datetime, days: int = SEARCH_DAYS) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals from `start` on (the first one clipped to begin at `start`), for up to `days` days."""
        for opens, closes in self.hours.intervals(start, self._zone, days=days, closed=self.closed_on):
            yield max(opens, start), closes

    def is_open(self, at: datetime) -> bool:
        if self._always:
            return True
        return self.hours.end_if_in_force(at, self._zone, closed=self.closed_on) is not None

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of business time has passed after `start`."""
        if duration < timedelta(0):
            raise ValueError("a business duration cannot be negative")
        if self._always:
            return start + duration
        left = duration
        for opens, closes in self.intervals(start):
            if opens + left <= closes:
                return opens + left
            left -= closes - opens
        raise ValueError(f"the calendar does not open for {duration} of business time within {SEARCH_DAYS} days")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end); negative if end is before start."""
        if end < start:
            return -self.between(end, start)
        if self._always:
            return end - start
        total = timedelta(0)
        days = (end - start).days + 2
        for opens, closes in self.intervals(start, days):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total

    def next_open(self, at: datetime) -> datetime:
        """`at` if open then, else when the calendar next opens."""
        if self._always:
            return at
        for opens, _ in self.intervals(at):
            return opens
        raise ValueError(f"the calendar does not open within {SEARCH_DAYS} days")

    def describe(self) -> str:
        if self.always_open:
            return "24x7"
        parts = []
        for day in range(7):
            if pieces := self.hours.day_ranges(day):
                ranges = ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in pieces)
                parts.append(f"{DAY_NAMES[day]} {ranges}")
        text = "; ".join(parts) + f" ({self.timezone})"
        return text + (f", closed on {self.holidays} public holidays" if self.holidays else "")
