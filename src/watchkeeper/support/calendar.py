"""Business calendars and business-time arithmetic for support plans. Pure.

A calendar is 24x7, or opening hours per weekday in an IANA time zone (one or
more ranges a day: "Mon-Fri 08:00-12:00, 13:00-17:00"), minus the public
holidays of a country or subdivision (the `holidays` package) and any extra
closed days. Instants in and out are aware UTC datetimes; local time exists
only inside.

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

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchkeeper.clock import known_zone

if TYPE_CHECKING:
    from holidays import HolidayBase


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
SEARCH_DAYS = 3 * 366  # a calendar open less than once in three years is a mistake, said plainly

Ranges = tuple[tuple[int, int], ...]  # (open, close) in minutes of the local day, close up to 24:00


def _parse_ranges(text: str, where: str) -> Ranges:
    ranges = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        found = _RANGE.match(part)
        if found is None:
            raise ValueError(f"{where}: {part!r} is not a time range like 09:00-17:00")
        h0, m0, h1, m1 = (int(g) for g in found.groups())
        start, end = h0 * 60 + m0, h1 * 60 + m1
        if not (0 <= start < end <= 1440 and m0 < 60 and m1 < 60):
            raise ValueError(
                f"{where}: {part!r} must open before it closes, within 00:00-24:00 "
                "(split a night shift into the two days it covers)"
            )
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise ValueError(f"{where}: the ranges overlap")
    return tuple(ranges)


def _parse_days(text: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        d0, d1 = DAY_NAMES.index(first.title()[:3]), DAY_NAMES.index((last or first).title()[:3])
    except ValueError as exc:
        raise ValueError(f"{text!r}: days are Mon..Sun, or a range like Mon-Fri") from exc
    return list(range(d0, d1 + 1)) if d0 <= d1 else [*range(d0, 7), *range(0, d1 + 1)]


@dataclass(frozen=True)
class Calendar:
    timezone: str = "UTC"
    hours: tuple[Ranges, ...] = ((),) * 7  # per weekday, Monday first
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
        """'24x7', or 'Mon-Fri 09:00-17:00; Sat 10:00-12:00'; several ranges a day: 'Mon-Fri 08:00-12:00,13:00-17:00'.

        Raises ValueError saying what to fix.
        """
        if text.strip().lower() in ("24x7", "24/7"):
            return cls(timezone=timezone, always_open=True)
        hours: list[Ranges] = [()] * 7
        for part in filter(None, (p.strip() for p in text.split(";"))):
            days, _, ranges = part.partition(" ")
            for day in _parse_days(days):
                if hours[day]:
                    raise ValueError(f"{DAY_NAMES[day]} is given twice in {text!r}")
                hours[day] = _parse_ranges(ranges.replace(" ", ""), part)
        calendar = cls(timezone=timezone, hours=tuple(hours), holidays=holidays, closed=closed)
        calendar.check()
        return calendar

    def check(self) -> None:
        known_zone(self.timezone)
        if self.holidays:
            try:
                _ = self._holidays
            except NotImplementedError as exc:
                raise ValueError(
                    f"no public holiday calendar for {self.holidays!r}; use a code like DE or US-CA"
                ) from exc
        if not self.always_open and not any(self.hours):
            raise ValueError("the calendar is never open; give opening hours or 24x7")

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holidays(self) -> HolidayBase:
        import holidays  # only plans with public holidays need it; every command would pay 80 ms

        country, _, subdivision = (self.holidays or "").upper().partition("-")
        return holidays.country_holidays(country, subdiv=subdivision or None)

    def closed_on(self, day: date) -> bool:
        # `if self.holidays`, as check() has it: "" means none (it once was stored, and
        # "is not None" then asked the holidays package for country "" on every alert).
        return day in self.closed or (bool(self.holidays) and day in self._holidays)

    def _day(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of one local day, as UTC instants."""
        if self.closed_on(day):
            return []
        return [(self._instant(day, start), self._instant(day, end)) for start, end in self.hours[day.weekday()]]

    def _instant(self, day: date, minute: int) -> datetime:
        if minute == 1440:
            day, minute = day + timedelta(days=1), 0
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self._zone).astimezone(UTC)

    def intervals(self, start: datetime, days: int = SEARCH_DAYS) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals from `start` on (the first one clipped to begin at `start`), for up to `days` days."""
        day = start.astimezone(self._zone).date() - timedelta(days=1)
        for _ in range(days + 2):
            for opens, closes in self._day(day):
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        return any(opens <= at < closes for opens, closes in self._day_around(at))

    def _day_around(self, at: datetime) -> list[tuple[datetime, datetime]]:
        today = at.astimezone(self._zone).date()
        return self._day(today - timedelta(days=1)) + self._day(today)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of business time has passed after `start`."""
        if duration < timedelta(0):
            raise ValueError("a business duration cannot be negative")
        if self.always_open:
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
        if self.always_open:
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
        if self.always_open:
            return at
        for opens, _ in self.intervals(at):
            return opens
        raise ValueError(f"the calendar does not open within {SEARCH_DAYS} days")

    def describe(self) -> str:
        if self.always_open:
            return "24x7"
        parts = []
        for day in range(7):
            if self.hours[day]:
                ranges = ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in self.hours[day])
                parts.append(f"{DAY_NAMES[day]} {ranges}")
        text = "; ".join(parts) + f" ({self.timezone})"
        return text + (f", closed on {self.holidays} public holidays" if self.holidays else "")
