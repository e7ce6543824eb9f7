"""Drops, surges and missing records on simulated clocks: what alerts, how soon, and what it says."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.feeds.model import FeedModel
from watchkeeper.feeds.replay import ReplayAlert, Series, pair_events, replay, replay_series
from watchkeeper.feeds.rhythm import Kind, Params, minute_of

from .test_model import MONDAY, WEEK, at, cut, feed


def around_the_clock(per_minute: float, seed: int, weeks: int = 6) -> Series:
    """Poisson records, `per_minute` on average every minute of `weeks` weeks, busier by day."""
    rng = np.random.default_rng(seed)

    def counts(minutes: np.ndarray) -> np.ndarray:
        hour = (minutes % 1440) / 60
        rhythm = 0.4 + 0.6 * np.exp(-(((hour - 13) / 5) ** 2))
        return rng.poisson(per_minute * rhythm / 0.75).astype(np.float64)

    return feed(weeks, counts)


def replayed(series: Series, params: Params = Params()) -> list[ReplayAlert]:
    model_end = int(series.minutes[-1]) + 1
    return pair_events(series.service, replay_series(series, params, model_end))


def test_a_drop_to_a_fifth_on_a_busy_service_alerts_within_15_minutes_and_says_it_in_numbers() -> None:
    start = at(37, 10)  # Wednesday of week 6, 10:00
    found = replayed(cut(around_the_clock(30.0, 1), start, start + 120, factor=0.2))
    [drop] = [a for a in found if a.kind is Kind.DROP]
    assert [a.kind for a in found] == [Kind.DROP]
    assert start < drop.raised_at <= start + 15
    assert start - 15 <= drop.started_at <= start + 5  # the change point, near where it began
    assert f"since {(MONDAY + timedelta(minutes=drop.started_at - at(0, 0))):%H:%M} UTC" in drop.message
    assert "records against about" in drop.message and "so few would come by chance less than once in" in drop.message
    # It resolves once the last hour is normal again, and counts what did not come.
    assert drop.resolved_at is not None and start + 120 < drop.resolved_at <= start + 180
    assert drop.expected is not None and drop.seen is not None and drop.missing is not None
    assert drop.missing == drop.expected - drop.seen
    assert 0.7 <= drop.missing / drop.expected <= 0.9  # about four fifths


def sparse(per_hour: float, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    return feed(6, lambda minutes: rng.poisson(per_hour / 60, len(minutes)).astype(np.float64))


def test_the_same_drop_on_a_feed_of_5_records_an_hour_does_not_alert_within_the_hour() -> None:
    start = at(37, 10)
    for seed in range(5):
        found = replayed(cut(sparse(5.0, seed), start, start + 120, factor=0.2))
        assert [a for a in found if start <= a.raised_at <= start + 60] == [], seed


def test_a_full_silence_of_that_sparse_feed_does_alert() -> None:
    start = at(37, 10)
    found = replayed(cut(sparse(5.0, 1), start, start + 6 * 60))
    [silence] = [a for a in found if a.kind is Kind.SILENCE and a.raised_at >= start]
    assert silence.raised_at < start + 6 * 60
    assert silence.resolved_at is not None and silence.missing is not None
    assert 15 <= silence.missing <= 45  # about 30 expected in six hours at 5 an hour


def test_a_weekly_burst_the_service_always_has_does_not_alert() -> None:
    """Every Tuesday 10:00-11:00 the volume is four times its usual (a weekly batch): part of its
    week, never news. The same burst on a Thursday afternoon is."""
    series = around_the_clock(30.0, 2)
    counts = series.counts.copy()

    def burst(start: int) -> None:
        counts[(series.minutes >= start) & (series.minutes < start + 60)] *= 4

    for week in range(6):
        burst(at(7 * week + 1, 10))
    weekly = replayed(Series("svc", series.minutes, counts.copy()))
    assert [a for a in weekly if a.kind is Kind.SURGE] == []
    burst(at(31, 15))
    [surge] = [a for a in replayed(Series("svc", series.minutes, counts)) if a.kind is Kind.SURGE]
    assert at(31, 15) < surge.raised_at <= at(31, 15) + 20


def hourly_files(seed: int, weeks: int = 5) -> Series:
    """Each hour's records (about 600) in one file that lands 5 minutes after the hour."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(minute_of(MONDAY), minute_of(MONDAY) + weeks * WEEK)
    counts = np.zeros(len(minutes))
    landing = (minutes % 60) == 5
    counts[landing] = rng.poisson(600, landing.sum())
    return Series("svc", minutes, counts)


