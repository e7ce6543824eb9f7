"""Claiming due rows on SQLite and PostgreSQL: soonest first, each row by one worker, again only when due again."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Integer, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from watchkeeper.db import UTCDateTime, transaction
from watchkeeper.due import LEASE, claim
from watchkeeper.notify.models import Notification

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def add(db, *due_in_minutes: float | None, status: str = "pending") -> list[int]:
    """Rows due so many minutes from NOW (None: not due at all); their ids, in that order."""
    with transaction(db.sessions) as session:
        rows = [
            Notification(
                key=f"row:{n}:{minutes}:{status}",
                subject="case",
                subject_id=n,
                recipient="Bob",
                url="mailto://bob@example.com",
                title="t",
                body="b",
                status=status,
                attempts=0,
                due_at=None if minutes is None else NOW + timedelta(minutes=minutes),
                created_at=NOW,
            )
            for n, minutes in enumerate(due_in_minutes)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def claimed(db, now=NOW, limit=10, **options) -> list[int]:
    with transaction(db.sessions) as session:
        return [r.id for r in claim(session, Notification, due=Notification.due_at, now=now, limit=limit, **options)]


def due_at(db, row_id):
    with transaction(db.sessions) as session:
        return session.scalar(select(Notification.due_at).where(Notification.id == row_id))


@pytest.mark.parametrize(
    ("due_in_minutes", "limit", "expected"),
    [
        ((-5, -1, -3), 10, [0, 2, 1]),  # soonest first
        ((-5, -1, -3), 2, [0, 2]),  # no more than the limit
        ((-1, 0, 1), 10, [0, 1]),  # due at the very moment counts; later does not
        ((None, -1), 10, [1]),  # a row with no due time is never due
        ((), 10, []),
    ],
)
def test_claims_the_rows_whose_time_has_come_soonest_first(db, due_in_minutes, limit, expected):
    ids = add(db, *due_in_minutes)
    assert claimed(db, limit=limit) == [ids[i] for i in expected]


def test_a_claim_keeps_to_its_other_conditions(db):
    (pending,) = add(db, -2)
    add(db, -3, status="sent")
    assert claimed(db, where=[Notification.status == "pending"]) == [pending]


def test_a_claimed_row_is_not_claimed_again_until_due_again(db):
    (row,) = add(db, -1)
    assert claimed(db) == [row]
    assert due_at(db, row) == NOW + LEASE
    assert claimed(db) == []
    assert claimed(db, now=NOW + LEASE - timedelta(seconds=1)) == []
    assert claimed(db, now=NOW + LEASE) == [row]  # nothing set it due later: due again once the lease is out


def test_a_handler_sets_when_a_claimed_row_is_due_next(db):
    (row,) = add(db, -1)
    with transaction(db.sessions) as session:
        (taken,) = claim(session, Notification, due=Notification.due_at, now=NOW, limit=10)
        taken.due_at = NOW + timedelta(hours=1)
    assert claimed(db, now=NOW + LEASE) == []
    assert claimed(db, now=NOW + timedelta(hours=1)) == [row]


def test_a_lease_of_its_own(db):
    (row,) = add(db, 0)
    assert claimed(db, lease=timedelta(seconds=30)) == [row]
    assert due_at(db, row) == NOW + timedelta(seconds=30)


def test_workers_claiming_at_once_never_take_the_same_row(db):
    ids = add(db, *[-n for n in range(40)])
    taken: list[list[int]] = [[] for _ in range(4)]
    failures: list[BaseException] = []

    def worker(mine: list[int]) -> None:
        try:
            while True:
                with transaction(db.sessions) as session:
                    rows = claim(session, Notification, due=Notification.due_at, now=NOW, limit=3)
                    mine.extend(r.id for r in rows)
                    time.sleep(0.01)  # hold the claim open while the others claim
                if not rows:
                    return
        except BaseException as exc:  # pragma: no cover - said by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    every = [row for mine in taken for row in mine]
    assert sorted(every) == sorted(ids)  # each row once, none left


def test_on_postgresql_a_second_worker_skips_the_rows_the_first_holds(db):
    if db.kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second waits for the first to commit")
    ids = add(db, -3, -2, -1)
    with transaction(db.sessions) as first, transaction(db.sessions) as second:
        held = [r.id for r in claim(first, Notification, due=Notification.due_at, now=NOW, limit=2)]
        rest = [r.id for r in claim(second, Notification, due=Notification.due_at, now=NOW, limit=10)]
    assert (held, rest) == (ids[:2], ids[2:])


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "due_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def test_on_sqlite_a_row_another_writer_took_after_the_read_is_left_to_it(tmp_path):
    """The compare-and-swap itself: the update takes only rows still due as read."""
    # The driver's own transactions begin at the first write, so the other
    # writer can claim and commit between this worker's read and its swap.
    engine = create_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([_Row(id=n, due_at=NOW - timedelta(minutes=n)) for n in (1, 2)])
        session.commit()
    other: list[int] = []

    def the_other_writer_first(_conn, _cursor, statement, *_args):
        if statement.startswith("UPDATE") and not other:
            other.append(0)
            with Session(engine) as session:
                other.extend(r.id for r in claim(session, _Row, due=_Row.due_at, now=NOW, limit=1))
                session.commit()

    event.listen(engine, "before_cursor_execute", the_other_writer_first)
    try:
        with Session(engine) as session:
            mine = [r.id for r in claim(session, _Row, due=_Row.due_at, now=NOW, limit=10)]
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", the_other_writer_first)
        engine.dispose()
    assert (other[1:], mine) == ([2], [1])
