"""Who is on call: schedules, their layers and overrides, turned into shifts. Pure.

A schedule has an IANA time zone and layers, lowest first. A layer is a
rotation: its users take turns, each for one shift length, the first shift
starting on the layer's start date at its handoff time (local, in the
schedule's zone). A layer may be restricted to weekly hours (`Mon-Fri
08:00-18:00`, the grammar of `watchkeeper.weekly`): the rotation turns as
ever, but the user whose turn it is is on call only inside those hours.

Where several layers have someone, the highest wins; an override (a user
covers a span) beats every layer, and of two overrides over the same instant
the later one given wins. Where nobody is, the rendering says so with a gap.

Daylight saving: shift lengths in days and weeks are calendar days in the
schedule's zone, so a daily 09:00 handoff stays at 09:00 local through both
changes (the shift holding the change lasts 23 or 25 hours). Lengths in
hours are elapsed hours, counted from the first handoff: a 12-hour rotation
handing off at 08:00 and 20:00 hands off at 09:00 and 21:00 after clocks go
forward. A handoff time that does not exist on a spring-forward night
(02:30 in Berlin) reads with the offset before the change (03:30 local); one
that happens twice on the autumn night is the first of the two.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from watchkeeper.weekly import WeeklyHours

# How far either side of an instant `on_call` looks to find where the shift holding it begins and ends.
HORIZON = timedelta(days=28)
MAX_SHIFT_COUNT = 10_000
# Renderings `on_call` keeps: a day's for each schedule in use, with room for the day before and edits.
RENDER_CACHE = 512


class Unit(StrEnum):
    HOURS = "h"
    DAYS = "d"
    WEEKS = "w"


_LENGTH = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ShiftLength:
    count: int
    unit: Unit

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHIFT_COUNT:
            raise ValueError(f"a shift is 1 to {MAX_SHIFT_COUNT:,} {self.unit.name.lower()}, not {self.count}")

    @classmethod
    def parse(cls, text: str) -> ShiftLength:
        """'12h', '1d', '1w': elapsed hours, or calendar days or weeks in the schedule's zone."""
        found = _LENGTH.match(text)
        if found is None:
            raise ValueError(f"{text!r} is not a shift length; write hours, days or weeks: 12h, 1d, 1w")
        return cls(int(found[1]), Unit(found[2].lower()))

    @property
    def days(self) -> int:
        """The length in calendar days (0 for an hours shift)."""
        return {Unit.HOURS: 0, Unit.DAYS: 1, Unit.WEEKS: 7}[self.unit] * self.count

    def __str__(self) -> str:
        return f"{self.count}{self.unit.value}"


@dataclass(frozen=True)
class Layer:
    """A rotation of `users` in turn; None in `restrictions` means at all hours."""

    users: tuple[str, ...]
    shift: ShiftLength
    start: date
    handoff: time = time(9, 0)
    restrictions: WeeklyHours | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("a layer needs at least one user in its rotation")
        if self.handoff.tzinfo is not None:
            raise ValueError("a handoff is a wall-clock time of the schedule's zone, with no zone of its own")
        if self.restrictions is not None and self.restrictions.never:
            raise ValueError("a layer restricted to no hours has nobody on call ever; give hours or leave it out")


@dataclass(frozen=True)
class Override:
    """`user` is on call over [start, end), whatever the layers say."""

    user: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _aware(self.start, "an override's start")
        _aware(self.end, "an override's end")
        if self.end <= self.start:
            raise ValueError(
                f"an override must end after it starts: {self.end.isoformat()} is not after {self.start.isoformat()}"
            )


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    layers: tuple[Layer, ...] = ()  # lowest first: a later layer overrides an earlier one where it has someone
    overrides: tuple[Override, ...] = ()  # a later override wins over an earlier one
    name: str = ""


@dataclass(frozen=True)
class Shift:
    """[start, end) with `user` on call; `user` None is a gap, nobody on call."""

    start: datetime
    end: datetime
    user: str | None

    @property
    def gap(self) -> bool:
        return self.user is None


@dataclass
class _Segments:
    """One source's pieces, sorted and disjoint, for looking up who covers an instant."""

    pieces: list[Shift] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = [p.start for p in self.pieces]

    def at(self, instant: datetime) -> str | None:
        i = bisect.bisect_right(self._starts, instant) - 1
        if i >= 0 and self.pieces[i].start <= instant < self.pieces[i].end:
            return self.pieces[i].user
        return None


