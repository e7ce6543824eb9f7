"""Uptime by day, from the spans something was down. Pure: the status page and (later) the
monthly reports ask it, with spans read from incidents and probe results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)


def days_back(today: date, count: int) -> list[date]:
    """The `count` days up to and including `today`, oldest first."""
    return [today - timedelta(days=count - 1 - n) for n in range(count)]


def merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching spans joined, so a minute down in two incidents counts once."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def down_by_day(spans: Iterable[tuple[datetime, datetime]], days: Sequence[date], now: datetime) -> list[timedelta]:
    """How long each UTC day of `days` was inside a span (a day's future counts as not down)."""
    joined = merged(spans)
    out = []
    for day in days:
        start = datetime.combine(day, time(), UTC)
        end = min(start + DAY, now)
        out.append(sum((min(e, end) - max(s, start) for s, e in joined if s < end and e > start), timedelta()))
    return out


def up_fraction(down: timedelta, day: date, now: datetime, since: datetime | None = None) -> float | None:
    """The share of the day's watched part that was up; None for a day not begun, or before `since`
    (when watching began: the days before it are no data, not up)."""
    start = datetime.combine(day, time(), UTC)
    if since is not None:
        start = max(start, since)
    elapsed = min(datetime.combine(day, time(), UTC) + DAY, now) - start
    if elapsed <= timedelta():
        return None
    return max(0.0, 1.0 - down / elapsed)
