"""The scheduler loop: runs periodic jobs and drains due work on the injected clock.

Later work (silence deadlines, escalations, SLA clocks) is a row with a
`due_at`, claimed a batch at a time by a `DueJob`; what runs and how often is
listed in one place (watchkeeper.wiring). A failing job is logged and retried
on its next turn; it never stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper import metrics
from watchkeeper.clock import Clock
from watchkeeper.db import in_transaction

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Job:
    name: str
    every: timedelta
    run: Callable[[], object]
    next_due: datetime | None = field(default=None)
    lane: str = ""  # jobs of another lane run in a thread of their own (see `Scheduler.run_forever`)


def _nothing(rows: Sequence[Any], session: Session, now: datetime) -> None:
    return None


@dataclass(frozen=True)
class DueJob(Generic[T]):
    """Due rows, claimed `batch` at a time and handled in the claim's transaction.

    `claim(session, now, limit)` claims up to `limit` due rows (watchkeeper.due)
    and `handle(rows, session, now)` does what they are due for. Work that must
    not hold a transaction open (a send to an outside channel) goes in
    `after_commit(rows)`, which runs once the claim is committed. Due jobs
    that share a name run as one scheduled job, in the order listed.
    `most` bounds the batches of one turn (None: until a batch comes back
    short), so work that takes long per batch and is behind (probes waiting
    on the network) cannot keep the other jobs from their turn. A `lane`
    other than the default runs in a thread of its own in `run_forever`.
    """

    name: str
    every: timedelta
    batch: int
    claim: Callable[[Session, datetime, int], Sequence[T]]
    handle: Callable[[Sequence[T], Session, datetime], object] = _nothing
    after_commit: Callable[[Sequence[T]], object] | None = None
    most: int | None = None
    lane: str = ""


def drain(job: DueJob[Any], sessions: sessionmaker[Session], clock: Clock) -> int:
    """Run `job` a batch at a time, one transaction each, until fewer than a batch were due.

    Batches keep one busy minute (a file touching 10,000 services) from holding
    the write lock long. Returns how many rows were claimed.
    """

    def batch(session: Session) -> Sequence[Any]:
        now = clock.now()
        rows = job.claim(session, now, job.batch)
        job.handle(rows, session, now)
        return rows

    total = batches = 0
    while True:
        rows = in_transaction(sessions, batch)
        if job.after_commit is not None and rows:
            job.after_commit(rows)
        total += len(rows)
        batches += 1
        if len(rows) < job.batch or (job.most is not None and batches >= job.most):
            return total


def scheduled(
    jobs: Sequence[Job | DueJob[Any]], *, clock: Clock, sessions: sessionmaker[Session] | None = None
) -> list[Job]:
    """The jobs as the loop runs them: each name's due jobs drained together, in order."""
    out: list[Job] = []
    drained: dict[str, list[DueJob[Any]]] = {}
    for job in jobs:
        if isinstance(job, Job):
            out.append(job)
            continue
        if sessions is None:
            raise ValueError(f"due job {job.name} needs the sessions to claim with")
        if job.name not in drained:
            group = drained[job.name] = []
            out.append(Job(job.name, job.every, _drain_all(group, sessions, clock), lane=job.lane))
        drained[job.name].append(job)
    return out


def _drain_all(group: list[DueJob[Any]], sessions: sessionmaker[Session], clock: Clock) -> Callable[[], int]:
    def run() -> int:
        return sum(drain(job, sessions, clock) for job in group)

    return run


class Scheduler:
    def __init__(
        self, jobs: Sequence[Job | DueJob[Any]], *, clock: Clock, sessions: sessionmaker[Session] | None = None
    ) -> None:
        self.jobs = scheduled(jobs, clock=clock, sessions=sessions)
        self.clock = clock

    def run_due(self) -> list[str]:
        """Run every job that is due, of every lane; returns the names of those that ran."""
        return self._run_due(self.jobs)

    def _run_due(self, jobs: Sequence[Job]) -> list[str]:
        ran = []
        for job in jobs:
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

    def lanes(self) -> dict[str, list[Job]]:
        """The jobs by lane, the default lane first."""
        lanes: dict[str, list[Job]] = {"": []}
        for job in self.jobs:
            lanes.setdefault(job.lane, []).append(job)
        return lanes

    def run_forever(self, stop: threading.Event, tick_seconds: float) -> None:
        """Run the jobs until `stop`: the default lane in this thread, each other lane in one of its own,
        so that work waiting on the network in one lane (pages going out) never holds up another
        (incidents opening), and the reverse."""
        main, *others = self.lanes().values()
        threads = [
            threading.Thread(
                target=self._loop, args=(jobs, stop, tick_seconds), name=f"scheduler-{jobs[0].lane}", daemon=True
            )
            for jobs in others
        ]
        for thread in threads:
            thread.start()
        try:
            self._loop(main, stop, tick_seconds)
        finally:
            for thread in threads:
                thread.join()

    def _loop(self, jobs: Sequence[Job], stop: threading.Event, tick_seconds: float) -> None:
        while not stop.is_set():
            self._run_due(jobs)
            stop.wait(self._seconds_to_next(jobs, tick_seconds))

    def seconds_to_next(self, most: float) -> float:
        """How long to sleep until the next job is due, at most `most`.

        Not a whole tick after the work: a run that took 0.3 s of a 0.5 s tick
        leaves 0.2 s to wait, so a deadline is never later than one tick plus
        the work ahead of it.
        """
        return self._seconds_to_next(self.jobs, most)

    def _seconds_to_next(self, jobs: Sequence[Job], most: float) -> float:
        now = self.clock.now()
        waits = [(job.next_due - now).total_seconds() for job in jobs if job.next_due is not None]
        return max(0.0, min([most, *waits]))
