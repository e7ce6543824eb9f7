from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

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


def test_a_job_of_another_lane_runs_while_the_default_lane_is_busy():
    import threading

    from watchkeeper.clock import SystemClock

    release, stop = threading.Event(), threading.Event()
    paged: list[str] = []

    def page() -> None:
        paged.append("page")
        if len(paged) == 3:
            release.set()

    scheduler = Scheduler(
        [
            Job("alerts", timedelta(seconds=0.01), lambda: release.wait(5)),
            Job("notify", timedelta(seconds=0.01), page, lane="notify"),
        ],
        clock=SystemClock(),
    )
    worker = threading.Thread(target=scheduler.run_forever, args=(stop, 0.01))
    worker.start()
    assert release.wait(5)  # the alerts job held the default lane until the notify lane had run three times
    stop.set()
    worker.join(5)
    assert not worker.is_alive()
    assert list(scheduler.lanes()) == ["", "notify"]


def _pending(db, count: int) -> list[int]:
    from watchkeeper.db import transaction
    from watchkeeper.notify.models import Notification

    with transaction(db.sessions) as session:
        rows = [
            Notification(
                key=f"n{n}",
                subject="case",
                subject_id=n,
                recipient="Bob",
                url="mailto://bob@example.com",
                title="t",
                body="b",
                status="pending",
                attempts=0,
                due_at=START - timedelta(minutes=count - n),
                created_at=START,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def _claim_notifications(session, now, limit):
    from watchkeeper.due import claim
    from watchkeeper.notify.models import Notification

    return claim(session, Notification, due=Notification.due_at, now=now, limit=limit)


def test_a_due_job_is_drained_a_batch_at_a_time_until_fewer_than_a_batch_are_due(db):
    from watchkeeper.scheduler import DueJob

    ids = _pending(db, 5)
    batches: list[list[int]] = []

    def handle(rows, session, now):
        batches.append([r.id for r in rows])
        for row in rows:
            row.due_at = None

    job = DueJob("notify", timedelta(seconds=1), 2, _claim_notifications, handle)
    scheduler = Scheduler([job], clock=FrozenClock(START), sessions=db.sessions)
    assert scheduler.run_due() == ["notify"]
    assert batches == [ids[:2], ids[2:4], ids[4:]]
    assert scheduler.run_due() == []  # not before its next turn


def test_a_batch_that_fails_is_rolled_back_and_claimed_again_on_the_next_turn(db):
    from watchkeeper.scheduler import DueJob

    ids = _pending(db, 3)
    clock = SimulatedClock(START)
    seen: list[list[int]] = []

    def handle(rows, session, now):
        seen.append([r.id for r in rows])
        if len(seen) == 1:
            raise RuntimeError("channel away")
        for row in rows:
            row.due_at = None

    scheduler = Scheduler(
        [DueJob("notify", timedelta(seconds=1), 10, _claim_notifications, handle)], clock=clock, sessions=db.sessions
    )
    scheduler.run_due()
    clock.advance(1)
    scheduler.run_due()
    assert seen == [ids, ids]


def test_due_jobs_of_one_name_run_as_one_job_in_their_order(db):
    from watchkeeper.scheduler import DueJob

    order: list[str] = []

    def step(name):
        return DueJob("cases", timedelta(seconds=1), 10, lambda s, now, n: order.append(name) or [])

    scheduler = Scheduler(
        [step("support hours"), Job("retention", timedelta(hours=1), lambda: order.append("retention")), step("sla")],
        clock=FrozenClock(START),
        sessions=db.sessions,
    )
    assert scheduler.run_due() == ["cases", "retention"]
    assert order == ["support hours", "sla", "retention"]


def test_work_after_commit_sees_its_batch_claimed_and_holds_no_transaction(db):
    from watchkeeper.db import transaction
    from watchkeeper.notify.models import Notification
    from watchkeeper.scheduler import DueJob

    ids = _pending(db, 3)
    sent: list[list[tuple[int, datetime | None]]] = []

    def send(rows):
        # Another transaction can write, and reads the claim as committed.
        with transaction(db.sessions) as session:
            leased = session.execute(select(Notification.id, Notification.due_at).order_by(Notification.id)).all()
            sent.append([tuple(row) for row in leased])
            for row in session.scalars(select(Notification)):
                row.due_at = None

    job = DueJob("notify", timedelta(seconds=1), 20, _claim_notifications, after_commit=send)
    Scheduler([job], clock=FrozenClock(START), sessions=db.sessions).run_due()
    assert sent == [[(i, START + timedelta(minutes=2)) for i in ids]]


def test_a_due_job_needs_the_sessions_to_claim_with():
    from watchkeeper.scheduler import DueJob

    with pytest.raises(ValueError, match="needs the sessions"):
        Scheduler([DueJob("notify", timedelta(seconds=1), 20, lambda s, now, n: [])], clock=FrozenClock(START))
