"""The weekly time grammar: every spelling feeds, maintenance windows and plans took, the
one spelling to write now, midnight, daylight saving, and the public holiday lookup. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper import public_holidays, weekly
from watchkeeper.alerts.routing import Window, parse_weekdays
from watchkeeper.feeds.rhythm import parse_active_hours
from watchkeeper.support.calendar import Calendar
from watchkeeper.weekly import ALWAYS, DAY, NEVER, WEEK, WeeklyHours, parse

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots(days: range | list[int], hours: range) -> frozenset[int]:
    return frozenset(d * 24 + h for d in days for h in hours)


def spans(days: range | list[int], start: str, end: str) -> WeeklyHours:
    return weekly.weekly(days, time.fromisoformat(start), time.fromisoformat(end))


# ---------------------------------------------------------------- feeds' active hours, as before

WEEKDAYS_8_18 = slots(range(5), range(8, 18))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Mon-Fri 08-18", WEEKDAYS_8_18),
        ("mon-fri 8-18", WEEKDAYS_8_18),
        ("MON-FRI 08-18", WEEKDAYS_8_18),
        ("Mon-Fri 08:00-18:00", WEEKDAYS_8_18),
        ("Mon-Fri 08:30-18:30", WEEKDAYS_8_18),  # whole hours: minutes round down, as they always did
        ("Mon-Fri 08-18,", WEEKDAYS_8_18),
        ("Mon-Fri 08-18, Sat 09-13", WEEKDAYS_8_18 | slots([SAT], range(9, 13))),
        ("Mon-Fri 08-18,Sat 09-13", WEEKDAYS_8_18 | slots([SAT], range(9, 13))),
        ("Mon-Fri 08-18, Fri 17-20", WEEKDAYS_8_18 | slots([FRI], range(17, 20))),
        ("Sat 09-13", slots([SAT], range(9, 13))),
        ("Sun 00-24", slots([SUN], range(24))),
        ("Mon-Sun 00-24", slots(range(7), range(24))),
        ("Wed-Wed 10-11", slots([WED], range(10, 11))),
    ],
)
def test_every_active_hours_spelling_feeds_took_keeps_its_hour_slots(text, expected):
    assert parse_active_hours(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Mon-Fri 08:00-18:00; Sat 09:00-13:00", WEEKDAYS_8_18 | slots([SAT], range(9, 13))),
        ("Fri-Mon 08:00-18:00", slots([FRI, SAT, SUN, MON], range(8, 18))),
        ("Sat,Sun 10:00-12:00", slots([SAT, SUN], range(10, 12))),
        ("Sun 22:00-02:00", slots([SUN], range(22, 24)) | slots([MON], range(2))),
        ("Monday-Friday 08:00-18:00", WEEKDAYS_8_18),
        ("24x7", slots(range(7), range(24))),
    ],
)
def test_active_hours_take_the_one_spelling_too(text, expected):
    assert parse_active_hours(text) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "active hours are empty"),
        (" , ", "active hours are empty"),
        ("Moonday 08-18", "days are Mon..Sun"),
        ("Mon-Fri 18-08", "bare hours run forwards"),
        ("Mon-Fri 9-5", "for a night give the minutes: 'Mon-Fri 22:00-06:00'"),
        ("Mon-Fri 08-25", "outside 00:00-24:00"),
        ("Mon-Fri", "has no time range"),
        ("08-18", "names no days"),
        ("Mon 08:00-08:30", "covers no whole hour"),
    ],
)
def test_bad_active_hours_say_what_is_wrong_and_show_a_spelling(text, message):
    with pytest.raises(ValueError, match=message) as raised:
        parse_active_hours(text)
    assert "Mon-Fri 08" in str(raised.value) or "empty" in str(raised.value)


# ---------------------------------------------------------------- maintenance windows, as before


@pytest.mark.parametrize(
    "text,days",
    [
        ("Sun", {SUN}),
        ("Mon-Fri", set(range(5))),
        ("Sat,Sun", {SAT, SUN}),
        ("Sat, Sun", {SAT, SUN}),
        ("Mon,Wed-Fri", {MON, WED, THU, FRI}),
        ("Fri-Mon", {FRI, SAT, SUN, MON}),
        ("sunday", {SUN}),
        ("Tues", {TUE}),
        ("Thurs", {THU}),
        ("Weds", {WED}),
        ("Mon-Fri,", set(range(5))),
    ],
)
def test_every_weekday_spelling_windows_took_names_the_same_days(text, days):
    assert parse_weekdays(text) == frozenset(days)


def old_weekly_end(days: frozenset[int], start: time, end: time, zone: ZoneInfo, now: datetime) -> datetime | None:
    """How a weekly window's end was worked out before the grammar: the reference to agree with."""

    def local(day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)

    today = now.astimezone(zone).date()
    for day in (today - timedelta(days=1), today):
        if day.weekday() in days:
            opens = local(day, start)
            closes = local(day + timedelta(days=1) if end <= start else day, end)
            if opens <= now < closes:
                return closes
    return None


