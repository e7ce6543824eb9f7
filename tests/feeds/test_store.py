"""Count-table writes: rows reach the tables in key order, repeated keys summed."""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from watchkeeper.db import transaction
from watchkeeper.feeds.models import MinuteCount, Service
from watchkeeper.feeds.store import _in_key_order, add_counts

from ..conftest import NOW

MINUTE = int(NOW.timestamp()) // 60

# Service ids up to 2**40 take the packed key's fallback (ids must stay below 2**32 to pack).
count_rows = st.lists(
    st.tuples(
        st.sampled_from([1, 2, 7, 2**31 - 1, 2**40]),
        st.integers(MINUTE - 3000, MINUTE),
        st.integers(0, 10**6),
        st.sampled_from([0.0, 0.5, 2.25]),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(count_rows)
def test_rows_come_out_in_primary_key_order_with_repeated_keys_summed(rows):
    expected: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0.0])
    for service_id, minute, count, quantity in rows:
        expected[minute // 60, service_id, minute][0] += count
        expected[minute // 60, service_id, minute][1] += quantity
    table = pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(["service_id", "minute", "count", "quantity"])}
    )
    hour, service_id, minute, count, quantity = (c.tolist() for c in _in_key_order(table, "minute", 60))
    assert list(zip(hour, service_id, minute, strict=True)) == sorted(expected)
    assert count == [expected[k][0] for k in sorted(expected)]
    assert quantity == [expected[k][1] for k in sorted(expected)]


def test_a_key_given_twice_in_one_write_adds_up_and_adds_to_what_is_stored(db):
    with transaction(db.sessions) as session:
        session.add_all(
            [Service(name=n, created_at=NOW, first_seen=NOW, last_seen=NOW, last_received_at=NOW) for n in ("a", "b")]
        )
        session.flush()
        a, b = (session.scalar(select(Service.id).where(Service.name == n)) for n in ("a", "b"))
        add_counts(
            session,
            "minute_counts",
            pa.table(
                {
                    "service_id": [b, a, b, a],
                    "minute": [MINUTE, MINUTE - 61, MINUTE, MINUTE],
                    "count": [1, 2, 3, 4],
                    "quantity": [0.5, 0.0, 0.25, 1.0],
                }
            ),
        )
    with transaction(db.sessions) as session:
        add_counts(
            session,
            "minute_counts",
            pa.table({"service_id": [a], "minute": [MINUTE], "count": [10], "quantity": [1.0]}),
        )
    with transaction(db.sessions) as session:
        stored = session.execute(
            select(MinuteCount.service_id, MinuteCount.minute, MinuteCount.count, MinuteCount.quantity).order_by(
                MinuteCount.service_id, MinuteCount.minute
            )
        )
        assert [tuple(r) for r in stored] == [(a, MINUTE - 61, 2, 0.0), (a, MINUTE, 14, 2.0), (b, MINUTE, 4, 0.75)]
