"""Where the scheduler's probes run: one event loop on a thread of its own, and one
HTTP client on it, kept across batches so connections to a host are reused.

The scheduler's jobs are plain calls; `ProbeRunner.run` hands a batch to the
loop and waits for its results, each probe bounded by its own timeout
(probes.run_many), at most `limit` at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from watchkeeper.checks import probes
from watchkeeper.checks.result import ProbeKind, ProbeResult
from watchkeeper.clock import Clock


@dataclass(frozen=True)
class Planned:
    """A claimed probe check: what to run, or why its stored options cannot be run."""

    check_id: int
    kind: str
    target: str
    spec: probes.ProbeSpec | None
    error: str = ""


class ProbeRunner:
    def __init__(self, *, limit: int = 200, client: httpx.AsyncClient | None = None) -> None:
        self.limit = limit
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="probes", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on the loop's thread: a client belongs to one loop
            limits = httpx.Limits(max_connections=self.limit, max_keepalive_connections=self.limit)
            self._client = httpx.AsyncClient(limits=limits, headers={"User-Agent": "watchkeeper"})
        return self._client

    def run(self, planned: Sequence[Planned], clock: Clock) -> list[ProbeResult]:
        """The results of `planned`, in its order."""
        return asyncio.run_coroutine_threadsafe(self._run(planned, clock), self._started()).result()

    async def _run(self, planned: Sequence[Planned], clock: Clock) -> list[ProbeResult]:
        runnable = [p.spec for p in planned if p.spec is not None]
        results = iter(await probes.run_many(runnable, client=self._http(), clock=clock, limit=self.limit))
        now = clock.now()
        return [
            next(results) if p.spec is not None else ProbeResult(ProbeKind(p.kind), p.target, False, None, now, p.error)
            for p in planned
        ]

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(timeout=10)
            self._client = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
