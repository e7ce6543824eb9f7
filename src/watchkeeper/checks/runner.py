"""Where the scheduler's probes run: one event loop on a thread of its own, and one
HTTP client on it, kept for the life of the runner so connections to a host are reused.

The runner streams: `start` hands claimed probes to the loop and returns at
once, each probe bounded by its own timeout (probes.run_bounded); `finished`
takes the results that are in, so the scheduler stores them in small
transactions while the rest are still on the network, and one slow probe never
holds the others back. `room` says how many more may start now (at most
`limit` in flight), so a claim never takes more than can run at once.

Lateness is not failure: a probe that ran to its timeout while the loop itself
was starved of CPU (it woke up late) says nothing about its target, so its
result is dropped, not stored as down, and the check is judged on its next run.
While the loop is late, `room` is 0: the scheduler claims nothing more until it
catches up, and the checks wait in their due column instead of in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from watchkeeper.checks import http1, probes
from watchkeeper.checks.result import ProbeKind, ProbeResult
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)

LAG = 0.25  # seconds the loop may wake up late before its probes' timeouts are not believed
WATCH = 0.1  # how often the loop's lateness is looked at


@dataclass(frozen=True)
class Planned:
    """A claimed probe check: what to run, or why its stored options cannot be run."""

    check_id: int
    kind: str
    target: str
    spec: probes.ProbeSpec | None
    error: str = ""


Done = tuple[Planned, ProbeResult]


class ProbeRunner:
    """`settle`: how long `start` callers may wait in `finished` for what they started
    (0 in `serve`: results are stored on a later turn as they come in). A caller that
    settles (the demo, a replayed clock) waits for its results itself, so the loop's
    lateness does not hold its claims back: what it claims, it runs on this turn."""

    def __init__(self, *, limit: int = 200, client: httpx.AsyncClient | None = None, settle: float = 0.0) -> None:
        self.limit = limit
        self.settle = settle
        self.dropped = 0  # results not believed, as the loop was starved while they ran
        self._client = client
        self._pool = http1.Pool()  # plain http:// probes; httpx the rest (checks.http1 says why)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._running = 0
        self._done: deque[Done] = deque()
        self._lagged_at = float("-inf")  # time.monotonic() when the loop was last seen late

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="probes", daemon=True)
                self._thread.start()
                self._loop = loop
                asyncio.run_coroutine_threadsafe(self._watch(), loop)
            return self._loop

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on the loop's thread: a client belongs to one loop
            limits = httpx.Limits(max_connections=self.limit, max_keepalive_connections=self.limit)
            self._client = httpx.AsyncClient(limits=limits, headers={"User-Agent": "watchkeeper"})
        return self._client

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(WATCH)
            if loop.time() - before - WATCH > LAG:
                self._lagged_at = time.monotonic()

    def lagging(self) -> bool:
        return time.monotonic() - self._lagged_at < 1.0

    def room(self) -> int:
        """How many more probes may start now: none while the loop is late (unless the
        caller settles: it waits for what it starts)."""
        with self._lock:
            return 0 if self.lagging() and not self.settle else max(0, self.limit - self._running)

    def running(self) -> int:
        with self._lock:
            return self._running

    def start(self, planned: Sequence[Planned], clock: Clock) -> None:
        """Start `planned` on the loop and return; their results come out of `finished`."""
        if not planned:
            return
        loop = self._started()
        with self._lock:
            self._running += len(planned)
        for one in planned:
            asyncio.run_coroutine_threadsafe(self._one(one, clock), loop)

    async def _one(self, planned: Planned, clock: Clock) -> None:
        result: ProbeResult | None = None
        try:
            result = await self._probe(planned, clock)
        finally:
            with self._changed:
                self._running -= 1
                if result is not None:
                    self._done.append((planned, result))
                else:
                    self.dropped += 1
                self._changed.notify_all()

    async def _probe(self, planned: Planned, clock: Clock) -> ProbeResult | None:
        at = clock.now()
        if planned.spec is None:
            return ProbeResult(ProbeKind(planned.kind), planned.target, False, None, at, planned.error)
        began = time.monotonic()
        result = await probes.run_bounded(planned.spec, client=self._http(), at=at, pool=self._pool)
        if not result.up and time.monotonic() - began >= planned.spec.timeout and self._lagged_at >= began:
            log.debug("probe of %s ran to its timeout on a late event loop; judged on its next run", planned.target)
            return None
        return result

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for every running probe to finish; whether they did."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout=seconds)

    def finished(self, *, most: int | None = None) -> list[Done]:
        """The results that are in (at most `most`), taken: each is handed out once."""
        with self._changed:
            count = len(self._done) if most is None else min(most, len(self._done))
            return [self._done.popleft() for _ in range(count)]

    def give_back(self, done: Sequence[Done]) -> None:
        """Results taken whose storing failed: handed out again first, on the next `finished`."""
        with self._changed:
            self._done.extendleft(reversed(done))

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._pool.aclose(), loop).result(timeout=10)
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(timeout=10)
            self._client = None
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
