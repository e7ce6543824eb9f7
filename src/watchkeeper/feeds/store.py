"""Bulk writes of folded usage: services, minute and hour counts.

The hot path goes below the ORM, whose per-value type processing costs more
than the write itself: multi-row prepared upserts through the driver on
SQLite, COPY into a staging table and one set-based statement on PostgreSQL.
Everything runs inside the caller's transaction, so a batch lands whole or
not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from watchkeeper.feeds.fold import Folded
from watchkeeper.feeds.models import FeedState, Service, ServiceStage

_NAME_CHUNK = 5000  # below SQLite's 32,766 bound parameters
_ROWS_PER_STATEMENT = 200
# The text form SQLAlchemy's SQLite DateTime reads and writes; equal widths
# keep SQLite's min()/max() on these strings chronological.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.000000"


def _sqlite_times(epoch_seconds: pa.Array) -> list[str]:
    return pc.strftime(pc.cast(epoch_seconds, pa.timestamp("s")), format=_SQLITE_TIME).to_pylist()


def _copy(cursor: object, stage: str, columns: str, rows: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(rows, sink, pcsv.WriteOptions(include_header=False))
    with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:  # type: ignore[attr-defined]
        copy.write(sink.getvalue().to_pybytes())


def _executemany_rows(raw: object, head: str, tail: str, width: int, rows: list[tuple]) -> None:
    """Run `head VALUES (...),(...) tail` over `rows`, many rows per statement."""
    one = "(" + ",".join("?" * width) + ")"
    full, rest = divmod(len(rows), _ROWS_PER_STATEMENT)
    if full:
        sql = f"{head} VALUES {','.join([one] * _ROWS_PER_STATEMENT)} {tail}"
        flat = [value for row in rows[: full * _ROWS_PER_STATEMENT] for value in row]
        step = width * _ROWS_PER_STATEMENT
        raw.executemany(sql, (flat[i : i + step] for i in range(0, len(flat), step)))  # type: ignore[attr-defined]
    if rest:
        sql = f"{head} VALUES {','.join([one] * rest)} {tail}"
        raw.execute(sql, [value for row in rows[full * _ROWS_PER_STATEMENT :] for value in row])  # type: ignore[attr-defined]


_IDS = select(Service.__table__.c.name, Service.__table__.c.id).where(
    Service.__table__.c.name.in_(bindparam("names", expanding=True))
)


def _ids(session: Session, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    connection = session.connection()
    for i in range(0, len(names), _NAME_CHUNK):
        found.update((name, sid) for name, sid in connection.execute(_IDS, {"names": names[i : i + _NAME_CHUNK]}))
    return found


def upsert_services(session: Session, services: pa.Table, *, now: datetime) -> tuple[dict[str, int], list[str]]:
    """Create services seen for the first time and add to every service's totals.

    Returns the id of each service in the batch and the names that are new.
    """
    names: list[str] = services.column("service").to_pylist()
    known = _ids(session, names)
    new_mask = np.array([n not in known for n in names], dtype=bool)
    new = [n for n, is_new in zip(names, new_mask, strict=True) if is_new]
    if new:
        _insert_services(session, services.filter(pa.array(new_mask)), now=now)
        known.update(_ids(session, new))
    ids = pa.array([known[n] for n in names], pa.int64())
    _add_to_services(session, services.append_column("service_id", ids), now=now)
    return known, new


def _insert_services(session: Session, rows: pa.Table, *, now: datetime) -> None:
    # ON CONFLICT DO NOTHING: another ingest may discover the same service
    # between our look-up and our insert; both then add to the one row.
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        first = _sqlite_times(rows.column("first"))
        values = [(n, ServiceStage.NEW.value, "{}", f, f, stamp, 0, 0.0, stamp)
                  for n, f in zip(rows.column("service").to_pylist(), first, strict=True)]  # fmt: skip
        _executemany_rows(
            raw,
            "INSERT INTO services (name, stage, settings, first_seen, last_seen, last_received_at, "
            "total_count, total_quantity, created_at)",
            "ON CONFLICT (name) DO NOTHING",
            9,
            values,
        )
        return
    with raw.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS wk_stage_new_services "
                       "(name text, first bigint) ON COMMIT DELETE ROWS")  # fmt: skip
        cursor.execute("TRUNCATE wk_stage_new_services")
        _copy(cursor, "wk_stage_new_services", "name, first",
              pa.table({"name": rows.column("service"), "first": rows.column("first")}))  # fmt: skip
        cursor.execute(
            "INSERT INTO services (name, stage, settings, first_seen, last_seen, last_received_at, "
            "total_count, total_quantity, created_at) "
            "SELECT name, %s, '{}', to_timestamp(first), to_timestamp(first), %s, 0, 0, %s "
            "FROM wk_stage_new_services ORDER BY name ON CONFLICT (name) DO NOTHING",
            (ServiceStage.NEW.value, now, now),
        )


def _add_to_services(session: Session, rows: pa.Table, *, now: datetime) -> None:
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        values = zip(
            rows.column("count").to_pylist(), rows.column("quantity").to_pylist(),
            _sqlite_times(rows.column("first")), _sqlite_times(rows.column("last")),
            [stamp] * rows.num_rows, rows.column("service_id").to_pylist(), strict=True,
        )  # fmt: skip
        raw.executemany(
            "UPDATE services SET total_count = total_count + ?, total_quantity = total_quantity + ?, "
            "first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), last_received_at = ? "
            "WHERE id = ?",
            values,
        )
        return
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS wk_stage_service_totals (service_id bigint, "
            "count bigint, quantity double precision, first bigint, last bigint) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE wk_stage_service_totals")
        _copy(cursor, "wk_stage_service_totals", "service_id, count, quantity, first, last",
              rows.select(["service_id", "count", "quantity", "first", "last"]))  # fmt: skip
        # Ordered by id so concurrent ingests lock service rows in one order.
        cursor.execute(
            "UPDATE services s SET total_count = s.total_count + t.count, "
            "total_quantity = s.total_quantity + t.quantity, "
            "first_seen = least(s.first_seen, to_timestamp(t.first)), "
            "last_seen = greatest(s.last_seen, to_timestamp(t.last)), last_received_at = %s "
            "FROM (SELECT * FROM wk_stage_service_totals ORDER BY service_id) t WHERE s.id = t.service_id",
            (now,),
        )


def _with_ids(table: pa.Table, ids: dict[str, int], key: str, floor: int) -> pa.Table:
    table = table.filter(pc.greater_equal(table.column(key), floor))
    names = pa.array(list(ids), pa.string())
    positions = pc.index_in(table.column("service"), value_set=names)
    service_ids = pc.take(pa.array(list(ids.values()), pa.int64()), positions)
    rows = pa.table(
        {"service_id": service_ids, key: table.column(key),
         "count": table.column("count"), "quantity": table.column("quantity")}
    )  # fmt: skip
    # Primary-key order turns the B-tree upserts into near-appends.
    order = pc.sort_indices(pc.add(pc.shift_left(service_ids, 32), table.column(key)))
    return rows.take(order)


def add_counts(session: Session, table_name: str, key: str, rows: pa.Table) -> None:
    """Additive upsert of (service_id, key, count, quantity) rows into a count table."""
    if rows.num_rows == 0:
        return
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        columns = [rows.column(i).to_pylist() for i in range(4)]
        _executemany_rows(
            raw,
            f"INSERT INTO {table_name} (service_id, {key}, count, quantity)",
            f"ON CONFLICT (service_id, {key}) DO UPDATE SET count = count + excluded.count, "
            "quantity = quantity + excluded.quantity",
            4,
            list(zip(*columns, strict=True)),
        )
        return
    stage = f"wk_stage_{table_name}"
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (service_id bigint, {key} bigint, "
            "count bigint, quantity double precision) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {stage}")
        _copy(cursor, stage, f"service_id, {key}, count, quantity", rows)
        cursor.execute(
            f"INSERT INTO {table_name} (service_id, {key}, count, quantity) "
            f"SELECT service_id, {key}, count, quantity FROM {stage} ORDER BY service_id, {key} "
            f"ON CONFLICT (service_id, {key}) DO UPDATE SET "
            f"count = {table_name}.count + excluded.count, "
            f"quantity = {table_name}.quantity + excluded.quantity"
        )


def write_folded(
    session: Session, folded: Folded, *, now: datetime, minute_floor: int, hour_floor: int
) -> list[str]:
    """Store one folded batch; returns the names of services seen for the first time.

    Minutes older than `minute_floor` (epoch minutes) and hours older than
    `hour_floor` are past retention and only add to the service totals.
    """
    if folded.services.num_rows == 0:
        return []
    ids, new = upsert_services(session, folded.services, now=now)
    add_counts(session, "minute_counts", "minute", _with_ids(folded.minutes, ids, "minute", minute_floor))
    add_counts(session, "hour_counts", "hour", _with_ids(folded.hours, ids, "hour", hour_floor))
    mark_due(session, list(ids.values()), now=now)
    return new


def mark_due(session: Session, ids: list[int], *, now: datetime) -> None:
    """Make the feed watcher look at these services now: they have new records."""
    table = cast(Table, FeedState.__table__)
    known = select(table.c.service_id).where(table.c.service_id.in_(bindparam("ids", expanding=True)))
    due = (
        table.update()
        .where(table.c.service_id.in_(bindparam("ids", expanding=True)))
        .where(table.c.due_at.is_(None) | (table.c.due_at > now))
        .values(due_at=now)
    )
    for i in range(0, len(ids), _NAME_CHUNK):
        part = ids[i : i + _NAME_CHUNK]
        have = set(session.scalars(known, {"ids": part}))
        if len(have) < len(part):
            session.execute(table.insert(), [{"service_id": s, "due_at": now} for s in part if s not in have])
        session.execute(due, {"ids": part})
