"""The desk's SVG charts as a reader sees them: what is drawn, where, in which colour, and what hover and aria say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from watchkeeper.web.charts import (
    AMBER,
    BLUE,
    EMPTY_CELL,
    GREEN,
    GREY_TEXT,
    NO_DATA,
    RED,
    Day,
    band_chart,
    heatmap,
    latency_chart,
    sparkline,
    uptime_bars,
    uptime_percent,
)

SVG = "{http://www.w3.org/2000/svg}"
HOURS = [f"{h:02d}" for h in range(24)]
WEEK = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def parse(chart: Markup) -> ET.Element:
    return ET.fromstring(str(chart))


def find(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(SVG + tag))


def titles(root: ET.Element, tag: str) -> list[str]:
    return [element.findtext(SVG + "title") or "" for element in find(root, tag)]


def points(polyline: ET.Element) -> list[tuple[float, float]]:
    pairs = (pair.split(",") for pair in polyline.get("points", "").split())
    return [(float(x), float(y)) for x, y in pairs]


def view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in root.get("viewBox", "").split())
    return x, y, w, h


def contrast_on_white(colour: str) -> float:
    """WCAG 2's contrast ratio of `colour` (#rrggbb) against white."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def every_chart() -> list[Markup]:
    return [
        sparkline([1, 5, 3], label="records"),
        heatmap([[0, 1, 2]], label="by hour", row_names=["Mon"]),
        band_chart([1, 1], [2, 2], [1.5, 9], label="records"),
        uptime_bars([Day("2026-11-30", 1.0)], label="api"),
        latency_chart([0.1, None, 0.3], label="probe", threshold=0.2),
    ]


# Every chart


@pytest.mark.parametrize("chart", every_chart())
def test_every_chart_is_markup_an_image_with_a_summary_and_scales_with_its_container(chart):
    assert isinstance(chart, Markup)
    root = parse(chart)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    assert root.get("aria-label")
    assert root.get("width") == "100%"
    assert view_box(root)[2] > 0 and view_box(root)[3] > 0


@pytest.mark.parametrize("chart", every_chart())
def test_every_chart_draws_its_text_in_a_colour_that_passes_aa_for_text(chart):
    texts = find(parse(chart), "text")
    assert all(contrast_on_white(text.get("fill", "")) >= 4.5 for text in texts)


@pytest.mark.parametrize("colour", [GREEN, AMBER, RED, BLUE, GREY_TEXT])
def test_the_colours_that_carry_meaning_pass_aa_for_text_on_white(colour):
    assert contrast_on_white(colour) >= 4.5


def test_a_markup_template_inserts_a_chart_unescaped_but_a_label_cannot_inject_markup():
    label = '<script>alert("x")</script> & co'
    root = parse(sparkline([1, 2], label=label))
    assert root.get("aria-label", "").startswith(label)
    assert find(root, "script") == []
    assert Markup("{}").format(sparkline([1], label="a")).startswith("<svg")


# Sparkline


def test_a_sparkline_summary_gives_the_total_and_the_peak_with_thousands_separators():
    root = parse(sparkline([1000, 234, 1210], label="records in the last 24 h"))
    assert root.get("aria-label") == "records in the last 24 h: 2,444 in all, peak 1,210 an hour"
    assert root.findtext(SVG + "title") == root.get("aria-label")


def test_a_sparkline_has_one_point_per_value_spread_across_its_width():
    (line,) = find(parse(sparkline(list(range(24)), label="records", width=120)), "polyline")
    xs = [x for x, _ in points(line)]
    assert len(xs) == 24
    assert xs[0] == 0 and xs[-1] == 120
    assert xs == sorted(xs)


def test_a_sparkline_puts_its_peak_at_the_top_and_zero_at_the_bottom():
    (line,) = find(parse(sparkline([0, 10, 5], label="records", height=24)), "polyline")
    (_, zero), (_, peak), (_, half) = points(line)
    assert peak < half < zero
    assert peak == pytest.approx(1.5) and zero == pytest.approx(22.5)


def test_a_sparkline_stretches_to_its_width_at_a_fixed_height_without_thickening_its_line():
    root = parse(sparkline([1, 2], label="records", height=24))
    assert root.get("preserveAspectRatio") == "none"
    assert root.get("height") == "24"
    assert find(root, "polyline")[0].get("vector-effect") == "non-scaling-stroke"