def test_a_duplicated_hourly_file_alerts_at_once() -> None:
    series = hourly_files(3)
    landed = at(30, 11) + 5
    counts = series.counts.copy()
    counts[series.minutes == landed] *= 2  # the 10:00 file, delivered twice
    found = replayed(Series("svc", series.minutes, counts))
    assert [(a.kind, a.raised_at) for a in found] == [(Kind.SURGE, landed + 1)]
    assert "2.0 times" in found[0].message or "1.9 times" in found[0].message
    assert found[0].expected is None and found[0].missing is None  # a surge misses nothing


def test_hourly_files_without_a_duplicate_raise_nothing() -> None:
    assert replayed(hourly_files(3)) == []


def test_a_silence_says_how_many_records_it_lacked_and_replay_writes_them() -> None:
    start = at(37, 10)
    clean = around_the_clock(30.0, 4)
    broken = cut(clean, start, start + 120)
    [silence] = replay([broken], {})
    inside = (clean.minutes >= start) & (clean.minutes < start + 120)
    truth = float(clean.counts[inside].sum())
    assert silence.kind is Kind.SILENCE and silence.missing is not None
    assert abs(silence.missing - truth) <= 0.15 * truth
    written = silence.to_json()
    assert {"expected", "seen", "missing"} <= written.keys()
    assert written["missing"] == round(silence.missing) and written["seen"] == round(silence.seen or 0)
    assert json.loads(json.dumps(written)) == written


def test_a_silence_still_open_at_the_end_of_a_replay_counts_up_to_then() -> None:
    series = around_the_clock(30.0, 5)
    end = int(series.minutes[-1]) + 1
    [silence] = replay([cut(series, end - 180, end)], {})
    assert silence.resolved_at is None and silence.missing is not None
    assert silence.missing > 0.5 * 180 * 30 * 0.4  # three hours of a busy feed, even at night


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000), steps=st.lists(st.integers(1, 60), min_size=1, max_size=20))
def test_drops_and_their_counts_live_are_what_replay_says(seed: int, steps: list[int]) -> None:
    from .test_model import _step_live

    rng = np.random.default_rng(seed)
    series = around_the_clock(5.0, seed, weeks=3)
    start = at(int(rng.integers(15, 20)), int(rng.integers(0, 24)))
    broken = cut(series, start, start + int(rng.integers(60, 300)), factor=float(rng.uniform(0.0, 0.4)))
    end = int(series.minutes[-1]) + 1
    assert _step_live(broken, Params(), steps) == replay_series(broken, Params(), end)


def test_a_model_saved_with_a_drop_open_counts_on_the_same() -> None:
    start = at(37, 10)
    series = cut(around_the_clock(30.0, 6), start, start + 240, factor=0.1)
    whole = replay_series(series, Params(), start + 300)
    model = FeedModel(Params(), start=int(series.minutes[0]))
    keep = series.minutes < start + 30
    model.observe_ahead(series.minutes[keep], series.counts[keep])
    first = model.advance(start + 30)
    assert Kind.DROP in model.open
    restored = FeedModel.from_bytes(model.to_bytes(), Params())
    rest = series.minutes >= start + 30
    restored.observe_ahead(series.minutes[rest], series.counts[rest])
    later = restored.advance(start + 300)
    carried = [e for e in first + later if e.kind is Kind.DROP]
    straight = [e for e in whole if e.kind is Kind.DROP]
    assert [(e.firing, e.started_at, e.at) for e in carried] == [(e.firing, e.started_at, e.at) for e in straight]
    # The stored model keeps its per-minute expectations in single precision: the counts agree to that.
    for a, b in zip(carried, straight, strict=True):
        assert a.outage_expected == pytest.approx(b.outage_expected, rel=1e-5)
        assert a.outage_seen == b.outage_seen