def handoff_at(layer: Layer, zone: ZoneInfo, turn: int) -> datetime:
    """The UTC instant the rotation's `turn`-th shift begins (turn 0 on the start date)."""
    if layer.shift.unit is Unit.HOURS:
        return _local(layer.start, layer.handoff, zone) + timedelta(hours=layer.shift.count * turn)
    return _local(layer.start + timedelta(days=layer.shift.days * turn), layer.handoff, zone)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: a wall time in the spring-forward gap reads with the offset before the
    # change (02:30 becomes 03:30 local), one that occurs twice is the first of the two.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _turn(layer: Layer, zone: ZoneInfo, at: datetime) -> int:
    """The turn holding `at` (negative before the first handoff)."""
    if layer.shift.unit is Unit.HOURS:
        elapsed = at - handoff_at(layer, zone, 0)
        turn = int(elapsed // timedelta(hours=layer.shift.count))
    else:
        turn = (at.astimezone(zone).date() - layer.start).days // layer.shift.days
    while handoff_at(layer, zone, turn) > at:
        turn -= 1
    while handoff_at(layer, zone, turn + 1) <= at:
        turn += 1
    return turn


def rotation(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Shift]:
    """The rotation's turns that overlap [start, end), clipped to it; none before the first handoff."""
    turn = max(0, _turn(layer, zone, start))
    while True:
        begins, ends = handoff_at(layer, zone, turn), handoff_at(layer, zone, turn + 1)
        if begins >= end:
            return
        if ends > start:
            yield Shift(max(begins, start), min(ends, end), layer.users[turn % len(layer.users)])
        turn += 1


def layer_shifts(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[Shift]:
    """Who the layer has on call within [start, end): its rotation cut to its restrictions."""
    turns = list(rotation(layer, zone, start, end))
    if layer.restrictions is None:
        return turns
    days = (end - start).days + 2
    windows = [(max(o, start), min(c, end)) for o, c in layer.restrictions.intervals(start, zone, days=days) if o < end]
    # Both are sorted and disjoint: walk them side by side.
    pieces, i, j = [], 0, 0
    while i < len(turns) and j < len(windows):
        shift, (opens, closes) = turns[i], windows[j]
        lo, hi = max(opens, shift.start), min(closes, shift.end)
        if lo < hi:
            pieces.append(Shift(lo, hi, shift.user))
        if shift.end <= closes:
            i += 1
        else:
            j += 1
    return pieces


def render(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts of [start, end), in order: each instant covered once, gaps as
    shifts with no user, and a user's adjacent shifts merged into one."""
    _aware(start, "the start")
    _aware(end, "the end")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    overrides = [o for o in schedule.overrides if o.start < end and o.end > start]
    sources = [_Segments(layer_shifts(layer, schedule.zone, start, end)) for layer in schedule.layers]
    cuts = {start, end}
    for source in sources:
        cuts.update(t for piece in source.pieces for t in (piece.start, piece.end))
    cuts.update(t for o in overrides for t in (o.start, o.end) if start < t < end)
    shifts: list[Shift] = []
    ordered = sorted(cuts)
    for lo, hi in zip(ordered, ordered[1:], strict=False):
        user = _covering(lo, overrides, sources)
        if shifts and shifts[-1].user == user and shifts[-1].end == lo:
            shifts[-1] = Shift(shifts[-1].start, hi, user)
        else:
            shifts.append(Shift(lo, hi, user))
    return shifts


def _covering(instant: datetime, overrides: Sequence[Override], sources: Sequence[_Segments]) -> str | None:
    for override in reversed(overrides):
        if override.start <= instant < override.end:
            return override.user
    for source in reversed(sources):
        user = source.at(instant)
        if user is not None:
            return user
    return None


def on_call(schedule: Schedule, at: datetime) -> Shift | None:
    """The shift holding `at`, as `render` gives it, or None when nobody is on call.

    Its start and end are where that shift begins and ends, looked for up to
    HORIZON either side of `at`; a longer stretch is shown cut there.
    """
    _aware(at, "the instant")
    at = at.astimezone(UTC)
    # Who covers an instant does not depend on the span rendered, so the shift of a
    # rendering of the whole day's surroundings, cut to HORIZON either side, is the one
    # `render(at - HORIZON, at + HORIZON)` holds; a page per step then costs a lookup.
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    shifts, starts = _around(schedule, day)
    shift = shifts[bisect.bisect_right(starts, at) - 1]
    if shift.gap:
        return None
    return Shift(max(shift.start, at - HORIZON), min(shift.end, at + HORIZON), shift.user)


@functools.lru_cache(maxsize=RENDER_CACHE)
def _around(schedule: Schedule, day: datetime) -> tuple[tuple[Shift, ...], list[datetime]]:
    """The shifts of `day` (a UTC midnight) and HORIZON either side, with their starts for bisecting.

    Keyed by the schedule's whole content: a schedule edited (a layer, an
    override, a member) is another key, rendered afresh on its first look.
    """
    shifts = tuple(render(schedule, day - HORIZON, day + timedelta(days=1) + HORIZON))
    return shifts, [s.start for s in shifts]


def next_shift(schedule: Schedule, at: datetime, *, within: timedelta = HORIZON) -> Shift | None:
    """The first shift with someone on call that begins after `at` (within `within`), or None."""
    _aware(at, "the instant")
    for shift in render(schedule, at, at + within):
        if shift.start > at and not shift.gap:
            return shift
    return None


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{what} needs a time zone (a UTC instant), not a naive {value.isoformat()}")
