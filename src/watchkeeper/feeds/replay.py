"""Replay: run the feed model over historical input on a simulated clock.

In memory, never touching the database, so an operator can ask "what would
have alerted last month with these settings?". Services do not interact, so
each service's timeline is replayed on its own and in parallel; the result is
the same as one clock stepping every service minute by minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.feeds.model import FeedModel
from watchkeeper.feeds.parse import (
    AsteriskOptions,
    Chunk,
    Format,
    RowError,
    detect_format,
    read_asterisk_csv,
    read_usage_csv,
)
from watchkeeper.feeds.rhythm import Event, Kind, Params, instant


@dataclass
class ReplayAlert:
    service: str
    kind: Kind
    started_at: int
    raised_at: int
    resolved_at: int | None
    message: str
    # A silence or drop: records the learned rates expected from its start to its end (or to the
    # end of the replay, while open) and those that came; None for a surge.
    expected: float | None = None
    seen: float | None = None

    @property
    def missing(self) -> float | None:
        return None if self.expected is None or self.seen is None else max(0.0, self.expected - self.seen)

    def to_json(self) -> dict[str, Any]:
        def iso(minute: int | None) -> str | None:
            return None if minute is None else instant(minute).isoformat().replace("+00:00", "Z")

        return {
            "service": self.service,
            "kind": str(self.kind),
            "started_at": iso(self.started_at),
            "raised_at": iso(self.raised_at),
            "resolved_at": iso(self.resolved_at),
            "message": self.message,
            "expected": None if self.expected is None else round(self.expected),
            "seen": None if self.seen is None else round(self.seen),
            "missing": None if self.missing is None else round(self.missing),
        }


@dataclass
class Series:
    """One service's input: minutes (sorted, unique) and the records in each; 0 means observed and empty."""

    service: str
    minutes: np.ndarray
    counts: np.ndarray


def pair_events(
    service: str, events: Iterable[Event], still_open: Mapping[Kind, tuple[float, float]] | None = None
) -> list[ReplayAlert]:
    """Turn firing/resolved events into one alert each, resolved_at None while still open.

    An outage's records expected and seen are its resolution's, or for one
    still open, `still_open`'s (the model's count so far), else its raising's.
    """
    alerts: list[ReplayAlert] = []
    open_: dict[Kind, ReplayAlert] = {}
    for event in events:
        outage = event.kind is not Kind.SURGE
        expected, seen = (event.outage_expected, event.outage_seen) if outage else (None, None)
        if event.firing:
            alert = ReplayAlert(service, event.kind, event.started_at, event.at, None, event.message, expected, seen)
            alerts.append(alert)
            open_[event.kind] = alert
        elif event.kind in open_:
            alert = open_.pop(event.kind)
            alert.resolved_at, alert.expected, alert.seen = event.at, expected, seen
    for kind, alert in open_.items():
        if still_open and kind in still_open:
            alert.expected, alert.seen = still_open[kind]
    return alerts


def replay_series(series: Series, params: Params, end: int) -> list[Event]:
    """Feed one service's minutes 23 hours at a time and judge every minute boundary up to `end`."""
    return _replay_model(series, params, end)[1]


def _replay_model(series: Series, params: Params, end: int) -> tuple[FeedModel, list[Event]]:
    minutes, counts = series.minutes, series.counts
    model = FeedModel(params, start=int(minutes[0]))
    events: list[Event] = []
    cursor = 0
    while model.now < end:
        step = min(end, model.now + 23 * 60)
        stop = int(np.searchsorted(minutes, step, side="left"))
        if stop > cursor:
            model.observe_ahead(minutes[cursor:stop], counts[cursor:stop])
            cursor = stop
        events.extend(model.advance(step))
    return model, events


def _replay_one(job: tuple[Series, Params, int]) -> list[ReplayAlert]:
    series, params, end = job
    model, events = _replay_model(series, params, end)
    still_open = {kind: so_far for kind in model.open if (so_far := model.outage_so_far(kind)) is not None}
    return pair_events(series.service, events, still_open)


def replay(
    series: list[Series], params: Mapping[str, Params], *, default: Params = Params(), workers: int | None = None
) -> list[ReplayAlert]:
    """Alerts for every service, ordered by when they were raised."""
    if not series:
        return []
    end = max(int(s.minutes[-1]) for s in series) + 1
    jobs = [(s, params.get(s.service, default), end) for s in series]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        results = map(_replay_one, jobs)
        alerts = [a for batch in results for a in batch]
    else:
        with ProcessPoolExecutor(workers) as pool:
            chunksize = max(1, len(jobs) // (workers * 4))
            alerts = [a for batch in pool.map(_replay_one, jobs, chunksize=chunksize) for a in batch]
    return sorted(alerts, key=lambda a: (a.raised_at, a.service, a.kind))


@dataclass
class ReplayInput:
    series: list[Series]
    rows: int
    errors: list[RowError]
    rejected: int


def series_from_records(records: pa.Table) -> list[Series]:
    """Group (service, ts, count) records into per-service minute series."""
    if records.num_rows == 0:
        return []
    minute = pc.divide(pc.cast(records.column("ts"), pa.int64()), 60)
    table = pa.table({"service": records.column("service"), "minute": minute, "count": records.column("count")})
    grouped = (
        table.group_by(["service", "minute"])
        .aggregate([("count", "sum")])
        .sort_by([("service", "ascending"), ("minute", "ascending")])
    )
    services = grouped.column("service").to_numpy(zero_copy_only=False)
    minutes = grouped.column("minute").to_numpy()
    counts = grouped.column("count_sum").to_numpy().astype(np.float64)
    cuts = np.flatnonzero(services[1:] != services[:-1]) + 1
    bounds = np.concatenate(([0], cuts, [len(services)]))
    return [Series(str(services[a]), minutes[a:b], counts[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def read_input(path: Path, fmt: Format | None = None, *, asterisk: AsteriskOptions = AsteriskOptions()) -> ReplayInput:
    data = path.read_bytes()
    fmt = Format(fmt) if fmt else detect_format(data)
    chunks: Iterable[Chunk]
    if fmt is Format.USAGE_CSV:
        chunks = read_usage_csv(data)
    else:
        chunks = read_asterisk_csv(data, options=asterisk)
    tables, errors, rows, rejected = [], [], 0, 0
    for chunk in chunks:
        tables.append(chunk.records)
        errors.extend(chunk.errors)
        rows += chunk.rows
        rejected += chunk.rejected
    records = pa.concat_tables(tables) if tables else pa.table({"service": [], "ts": [], "count": []})
    return ReplayInput(series_from_records(records), rows, errors, rejected)
