"""Fold usage records into (service, minute) and (service, hour) sums. Pure.

Grouping on a string and an integer is slow in Arrow; grouping on one int64
is fast. So the service name is dictionary-encoded and its code packed with
the minute into a single key, and names come back from the dictionary after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SHIFT = 32  # minutes since 1970 stay below 2**32 until the year 10136
_LOW = (1 << _SHIFT) - 1
_AGGREGATES = [("count", "sum"), ("quantity", "sum"), ("first", "min"), ("last", "max")]
_RENAMES = {"count_sum": "count", "quantity_sum": "quantity", "first_min": "first", "last_max": "last"}


@dataclass(frozen=True)
class Folded:
    minutes: pa.Table  # service, minute, count, quantity
    hours: pa.Table  # service, hour, count, quantity
    services: pa.Table  # service, count, quantity, first, last (epoch seconds)

    @property
    def records(self) -> int:
        return int(pc.sum(self.services.column("count")).as_py() or 0)


def _group(table: pa.Table, bucket: str) -> pa.Table:
    """Sum `table` (service, <bucket>, count, quantity, first, last) per (service, bucket)."""
    encoded = pc.dictionary_encode(table.column("service")).combine_chunks()
    code = pc.cast(encoded.indices, pa.int64())
    key = pc.add(pc.shift_left(code, _SHIFT), table.column(bucket))
    keyed = pa.table({"key": key, **{name: table.column(name) for name, _ in _AGGREGATES}})
    grouped = keyed.group_by("key").aggregate(_AGGREGATES).rename_columns(_RENAMES)
    keys = grouped.column("key")
    names = pc.take(encoded.dictionary, pc.shift_right(keys, _SHIFT))
    return pa.table({"service": names, bucket: pc.bit_wise_and(keys, _LOW),
                     **{name: grouped.column(name) for name, _ in _AGGREGATES}})  # fmt: skip


def fold_partial(records: pa.Table) -> pa.Table:
    """One chunk's records as per-minute sums, ready to be combined with others."""
    count = records.column("count")
    if not pc.all(pc.greater(count, 0)).as_py():
        # Rows with count 0 say "observed, nothing happened": they add nothing.
        records = records.filter(pc.greater(count, 0))
    ts = records.column("ts")
    return _group(
        pa.table({"service": records.column("service"), "minute": pc.divide(ts, 60),
                  "count": records.column("count"), "quantity": records.column("quantity"),
                  "first": ts, "last": ts}),
        "minute",
    )  # fmt: skip


def to_hours(minutes: pa.Table) -> pa.Table:
    """Per-minute sums (with first and last) rolled up to (service, hour)."""
    hourly = minutes.append_column("hour", pc.divide(minutes.column("minute"), 60))
    return _group(hourly.drop_columns(["minute"]), "hour")


def per_service(hours: pa.Table) -> pa.Table:
    """(service, hour) sums rolled up to one row per service."""
    everything = hours.append_column("all", pa.array(np.zeros(hours.num_rows, np.int64)))
    return _group(everything.drop_columns(["hour"]), "all").drop_columns(["all"])


_EMPTY_HOURS = pa.table(
    {"service": pa.array([], pa.string()), "hour": pa.array([], pa.int64()),
     "count": pa.array([], pa.int64()), "quantity": pa.array([], pa.float64()),
     "first": pa.array([], pa.int64()), "last": pa.array([], pa.int64())}
)  # fmt: skip


class Rollup:
    """Hours and per-service totals of a stream of per-minute chunks.

    The minutes themselves are written chunk by chunk; they are kept here
    only until they pass `merge_rows`, when they are rolled up to hours, so a
    file of any size needs memory for its distinct (service, hour) pairs.
    One group-by at the end costs less than one per chunk.
    """

    def __init__(self, merge_rows: int = 2_000_000) -> None:
        self._merge_rows = merge_rows
        self._minutes: list[pa.Table] = []
        self._hours: pa.Table | None = None
        self._rows = 0

    def add(self, minutes: pa.Table) -> None:
        self._minutes.append(minutes)
        self._rows += minutes.num_rows
        if self._rows > self._merge_rows:
            self._hours = self.hours()
            self._minutes, self._rows = [], 0

    def hours(self) -> pa.Table:
        parts = [to_hours(pa.concat_tables(self._minutes))] if self._minutes else []
        if self._hours is not None:
            parts.append(self._hours)
        if not parts:
            return _EMPTY_HOURS
        return parts[0] if len(parts) == 1 else _group(pa.concat_tables(parts), "hour")


def fold(records: pa.Table) -> Folded:
    """Records to their minute, hour and service sums in one go."""
    minutes = fold_partial(records)
    hours = to_hours(minutes)
    return Folded(
        minutes=minutes.select(["service", "minute", "count", "quantity"]),
        hours=hours.select(["service", "hour", "count", "quantity"]),
        services=per_service(hours),
    )