WINDOWS = [
    ("Sun", "22:00", "02:00"),
    ("Sat", "01:00", "05:00"),
    ("Sun", "01:00", "04:00"),
    ("Sun", "02:30", "03:30"),
    ("Mon-Fri", "23:00", "01:00"),
    ("Fri-Mon", "12:00", "13:00"),
    ("Sat,Sun", "00:00", "06:00"),
    ("Wed", "00:00", "00:00"),  # start = end: a whole day
]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
@pytest.mark.parametrize("days,start,end", WINDOWS)
@pytest.mark.parametrize("week", [utc(2026, 3, 2), utc(2026, 3, 23), utc(2026, 10, 19), utc(2026, 10, 26)])
def test_a_weekly_window_is_in_force_and_ends_as_before_across_daylight_saving(zone, days, start, end, week):
    window = Window(
        1,
        "w",
        (),
        zone.key,
        weekdays=parse_weekdays(days),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
    )
    for quarter in range(0, 8 * 24 * 4):
        now = week + timedelta(minutes=15 * quarter)
        expected = old_weekly_end(window.weekdays, window.start, window.end, zone, now)
        assert window.end_if_active(now) == expected, now


def test_a_whole_day_window_on_days_in_a_row_says_when_the_run_ends():
    window = Window(1, "w", (), "UTC", weekdays=parse_weekdays("Sat,Sun"), start=time(0), end=time(0))
    assert window.end_if_active(utc(2026, 11, 21, 12, 0)) == utc(2026, 11, 23, 0, 0)


def test_a_window_given_as_one_rule_reads_as_days_and_times():
    assert weekly.single_rule("Sun 01:00-05:00") == ((SUN,), 60, 300)
    assert weekly.single_rule("Mon-Fri 22:00-02:00") == ((MON, TUE, WED, THU, FRI), 1320, 1560)
    assert weekly.single_rule("sat,sun 00:00-24:00") == ((SAT, SUN), 0, 1440)
    for text in ("Sun 01:00-05:00; Mon 01:00-02:00", "Sun 01:00-02:00,03:00-04:00"):
        with pytest.raises(ValueError, match="one day group and one time range, like 'Sun 01:00-05:00'"):
            weekly.single_rule(text)


# ---------------------------------------------------------------- plans' opening hours, as before


def day_ranges(calendar: Calendar) -> list[tuple[tuple[int, int], ...]]:
    return [calendar.hours.day_ranges(d) for d in range(7)]