@pytest.mark.parametrize("values", [[], [0] * 24, [0.0]])
def test_a_sparkline_of_nothing_is_a_flat_line_at_the_bottom(values):
    (line,) = find(parse(sparkline(values, label="records", height=24)), "polyline")
    ys = {y for _, y in points(line)}
    assert ys == {22.5}
    assert [x for x, _ in points(line)][-1] == 120


def test_a_sparkline_of_no_values_says_there_is_no_data():
    assert parse(sparkline([], label="records")).get("aria-label") == "records: no data"


def test_a_sparkline_summary_names_the_span_of_one_value_when_told():
    root = parse(sparkline([3, 4], label="records this month", per="a day"))
    assert root.get("aria-label") == "records this month: 7 in all, peak 4 a day"


@given(st.lists(st.floats(min_value=0, max_value=1e12, allow_nan=False), min_size=2, max_size=200))
def test_every_sparkline_point_lies_inside_the_chart_and_higher_values_lie_higher(values):
    (line,) = find(parse(sparkline(values, label="records", width=120, height=24)), "polyline")
    drawn = points(line)
    assert len(drawn) == len(values)
    assert all(0 <= x <= 120 and 0 <= y <= 24 for x, y in drawn)
    by_value = sorted(zip(values, (y for _, y in drawn), strict=True))
    assert all(later[1] <= earlier[1] for earlier, later in zip(by_value, by_value[1:], strict=False))


# Heatmap


def week_of_hours(value=0):
    return [[value] * 24 for _ in WEEK]


def test_a_heatmap_draws_one_cell_per_value_each_titled_with_its_day_hour_and_count():
    cells = week_of_hours()
    cells[1][14] = 1234
    root = parse(heatmap(cells, label="records by hour", row_names=WEEK))
    assert len(find(root, "rect")) == 7 * 24
    assert "Tue 14:00: 1,234" in titles(root, "rect")
    assert titles(root, "rect")[0] == "Mon 00:00: 0"


def test_a_heatmap_shows_none_in_light_grey_and_a_busier_hour_in_a_darker_blue():
    root = parse(heatmap([[0, 1, 10, 100]], label="records", row_names=["Mon"]))
    none, little, more, most = (rect.get("fill", "") for rect in find(root, "rect"))
    assert none == EMPTY_CELL
    assert len({none, little, more, most}) == 4
    assert contrast_on_white(little) < contrast_on_white(more) < contrast_on_white(most)


def test_a_heatmap_with_nothing_in_it_is_all_grey_and_says_so():
    root = parse(heatmap(week_of_hours(), label="records", row_names=WEEK))
    assert {rect.get("fill") for rect in find(root, "rect")} == {EMPTY_CELL}
    assert root.get("aria-label") == "records: 0 in all"


def test_a_heatmap_names_its_rows_at_the_left_and_hours_along_the_top():
    root = parse(heatmap(week_of_hours(1), label="records", row_names=WEEK))
    texts = find(root, "text")
    shown = [text.text for text in texts]
    assert shown[:4] == ["0", "6", "12", "18"]
    assert shown[4:] == WEEK
    first_cell_x = min(float(rect.get("x", "")) for rect in find(root, "rect"))
    assert all(float(text.get("x", "")) < first_cell_x for text in texts[4:])
    first_cell_y = min(float(rect.get("y", "")) for rect in find(root, "rect"))
    assert all(float(text.get("y", "")) < first_cell_y for text in texts[:4])


def test_a_heatmap_summary_gives_the_total_and_the_busiest_hour():
    cells = week_of_hours(1)
    cells[4][9] = 2000
    root = parse(heatmap(cells, label="records by hour", row_names=WEEK))
    assert root.get("aria-label") == "records by hour: 2,167 in all, busiest Fri 09:00 with 2,000"


def test_a_heatmap_refuses_row_names_that_do_not_match_its_rows():
    with pytest.raises(ValueError, match="7 rows of cells but 6 row names"):
        heatmap(week_of_hours(), label="records", row_names=WEEK[:6])


def test_a_heatmap_escapes_its_row_names():
    root = parse(heatmap([[1]], label="records", row_names=["<b>&"]))
    assert find(root, "text")[-1].text == "<b>&"
    assert titles(root, "rect") == ["<b>& 00:00: 1"]


# Band chart


def week(value):
    return [value] * 168


