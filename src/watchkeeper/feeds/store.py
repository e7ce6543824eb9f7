"""Bulk writes of folded usage: services, minute and hour counts.

The hot path goes below the ORM, whose per-value type processing costs more
than the write itself: multi-row prepared upserts through the driver on
SQLite, COPY into a staging table and one set-based statement on PostgreSQL.
Everything runs inside the caller's transaction, so a batch lands whole or
not at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.orm import Session

from watchkeeper.db import UTCDateTime
from watchkeeper.feeds.fold import Partial, Rollup
from watchkeeper.feeds.models import HOURS_PER_DAY, MINUTES_PER_HOUR, ServiceStage

log = logging.getLogger(__name__)

_ROWS_PER_STATEMENT = 500
# Each count table's leading bucket column, its key, and keys per bucket (see feeds.models).
COUNT_TABLES = {"minute_counts": ("hour", "minute", MINUTES_PER_HOUR), "hour_counts": ("day", "hour", HOURS_PER_DAY)}


def _sqlite_times(epoch_seconds: pa.Array) -> list[str]:
    """Epoch seconds as the text SQLAlchemy's SQLite DateTime reads and writes,
    "%Y-%m-%d %H:%M:%S.ffffff"; equal widths keep SQLite's min() and max() on
    these strings chronological."""
    # Arrow's cast to string writes "%Y-%m-%d %H:%M:%S", three times faster than strftime.
    text = pc.cast(pc.cast(epoch_seconds, pa.timestamp("s")), pa.string())
    stamps: list[str] = pc.binary_join_element_wise(text, ".000000", "").to_pylist()
    return stamps


def _copy(cursor: object, stage: str, columns: str, rows: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(rows, sink, pcsv.WriteOptions(include_header=False))
    with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:  # type: ignore[attr-defined]
        copy.write(sink.getvalue().to_pybytes())


def _executemany_rows(raw: object, head: str, tail: str, columns: Sequence[list[Any]]) -> None:
    """Run `head VALUES (...),(...) tail` over the rows of `columns`, many rows per statement."""
    width, count = len(columns), len(columns[0])
    # Interleaved by slice assignment: ten times faster than building a tuple per row.
    flat: list[Any] = [None] * (width * count)
    for i, column in enumerate(columns):
        flat[i::width] = column
    one = "(" + ",".join("?" * width) + ")"
    full, rest = divmod(count, _ROWS_PER_STATEMENT)
    step = width * _ROWS_PER_STATEMENT
    if full:
        sql = f"{head} VALUES {','.join([one] * _ROWS_PER_STATEMENT)} {tail}"
        raw.executemany(sql, (flat[i : i + step] for i in range(0, full * step, step)))  # type: ignore[attr-defined]
    if rest:
        sql = f"{head} VALUES {','.join([one] * rest)} {tail}"
        raw.execute(sql, flat[full * step :])  # type: ignore[attr-defined]


def _member_of(dialect: str, column: str) -> str:
    """A condition on `column` against a whole list bound as one value: a JSON
    array for SQLite's json_each, an array for PostgreSQL's ANY. SQLAlchemy's
    expanding IN renders one placeholder per value, which costs more than the
    query itself on 10,000 names."""
    if dialect == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(:members))"
    return f"{column} = ANY(:members)"


def _members(dialect: str, values: list[Any]) -> str | list[Any]:
    return json.dumps(values) if dialect == "sqlite" else values


def _ids(session: Session, names: list[str]) -> dict[str, int]:
    connection = session.connection()
    dialect = connection.dialect.name
    sql = f"SELECT name, id FROM services WHERE {_member_of(dialect, 'name')}"
    raw: Any = connection.connection.driver_connection
    if dialect == "sqlite":
        return dict(raw.execute(sql, {"members": _members(dialect, names)}).fetchall())
    with raw.cursor() as cursor:
        cursor.execute(sql.replace(":members", "%(members)s"), {"members": names})
        return dict(cursor.fetchall())


class CustomerRules:
    """The customers' service-name rules (`customers add --services 'a-.*'`), read
    once per ingest: a service found later is its customer's from its first record."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(
            text("SELECT id, name, service_pattern FROM customers WHERE service_pattern IS NOT NULL")
        )
        self._rules: list[tuple[int, str, re.Pattern[str]]] = []
        for customer_id, name, pattern in rows:
            try:
                self._rules.append((int(customer_id), str(name), re.compile(pattern)))
            except re.error:  # checked when the customer was added; one bad rule must not stop an ingest
                log.warning("customer %s: service rule %r is not a regular expression", name, pattern)

    def owner(self, service: str) -> int | None:
        """The customer whose rule claims `service`: of several, the longest pattern's (a warning)."""
        if not self._rules:
            return None
        matching = [r for r in self._rules if r[2].fullmatch(service)]
        if not matching:
            return None
        matching.sort(key=lambda r: (-len(r[2].pattern), r[1]))
        if len(matching) > 1:
            log.warning(
                "service %s matches the service rules of %s; it goes to %s, whose pattern is the longest",
                service,
                ", ".join(r[1] for r in matching),
                matching[0][1],
            )
        return matching[0][0]

    def claim(self, session: Session, ids: dict[str, int]) -> None:
        """Give each of these new services (name: id) to the customer whose rule claims it."""
        owners: dict[int, list[int]] = {}
        for name, service_id in ids.items():
            customer_id = self.owner(name)
            if customer_id is not None:
                owners.setdefault(customer_id, []).append(service_id)
        connection = session.connection()
        dialect = connection.dialect.name
        for customer_id, members in owners.items():
            sql = (
                f"UPDATE services SET customer_id = :customer WHERE {_member_of(dialect, 'id')} AND customer_id IS NULL"
            )
            connection.execute(text(sql), {"customer": customer_id, "members": _members(dialect, members)})