NINE_TO_FIVE = [((540, 1020),)] * 5 + [()] * 2


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Mon-Fri 09:00-17:00", NINE_TO_FIVE),
        ("mon-fri 09:00-17:00", NINE_TO_FIVE),
        ("Mon-Fri 9:00-17:00", NINE_TO_FIVE),
        ("Monday-Friday 09:00-17:00", NINE_TO_FIVE),
        ("Mon-Fri 09:00 - 17:00", NINE_TO_FIVE),
        ("Mon-Fri 09:00-17:00;", NINE_TO_FIVE),
        ("Mon-Fri 08:00-12:00,13:00-17:00", [((480, 720), (780, 1020))] * 5 + [()] * 2),
        ("Mon-Fri 08:00-12:00, 13:00-17:00", [((480, 720), (780, 1020))] * 5 + [()] * 2),
        ("Mon-Fri 09:00-17:00; Sat 10:00-12:00", NINE_TO_FIVE[:5] + [((600, 720),), ()]),
        ("Fri-Mon 09:00-17:00", [((540, 1020),)] + [()] * 3 + [((540, 1020),)] * 3),
        ("Mon-Sun 00:00-24:00", [((0, 1440),)] * 7),
        ("Mon 22:00-24:00; Tue 00:00-06:00", [((1320, 1440),), ((0, 360),)] + [()] * 5),
        ("Mon,Wed,Fri 09:00-17:00", [((540, 1020),), (), ((540, 1020),), (), ((540, 1020),), (), ()]),
    ],
)
def test_every_opening_hours_spelling_plans_took_opens_the_same_hours(text, expected):
    assert day_ranges(Calendar.parse(text)) == expected


@pytest.mark.parametrize("text", ["24x7", "24/7", "24X7", " 24x7 "])
def test_24x7_is_always_open(text):
    assert Calendar.parse(text).always_open


def test_a_plan_open_all_week_describes_itself_as_before_and_counts_wall_time():
    calendar = Calendar.parse("Mon-Sun 00:00-24:00", timezone="Europe/Berlin")
    assert calendar.describe().startswith("Mon 00:00-24:00; Tue 00:00-24:00")
    start = utc(2026, 3, 28, 12, 0)
    assert calendar.add(start, timedelta(days=3)) == start + timedelta(days=3)


@pytest.mark.parametrize(
    "text,message",
    [
        ("Mon-Fri 17:00-09:00", "must open before it closes"),
        ("Mon-Fri 22:00-06:00", "split a night shift into the two days it covers"),
        ("Mon-Fri 9-17", "not a time range like 09:00-17:00"),
        ("Mon-Fri 08:00-12:00,11:00-17:00", "the ranges overlap"),
        ("Mon-Fri 08:00-12:00; Fri 13:00-17:00", "Fri is given twice"),
        ("Moonday 08:00-12:00", "days are Mon..Sun"),
        ("Mon-Fri 08:00-12:60", "outside 00:00-24:00"),
        ("", "no hours given"),
    ],
)
def test_bad_opening_hours_say_what_is_wrong_and_show_a_spelling(text, message):
    with pytest.raises(ValueError, match=message) as raised:
        Calendar.parse(text)
    assert ":00" in str(raised.value) or "twice" in str(raised.value)


# ---------------------------------------------------------------- the grammar itself


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("Mon-Fri 08:00-18:00; Sat 09:00-13:00", "Mon-Fri 08:00-18:00; Sat 09:00-13:00"),
        ("mon-fri 8:00-18:00 ; sat 9:00-13:00", "Mon-Fri 08:00-18:00; Sat 09:00-13:00"),
        ("Mon-Fri 08:00-12:00,13:00-17:00", "Mon-Fri 08:00-12:00,13:00-17:00"),
        ("Sat,Sun 22:00-06:00", "Sat-Sun 22:00-06:00"),
        ("Sun 22:00-02:00", "Sun 22:00-02:00"),
        ("Mon 22:00-24:00; Tue 00:00-02:00", "Mon 22:00-02:00"),
        ("Sat 06:00-06:00", "Sat 06:00-24:00; Sun 00:00-06:00"),
        ("Mon 08:00-12:00; Mon 10:00-14:00", "Mon 08:00-14:00"),
        ("Mon,Wed,Fri 09:00-17:00", "Mon,Wed,Fri 09:00-17:00"),
        ("Fri-Mon 00:00-24:00", "Mon,Fri-Sun 00:00-24:00"),
        ("Mon-Sun 00:00-24:00", "24x7"),
        ("always", "24x7"),
        ("24/7", "24x7"),
        ("never", "never"),
    ],
)
def test_the_canonical_spelling(text, canonical):
    assert str(parse(text)) == canonical
    assert parse(canonical) == parse(text)


