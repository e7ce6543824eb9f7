"""How long the on-call rules take: `render` of a week and of a year, and `on_call`, for a
schedule of three layers (weekly, daily restricted to office hours, 12-hour) and 50 overrides.

`on_call` renders four weeks either side of the instant's day on its first look at a schedule
(as it stands: an edited schedule is another) and day, and keeps that; a later look is a lookup.

    python bench/oncall.py
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from watchkeeper import weekly
from watchkeeper.oncall.rotation import Layer, Override, Schedule, ShiftLength, on_call, render

START = datetime(2027, 1, 4, tzinfo=UTC)


def schedule() -> Schedule:
    people = tuple(f"engineer-{i}" for i in range(8))
    layers = (
        Layer(people, ShiftLength.parse("1w"), date(2027, 1, 4), clock_time(9)),
        Layer(
            people[:4], ShiftLength.parse("1d"), date(2027, 1, 4), clock_time(8), weekly.parse("Mon-Fri 08:00-18:00")
        ),
        Layer(people[4:], ShiftLength.parse("12h"), date(2027, 1, 4), clock_time(7)),
    )
    overrides = tuple(
        Override(people[i % 8], START + timedelta(days=7 * i, hours=3), START + timedelta(days=7 * i, hours=9))
        for i in range(50)
    )
    return Schedule(ZoneInfo("Europe/Berlin"), layers, overrides)


def timed(work, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main() -> None:
    rules = schedule()
    week = timed(lambda: render(rules, START, START + timedelta(days=7)), 50)
    year = timed(lambda: render(rules, START, START + timedelta(days=365)), 5)
    at = START + timedelta(days=100, hours=5)
    fresh = iter(range(1_000_000))
    first = timed(lambda: on_call(replace(rules, name=f"s{next(fresh)}"), at), 20)
    again = timed(lambda: on_call(rules, at), 200)
    shifts = len(render(rules, START, START + timedelta(days=365)))
    print(f"render of a week:  {week * 1000:8.2f} ms")
    print(f"render of a year:  {year * 1000:8.2f} ms ({shifts:,} shifts)")
    print(f"on_call, first look (8 weeks rendered): {first * 1000:8.2f} ms")
    print(f"on_call, a later look:                  {again * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