def test_a_band_chart_shades_the_expected_range_as_a_translucent_blue_band():
    root = parse(band_chart(week(10), week(20), week(15), label="records"))
    (band,) = find(root, "polygon")
    assert band.get("fill") == BLUE and 0 < float(band.get("fill-opacity", "")) < 1
    ys = {y for _, y in points(band)}
    assert len(ys) == 2  # a flat band: its top edge and its bottom edge


def test_a_band_chart_draws_the_actual_line_inside_the_band_when_all_is_as_expected():
    root = parse(band_chart(week(10), week(20), week(15), label="records"))
    (band,) = find(root, "polygon")
    top, bottom = sorted({y for _, y in points(band)})
    (line,) = find(root, "polyline")
    assert len(points(line)) == 168
    assert all(top < y < bottom for _, y in points(line))
    assert find(root, "circle") == []
    assert root.get("aria-label") == "records: 0 of 168 hours outside the expected range"


def test_a_band_chart_breaks_its_line_where_there_is_no_data_and_stops_where_the_future_starts():
    actual: list[float | None] = [15.0] * 50
    actual[10:12] = [None, None]
    root = parse(band_chart(week(10), week(20), actual, label="records"))
    lengths = [len(points(line)) for line in find(root, "polyline")]
    assert lengths == [10, 38]
    last_x = max(x for line in find(root, "polyline") for x, _ in points(line))
    assert last_x < 716 / 3


def test_a_band_chart_marks_each_hour_outside_the_band_with_a_red_dot_titled_with_its_hour():
    actual = week(15)
    actual[30], actual[100] = 50, 2
    root = parse(band_chart(week(10), week(20), actual, label="records", start_label="Mon"))
    dots = find(root, "circle")
    assert [dot.get("fill") for dot in dots] == [RED, RED]
    assert titles(root, "circle") == ["Tue 06:00: 50, expected 10 to 20", "Fri 04:00: 2, expected 10 to 20"]
    assert root.get("aria-label") == "records: 2 of 168 hours outside the expected range"


def test_a_band_chart_dot_above_the_band_sits_higher_than_one_below_it():
    actual = week(15)
    actual[30], actual[100] = 50, 2
    high, low = find(parse(band_chart(week(10), week(20), actual, label="records")), "circle")
    assert float(high.get("cy", "")) < float(low.get("cy", ""))


def test_a_band_chart_names_each_day_from_the_start_day_and_separates_the_days():
    root = parse(band_chart(week(10), week(20), week(15), label="records", start_label="Thu"))
    assert [text.text for text in find(root, "text")] == ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    separators = find(root, "line")
    assert len(separators) == 6
    xs = [float(line.get("x1", "")) for line in separators]
    gaps = {round(b - a, 1) for a, b in zip(xs, xs[1:], strict=False)}
    assert len(gaps) == 1  # the days are equally wide


def test_a_band_chart_takes_any_number_of_hours():
    root = parse(band_chart([1] * 30, [2] * 30, [1.5] * 30, label="records"))
    assert [text.text for text in find(root, "text")] == ["Mon", "Tue"]
    assert len(points(find(root, "polyline")[0])) == 30


def test_a_band_chart_with_no_actual_values_yet_says_so():
    root = parse(band_chart(week(10), week(20), [], label="records"))
    assert find(root, "polyline") == []
    assert root.get("aria-label") == "records: no data yet"


def test_a_band_chart_refuses_an_unknown_start_day():
    with pytest.raises(ValueError, match="start_label 'Monday'"):
        band_chart(week(1), week(2), week(1), label="records", start_label="Monday")


def test_a_band_chart_refuses_bands_of_different_lengths_or_more_actual_than_band():
    with pytest.raises(ValueError):
        band_chart(week(1), week(2)[:-1], [], label="records")
    with pytest.raises(ValueError):
        band_chart([1], [2], [1, 1], label="records")


def test_a_band_chart_of_zeros_does_not_divide_by_zero():
    root = parse(band_chart(week(0), week(0), week(0), label="records"))
    assert find(root, "circle") == []


# Uptime bars


