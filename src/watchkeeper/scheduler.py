"""The scheduler loop: runs periodic jobs on the injected clock.

Later work (silence deadlines, escalations, SLA clocks) arrives as due rows
claimed by jobs registered here. A failing job is logged and retried on its
next turn; it never stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watchkeeper import metrics
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every: timedelta
    run: Callable[[], object]
    next_due: datetime | None = field(default=None)


class Scheduler:
    def __init__(self, jobs: list[Job], *, clock: Clock) -> None:
        self.jobs = jobs
        self.clock = clock

    def run_due(self) -> list[str]:
        """Run every job that is due; returns the names of those that ran."""
        ran = []
        for job in self.jobs:
            now = self.clock.now()
            due = job.next_due or now
            if due > now:
                continue
            metrics.scheduler_late((now - due).total_seconds())
            try:
                job.run()
                metrics.scheduler_ran(job.name, "ok")
            except Exception:
                log.exception("scheduler job %s failed; it will run again", job.name)
                metrics.scheduler_ran(job.name, "error")
            job.next_due = max(due + job.every, now)
            ran.append(job.name)
        return ran

    def run_forever(self, stop: threading.Event, tick_seconds: float) -> None:
        while not stop.is_set():
            self.run_due()
            stop.wait(self.seconds_to_next(tick_seconds))

    def seconds_to_next(self, most: float) -> float:
        """How long to sleep until the next job is due, at most `most`.

        Not a whole tick after the work: a run that took 0.3 s of a 0.5 s tick
        leaves 0.2 s to wait, so a deadline is never later than one tick plus
        the work ahead of it.
        """
        now = self.clock.now()
        waits = [(job.next_due - now).total_seconds() for job in self.jobs if job.next_due is not None]
        return max(0.0, min([most, *waits]))
