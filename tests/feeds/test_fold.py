from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.feeds.fold import Folder, fold
from watchkeeper.feeds.parse import RECORD_SCHEMA

rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c, inc"]), st.integers(0, 10**6), st.integers(0, 50)),
                max_size=200)  # fmt: skip


def table(items):
    return pa.table({"service": [s for s, _, _ in items], "ts": [t for _, t, _ in items],
                     "count": [c for _, _, c in items], "quantity": [float(c) / 2 for _, _, c in items]},
                    schema=RECORD_SCHEMA)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(rows, st.integers(1, 7))
def test_folding_in_pieces_equals_folding_at_once_and_loses_no_record(items, pieces):
    whole = fold(table(items))
    folder = Folder(merge_rows=3)
    for i in range(pieces):
        folder.add(table(items[i::pieces]))
    parts = folder.result()
    key = lambda t: sorted(t.to_pylist(), key=lambda r: tuple(r.values()))  # noqa: E731
    assert key(parts.minutes) == key(whole.minutes)
    assert key(parts.hours) == key(whole.hours)
    assert whole.records == sum(c for _, _, c in items)
    for row in whole.services.to_pylist():
        seen = [t for s, t, c in items if s == row["service"] and c > 0]
        assert (row["first"], row["last"]) == (min(seen), max(seen))