@pytest.mark.parametrize(
    ("day", "colour"),
    [
        (Day("2026-11-30", 1.0), GREEN),
        (Day("2026-11-30", 0.999), GREEN),
        (Day("2026-11-30", 0.9989), AMBER),
        (Day("2026-11-30", 0.95), AMBER),
        (Day("2026-11-30", 0.9499), RED),
        (Day("2026-11-30", None), NO_DATA),
        (Day("2026-11-30", 1.0, maintenance_minutes=30), BLUE),
        (Day("2026-11-30", 0.97, maintenance_minutes=30), AMBER),
        (Day("2026-11-30", 0.5, maintenance_minutes=30), RED),
        (Day("2026-11-30", 1.0, incidents=1), GREEN),
    ],
)
def test_an_uptime_bar_is_coloured_by_how_much_of_the_day_was_up(day, colour):
    (bar,) = find(parse(uptime_bars([day], label="api")), "rect")
    assert bar.get("fill") == colour


def test_uptime_bars_draw_one_bar_per_day_oldest_first():
    days = [Day(f"2026-09-{d:02d}", 1.0) for d in range(1, 31)] * 3
    bars = find(parse(uptime_bars(days, label="api")), "rect")
    assert len(bars) == 90
    xs = [float(bar.get("x", "")) for bar in bars]
    assert xs == sorted(xs) and len(set(xs)) == 90


def test_an_uptime_bar_title_gives_the_day_its_uptime_incidents_and_maintenance():
    days = [
        Day("2026-11-30", 0.9952, maintenance_minutes=30, incidents=1),
        Day("2026-12-01", 0.9, incidents=2),
        Day("2026-12-02", 1.0),
        Day("2026-12-03", None),
    ]
    assert titles(parse(uptime_bars(days, label="api")), "rect") == [
        "2026-11-30: 99.52 % up, 1 incident, 30 min maintenance",
        "2026-12-01: 90.00 % up, 2 incidents",
        "2026-12-02: 100.00 % up",
        "2026-12-03: no data",
    ]


def test_an_uptime_bar_title_never_rounds_a_day_with_downtime_up_to_100_percent():
    (title,) = titles(parse(uptime_bars([Day("2026-11-30", 0.99999)], label="api")), "rect")
    assert title == "2026-11-30: 99.99 % up"


def test_uptime_bars_stretch_to_their_width_at_a_fixed_height():
    root = parse(uptime_bars([Day("2026-11-30", 1.0)] * 90, label="api"))
    assert root.get("preserveAspectRatio") == "none"
    assert root.get("height") == "34"


def test_uptime_bars_summary_gives_the_uptime_and_counts_the_days_that_were_not_plain_up():
    days = [Day("d1", 1.0), Day("d2", 0.99), Day("d3", 1.0, maintenance_minutes=5), Day("d4", None)]
    root = parse(uptime_bars(days, label="billing API"))
    assert root.get("aria-label") == (
        "billing API: 99.66 % up over 4 days, 1 day with an outage, 1 day with maintenance, 1 day without data"
    )


def test_uptime_bars_without_any_day_of_data_say_so():
    assert parse(uptime_bars([], label="api")).get("aria-label") == "api: no data for 0 days"
    assert parse(uptime_bars([Day("d1", None)], label="api")).get("aria-label") == "api: no data for 1 day"


def test_uptime_percent_is_the_mean_of_the_days_with_data():
    assert uptime_percent([Day("d1", 1.0), Day("d2", 0.9), Day("d3", None)]) == pytest.approx(95.0)


def test_uptime_percent_is_none_without_a_day_of_data():
    assert uptime_percent([]) is None
    assert uptime_percent([Day("d1", None)]) is None


@pytest.mark.parametrize(
    "arguments",
    [("d", 1.5), ("d", -0.1), ("d", float("nan")), ("d", 1.0, -1.0), ("d", 1.0, 0.0, -1)],
)
def test_a_day_refuses_an_impossible_uptime_or_a_negative_count(arguments):
    with pytest.raises(ValueError):
        Day(*arguments)


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1)), max_size=120))
def test_uptime_percent_lies_between_the_worst_and_best_day(fractions):
    percent = uptime_percent([Day("d", f) for f in fractions])
    known = [f * 100 for f in fractions if f is not None]
    if not known:
        assert percent is None
    else:
        assert percent is not None
        assert min(known) - 1e-9 <= percent <= max(known) + 1e-9


# Latency chart


def test_a_latency_chart_labels_the_top_of_its_axis():
    root = parse(latency_chart([0.1, 0.42, 0.2], label="probe"))
    assert [text.text for text in find(root, "text")] == ["max 0.42 s"]


