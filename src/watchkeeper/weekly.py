"""Weekly hours: when something is open, active or in force, week after week. Pure.

A feed's active hours, a weekly maintenance window, a support plan's opening
hours (and, later, rotations and check schedules) all say the same kind of
thing, so they share one spelling:

    Mon-Fri 08:00-18:00; Sat 09:00-13:00
    Mon-Fri 08:00-12:00,13:00-17:00
    Sat,Sun 22:00-06:00
    Fri-Mon 00:00-24:00
    24x7

The grammar, case-insensitive, spaces free around the punctuation:

    hours  = "24x7" | "24/7" | "always" | "never" | rule { ";" rule }
    rule   = days " " ranges
    days   = day [ "-" day ] { "," day [ "-" day ] }   Mon..Sun or Monday..Sunday;
                                                       a range may wrap: Fri-Mon
    ranges = range { "," range }
    range  = time "-" time                             08:00-18:00, 22:00-06:00
    time   = hh ":" mm                                 00:00 .. 24:00

- A range whose end is not after its start runs past midnight into the next
  day: `Sun 22:00-02:00` is Sunday night until Monday 02:00, `Sat 06:00-06:00`
  a whole 24 hours from Saturday 06:00. It belongs to the day it starts on.
- Rules and ranges that overlap count once (their union), unless the caller
  asks for each day once and no overlaps (`overlap=False`), as a support
  plan does, where an overlap is a typo.
- A comma between rules is also read (`Mon-Fri 08-18, Sat 09-13`): a comma
  followed by a day starts a rule, one followed by a time adds a range. The
  semicolon is the spelling to write.
- Bare hours (`08-18`) are read only where a caller allows them
  (`whole_hours=True`, a feed's active hours), and never run past midnight:
  `9-5` is more likely nine to five than a night shift.

Times are local wall-clock times; the IANA zone is the caller's. Turning the
week into instants happens day by day (`intervals`), so an opening at 02:30
on the night clocks go forward means 03:30 local, and a local day holds as
much real time as lies between its opening and closing instants.

`str()` gives the canonical spelling, which `parse` reads back to an equal value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY = 1440
WEEK = 7 * DAY
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEDS = ("", "", "weds", "", "", "", "")  # the one common short form that is no prefix of its day
_ALWAYS = ("24x7", "24/7", "always")
EXAMPLE = "'Mon-Fri 08:00-18:00; Sat 09:00-13:00'"

# A comma after a time and before a day ends one rule and starts the next.
_RULE_COMMA = re.compile(r"(?<=\d)\s*,\s*(?=[A-Za-z])")
_RULE = re.compile(r"^([^\d]*?)\s*(\d.*)?$", re.DOTALL)
_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?$")
# What a feed's active hours were once read by: the hour of each end, whatever followed it.
_HOURS_ONLY = re.compile(r"^(\d+)(?::[\d:]*)?\s*-\s*(\d+)(?::[\d:]*)?$")

Span = tuple[int, int]  # [start, end) in minutes of the week, Monday 00:00 = 0
Closed = Callable[[date], bool]


@dataclass(frozen=True)
class WeeklyHours:
    """A set of local wall-clock minutes of the week, as sorted, disjoint spans.

    Spans never touch except across Sunday midnight, where one ending at WEEK
    and one starting at 0 are two halves of a single opening.
    """

    spans: tuple[Span, ...] = ()

    @classmethod
    def of(cls, spans: Iterable[Span]) -> WeeklyHours:
        """The union of `spans`; a span may run past the week's end (wraps to Monday)."""
        return cls(_merge(spans))

    @property
    def always(self) -> bool:
        return self.spans == ((0, WEEK),)

    @property
    def never(self) -> bool:
        return not self.spans

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time of `local` (in the caller's zone) is inside."""
        minute = local.weekday() * DAY + local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.spans)

    def day_ranges(self, weekday: int) -> tuple[tuple[int, int], ...]:
        """The pieces of one weekday (Monday 0), in minutes of that day, ends up to 24:00."""
        lo, hi = weekday * DAY, (weekday + 1) * DAY
        return tuple((max(s, lo) - lo, min(e, hi) - lo) for s, e in self.spans if s < hi and e > lo)

    def intervals(
        self, after: datetime, zone: ZoneInfo, *, days: int = 8, closed: Closed | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """UTC intervals in force that end after `after`, in order, over about `days` local days.

        Each local day's pieces are placed on that date in `zone`; a date for
        which `closed` says True has none. Pieces that meet are joined, so an
        opening over midnight is one interval. The first may begin before `after`.
        """
        day = after.astimezone(zone).date() - timedelta(days=1)
        current: tuple[datetime, datetime] | None = None
        for _ in range(days + 2):
            if closed is None or not closed(day):
                for start, end in self.day_ranges(day.weekday()):
                    opens, closes = _instant(day, start, zone), _instant(day, end, zone)
                    if closes <= opens:  # wholly inside a spring-forward gap
                        continue
                    if current is not None and opens <= current[1]:
                        current = (current[0], max(current[1], closes))
                        continue
                    if current is not None and current[1] > after:
                        yield current
                    current = (opens, closes)
            day += timedelta(days=1)
        if current is not None and current[1] > after:
            yield current

    def end_if_in_force(self, at: datetime, zone: ZoneInfo, *, closed: Closed | None = None) -> datetime | None:
        """When the interval holding `at` ends (UTC), or None if `at` is outside."""
        for opens, closes in self.intervals(at, zone, closed=closed):
            return closes if opens <= at else None
        return None

    def next_change(self, at: datetime, zone: ZoneInfo, *, closed: Closed | None = None) -> datetime | None:
        """The first instant after `at` when being in force flips: the end of the
        interval holding `at`, else the start of the next; None if none within about a week."""
        for opens, closes in self.intervals(at, zone, closed=closed):
            return closes if opens <= at else opens
        return None

    def __str__(self) -> str:
        if self.always:
            return "24x7"
        if self.never:
            return "never"
        per_day: list[list[str]] = [[] for _ in range(7)]
        for day, start, end in _pieces(self.spans):
            per_day[day].append(f"{_clock(start)}-{_clock(end)}")
        groups: dict[str, list[int]] = {}
        for day, ranges in enumerate(per_day):
            if ranges:
                groups.setdefault(",".join(ranges), []).append(day)
        return "; ".join(f"{_days_text(days)} {ranges}" for ranges, days in groups.items())


ALWAYS = WeeklyHours(((0, WEEK),))
NEVER = WeeklyHours()


def parse(text: str, *, whole_hours: bool = False, overnight: bool = True, overlap: bool = True) -> WeeklyHours:
    """Read weekly hours (see the module's grammar). Raises ValueError saying what to fix.

    `whole_hours` also reads bare hours (`08-18`); `overnight=False` refuses
    ranges past midnight; `overlap=False` refuses a day given twice and ranges
    that overlap.
    """
    stripped = text.strip().lower()
    if stripped in _ALWAYS:
        return ALWAYS
    if stripped == "never":
        return NEVER
    spans: list[Span] = []
    seen: set[int] = set()
    for rule in (r.strip() for part in text.split(";") for r in _RULE_COMMA.split(part)):
        if not rule:
            continue
        days, ranges = _parse_rule(rule, whole_hours=whole_hours, overnight=overnight)
        if not overlap:
            _check_apart(rule, text, days, ranges, seen)
        spans.extend((day * DAY + start, day * DAY + end) for day in days for start, end in ranges)
    if not spans:
        raise ValueError(f"no hours given; write them like {EXAMPLE}, or 24x7")
    hours = WeeklyHours.of(spans)
    if not overlap and sum(e - s for s, e in spans) != sum(e - s for s, e in hours.spans):
        raise ValueError(f"{text!r}: a range running past midnight overlaps the next day's hours")
    return hours


def single_rule(text: str) -> tuple[tuple[int, ...], int, int]:
    """One day group and one range, 'Sun 01:00-05:00', as (days, start, end) in
    minutes of the day; an end past 24:00 (1440) is the next day's."""
    rules = [r.strip() for part in text.split(";") for r in _RULE_COMMA.split(part) if r.strip()]
    if len(rules) == 1:
        days, ranges = _parse_rule(rules[0], whole_hours=False, overnight=True)
        if len(ranges) == 1:
            return days, *ranges[0]
    raise ValueError(
        f"{text!r}: give one day group and one time range, like 'Sun 01:00-05:00' or 'Mon-Fri 22:00-02:00'"
    )


def parse_days(text: str) -> tuple[int, ...]:
    """'Mon-Fri', 'Sat,Sun', 'fri-mon', 'Tuesday' to weekday numbers (Monday 0), in order."""
    days: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, _, last = (p.strip() for p in part.partition("-"))
        d0, d1 = _day(first, part), _day(last or first, part)
        for day in range(d0, d0 + (d1 - d0) % 7 + 1):
            if day % 7 not in days:
                days.append(day % 7)
    if not days:
        raise ValueError(f"give the days, e.g. Mon-Fri or Sat,Sun, as in {EXAMPLE}")
    return tuple(sorted(days))


def weekly(days: Iterable[int], start: time, end: time) -> WeeklyHours:
    """Each of `days` from `start` to `end`; an end not after the start is the next day's."""
    first, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    if last <= first:
        last += DAY
    return WeeklyHours.of((day * DAY + first, day * DAY + last) for day in days)


def _parse_rule(rule: str, *, whole_hours: bool, overnight: bool) -> tuple[tuple[int, ...], list[Span]]:
    found = _RULE.match(rule)
    assert found is not None  # the pattern matches any text
    days_text, ranges_text = found.groups()
    if not days_text.strip():
        raise ValueError(f"{rule!r} names no days; put them first, as in {EXAMPLE}")
    if not ranges_text:
        raise ValueError(f"{rule!r} has no time range; give one after the days, as in {EXAMPLE}")
    days = parse_days(days_text)
    ranges = [
        _range(r.strip(), rule, whole_hours=whole_hours, overnight=overnight)
        for r in ranges_text.split(",")
        if r.strip()
    ]
    return days, ranges


def _range(text: str, rule: str, *, whole_hours: bool, overnight: bool) -> Span:
    found = _RANGE.match(text)
    if whole_hours and (found is None or int(found[2] or 0) > 59 or int(found[4] or 0) > 59):
        # Feed settings stored in the older, looser spelling ('08:5-18', '8:00:00-18') keep
        # their meaning, the hours, rather than stopping the watch of the service that has one.
        loose = _HOURS_ONLY.match(text)
        if loose is not None and 0 <= int(loose[1]) < int(loose[2]) <= 24:
            return int(loose[1]) * 60, int(loose[2]) * 60
    if found is None or (not whole_hours and None in (found[2], found[4])):
        raise ValueError(f"{rule}: {text!r} is not a time range like 09:00-17:00 (hours and minutes), as in {EXAMPLE}")
    h0, m0, h1, m1 = (int(g or 0) for g in found.groups())
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if m0 > 59 or m1 > 59 or start >= DAY or end > DAY:
        raise ValueError(f"{rule}: {text!r} has a time outside 00:00-24:00; write it like 09:00-17:00")
    if end > start:
        return start, end
    if not overnight:
        raise ValueError(
            f"{rule}: {text!r} must open before it closes, within 00:00-24:00 "
            "(split a night shift into the two days it covers: 'Mon 22:00-24:00; Tue 00:00-06:00')"
        )
    if found[2] is None or found[4] is None:
        raise ValueError(
            f"{rule}: {text!r} ends before it starts; bare hours run forwards, like 'Mon-Fri 08-18'; "
            "for a night give the minutes: 'Mon-Fri 22:00-06:00'"
        )
    return start, end + DAY


def _check_apart(rule: str, text: str, days: tuple[int, ...], ranges: list[Span], seen: set[int]) -> None:
    for day in days:
        if day in seen:
            raise ValueError(f"{DAY_NAMES[day]} is given twice in {text!r}; give each day once")
        seen.add(day)
    ordered = sorted(ranges)
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise ValueError(f"{rule}: the ranges overlap; give each stretch once, like 08:00-12:00,13:00-17:00")


def _day(word: str, part: str) -> int:
    lowered = word.lower()
    for index, name in enumerate(_FULL_NAMES):
        if (len(lowered) >= 3 and name.startswith(lowered)) or lowered == _WEDS[index]:
            return index
    raise ValueError(
        f"{part!r}: days are Mon..Sun (or Monday..Sunday), a range like Mon-Fri or a list like Sat,Sun, as in {EXAMPLE}"
    )


def _merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    pieces: list[Span] = []
    for start, end in spans:
        if end - start >= WEEK:
            return ((0, WEEK),)
        start, end = start % WEEK, start % WEEK + (end - start)
        pieces.extend([(start, WEEK), (0, end - WEEK)] if end > WEEK else [(start, end)])
    merged: list[Span] = []
    for start, end in sorted(p for p in pieces if p[1] > p[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _pieces(spans: tuple[Span, ...]) -> Iterator[tuple[int, int, int]]:
    """(weekday, start, end) in minutes of that day to write `spans` out: an
    opening under a day long that runs past midnight stays whole (end before
    start); a longer one is cut at each midnight."""
    joined = list(spans)
    if len(joined) > 1 and joined[0][0] == 0 and joined[-1][1] == WEEK:
        joined[-1] = (joined[-1][0], WEEK + joined.pop(0)[1])
    for start, end in joined:
        if end - start < DAY and start // DAY != (end - 1) // DAY:
            day = start // DAY
            yield day % 7, start - day * DAY, end - (day + 1) * DAY
            continue
        at = start
        while at < end:
            day = at // DAY
            upto = min(end, (day + 1) * DAY)
            yield day % 7, at - day * DAY, upto - day * DAY
            at = upto


def _days_text(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}" for r in runs)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    # A wall time inside the spring-forward gap (02:30 on the night clocks jump
    # 02:00 -> 03:00) reads with the offset before the jump, i.e. 03:30 local.
    if minute == DAY:
        day, minute = day + timedelta(days=1), 0
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)
