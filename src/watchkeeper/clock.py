"""The one place time enters watchkeeper.

Everything that needs "now" takes a `Clock`; pure rules take `now` as an
argument. Replays and tests run on a frozen or simulated clock, so a month of
traffic replays in seconds and daylight-saving cases are reproducible.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _require_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("clock instants must be timezone-aware")
    return at.astimezone(UTC)


class FrozenClock:
    """Always answers the same instant until told otherwise."""

    def __init__(self, at: datetime) -> None:
        self._at = _require_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _require_utc(at)

    def sleep(self, seconds: float) -> None:
        # Sleeping on a frozen clock returns at once: tests must not wait.
        return None


class SimulatedClock:
    """A clock that moves only when advanced; `sleep` advances it."""

    def __init__(self, start: datetime) -> None:
        self._at = _require_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, by: timedelta | float) -> datetime:
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError("a simulated clock never runs backwards")
        with self._lock:
            self._at += step
            return self._at

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def monotonic() -> float:
    """Seconds from an arbitrary origin, for measuring durations only."""
    return time.perf_counter()


def known_zone(name: str) -> str:
    """`name`, if it is an IANA time zone (Europe/Berlin); ValueError saying so if not."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA time zone name like Europe/Berlin") from exc
    return name
