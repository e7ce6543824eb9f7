"""Public holidays by country or subdivision code ('DE', 'DE-BY', 'US-CA'). Pure.

One lookup for everything that closes, quietens or shifts on a public
holiday: a feed's week (a holiday counts as a Sunday), a support plan's
business calendar, and what later reads weekly hours. The calendars come from
the `holidays` package; each code's is built once and kept, as building one
costs far more than asking it about a day.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from holidays import HolidayBase


def check(code: str) -> str:
    """`code` in upper case if a holiday calendar exists for it; else ValueError saying what to give."""
    normal = code.strip().upper()
    try:
        calendar(normal)
    except NotImplementedError as exc:
        raise ValueError(
            f"no public holiday calendar for {code!r}; use a country code like DE, or a subdivision like US-CA"
        ) from exc
    return normal


def is_holiday(code: str | None, day: date) -> bool:
    """Whether `day` is a public holiday where `code` applies; no code (None or "") has none."""
    return bool(code) and day in calendar(str(code).upper())


@lru_cache(maxsize=64)
def calendar(code: str) -> HolidayBase:
    """The holidays of `code` (upper case); NotImplementedError if there is no such calendar."""
    import holidays  # 80 ms of imports that only services and plans with holidays need, not every command

    country, _, subdivision = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdivision or None)
