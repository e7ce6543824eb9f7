"""The rotation rules: who is on call when, across daylight saving, restrictions, layers and overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper import weekly
from watchkeeper.oncall.rotation import (
    HORIZON,
    Layer,
    Override,
    Schedule,
    Shift,
    ShiftLength,
    Unit,
    next_shift,
    on_call,
    render,
)

BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)


def daily(users: str, start: date, at: time = time(9), zone: ZoneInfo = BERLIN, **kw) -> Schedule:
    return Schedule(zone, (Layer(tuple(users.split(",")), ShiftLength(1, Unit.DAYS), start, at, **kw),))


def seen(shifts: list[Shift], zone: ZoneInfo) -> list[tuple[str, str, str | None]]:
    """Shifts as a person reads them: local start, local end, who."""
    fmt = "%a %d %H:%M"
    return [(s.start.astimezone(zone).strftime(fmt), s.end.astimezone(zone).strftime(fmt), s.user) for s in shifts]


@pytest.mark.parametrize(
    ("zone", "change"),
    [
        (BERLIN, date(2027, 3, 28)),  # clocks go forward 02:00 -> 03:00
        (BERLIN, date(2027, 10, 31)),  # clocks go back 03:00 -> 02:00
        (SYDNEY, date(2027, 4, 4)),  # back 03:00 -> 02:00 (southern autumn)
        (SYDNEY, date(2027, 10, 3)),  # forward 02:00 -> 03:00
    ],
)
def test_a_daily_0900_handoff_stays_at_0900_local_across_the_change(zone, change):
    schedule = daily("ann,bob", change - timedelta(days=2), zone=zone)
    shifts = render(
        schedule,
        local(zone, *(change - timedelta(days=1)).timetuple()[:3], 9),
        local(zone, *(change + timedelta(days=2)).timetuple()[:3], 9),
    )
    assert [s.start.astimezone(zone).hour for s in shifts] == [9, 9, 9]
    lengths = [(s.end - s.start) / timedelta(hours=1) for s in shifts]
    assert sorted(lengths) in ([23, 24, 24], [24, 24, 25])
    assert [s.user for s in shifts] == ["bob", "ann", "bob"]


def test_hours_shifts_count_elapsed_hours_so_the_handoff_moves_an_hour_in_local_time():
    layer = Layer(("ann", "bob"), ShiftLength.parse("12h"), date(2027, 3, 27), time(8))
    shifts = render(Schedule(BERLIN, (layer,)), local(BERLIN, 2027, 3, 27, 8), local(BERLIN, 2027, 3, 29, 9))
    assert seen(shifts, BERLIN) == [
        ("Sat 27 08:00", "Sat 27 20:00", "ann"),
        ("Sat 27 20:00", "Sun 28 09:00", "bob"),
        ("Sun 28 09:00", "Sun 28 21:00", "ann"),
        ("Sun 28 21:00", "Mon 29 09:00", "bob"),
    ]


def test_a_handoff_inside_the_spring_forward_gap_happens_at_the_hours_end():
    schedule = daily("ann,bob", date(2027, 3, 27), time(2, 30))
    shift = on_call(schedule, local(BERLIN, 2027, 3, 28, 4))
    assert shift is not None and shift.user == "bob"
    assert shift.start == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST, the gap's wall time read as CET


def test_a_handoff_in_the_repeated_autumn_hour_is_the_first_of_the_two():
    schedule = daily("ann,bob", date(2027, 10, 30), time(2, 30))
    shift = on_call(schedule, datetime(2027, 10, 31, 1, 0, tzinfo=UTC))
    assert shift is not None and shift.user == "bob" and shift.start == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_weekly_rotation_in_sydney_hands_off_on_monday_morning_local():
    layer = Layer(("ann", "bob", "cho"), ShiftLength.parse("1w"), date(2027, 9, 27), time(9))
    shifts = render(Schedule(SYDNEY, (layer,)), local(SYDNEY, 2027, 9, 27, 9), local(SYDNEY, 2027, 10, 18, 9))
    assert [(s.start.astimezone(SYDNEY).strftime("%a %d %H:%M"), s.user) for s in shifts] == [
        ("Mon 27 09:00", "ann"),
        ("Mon 04 09:00", "bob"),
        ("Mon 11 09:00", "cho"),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(days=7, hours=-1)  # the week clocks went forward


def test_nobody_is_on_call_before_the_layer_starts():
    schedule = daily("ann", date(2027, 1, 4))
    assert on_call(schedule, local(BERLIN, 2027, 1, 4, 8, 59)) is None
    assert render(schedule, local(BERLIN, 2027, 1, 4, 0), local(BERLIN, 2027, 1, 4, 10)) == [
        Shift(local(BERLIN, 2027, 1, 4, 0), local(BERLIN, 2027, 1, 4, 9), None),
        Shift(local(BERLIN, 2027, 1, 4, 9), local(BERLIN, 2027, 1, 4, 10), "ann"),
    ]


def test_restricted_layer_leaves_gaps_outside_its_hours():
    schedule = daily("ann,bob", date(2027, 1, 4), restrictions=weekly.parse("Mon-Fri 08:00-18:00"))
    assert on_call(schedule, local(BERLIN, 2027, 1, 4, 19)) is None
    assert on_call(schedule, local(BERLIN, 2027, 1, 9, 12)) is None  # Saturday
    shift = on_call(schedule, local(BERLIN, 2027, 1, 5, 8, 30))
    # Tuesday 08:00-09:00 is still Monday's turn (ann); bob's turn starts at the 09:00 handoff.
    assert shift == Shift(local(BERLIN, 2027, 1, 5, 8), local(BERLIN, 2027, 1, 5, 9), "ann")


def test_a_higher_layer_overrides_a_lower_one_where_it_has_someone():
    base = Layer(("ann", "bob"), ShiftLength.parse("1w"), date(2027, 1, 4), time(9))
    days = Layer(
        ("cho", "dan"), ShiftLength.parse("1d"), date(2027, 1, 4), time(9), weekly.parse("Mon-Fri 09:00-17:00")
    )
    schedule = Schedule(BERLIN, (base, days))
    assert on_call(schedule, local(BERLIN, 2027, 1, 5, 12)).user == "dan"
    assert on_call(schedule, local(BERLIN, 2027, 1, 5, 20)).user == "ann"
    assert on_call(Schedule(BERLIN, (days, base)), local(BERLIN, 2027, 1, 5, 12)).user == "ann"


def test_an_override_beats_every_layer_and_the_later_override_wins():
    base = Layer(("ann",), ShiftLength.parse("1w"), date(2027, 1, 4), time(9))
    first = Override("bob", local(BERLIN, 2027, 1, 5, 10), local(BERLIN, 2027, 1, 5, 14))
    second = Override("cho", local(BERLIN, 2027, 1, 5, 12), local(BERLIN, 2027, 1, 5, 13))
    schedule = Schedule(BERLIN, (base,), (first, second))
    shifts = render(schedule, local(BERLIN, 2027, 1, 5, 9), local(BERLIN, 2027, 1, 5, 15))
    assert seen(shifts, BERLIN) == [
        ("Tue 05 09:00", "Tue 05 10:00", "ann"),
        ("Tue 05 10:00", "Tue 05 12:00", "bob"),
        ("Tue 05 12:00", "Tue 05 13:00", "cho"),
        ("Tue 05 13:00", "Tue 05 14:00", "bob"),
        ("Tue 05 14:00", "Tue 05 15:00", "ann"),
    ]


def test_an_override_fills_a_gap_and_one_with_nobody_under_it_stands_alone():
    schedule = Schedule(BERLIN, (), (Override("bob", local(BERLIN, 2027, 1, 5, 10), local(BERLIN, 2027, 1, 5, 14)),))
    assert seen(render(schedule, local(BERLIN, 2027, 1, 5, 0), local(BERLIN, 2027, 1, 6, 0)), BERLIN) == [
        ("Tue 05 00:00", "Tue 05 10:00", None),
        ("Tue 05 10:00", "Tue 05 14:00", "bob"),
        ("Tue 05 14:00", "Wed 06 00:00", None),
    ]


def test_a_users_adjacent_shifts_are_merged():
    schedule = daily("ann", date(2027, 1, 4))
    assert render(schedule, local(BERLIN, 2027, 1, 4, 9), local(BERLIN, 2027, 1, 11, 9)) == [
        Shift(local(BERLIN, 2027, 1, 4, 9), local(BERLIN, 2027, 1, 11, 9), "ann")
    ]


def test_one_week_renders_as_written_by_hand():
    """The desk's week: ann and bob take weeks in turn, cho and dan the working days, eve covers a dentist's visit."""
    week = Layer(("ann", "bob"), ShiftLength.parse("1w"), date(2027, 3, 22), time(9))
    office = Layer(
        ("cho", "dan"), ShiftLength.parse("1d"), date(2027, 3, 22), time(8), weekly.parse("Mon-Fri 08:00-18:00")
    )
    dentist = Override("eve", local(BERLIN, 2027, 3, 30, 10), local(BERLIN, 2027, 3, 30, 12))
    schedule = Schedule(BERLIN, (week, office), (dentist,))
    shifts = render(schedule, local(BERLIN, 2027, 3, 29, 0), local(BERLIN, 2027, 4, 5, 0))
    assert seen(shifts, BERLIN) == [
        ("Mon 29 00:00", "Mon 29 08:00", "ann"),  # ann's week runs to Monday 09:00, the office opens at 08:00
        ("Mon 29 08:00", "Mon 29 18:00", "dan"),
        ("Mon 29 18:00", "Tue 30 08:00", "bob"),
        ("Tue 30 08:00", "Tue 30 10:00", "cho"),
        ("Tue 30 10:00", "Tue 30 12:00", "eve"),
        ("Tue 30 12:00", "Tue 30 18:00", "cho"),
        ("Tue 30 18:00", "Wed 31 08:00", "bob"),
        ("Wed 31 08:00", "Wed 31 18:00", "dan"),
        ("Wed 31 18:00", "Thu 01 08:00", "bob"),
        ("Thu 01 08:00", "Thu 01 18:00", "cho"),
        ("Thu 01 18:00", "Fri 02 08:00", "bob"),
        ("Fri 02 08:00", "Fri 02 18:00", "dan"),
        ("Fri 02 18:00", "Mon 05 00:00", "bob"),
    ]


def test_next_shift_is_the_next_person_after_the_current_one():
    schedule = daily("ann,bob", date(2027, 1, 4))
    upcoming = next_shift(schedule, local(BERLIN, 2027, 1, 4, 12))
    assert upcoming is not None and upcoming.user == "bob" and upcoming.start == local(BERLIN, 2027, 1, 5, 9)


@pytest.mark.parametrize(
    ("text", "message"),
    [("1y", "not a shift length"), ("0d", "1 to 10,000"), ("", "not a shift length")],
)
def test_a_shift_length_it_cannot_read_says_what_to_write(text, message):
    with pytest.raises(ValueError, match=message):
        ShiftLength.parse(text)


def test_an_override_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="must end after it starts"):
        Override("ann", local(BERLIN, 2027, 1, 5, 12), local(BERLIN, 2027, 1, 5, 10))


def test_a_layer_needs_users():
    with pytest.raises(ValueError, match="at least one user"):
        Layer((), ShiftLength.parse("1d"), date(2027, 1, 4))


# Properties, over random schedules in zones with daylight saving.

ZONES = st.sampled_from([BERLIN, SYDNEY, ZoneInfo("America/New_York"), ZoneInfo("UTC")])
USERS = st.lists(st.sampled_from(["ann", "bob", "cho", "dan"]), min_size=1, max_size=4).map(tuple)
LENGTHS = st.one_of(
    st.builds(ShiftLength, st.integers(1, 36), st.just(Unit.HOURS)),
    st.builds(ShiftLength, st.integers(1, 4), st.just(Unit.DAYS)),
    st.builds(ShiftLength, st.integers(1, 2), st.just(Unit.WEEKS)),
)
HOURS = st.sampled_from([None, "Mon-Fri 08:00-18:00", "Sat,Sun 22:00-06:00", "Mon 02:30-03:30; Wed 00:00-24:00"])
BASE = datetime(2027, 3, 1, tzinfo=UTC)
INSTANTS = st.integers(0, 70 * 24 * 4).map(lambda q: BASE + timedelta(minutes=15 * q))
LAYERS = st.builds(
    Layer,
    USERS,
    LENGTHS,
    st.dates(date(2027, 2, 20), date(2027, 4, 10)),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    HOURS.map(lambda h: None if h is None else weekly.parse(h)),
)


@st.composite
def overrides(draw):
    start = draw(INSTANTS)
    return Override(
        draw(st.sampled_from(["eve", "ann"])), start, start + timedelta(minutes=15 * draw(st.integers(1, 400)))
    )


SCHEDULES = st.builds(
    Schedule, ZONES, st.lists(LAYERS, max_size=3).map(tuple), st.lists(overrides(), max_size=3).map(tuple)
)


@st.composite
def windows(draw):
    start = draw(INSTANTS)
    return start, start + timedelta(minutes=15 * draw(st.integers(1, 14 * 24 * 4)))


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, windows())
def test_render_covers_the_window_exactly_without_overlap_and_merges_neighbours(schedule, window):
    start, end = window
    shifts = render(schedule, start, end)
    assert shifts[0].start == start and shifts[-1].end == end
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert before.end == after.start  # no hole, no overlap
        assert before.user != after.user  # a user's adjacent shifts (and gaps) are one
    assert all(s.start < s.end for s in shifts)


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, windows(), st.floats(0, 1))
def test_on_call_agrees_with_render_at_every_instant(schedule, window, where):
    start, end = window
    shifts = render(schedule, start, end)
    at = start + (end - start) * where
    at = min(at, end - timedelta(microseconds=1))
    (holding,) = [s for s in shifts if s.start <= at < s.end]
    shift = on_call(schedule, at)
    if holding.gap:
        assert shift is None
        return
    assert shift is not None and shift.user == holding.user and shift.start <= at < shift.end
    # Where render saw the whole shift, on_call gives the same bounds.
    if holding.start > start:
        assert shift.start == holding.start
    if holding.end < end:
        assert shift.end == holding.end


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, INSTANTS)
def test_on_call_is_the_shift_holding_the_instant_in_a_render_of_the_horizon_either_side(schedule, at):
    (holding,) = [s for s in render(schedule, at - HORIZON, at + HORIZON) if s.start <= at < s.end]
    assert on_call(schedule, at) == (None if holding.gap else holding)
    assert on_call(schedule, at) == on_call(schedule, at)  # the second look, from the rendering kept


def test_an_edited_schedule_has_the_new_person_on_call_at_once():
    rules = daily("ann,bob", date(2027, 1, 4))
    at = local(BERLIN, 2027, 1, 4, 12)
    assert on_call(rules, at).user == "ann"
    covered = replace(rules, overrides=(Override("cho", at - timedelta(hours=1), at + timedelta(hours=1)),))
    assert on_call(covered, at).user == "cho"
    moved = replace(rules, layers=(replace(rules.layers[0], users=("bob", "ann")),))
    assert on_call(moved, at).user == "bob"
    assert on_call(rules, at).user == "ann"


@settings(max_examples=100, deadline=None)
@given(SCHEDULES, windows())
def test_render_of_two_halves_is_render_of_the_whole(schedule, window):
    start, end = window
    middle = start + (end - start) / 2
    whole = render(schedule, start, end)
    halves = render(schedule, start, middle) + render(schedule, middle, end)
    joined: list[Shift] = []
    for s in halves:
        if joined and joined[-1].user == s.user and joined[-1].end == s.start:
            joined[-1] = Shift(joined[-1].start, s.end, s.user)
        else:
            joined.append(s)
    assert joined == whole


@settings(max_examples=100, deadline=None)
@given(ZONES, LAYERS, INSTANTS)
def test_day_and_week_handoffs_happen_at_the_handoff_time_local(zone, layer, at):
    if layer.shift.unit is Unit.HOURS or layer.restrictions is not None:
        return
    for s in render(
        Schedule(zone, (Layer(layer.users + ("zed",), layer.shift, layer.start, layer.handoff),)),
        at,
        at + timedelta(days=30),
    )[1:]:
        # The handoff time on the shift's local date: the wall time itself, or its reading in a spring-forward gap.
        assert datetime.combine(s.start.astimezone(zone).date(), layer.handoff, tzinfo=zone).astimezone(UTC) == s.start