def test_a_range_over_midnight_belongs_to_the_day_it_starts_and_is_one_interval():
    hours = parse("Sun 22:00-02:00")
    assert hours.contains(datetime(2026, 11, 22, 23, 0, tzinfo=BERLIN)) and hours.contains(
        datetime(2026, 11, 23, 1, 59, tzinfo=BERLIN)
    )
    assert not hours.contains(datetime(2026, 11, 23, 2, 0, tzinfo=BERLIN)) and not hours.contains(
        datetime(2026, 11, 23, 23, 0, tzinfo=BERLIN)
    )
    (first, *_) = hours.intervals(utc(2026, 11, 22, 12, 0), BERLIN)
    assert first == (utc(2026, 11, 22, 21, 0), utc(2026, 11, 23, 1, 0))


@pytest.mark.parametrize(
    "zone,day,opens,closes",
    [
        (BERLIN, date(2026, 3, 29), utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0)),  # 01:00 CET - 04:00 CEST
        (BERLIN, date(2026, 10, 25), utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0)),  # CEST - CET: 4 h real
        (NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0)),
        (NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 9, 0)),
    ],
)
def test_on_the_days_clocks_change_an_opening_keeps_its_wall_clock_ends(zone, day, opens, closes):
    hours = parse("Sun 01:00-04:00")
    after = datetime.combine(day, time(0), tzinfo=zone) - timedelta(hours=1)
    assert next(hours.intervals(after, zone)) == (opens, closes)


def test_an_opening_inside_the_spring_forward_gap_opens_an_hour_later_or_not_at_all():
    wakes = parse("Sun 02:30-05:00")  # 02:30 does not exist on 29 March in Berlin: it reads as 03:30 CEST
    assert next(wakes.intervals(utc(2026, 3, 28, 12, 0), BERLIN)) == (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3, 0))
    lost = parse("Sun 02:30-03:00")  # wholly inside the gap: no time passes, so no interval that day
    assert next(lost.intervals(utc(2026, 3, 28, 12, 0), BERLIN))[0] == utc(2026, 4, 5, 0, 30)


def test_the_next_change_is_the_end_of_the_opening_or_the_start_of_the_next():
    hours = parse("Mon-Fri 09:00-17:00")
    friday_noon, friday_night = utc(2026, 11, 20, 11, 0), utc(2026, 11, 20, 20, 0)
    assert hours.next_change(friday_noon, BERLIN) == utc(2026, 11, 20, 16, 0)
    assert hours.next_change(friday_night, BERLIN) == utc(2026, 11, 23, 8, 0)
    assert NEVER.next_change(friday_noon, BERLIN) is None


def test_closed_days_have_no_hours():
    hours = parse("Mon-Fri 09:00-17:00")
    closed = {date(2026, 11, 23)}.__contains__
    assert next(hours.intervals(utc(2026, 11, 21), ZoneInfo("UTC"), closed=closed))[0] == utc(2026, 11, 24, 9, 0)


def test_overlaps_count_once_unless_refused():
    assert parse("Mon 08:00-12:00; Mon 10:00-14:00") == parse("Mon 08:00-14:00")
    with pytest.raises(ValueError, match="the ranges overlap"):
        parse("Mon 08:00-12:00,10:00-14:00", overlap=False)
    with pytest.raises(ValueError, match="running past midnight overlaps the next day"):
        parse("Mon 22:00-06:00; Tue 05:00-09:00", overlap=False)


