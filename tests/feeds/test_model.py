"""The feed model on simulated time: what alerts, what does not, and when."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.feeds.model import FORMAT_VERSION, FeedModel, UnknownModelFormat
from watchkeeper.feeds.replay import Series, pair_events, replay_series
from watchkeeper.feeds.rhythm import Event, Kind, Params, minute_of, parse_active_hours

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = 7 * 1440


def at(day: int, hour: float, start: datetime = MONDAY) -> int:
    """Minute of `hour` o'clock on day `day` counted from the Monday `start`."""
    return minute_of(start + timedelta(days=day, hours=hour))


def feed(weeks: int, per_minute: Callable[[np.ndarray], np.ndarray], start: datetime = MONDAY) -> Series:
    minutes = np.arange(minute_of(start), minute_of(start) + weeks * WEEK)
    return Series("svc", minutes, per_minute(minutes).astype(np.float64))


def office_hours(zone: str = "UTC", busy: float = 10.0) -> Callable[[np.ndarray], np.ndarray]:
    """`busy` records a minute 08:00-18:00 local on weekdays, nothing at night or at weekends."""
    tz = ZoneInfo(zone)

    def per_minute(minutes: np.ndarray) -> np.ndarray:
        hours = np.arange(minutes[0] // 60 * 60, minutes[-1] + 60, 60)
        local = [datetime.fromtimestamp(h * 60, tz) for h in hours]
        open_ = np.array([t.weekday() < 5 and 8 <= t.hour < 18 for t in local])
        return np.where(open_[(minutes - hours[0]) // 60], busy, 0.0)

    return per_minute


def cut(series: Series, start: int, end: int, factor: float = 0.0) -> Series:
    """An outage: records in [start, end) scaled by `factor` (0 = silence), the minutes still observed."""
    counts = series.counts.copy()
    inside = (series.minutes >= start) & (series.minutes < end)
    counts[inside] = np.round(counts[inside] * factor)
    return Series(series.service, series.minutes, counts)


def alerts(series: Series, params: Params = Params()) -> list:
    return pair_events(series.service, replay_series(series, params, int(series.minutes[-1]) + 1))


def test_busy_hour_outage_alerts_within_minutes() -> None:
    outage = at(30, 10)  # Wednesday of week 5, 10:00
    found = alerts(cut(feed(5, office_hours()), outage, outage + 60))
    assert [(a.kind, a.started_at) for a in found] == [(Kind.SILENCE, outage)]
    assert found[0].raised_at - outage <= 10
    assert found[0].resolved_at == outage + 61
    last_record = datetime.fromtimestamp((outage - 1) * 60, UTC)
    assert found[0].message.startswith(f"no records since {last_record:%Y-%m-%d %H:%M} UTC (")
    assert "when raised); " in found[0].message and "on weekdays" in found[0].message


def sparse_office(minutes: np.ndarray) -> np.ndarray:
    """A record every 5 minutes on weekdays 07:55-18:00 UTC (12 an hour), nothing otherwise."""
    day, minute_of_day = (minutes // 1440 + 3) % 7, minutes % 1440  # 1970-01-01 was a Thursday
    open_ = (day < 5) & (minute_of_day >= 7 * 60 + 55) & (minute_of_day < 18 * 60)
    return np.where(open_ & (minutes % 5 == 0), 1.0, 0.0)


def test_a_late_first_record_after_the_weekend_is_not_an_outage() -> None:
    """62 h of weekend silence at 08:01 on Monday is not news until the hour's own rate expects records."""
    late = cut(feed(5, sparse_office), at(28, 7.9), at(28, 8.6))  # Monday's first record at 08:35, not 07:55
    assert alerts(late) == []


def test_a_monday_outage_of_a_sparse_feed_alerts_once_enough_records_are_missing() -> None:
    outage = cut(feed(5, sparse_office), at(28, 7.9), at(28, 10))
    found = alerts(outage)
    assert [a.kind for a in found] == [Kind.SILENCE]
    # 12 expected records (silence_rarity) at 12 an hour, from 07:00 on
    assert at(28, 8.5) <= found[0].raised_at <= at(28, 9)


def test_silence_at_night_does_not_alert() -> None:
    """The same hour of silence that alerts at 10:00 is this service's normal at 03:00."""
    assert alerts(cut(feed(5, office_hours()), at(30, 3), at(30, 4))) == []


def test_weekend_does_not_alert() -> None:
    assert alerts(feed(6, office_hours())) == []


def test_hourly_files_do_not_alert_between_files() -> None:
    def hourly(minutes: np.ndarray) -> np.ndarray:
        return np.where(minutes % 60 == 0, 600.0, 0.0)

    series = feed(5, hourly)
    assert alerts(series) == []
    missing = at(31, 12)  # two files do not come
    found = alerts(cut(series, missing, missing + 120))
    assert [a.kind for a in found] == [Kind.SILENCE]
    assert missing < found[0].raised_at <= missing + 60  # the last file came at missing - 60


def test_a_clockwork_feed_alerts_soon_after_a_missed_row() -> None:
    """Rows every 30 minutes that never come late (like NAB's taxi series) need hardly any margin."""

    def half_hourly(minutes: np.ndarray) -> np.ndarray:
        return np.where(minutes % 30 == 0, 500.0, 0.0)

    series = feed(5, half_hourly)
    assert alerts(series) == []
    missing = at(31, 12)
    found = alerts(cut(series, missing, missing + 90))
    assert [a.kind for a in found] == [Kind.SILENCE]
    # The last row came at missing - 30: alerted within 10 minutes of the row that did not come
    # (with the wide default margin of x1.5 it took 19 minutes).
    assert missing < found[0].raised_at <= missing + 10


def test_files_that_are_sometimes_late_keep_a_wide_margin() -> None:
    """A supplier whose hourly file is now and then 15-25 minutes late has taught the model to wait for it."""
    rng = np.random.default_rng(7)
    weeks = 6
    hours = np.arange(weeks * WEEK // 60)
    lag = np.where(rng.random(len(hours)) < 0.05, rng.integers(15, 26, len(hours)), rng.integers(1, 4, len(hours)))

    def late_files(minutes: np.ndarray) -> np.ndarray:
        counts = np.zeros(len(minutes))
        np.add.at(counts, np.clip(hours * 60 + lag, 0, len(minutes) - 1), 600.0)
        return counts

    series = feed(weeks, late_files)
    assert alerts(series) == []
    missing = at(38, 12)
    found = alerts(cut(series, missing, missing + 180))
    assert [a.kind for a in found] == [Kind.SILENCE]


def test_quarter_hourly_files_that_are_sometimes_very_late_widen_the_margin_beyond_the_default() -> None:
    """Files every 15 minutes, now and then 12-15 minutes late: gaps of twice the usual, which history shows."""
    rng = np.random.default_rng(11)
    weeks = 6
    quarters = np.arange(weeks * WEEK // 15)
    lag = np.where(rng.random(len(quarters)) < 0.04, rng.integers(12, 16, len(quarters)), 1)

    def late_files(minutes: np.ndarray) -> np.ndarray:
        counts = np.zeros(len(minutes))
        np.add.at(counts, np.clip(quarters * 15 + lag, 0, len(minutes) - 1), 150.0)
        return counts

    series = feed(weeks, late_files)
    # While it has under four weeks of history the default margin applies (1.5 x the
    # usual longest gap of 14-16 min, plus 5) and a very late file may alert. After
    # that, its own history allows them.
    assert [a for a in alerts(series) if a.raised_at >= at(28, 0)] == []
    missing = at(38, 12)
    found = [a for a in alerts(cut(series, missing, missing + 120)) if a.raised_at >= missing]
    assert [a.kind for a in found] == [Kind.SILENCE]
    assert found[0].raised_at - missing <= 45


def test_outage_does_not_become_normal() -> None:
    """The same 4-hour outage two weeks running alerts just as fast the second time."""
    series = feed(6, office_hours())
    first, second = at(30, 10), at(37, 10)
    found = alerts(cut(cut(series, first, first + 240), second, second + 240))
    assert [a.started_at for a in found] == [first, second]
    assert found[1].raised_at - second <= found[0].raised_at - first


def test_dst_change_does_not_shift_the_weekly_profile() -> None:
    """Berlin office hours across the switch to summer time on 2026-03-29."""
    start = datetime(2026, 2, 23, tzinfo=UTC)  # a Monday, five weeks before the change
    series = feed(7, office_hours("Europe/Berlin"), start)
    params = Params(timezone="Europe/Berlin")
    assert alerts(series, params) == []  # days start and end an hour earlier in UTC: no false alarm
    opening = minute_of(datetime(2026, 4, 8, 9, tzinfo=ZoneInfo("Europe/Berlin")))  # a Wednesday
    found = alerts(cut(series, opening, opening + 120), params)
    assert [a.started_at for a in found] == [opening]
    assert found[0].raised_at - opening <= 15
    # The hour is the service's own, and the message says so; the instants are UTC.
    assert "at 09:00-10:00 Europe/Berlin time on weekdays" in found[0].message
    assert found[0].message.startswith("no records since 2026-04-08 06:59 UTC")


def test_new_service_alerts_only_past_the_hard_limit_while_learning() -> None:
    series = feed(1, office_hours())
    short = cut(series, at(2, 10), at(2, 16))
    assert alerts(short) == []
    long = Series("svc", np.arange(at(0, 0), at(6, 0)), np.where(np.arange(at(0, 0), at(6, 0)) < at(1, 12), 5.0, 0.0))
    found = alerts(long)
    assert [a.kind for a in found] == [Kind.SILENCE]
    assert found[0].raised_at == at(1, 12) + 72 * 60 + 1
    assert "still being learned" in found[0].message


def test_max_silence_is_a_hard_limit_even_at_quiet_times() -> None:
    found = alerts(feed(5, office_hours()), Params(max_silence=12 * 60))
    assert found and all(a.kind is Kind.SILENCE for a in found)
    assert all(a.raised_at - a.started_at == 12 * 60 + 1 for a in found)


def test_snooze_holds_alerts_until_it_ends() -> None:
    outage = at(30, 10)
    series = cut(feed(5, office_hours()), outage, outage + 180)
    found = alerts(series, Params(snooze_until=outage + 120))
    assert [a.raised_at for a in found] == [outage + 120]


def test_public_holiday_looks_like_a_sunday() -> None:
    """Friday 1 May 2026 is Labour Day in Germany; the office is shut."""
    start = datetime(2026, 3, 30, tzinfo=UTC)
    series = feed(6, office_hours(), start)
    holiday = minute_of(datetime(2026, 5, 1, tzinfo=UTC))
    series = cut(series, holiday, holiday + 1440)
    assert alerts(series, Params(holidays="DE")) == []
    assert [a.kind for a in alerts(series)] == [Kind.SILENCE]


def noisy(seed: int, scale: float = 20.0) -> Callable[[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)

    def per_minute(minutes: np.ndarray) -> np.ndarray:
        return rng.poisson(office_hours(busy=scale)(minutes)).astype(np.float64)

    return per_minute


def test_drop_to_a_fifth_alerts_and_resolves() -> None:
    start = at(30, 9)
    found = alerts(cut(feed(5, noisy(1)), start, start + 180, factor=0.2))
    drops = [a for a in found if a.kind is Kind.DROP]
    assert len(drops) == 1 and [a for a in found if a.kind is not Kind.DROP] == []
    assert start < drops[0].raised_at <= start + 45
    assert drops[0].resolved_at is not None and start + 180 < drops[0].resolved_at <= start + 240
    assert "expected" in drops[0].message


def test_outside_its_active_hours_a_drop_is_no_news_and_inside_it_is() -> None:
    rng = np.random.default_rng(11)

    def day_and_night(minutes: np.ndarray) -> np.ndarray:
        hour = (minutes % 1440) / 60
        return rng.poisson(1.0 + 6 * np.exp(-(((hour - 13) / 4) ** 2))).astype(np.float64)

    series = feed(6, day_and_night)
    params = Params(active_hours=parse_active_hours("Mon-Fri 08-18"))
    assert alerts(cut(series, at(37, 2), at(37, 5), factor=0.1), params) == []
    [drop] = alerts(cut(series, at(37, 10), at(37, 13), factor=0.1), params)
    assert drop.kind is Kind.DROP and at(37, 10) < drop.raised_at < at(37, 11)


def test_outside_its_active_hours_a_short_max_silence_holds_and_inside_it_alerts() -> None:
    """Office hours in Berlin, max_silence 2 min: nights and weekends raise nothing;
    a silence at 11:00 on a Wednesday alerts within 3 minutes, not off hours."""
    params = Params(timezone="Europe/Berlin", max_silence=2, active_hours=parse_active_hours("Mon-Fri 08-18"))
    series = feed(2, office_hours("Europe/Berlin"))
    assert alerts(series, params) == []
    outage = minute_of(datetime(2026, 1, 14, 11, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    [silence] = alerts(cut(series, outage, outage + 30), params)
    assert (silence.kind, silence.started_at, silence.raised_at) == (Kind.SILENCE, outage, outage + 3)


def test_outside_its_active_hours_a_silence_alerts_at_low_urgency_past_the_off_hours_limit() -> None:
    zone = ZoneInfo("Europe/Berlin")
    params = Params(
        timezone="Europe/Berlin",
        max_silence=2,
        active_hours=parse_active_hours("Mon-Fri 08-18"),
        off_hours_max_silence=20 * 60,
    )
    series = feed(2, office_hours("Europe/Berlin"))
    stop = minute_of(datetime(2026, 1, 9, 18, 0, tzinfo=zone))  # Friday's last record at 17:59
    quiet = cut(series, stop, int(series.minutes[-1]) + 1)
    events = replay_series(quiet, params, int(series.minutes[-1]) + 1)
    [raised] = [e for e in events if e.firing]
    assert (raised.kind, raised.at, raised.off_hours) == (Kind.SILENCE, stop + 20 * 60 + 1, True)
    assert "outside the service's active hours only its off-hours limit of 20 h applies" in raised.message
    # Without one set, the limit off hours is three days: a weekend is not one.
    assert [
        e.at
        for e in replay_series(
            quiet,
            Params(timezone="Europe/Berlin", max_silence=2, active_hours=params.active_hours),
            int(series.minutes[-1]) + 1,
        )
        if e.firing
    ] == [minute_of(datetime(2026, 1, 12, 8, 1, tzinfo=zone))]


def test_surge_of_duplicated_files_alerts() -> None:
    series = feed(5, noisy(2))
    start = at(31, 11)
    counts = series.counts.copy()
    counts[(series.minutes >= start) & (series.minutes < start + 60)] *= 5
    found = alerts(Series("svc", series.minutes, counts))
    assert [a.kind for a in found] == [Kind.SURGE]
    assert found[0].raised_at <= start + 30


def test_a_test_service_alerts_on_silence_but_not_on_its_irregular_volume() -> None:
    series = feed(5, noisy(2))
    start = at(31, 11)
    counts = series.counts.copy()
    counts[(series.minutes >= start) & (series.minutes < start + 60)] *= 5
    assert alerts(Series("svc", series.minutes, counts), Params(test=True)) == []
    outage = cut(series, at(31, 10), at(31, 12))
    assert [a.kind for a in alerts(outage, Params(test=True))] == [Kind.SILENCE]


def test_a_service_that_surges_every_other_day_stops_alerting_on_surges() -> None:
    series = feed(8, noisy(3))
    counts = series.counts.copy()
    for day in range(14, 56, 2):
        start = at(day, 11)
        counts[(series.minutes >= start) & (series.minutes < start + 60)] *= 6
    found = [a for a in alerts(Series("svc", series.minutes, counts)) if a.kind == Kind.SURGE]
    first_week = [a for a in found if a.raised_at < at(21, 0)]
    last_weeks = [a for a in found if a.raised_at >= at(42, 0)]
    assert len(first_week) >= 2  # the first are news; two in three days already make it bursty
    assert last_weeks == []  # by now they are this service's normal


def test_test_services_are_judged_less_sensitively() -> None:
    assert Params(test=True).tuning == Params(sensitivity="low").tuning  # type: ignore[arg-type]


def _step_live(series: Series, params: Params, steps: list[int]) -> list[Event]:
    """Drive the model in uneven steps, records handed over one by one as they come due."""
    model = FeedModel(params, start=int(series.minutes[0]))
    events: list[Event] = []
    cursor, end = 0, int(series.minutes[-1]) + 1
    for step in itertools.cycle(steps):
        target = min(end, model.now + step)
        while cursor < len(series.minutes) and series.minutes[cursor] < target:
            model.observe(int(series.minutes[cursor]), float(series.counts[cursor]))
            cursor += 1
        events.extend(model.advance(target))
        if model.now >= end:
            break
    return events


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.lists(st.integers(1, 60), min_size=1, max_size=50))
def test_small_live_steps_give_the_same_alerts_as_replay(seed: int, steps: list[int]) -> None:
    rng = np.random.default_rng(seed)
    series = feed(2, noisy(seed, scale=2.0))
    start = at(int(rng.integers(8, 13)), int(rng.integers(0, 24)))
    series = cut(series, start, start + int(rng.integers(30, 600)))
    expected = replay_series(series, Params(), int(series.minutes[-1]) + 1)
    live = _step_live(series, Params(), steps)
    assert live == expected


def test_saved_and_loaded_model_carries_on_the_same() -> None:
    series = cut(feed(5, office_hours()), at(30, 10), at(30, 12))
    whole = replay_series(series, Params(), int(series.minutes[-1]) + 1)
    model = FeedModel(Params(), start=int(series.minutes[0]))
    half = at(29, 13)
    inside = series.minutes < half
    model.observe_ahead(series.minutes[inside], series.counts[inside])
    events = model.advance(half)
    restored = FeedModel.from_bytes(model.to_bytes(), Params())
    assert len(model.to_bytes()) < 8 * 1024
    restored.observe_ahead(series.minutes[~inside], series.counts[~inside])
    events += restored.advance(int(series.minutes[-1]) + 1)
    assert events == whole


def test_silence_deadline_is_when_advance_raises_the_alert() -> None:
    series = feed(5, office_hours())
    stop = at(30, 10)
    model = FeedModel(Params(), start=int(series.minutes[0]))
    before = series.minutes < stop
    model.observe_ahead(series.minutes[before], series.counts[before])
    model.advance(stop)
    deadline = model.silence_deadline()
    assert deadline is not None and stop < deadline <= stop + 10
    assert model.advance(deadline - 1) == []
    raised = model.advance(deadline)
    assert [(e.kind, e.firing, e.at) for e in raised] == [(Kind.SILENCE, True, deadline)]


def test_records_held_for_the_minute_in_progress_end_an_open_silence_at_once() -> None:
    series = feed(5, office_hours())
    stop = at(30, 10)
    model = FeedModel(Params(), start=int(series.minutes[0]))
    before = series.minutes < stop
    model.observe_ahead(series.minutes[before], series.counts[before])
    model.advance(stop + 30)
    assert Kind.SILENCE in model.open and model.silence_deadline() is None
    model.observe(stop + 30, 4.0)  # stamped in the minute still in progress
    ended = model.silence_ended_ahead()
    assert [(e.kind, e.firing, e.at, e.started_at) for e in ended] == [(Kind.SILENCE, False, stop + 30, stop)]
    assert model.advance(stop + 31) == [] and Kind.SILENCE not in model.open


def test_an_open_silence_is_due_again_when_records_held_ahead_end_it() -> None:
    """A supplier whose clock runs 3 minutes fast: its records, held for a minute
    still ahead, make the silence due to end as that minute is judged."""
    series = feed(5, office_hours())
    stop = at(30, 10)
    model = FeedModel(Params(), start=int(series.minutes[0]))
    before = series.minutes < stop
    model.observe_ahead(series.minutes[before], series.counts[before])
    model.advance(stop + 30)
    model.observe(stop + 33, 4.0)
    assert model.silence_ended_ahead() == [] and model.silence_deadline() == stop + 34
    assert [(e.kind, e.firing) for e in model.advance(stop + 34)] == [(Kind.SILENCE, False)]


def _hourly_files_after_history(hours: int, skip: int | None = None) -> tuple[FeedModel, list[Event], int]:
    """Three weeks of history learned as stored (every minute on time, 5 records), then
    live: the file of hour H, every minute of it, lands at H+1:07; file `skip` never comes."""
    series = feed(3, lambda minutes: np.full(len(minutes), 5.0))
    live = int(series.minutes[-1]) + 1  # a Monday 00:00, as the history ends
    model = FeedModel(Params(), start=int(series.minutes[0]))
    model.observe_ahead(series.minutes, series.counts)
    events = model.advance(live)
    for hour in range(hours):
        landed = live + (hour + 1) * 60 + 7
        events += model.advance(landed - 1)
        if hour != skip:
            for minute in range(live + hour * 60, live + hour * 60 + 60):
                model.observe(minute, 5.0)
        events += model.advance(landed)
    return model, events, live


def test_a_model_learned_from_stored_history_learns_its_suppliers_delivery_delay_live() -> None:
    """Its history showed every minute on time; live, each hour's file comes 67 minutes
    after its first record. The first files' waits may alert; once the delay has come
    twice, it sets the limit, and the alert resolves."""
    model, events, live = _hourly_files_after_history(24)
    assert model.delivery_delay() == 66 + 6  # seen at 1:06 past its first minute, the boundary before it landed
    assert Kind.SILENCE not in model.open
    assert all(e.at <= live + 2 * 60 + 7 for e in events)  # nothing after the second file
    # A file that does not come is news some minutes after the delay it has taught.
    _, missed, _ = _hourly_files_after_history(12, skip=8)
    [raised] = [e for e in missed if e.firing and e.at > live + 3 * 60]
    last_record = live + 8 * 60
    assert last_record + 72 < raised.at <= last_record + 72 + 15
    assert "its records have lately come up to 1 h 12 min late" in raised.message


def test_one_late_re_send_after_an_outage_is_no_delivery_delay() -> None:
    series = feed(3, lambda minutes: np.full(len(minutes), 5.0))
    model = FeedModel(Params(), start=int(series.minutes[0]))
    model.observe_ahead(series.minutes, series.counts)
    now = int(series.minutes[-1]) + 1
    model.advance(now + 120)  # two hours of nothing
    for minute in range(now, now + 120):  # then the supplier re-sends them
        model.observe(minute, 5.0)
    model.advance(now + 121)
    assert model.lags == [(now + 120, 120)] and model.delivery_delay() == 0


# A model stored by the release before format 2 (learned variation, bursts, outage counts):
# _hourly_files_after_history(3) as that release saved it. Services upgraded keep their models.
FORMAT_1 = (Path(__file__).parent / "data" / "model-format-1.bin").read_bytes()
FORMAT_1_START, FORMAT_1_NOW = 29459520, 29489947
FORMAT_1_LAGS = [(29489826, 66), (29489886, 66), (29489946, 66)]


def test_delivery_delays_survive_saving() -> None:
    model, _, _ = _hourly_files_after_history(3)
    assert FeedModel.from_bytes(model.to_bytes(), Params()).lags == model.lags != []


def test_a_stored_model_begins_with_its_format_version() -> None:
    model, _, _ = _hourly_files_after_history(3)
    saved = model.to_bytes()
    assert saved[0] == FORMAT_VERSION == 2
    assert FeedModel.from_bytes(saved, Params()).to_bytes() == saved


def test_a_model_stored_in_format_1_loads_and_carries_on() -> None:
    assert FORMAT_1[0] == 1
    old = FeedModel.from_bytes(FORMAT_1, Params())
    assert (old.start, old.now, old.lags) == (FORMAT_1_START, FORMAT_1_NOW, FORMAT_1_LAGS)
    assert old.delivery_delay() > 60 and old.profile()[0] == pytest.approx(300.0)
    # It goes on judging: the next hour's file comes on its learned delay; none that does not.
    for minute in range(old.now - 7, old.now + 53):
        old.observe(minute, 5.0)
    assert old.advance(old.now + 120) == []
    resaved = old.to_bytes()
    assert resaved[0] == 2 and FeedModel.from_bytes(resaved, Params()).to_bytes() == resaved


def test_models_stored_before_the_format_version_still_load() -> None:
    unversioned = FORMAT_1[1:]  # format 1 less its version byte: what came before it
    assert FeedModel.from_bytes(unversioned, Params()).to_bytes() == FeedModel.from_bytes(FORMAT_1, Params()).to_bytes()
    older = FeedModel.from_bytes(unversioned[: -8 * (1 + 2 * len(FORMAT_1_LAGS))], Params())  # before delivery delays
    assert (older.lags, older.start, older.now) == ([], FORMAT_1_START, FORMAT_1_NOW)


def test_an_unversioned_model_whose_first_byte_looks_like_the_version_loads_as_it_was() -> None:
    start = (FORMAT_1_START // 256) * 256 + 1  # its first byte is 1, format 1's version
    unversioned = bytearray(FORMAT_1[1:])
    unversioned[:8] = start.to_bytes(8, "little", signed=True)
    assert unversioned[0] == 1
    assert FeedModel.from_bytes(bytes(unversioned), Params()).start == start


def test_a_model_stored_in_a_newer_format_is_refused_saying_so() -> None:
    model, _, _ = _hourly_files_after_history(3)
    newer = bytes([FORMAT_VERSION + 1]) + model.to_bytes()[1:] + bytes(40)
    with pytest.raises(UnknownModelFormat, match="format 3, by a newer watchkeeper; this one reads formats up to 2"):
        FeedModel.from_bytes(newer, Params())
    with pytest.raises(UnknownModelFormat, match="no format watchkeeper wrote"):
        FeedModel.from_bytes(model.to_bytes()[:-3], Params())


def test_an_hour_without_enough_quiet_weeks_says_so_rather_than_that_the_service_is_new() -> None:
    from watchkeeper.feeds.rhythm import Limits, explain_limit

    def unlearned(young: bool) -> Limits:
        return Limits(
            np.array([4320.0]),
            np.array([np.nan]),
            np.array([1]),
            np.array([False]),
            np.array([0.0]),
            np.array([young]),
            np.array([False]),
        )

    assert explain_limit(130, unlearned(True), 0, Params()).startswith("the service is still being learned")
    assert explain_limit(130, unlearned(False), 0, Params()) == (
        "at 10:00-11:00 on weekends too few weeks passed without an alert to learn from, "
        "so only the hard limit of 3 d applies"
    )


def test_replay_finds_a_drop_that_brief_silences_later_in_its_chunk_would_hide() -> None:
    """A 24x7 service falls to a tenth at 10:00; at a tenth, brief silences alert and
    resolve after 11:00. The drop before them is news, as stepping live finds it."""
    rng = np.random.default_rng(4)

    def day_and_night(minutes: np.ndarray) -> np.ndarray:
        return 0.3 + 6 * np.exp(-(((((minutes % 1440) / 60) - 13) / 4) ** 2))

    series = feed(7, lambda minutes: rng.poisson(day_and_night(minutes)).astype(np.float64))
    start = at(44, 10)
    inside = (series.minutes >= start) & (series.minutes < start + 240)
    counts = series.counts.copy()
    counts[inside] = np.random.default_rng(9).poisson(day_and_night(series.minutes[inside]) * 0.1)
    found = alerts(Series("svc", series.minutes, counts))
    [drop] = [a for a in found if a.kind is Kind.DROP]
    assert start < drop.raised_at <= start + 45
    assert any(a.kind is Kind.SILENCE and a.resolved_at > start + 60 for a in found)  # the recoveries after it
