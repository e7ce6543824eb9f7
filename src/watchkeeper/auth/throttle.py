"""Too many bad credentials from one address: 429 with Retry-After until its window passes. Pure, in memory.

Every credential check (bearer token, integration key, enquiry link) asks
`blocked` first, before any work, and tells `failed` when the credential
was wrong. An address with MAX_FAILURES failures within WINDOW is refused
until the oldest of them is WINDOW old, whatever it sends, so guessing
learns nothing more while it waits; good credentials from an address under
the limit are never slowed. The counts are per process: several `serve`
processes behind a load balancer each throttle on their own.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 20
WINDOW = timedelta(minutes=1)
MAX_ADDRESSES = 100_000  # bounds the memory a spray from many addresses can take


class Throttle:
    def __init__(self, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str, now: datetime) -> int | None:
        """Seconds this address must wait before it is heard again, or None if it may try now."""
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return None
            while failures and now - failures[0] >= self.window:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return None
            if len(failures) < self.max_failures:
                return None
            return max(1, math.ceil((failures[0] + self.window - now).total_seconds()))

    def failed(self, address: str, now: datetime) -> None:
        with self._lock:
            if address not in self._failures and len(self._failures) >= MAX_ADDRESSES:
                self._forget_old(now)
            failures = self._failures.setdefault(address, deque(maxlen=self.max_failures))
            failures.append(now)

    def _forget_old(self, now: datetime) -> None:
        for address in [a for a, f in self._failures.items() if not f or now - f[-1] >= self.window]:
            del self._failures[address]
        if len(self._failures) >= MAX_ADDRESSES:
            self._failures.clear()
