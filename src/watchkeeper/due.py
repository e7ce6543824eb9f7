"""Claiming due rows, so that two workers never take the same one.

Due work is a column: a row whose `due_at` has come is claimed by one worker,
which moves it out of the others' reach (to `now + lease`) in the transaction
that handles it; the handler then sets when the row is due next. A row whose
handler sets nothing is due again when the lease runs out, as is one claimed
by a worker that died after committing its claim (the outbox's sends).

On PostgreSQL the due rows are read with FOR UPDATE SKIP LOCKED, so workers
share a batch's rows instead of queueing behind each other's locks. On
SQLite each row is taken by compare-and-swap: one update that moves only the
rows whose `due_at` still holds the value read, so a row another writer moved
in between is left to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, inspect, select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value

from watchkeeper.db import Base

LEASE = timedelta(minutes=2)

M = TypeVar("M", bound=Base)


def claim(
    session: Session,
    model: type[M],
    *,
    due: InstrumentedAttribute[datetime | None],
    now: datetime,
    limit: int,
    where: Iterable[ColumnElement[bool]] = (),
    lease: timedelta = LEASE,
) -> list[M]:
    """Up to `limit` rows of `model` whose `due` has come (and that match `where`), soonest first, claimed.

    Each claimed row's `due` is `now + lease` when this returns; the caller
    handles the rows in the same transaction and sets their next due time.
    """
    query = select(model).where(due <= now, *where).order_by(due).limit(limit)
    until = now + lease
    if session.get_bind().dialect.name == "postgresql":
        rows = list(session.scalars(query.with_for_update(skip_locked=True)))
        for row in rows:
            setattr(row, due.key, until)
        return rows
    rows = list(session.scalars(query))
    if not rows:
        return rows
    won = _swap(session, model, rows, due=due, until=until)
    claimed = [row for row in rows if _key(row) in won]
    for row in claimed:
        set_committed_value(row, due.key, until)
    return claimed


def _swap(
    session: Session, model: type[M], rows: list[M], *, due: InstrumentedAttribute[datetime | None], until: datetime
) -> set[Any]:
    """Move the rows whose due time is still the one read; the keys of those moved."""
    mapper = inspect(model)
    (key,) = mapper.primary_key
    column = due.property.columns[0]
    read = [(_key(row), getattr(row, due.key)) for row in rows]
    moved = session.execute(
        update(cast(Table, mapper.local_table))
        .where(tuple_(key, column).in_(read))
        .values({column: until})
        .returning(key)
    )
    return set(moved.scalars())


def _key(row: Any) -> Any:
    (key,) = inspect(row).identity
    return key