class _ServiceIds:
    """Service ids of one batch, creating services on their first record."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.new: list[str] = []
        self._arrays: tuple[pa.Array, pa.Array] | None = None
        self._rules: CustomerRules | None = None

    def resolve(self, session: Session, spans: pa.Table, *, now: datetime) -> None:
        """Know the id of every service in `spans`, creating the missing ones
        with this chunk's first and last record (`finish` widens them)."""
        unseen = [n for n in spans.column("service").to_pylist() if n not in self.ids]
        if not unseen:
            return
        found = _ids(session, unseen)
        missing = [n for n in unseen if n not in found]
        if missing:
            new = spans.filter(pc.is_in(spans.column("service"), value_set=pa.array(missing, pa.string())))
            _insert_services(session, new, now=now)
            created = _ids(session, missing)
            if self._rules is None:
                self._rules = CustomerRules(session)
            self._rules.claim(session, created)
            found.update(created)
            self.new += missing
        self.ids.update(found)
        self._arrays = None

    def column(self, names: pa.Array) -> pa.Array:
        """The id of each name, as an Arrow column."""
        if self._arrays is None:
            self._arrays = pa.array(list(self.ids), pa.string()), pa.array(list(self.ids.values()), pa.int64())
        known, ids = self._arrays
        return pc.take(ids, pc.index_in(names, value_set=known))


def _insert_services(session: Session, spans: pa.Table, *, now: datetime) -> None:
    """Create services from (service, first, last) rows."""
    # ON CONFLICT DO NOTHING: another ingest may discover the same service
    # between our look-up and our insert; both then add to the one row.
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    stage = ServiceStage.NEW.value
    names = spans.column("service").to_pylist()
    if connection.dialect.name == "sqlite":
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        first, last = _sqlite_times(spans.column("first")), _sqlite_times(spans.column("last"))
        n = len(names)
        _executemany_rows(
            raw,
            "INSERT INTO services (name, stage, settings, first_seen, last_seen, last_received_at, "
            "total_count, total_quantity, created_at)",
            "ON CONFLICT (name) DO NOTHING",
            [names, [stage] * n, ["{}"] * n, first, last, [stamp] * n, [0] * n, [0.0] * n, [stamp] * n],
        )
        return
    with raw.cursor() as cursor:
        cursor.execute(
            "INSERT INTO services (name, stage, settings, first_seen, last_seen, last_received_at, "
            "total_count, total_quantity, created_at) "
            "SELECT name, %s, '{}', to_timestamp(first), to_timestamp(last), %s, 0, 0, %s "
            "FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS t(name, first, last) "
            "ORDER BY name ON CONFLICT (name) DO NOTHING",
            (stage, now, now, names, spans.column("first").to_pylist(), spans.column("last").to_pylist()),
        )


