from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from unittest.mock import patch

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.feeds import fold as fold_module
from watchkeeper.feeds.fold import Rollup, fold_partial, per_service, to_hours
from watchkeeper.feeds.parse import RECORD_SCHEMA

rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c, inc"]), st.integers(0, 10**6), st.integers(0, 50)), max_size=200
)


@dataclass(frozen=True)
class Folded:
    minutes: pa.Table
    hours: pa.Table
    services: pa.Table

    @property
    def records(self) -> int:
        return sum(self.services.column("count").to_pylist())


def fold(records):
    """All records folded at once: what the pieces must add up to."""
    partial = fold_partial(records)
    hours = to_hours(partial.minutes)
    return Folded(partial.minutes, hours, per_service(hours, partial.spans))


def table(items):
    return pa.table(
        {
            "service": [s for s, _, _ in items],
            "ts": [t for _, t, _ in items],
            "count": [c for _, _, c in items],
            "quantity": [float(c) / 2 for _, _, c in items],
        },
        schema=RECORD_SCHEMA,
    )


def sums(table, key):
    """(service, key) -> [count, quantity], adding up rows that share a key, as the upsert does."""
    out: Counter = Counter()
    quantity: Counter = Counter()
    for row in table.to_pylist():
        out[(row["service"], row[key])] += row["count"]
        quantity[(row["service"], row[key])] += row["quantity"]
    return {k: (out[k], quantity[k]) for k in out}


@settings(max_examples=80, deadline=None)
@given(rows, st.integers(1, 7), st.booleans())
def test_writing_in_pieces_adds_up_to_folding_at_once_and_loses_no_record(items, pieces, dense):
    # Sums by bincount where the (service, bucket) pairs are few, by Arrow's group-by otherwise: both ways.
    by_arrow = patch.object(fold_module, "_dense_sums", lambda *_: None)
    with by_arrow if not dense else nullcontext():
        check_pieces_add_up(items, pieces)


def check_pieces_add_up(items, pieces):
    whole = fold(table(items))
    rollup = Rollup(merge_rows=3)
    written = []  # what the minute upserts of each piece add up to
    for i in range(pieces):
        partial = fold_partial(table(items[i::pieces]))
        written.extend(partial.minutes.to_batches())
        rollup.add(partial)
    pieces_written = pa.Table.from_batches(written, whole.minutes.schema)
    assert sums(pieces_written, "minute") == sums(whole.minutes, "minute")
    assert sums(rollup.hours(), "hour") == sums(whole.hours, "hour")
    assert whole.records == sum(c for _, _, c in items)
    services = {row["service"]: row for row in rollup.services().to_pylist()}
    assert services.keys() == {s for s, _, c in items if c > 0}
    for name, row in services.items():
        seen = [(t, c) for s, t, c in items if s == name and c > 0]
        assert row["first"] == min(t for t, _ in seen) and row["last"] == max(t for t, _ in seen)
        assert row["count"] == sum(c for _, c in seen)


def test_huge_counts_add_up_exactly():
    # Past 2**53 a float64 sum is no longer exact: such sums are not made by bincount.
    big = 999_999_999_999_999  # the largest count a row may carry (15 digits)
    folded = fold(table([("a", 60, big)] * 10 + [("a", 61, 1)]))
    assert sums(folded.minutes, "minute") == {("a", 1): (10 * big + 1, (10 * big + 1) / 2)}