@pytest.mark.parametrize(
    "text,message",
    [
        ("Mon 9-17", "hours and minutes"),
        ("Mon 24:00-24:00", "outside 00:00-24:00"),
        ("Mon 08:00-18:00 Tue", "not a time range"),
        ("Mon-Xyz 08:00-18:00", "days are Mon..Sun"),
        (";", "no hours given"),
    ],
)
def test_bad_spellings_say_what_is_wrong_and_show_a_correct_one(text, message):
    with pytest.raises(ValueError, match=message) as raised:
        parse(text)
    assert "Mon-Fri 08:00-18:00" in str(raised.value) or "09:00-17:00" in str(raised.value)


def test_always_and_never():
    assert ALWAYS.always and ALWAYS.contains(datetime(2026, 1, 1, 3, 0, tzinfo=BERLIN)) and str(ALWAYS) == "24x7"
    assert NEVER.never and not NEVER.contains(datetime(2026, 1, 1, 3, 0, tzinfo=BERLIN))
    assert list(NEVER.intervals(utc(2026, 1, 1), BERLIN)) == []
    assert parse("Sat 00:00-00:00; Sun-Fri 00:00-24:00") == ALWAYS


minute_spans = st.lists(
    st.tuples(st.integers(0, WEEK - 1), st.integers(1, 2 * DAY)).map(lambda p: (p[0], p[0] + p[1])), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(minute_spans)
def test_the_canonical_spelling_reads_back_to_the_same_hours(raw):
    hours = WeeklyHours.of(raw)
    assert parse(str(hours)) == hours


@settings(max_examples=200, deadline=None)
@given(minute_spans, st.integers(0, WEEK - 1))
def test_a_minute_is_inside_exactly_when_some_span_holds_it(raw, minute):
    hours = WeeklyHours.of(raw)
    local = datetime(2026, 11, 23, tzinfo=BERLIN) + timedelta(minutes=minute)  # a Monday
    inside = any(start <= minute < end or start <= minute + WEEK < end for start, end in raw)
    assert hours.contains(local) is inside


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="MonTueWdFriSatSuny0123456789:-,; \n", max_size=40) | st.text(max_size=20))
def test_any_text_reads_as_hours_or_is_refused_with_a_message(text):
    for read in (parse, weekly.single_rule, lambda t: parse(t, whole_hours=True, overnight=False, overlap=False)):
        try:
            read(text)
        except ValueError as exc:
            assert str(exc)


# ---------------------------------------------------------------- public holidays


def test_public_holidays_by_country_and_subdivision():
    assert public_holidays.is_holiday("DE", date(2026, 12, 25))
    assert not public_holidays.is_holiday("DE", date(2026, 12, 24))
    assert public_holidays.is_holiday("DE-BY", date(2026, 1, 6)) and not public_holidays.is_holiday(
        "DE", date(2026, 1, 6)
    )
    assert public_holidays.is_holiday("us-ca", date(2026, 7, 4))
    assert not public_holidays.is_holiday(None, date(2026, 12, 25)) and not public_holidays.is_holiday(
        "", date(2026, 12, 25)
    )


def test_a_holiday_calendar_is_built_once_per_code():
    assert public_holidays.calendar("DE") is public_holidays.calendar("DE")


@pytest.mark.parametrize("code", ["XX", "DE-ZZ", ""])
def test_an_unknown_holiday_code_is_refused_with_what_to_give(code):
    with pytest.raises(ValueError, match="no public holiday calendar .* like DE, or a subdivision like US-CA"):
        public_holidays.check(code)


def test_a_known_code_is_kept_in_upper_case():
    assert public_holidays.check(" de-by ") == "DE-BY"


@pytest.mark.parametrize(
    ("text", "hours"),
    [("Mon 08:5-10", {8, 9}), ("Mon 8:00:00-10", {8, 9}), ("Mon 008-010", {8, 9}), ("Mon 08:60-10:", {8, 9})],
)
def test_a_feeds_stored_hours_in_the_older_looser_spelling_keep_their_hours(text, hours):
    assert parse_active_hours(text) == frozenset(hours)


def test_a_plan_still_refuses_a_loose_time():
    with pytest.raises(ValueError, match="not a time range"):
        weekly.parse("Mon 08:5-10:00")