def _add_to_services(session: Session, rows: pa.Table, *, now: datetime) -> None:
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        first, last = _sqlite_times(rows.column("first")), _sqlite_times(rows.column("last"))
        values = zip(
            rows.column("count").to_pylist(),
            rows.column("quantity").to_pylist(),
            first,
            first,
            last,
            last,
            [stamp] * rows.num_rows,
            rows.column("service_id").to_pylist(),
            strict=True,
        )
        raw.executemany(
            "UPDATE services SET total_count = total_count + ?, total_quantity = total_quantity + ?, "
            # coalesce: SQLite's min() of a null is null (a service added before its first record).
            "first_seen = min(coalesce(first_seen, ?), ?), last_seen = max(coalesce(last_seen, ?), ?), "
            "last_received_at = ? "
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
        _copy(
            cursor,
            "wk_stage_service_totals",
            "service_id, count, quantity, first, last",
            rows.select(["service_id", "count", "quantity", "first", "last"]),
        )
        # Ordered by id so concurrent ingests lock service rows in one order.
        cursor.execute(
            "UPDATE services s SET total_count = s.total_count + t.count, "
            "total_quantity = s.total_quantity + t.quantity, "
            "first_seen = least(s.first_seen, to_timestamp(t.first)), "
            "last_seen = greatest(s.last_seen, to_timestamp(t.last)), last_received_at = %s "
            "FROM (SELECT * FROM wk_stage_service_totals ORDER BY service_id) t WHERE s.id = t.service_id",
            (now,),
        )


def _in_key_order(rows: pa.Table, key: str, width: int) -> list[np.ndarray]:
    """bucket, service_id, key, count and quantity, sorted by the count tables'
    primary key (bucket, service_id, key), with repeated keys summed into one row.

    Key order turns the B-tree upserts into appends, and PostgreSQL refuses
    to update one row twice in a statement. NumPy's sort of one packed int64
    (bucket offset, id, key within its bucket) takes 3 ms on 190,000 rows,
    where Arrow's three-key sort_by took 37 ms.
    """
    ids = rows.column("service_id").to_numpy()
    keys = rows.column(key).to_numpy()
    counts = rows.column("count").to_numpy()
    quantities = rows.column("quantity").to_numpy()
    buckets = keys // width
    first = int(buckets.min())
    if int(buckets.max()) - first < 1 << 24 and int(ids.min()) >= 0 and int(ids.max()) < 1 << 32:
        order = np.argsort((buckets - first) << 38 | ids << 6 | keys - buckets * width)
    else:  # beyond the packed key's room: sort on the columns themselves
        order = np.lexsort((keys, ids, buckets))
    ids, keys, counts, quantities = ids[order], keys[order], counts[order], quantities[order]
    # The bucket follows from the key, so (service_id, key) tells a repeat.
    repeated = (ids[1:] == ids[:-1]) & (keys[1:] == keys[:-1])
    if repeated.any():
        starts = np.flatnonzero(np.concatenate([[True], ~repeated]))
        ids, keys = ids[starts], keys[starts]
        counts, quantities = np.add.reduceat(counts, starts), np.add.reduceat(quantities, starts)
    return [keys // width, ids, keys, counts, quantities]


def add_counts(session: Session, table_name: str, rows: pa.Table) -> None:
    """Additive upsert of (service_id, key, count, quantity) rows into a count table,
    `key` being the table's minute or hour; its bucket is worked out here. A key
    may come more than once: its rows add up."""
    if rows.num_rows == 0:
        return
    bucket, key, width = COUNT_TABLES[table_name]
    values = _in_key_order(rows, key, width)
    columns = f"{bucket}, service_id, {key}, count, quantity"
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        _executemany_rows(
            raw,
            f"INSERT INTO {table_name} ({columns})",
            f"ON CONFLICT ({bucket}, service_id, {key}) DO UPDATE SET count = count + excluded.count, "
            "quantity = quantity + excluded.quantity",
            # NumPy's tolist is twice as fast as Arrow's to_pylist.
            [column.tolist() for column in values],
        )
        return
    rows = pa.table(dict(zip([bucket, "service_id", key, "count", "quantity"], values, strict=True)))
    stage = f"wk_stage_{table_name}"
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({bucket} bigint, service_id bigint, {key} bigint, "
            "count bigint, quantity double precision) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {stage}")
        _copy(cursor, stage, columns, rows)
        cursor.execute(
            f"INSERT INTO {table_name} ({columns}) SELECT {columns} FROM {stage} "
            f"ORDER BY {bucket}, service_id, {key} "
            f"ON CONFLICT ({bucket}, service_id, {key}) DO UPDATE SET "
            f"count = {table_name}.count + excluded.count, "
            f"quantity = {table_name}.quantity + excluded.quantity"
        )


class UsageWriter:
    """Writes one batch of usage, chunk by chunk, inside the caller's transaction.

    Each chunk's per-minute sums are upserted as soon as the chunk is parsed,
    while reader threads parse the next ones: the database does its part
    outside the GIL, so reading and writing overlap. The upsert is additive,
    so a minute split across two chunks adds up. Hours, service totals and
    the feed watcher's due marks are written once, at `finish`.

    Minutes older than `minute_floor` (epoch minutes) and hours older than
    `hour_floor` are past retention and only add to the service totals.
    """

    def __init__(self, session: Session, *, now: datetime, minute_floor: int, hour_floor: int) -> None:
        self._session = session
        self._now = now
        self._minute_floor = minute_floor
        self._hour_floor = hour_floor
        self._ids = _ServiceIds()
        self._rollup = Rollup()
        self.records = 0
        self.services = 0

    @property
    def new_services(self) -> list[str]:
        return self._ids.new

    def add(self, partial: Partial) -> None:
        """Write one chunk's per-minute sums.

        A minute that straddles two chunks is upserted twice, adding up; in a
        file in time order that is one minute per chunk, cheaper than holding
        it back and grouping again.

        Holding every minute back for one write in key order at the end would
        cut SQLite's part by more than half, since chunk after chunk lands
        between the rows of every service in the hour, but the ingest would
        be no faster: that one write runs alone after the parse, where these
        overlap it.
        """
        minutes = partial.minutes
        if minutes.num_rows == 0:
            return
        self._rollup.add(partial)
        self._ids.resolve(self._session, partial.spans, now=self._now)
        add_counts(self._session, "minute_counts", self._with_ids(minutes, "minute", self._minute_floor))

    def _with_ids(self, table: pa.Table, key: str, floor: int) -> pa.Table:
        table = table.filter(pc.greater_equal(table.column(key), floor))
        service_ids = self._ids.column(table.column("service"))
        return pa.table(
            {
                "service_id": service_ids,
                key: table.column(key),
                "count": table.column("count"),
                "quantity": table.column("quantity"),
            }
        )

    def finish(self) -> None:
        """Write the hours, service totals and due marks."""
        hours = self._rollup.hours()
        if hours.num_rows == 0:
            return
        services = self._rollup.services()
        self.records = int(pc.sum(services.column("count")).as_py() or 0)
        self.services = services.num_rows
        add_counts(self._session, "hour_counts", self._with_ids(hours, "hour", self._hour_floor))
        ids = self._ids.column(services.column("service"))
        _add_to_services(self._session, services.append_column("service_id", ids), now=self._now)
        mark_due(self._session, ids.to_pylist(), now=self._now)


def mark_due(session: Session, ids: list[int], *, now: datetime) -> None:
    """Make the feed watcher look at these services now: they have new records."""
    connection = session.connection()
    dialect = connection.dialect.name
    members = {"members": _members(dialect, ids), "now": now}
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join's ON.
    connection.execute(
        _at_now(
            f"INSERT INTO feed_states (service_id, due_at) SELECT id, :now FROM services "
            f"WHERE {_member_of(dialect, 'id')} AND true ON CONFLICT (service_id) DO NOTHING"
        ),
        members,
    )
    connection.execute(
        _at_now(
            f"UPDATE feed_states SET due_at = :now WHERE {_member_of(dialect, 'service_id')} "
            "AND (due_at IS NULL OR due_at > :now)"
        ),
        members,
    )


def _at_now(sql: str) -> TextClause:
    """text() whose :now goes through the UTC column type, as the ORM's would."""
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))