def test_a_latency_chart_puts_its_slowest_probe_at_the_top_of_the_plot():
    root = parse(latency_chart([0.1, 0.42, 0.0], label="probe"))
    (line,) = find(root, "polyline")
    (_, fast), (_, slowest), (_, zero) = points(line)
    assert slowest < fast < zero
    (baseline,) = [line for line in find(root, "line") if line.get("stroke") == NO_DATA]
    assert zero == float(baseline.get("y1", ""))


def test_a_latency_chart_breaks_its_line_at_failed_probes_and_marks_them_with_red_ticks_below():
    root = parse(latency_chart([0.1, 0.2, None, 0.3, 0.2, None, None, 0.1, 0.1], label="probe"))
    assert [len(points(line)) for line in find(root, "polyline")] == [2, 2, 2]
    ticks = [line for line in find(root, "line") if line.get("stroke") == RED]
    assert len(ticks) == 3
    (baseline,) = [line for line in find(root, "line") if line.get("stroke") == NO_DATA]
    assert all(float(tick.get("y1", "")) > float(baseline.get("y1", "")) for tick in ticks)
    assert [tick.findtext(SVG + "title") for tick in ticks] == [
        "probe 3 of 9: failed",
        "probe 6 of 9: failed",
        "probe 7 of 9: failed",
    ]


def test_a_latency_chart_titles_each_probe_with_its_latency():
    root = parse(latency_chart([0.1234, 0.004, 12.5], label="probe"))
    assert titles(root, "circle") == ["probe 1 of 3: 0.12 s", "probe 2 of 3: 0.004 s", "probe 3 of 3: 12.50 s"]


def test_a_latency_chart_draws_its_threshold_as_a_dashed_line_at_its_height():
    root = parse(latency_chart([0.1, 0.4], label="probe", threshold=0.2))
    (limit,) = [line for line in find(root, "line") if line.get("stroke-dasharray")]
    (line,) = find(root, "polyline")
    (_, low), (_, high) = points(line)
    y = float(limit.get("y1", ""))
    assert y == float(limit.get("y2", "")) and high < y < low
    assert y == pytest.approx(low - (low - high) / 3, abs=0.01)  # 0.2 s is a third of the way from 0.1 s to 0.4 s
    assert limit.findtext(SVG + "title") == "threshold 0.20 s"


def test_a_latency_chart_raises_its_axis_to_a_threshold_above_every_probe():
    root = parse(latency_chart([0.1, 0.2], label="probe", threshold=0.5))
    assert [text.text for text in find(root, "text")] == ["max 0.50 s"]
    (limit,) = [line for line in find(root, "line") if line.get("stroke-dasharray")]
    assert all(float(limit.get("y1", "")) < y for _, y in points(find(root, "polyline")[0]))


def test_a_latency_chart_without_a_threshold_draws_no_dashed_line():
    root = parse(latency_chart([0.1, 0.2], label="probe"))
    assert [line for line in find(root, "line") if line.get("stroke-dasharray")] == []


def test_a_latency_chart_summary_counts_failures_and_gives_median_peak_and_threshold():
    root = parse(latency_chart([0.1, None, 0.3, 0.2, 0.6], label="SIP OPTIONS", threshold=0.5))
    assert root.get("aria-label") == (
        "SIP OPTIONS: 5 probes, 1 failed, median 0.25 s, peak 0.60 s, 1 above the threshold of 0.50 s"
    )


@pytest.mark.parametrize(
    ("results", "summary"),
    [([], "probe: no probes yet"), ([None, None], "probe: 2 probes, all failed")],
)
def test_a_latency_chart_without_a_successful_probe_draws_no_line_and_says_why(results, summary):
    root = parse(latency_chart(results, label="probe"))
    assert find(root, "polyline") == []
    assert root.get("aria-label") == summary
    assert [text.text for text in find(root, "text")] == ["max 0.00 s"]


@given(
    st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)), max_size=100),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
)
def test_every_latency_mark_lies_inside_the_chart(results, threshold):
    root = parse(latency_chart(results, label="probe", threshold=threshold))
    _, _, width, height = view_box(root)
    xs = [float(c.get("cx", "")) for c in find(root, "circle")] + [float(x.get("x1", "")) for x in find(root, "line")]
    ys = [float(c.get("cy", "")) for c in find(root, "circle")] + [float(x.get("y2", "")) for x in find(root, "line")]
    assert all(0 <= x <= width for x in xs) and all(0 <= y <= height for y in ys)
    assert len(find(root, "circle")) == sum(r is not None for r in results)
