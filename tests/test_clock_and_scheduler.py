from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.clock import FrozenClock, SimulatedClock
from watchkeeper.scheduler import Job, Scheduler

START = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def test_clocks_refuse_naive_times_and_never_run_backwards():
    with pytest.raises(ValueError):
        FrozenClock(datetime(2026, 1, 1))  # noqa: DTZ001
    clock = SimulatedClock(START)
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.sleep(90)
    assert clock.now() == START + timedelta(seconds=90)


def test_scheduler_runs_due_jobs_on_the_injected_clock_and_survives_a_failing_job():
    clock = SimulatedClock(START)
    runs: list[str] = []

    def broken() -> None:
        raise RuntimeError("database away")

    scheduler = Scheduler(
        [Job("tick", timedelta(minutes=1), lambda: runs.append("tick")), Job("broken", timedelta(minutes=1), broken)],
        clock=clock,
    )
    assert scheduler.run_due() == ["tick", "broken"]
    assert scheduler.run_due() == []
    clock.advance(timedelta(minutes=1))
    assert scheduler.run_due() == ["tick", "broken"]
    assert runs == ["tick", "tick"]


def test_the_loop_sleeps_only_until_the_next_job_is_due_not_a_whole_tick_after_the_work():
    clock = SimulatedClock(START)
    scheduler = Scheduler(
        [
            Job("feeds", timedelta(seconds=0.5), lambda: clock.advance(0.3)),
            Job("retention", timedelta(hours=1), lambda: None),
        ],
        clock=clock,
    )
    scheduler.run_due()  # the feeds run took 0.3 s of its 0.5 s tick
    assert scheduler.seconds_to_next(0.5) == pytest.approx(0.2)
    clock.advance(0.9)  # a run overran its tick: go again at once
    assert scheduler.seconds_to_next(0.5) == 0.0
    assert Scheduler([], clock=clock).seconds_to_next(0.5) == 0.5
