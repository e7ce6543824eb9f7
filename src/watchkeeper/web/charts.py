"""Server-side SVG charts for the desk's pages: sparklines, heatmaps, expected bands, uptime bars, latency.

Pure functions from figures to markup, so a page needs no JavaScript to show a
trend and a test can read the chart as XML. Each chart is an `<svg role="img">`
whose aria-label says in words what it shows (a screen reader does not read
the drawing), and every bar, cell or marked point carries a `<title>` with its
value, which a browser shows on hover. The colours keep WCAG AA contrast on a
white page: 4.5:1 for text, 3:1 for the marks that carry meaning.

Charts without text stretch to their container (`preserveAspectRatio="none"`
at a fixed height); charts with text keep their proportions, so their letters
are not squashed on a phone, and grow with the width of the page.
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from markupsafe import Markup

GREEN = "#1a7f37"
AMBER = "#9a6700"
RED = "#cf222e"
BLUE = "#0969da"
GREY_TEXT = "#57606a"
NO_DATA = "#d0d7de"
EMPTY_CELL = "#eaeef2"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# The heatmap's lightest and darkest blues: the lightest still reads as "some", apart from EMPTY_CELL.
_LIGHT = (0xB6, 0xE3, 0xFF)
_DARK = (0x03, 0x3D, 0x8B)
_FONT = f'font-size="10" fill="{GREY_TEXT}"'


@dataclass(frozen=True)
class Day:
    """One day of a service's uptime; `up_fraction` None when nothing was measured that day."""

    day: str
    up_fraction: float | None
    maintenance_minutes: float = 0.0
    incidents: int = 0

    def __post_init__(self) -> None:
        if self.up_fraction is not None and not 0.0 <= self.up_fraction <= 1.0:
            raise ValueError(f"{self.day}: up_fraction {self.up_fraction} is not between 0 and 1")
        if not self.maintenance_minutes >= 0 or self.incidents < 0:
            raise ValueError(f"{self.day}: maintenance minutes and incidents cannot be negative")


@dataclass(frozen=True)
class _Frame:
    """Where point i of n, and a value on a 0..peak scale, fall in a chart's viewBox."""

    left: float
    right: float
    top: float
    bottom: float
    n: int
    peak: float

    def x(self, i: int) -> float:
        return self.left if self.n < 2 else self.left + (self.right - self.left) * i / (self.n - 1)

    def y(self, value: float) -> float:
        if self.peak <= 0:  # nothing counted yet: everything lies on the bottom line
            return self.bottom
        return self.bottom - (self.bottom - self.top) * min(value, self.peak) / self.peak


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _num(value: float) -> str:
    """1,234 for a whole number, 1,234.5 otherwise: counts read as counts, averages keep a decimal."""
    return f"{value:,.1f}".removesuffix(".0")


def _seconds(value: float) -> str:
    """0.42 for a probe's usual latency; 0.004 would read as 0.00 at two decimals, so it keeps its digits."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.3f}"


def _percent(fraction: float) -> str:
    # Rounded down: 99.996 % up is not "100.00 %", which would claim a day without an outage.
    return f"{math.floor(fraction * 10_000 + 1e-6) / 100:.2f} %"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _xy(value: float) -> str:
    return f"{value:.2f}".rstrip("0").removesuffix(".")


def _known(value: float | None) -> float | None:
    """None, NaN or infinity (a broken feed) is no data; a negative count is 0."""
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, value)


def _count(value: float) -> float:
    return _known(value) or 0.0


def _svg(body: Iterable[str], *, summary: str, width: float, height: float, stretch: bool = False) -> Markup:
    size = f'width="100%" height="{_xy(height)}" preserveAspectRatio="none"' if stretch else 'width="100%"'
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_xy(width)} {_xy(height)}" {size}'
        f' role="img" aria-label="{_esc(summary)}">'
    )
    return Markup(head + "".join(body) + "</svg>")


def _polyline(points: Sequence[tuple[float, float]], *, stretch: bool = False) -> str:
    # A stretched chart would stretch its stroke too: keep the line as thick as it was drawn.
    effect = ' vector-effect="non-scaling-stroke"' if stretch else ""
    coords = " ".join(f"{_xy(x)},{_xy(y)}" for x, y in points)
    return (
        f'<polyline points="{coords}" fill="none" stroke="{BLUE}" stroke-width="1.5"'
        f' stroke-linejoin="round" stroke-linecap="round"{effect}/>'
    )


def _runs(points: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """The unbroken stretches of a line: None (no data, or the future) ends one."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def _line(points: Sequence[tuple[float, float] | None], *, dots: bool = True) -> list[str]:
    """A line with gaps; a point alone between gaps is a dot, since a polyline of one point draws nothing.

    `dots=False` when the caller draws a dot at every point itself.
    """
    drawn = []
    for run in _runs(points):
        if len(run) > 1:
            drawn.append(_polyline(run))
        elif dots:
            drawn.append(f'<circle cx="{_xy(run[0][0])}" cy="{_xy(run[0][1])}" r="1.5" fill="{BLUE}"/>')
    return drawn


def _hour(first_day: int, i: int) -> str:
    return f"{DAYS[(first_day + i // 24) % 7]} {i % 24:02d}:00"


def sparkline(
    values: Sequence[float], *, label: str, width: int = 120, height: int = 24, per: str = "an hour"
) -> Markup:
    """A trend line of counts, e.g. 24 hourly ones, oldest first; no data or all zero is a flat line at the bottom.

    `per` names one value's span in the summary ("peak 210 an hour").
    """
    counts = [_count(v) for v in values]
    peak = max(counts, default=0.0)
    if counts:
        summary = f"{label}: {_num(sum(counts))} in all, peak {_num(peak)} {per}"
    else:
        summary = f"{label}: no data"
    pad = 1.5  # the stroke's width: a peak or a zero is drawn whole, not cut by the edge
    drawn = counts if len(counts) > 1 else [counts[0] if counts else 0.0] * 2
    frame = _Frame(0, width, pad, height - pad, len(drawn), peak)
    points = [(frame.x(i), frame.y(v)) for i, v in enumerate(drawn)]
    body = [f"<title>{_esc(summary)}</title>", _polyline(points, stretch=True)]
    return _svg(body, summary=summary, width=width, height=height, stretch=True)


_CELL, _GAP, _LEFT, _TOP = 16, 2, 34, 14  # heatmap: a cell with its gap, room for row names and hours


def _shade(value: float, peak: float) -> str:
    if value <= 0 or peak <= 0:
        return EMPTY_CELL
    share = value / peak
    return "#" + "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(_LIGHT, _DARK, strict=True))


def _heatmap_summary(label: str, grid: Sequence[Sequence[float]], row_names: Sequence[str]) -> str:
    cells = [(value, r, c) for r, row in enumerate(grid) for c, value in enumerate(row)]
    if not cells:
        return f"{label}: no data"
    total = sum(value for value, _, _ in cells)
    peak, r, c = max(cells, key=lambda cell: cell[0])
    if peak <= 0:
        return f"{label}: 0 in all"
    return f"{label}: {_num(total)} in all, busiest {row_names[r]} {c:02d}:00 with {_num(peak)}"


def heatmap(cells: Sequence[Sequence[float]], *, label: str, row_names: Sequence[str]) -> Markup:
    """Rows (e.g. weekdays, Monday first) by columns (hours from 0); darker blue is busier, grey is none at all."""
    if len(row_names) != len(cells):
        raise ValueError(f"{len(cells)} rows of cells but {len(row_names)} row names")
    grid = [[_count(v) for v in row] for row in cells]
    peak = max((v for row in grid for v in row), default=0.0)
    columns = max((len(row) for row in grid), default=0)
    body = [f'<text x="{_LEFT + h * _CELL}" y="{_TOP - 4}" {_FONT}>{h}</text>' for h in (0, 6, 12, 18) if h < columns]
    for r, (name, row) in enumerate(zip(row_names, grid, strict=True)):
        y = _TOP + r * _CELL
        body.append(
            f'<text x="{_LEFT - 4}" y="{_xy(y + (_CELL - _GAP) / 2)}" text-anchor="end"'
            f' dominant-baseline="middle" {_FONT}>{_esc(name)}</text>'
        )
        body += [
            f'<rect x="{_LEFT + c * _CELL}" y="{y}" width="{_CELL - _GAP}" height="{_CELL - _GAP}" rx="2"'
            f' fill="{_shade(value, peak)}"><title>{_esc(name)} {c:02d}:00: {_num(value)}</title></rect>'
            for c, value in enumerate(row)
        ]
    summary = _heatmap_summary(label, grid, row_names)
    return _svg(body, summary=summary, width=_LEFT + columns * _CELL, height=_TOP + len(grid) * _CELL)


_BAND = _Frame(left=4, right=716, top=18, bottom=156, n=0, peak=0)  # band chart: the plot area of its viewBox


def _day_index(name: str) -> int:
    try:
        return DAYS.index(name)
    except ValueError:
        raise ValueError(f"start_label {name!r} is none of {', '.join(DAYS)}") from None


def _day_marks(frame: _Frame, first_day: int) -> list[str]:
    """A line where each day starts (but the first) and the day's name beside it."""
    marks = []
    for start in range(0, frame.n, 24):
        x = frame.x(start)
        if start:
            marks.append(f'<line x1="{_xy(x)}" y1="2" x2="{_xy(x)}" y2="{frame.bottom}" stroke="{NO_DATA}"/>')
        marks.append(f'<text x="{_xy(x + 3)}" y="12" {_FONT}>{DAYS[(first_day + start // 24) % 7]}</text>')
    return marks


def _band(frame: _Frame, low: Sequence[float], high: Sequence[float]) -> str:
    edge = [(frame.x(i), frame.y(v)) for i, v in enumerate(high)]
    edge += [(frame.x(i), frame.y(v)) for i, v in reversed(list(enumerate(low)))]
    coords = " ".join(f"{_xy(x)},{_xy(y)}" for x, y in edge)
    return f'<polygon points="{coords}" fill="{BLUE}" fill-opacity="0.15" stroke="none"/>'


def band_chart(
    expected_low: Sequence[float],
    expected_high: Sequence[float],
    actual: Sequence[float | None],
    *,
    label: str,
    start_label: str = "Mon",
) -> Markup:
    """Hourly values against the range expected of them, the first hour at 00:00 on `start_label`'s day.

    `actual` may be shorter than the band (the hours still to come); None in it is an hour without data.
    """
    if len(expected_low) != len(expected_high) or len(actual) > len(expected_low):
        raise ValueError("expected_low and expected_high must be as long as each other, and actual no longer")
    first_day = _day_index(start_label)
    pairs = [(_count(a), _count(b)) for a, b in zip(expected_low, expected_high, strict=True)]
    low, high = [min(pair) for pair in pairs], [max(pair) for pair in pairs]
    seen = [_known(v) for v in actual] + [None] * (len(low) - len(actual))
    peak = max([*high, *(v for v in seen if v is not None)], default=0.0)
    frame = replace(_BAND, n=len(low), peak=peak)
    body = [*_day_marks(frame, first_day), _band(frame, low, high) if low else ""]
    body += _line([None if v is None else (frame.x(i), frame.y(v)) for i, v in enumerate(seen)])
    outside = [(i, v) for i, v in enumerate(seen) if v is not None and not low[i] <= v <= high[i]]
    body += [
        f'<circle cx="{_xy(frame.x(i))}" cy="{_xy(frame.y(v))}" r="3" fill="{RED}"><title>{_hour(first_day, i)}:'
        f" {_num(v)}, expected {_num(low[i])} to {_num(high[i])}</title></circle>"
        for i, v in outside
    ]
    known = sum(v is not None for v in seen)
    summary = f"{label}: {len(outside):,} of {_plural(known, 'hour')} outside the expected range"
    return _svg(body, summary=summary if known else f"{label}: no data yet", width=720, height=160)


def uptime_percent(days: Sequence[Day]) -> float | None:
    """The mean up percentage of the days with data; None if no day has any."""
    known = [day.up_fraction for day in days if day.up_fraction is not None]
    return sum(known) / len(known) * 100 if known else None


def _bar_colour(day: Day) -> str:
    if day.up_fraction is None:
        return NO_DATA
    if day.up_fraction >= 0.999:
        # Planned work is not an outage, but the page should still show that it happened.
        return BLUE if day.maintenance_minutes > 0 else GREEN
    return AMBER if day.up_fraction >= 0.95 else RED


def _bar_title(day: Day) -> str:
    if day.up_fraction is None:
        return f"{day.day}: no data"
    parts = [f"{day.day}: {_percent(day.up_fraction)} up"]
    if day.incidents:
        parts.append(_plural(day.incidents, "incident"))
    if day.maintenance_minutes > 0:
        parts.append(f"{_num(day.maintenance_minutes)} min maintenance")
    return ", ".join(parts)


def _uptime_summary(label: str, days: Sequence[Day]) -> str:
    percent = uptime_percent(days)
    if percent is None:
        return f"{label}: no data for {_plural(len(days), 'day')}"
    counts = {
        "with an outage": sum(d.up_fraction is not None and d.up_fraction < 0.999 for d in days),
        "with maintenance": sum(d.maintenance_minutes > 0 for d in days),
        "without data": sum(d.up_fraction is None for d in days),
    }
    said = [f"{_plural(n, 'day')} {what}" for what, n in counts.items() if n]
    return ", ".join([f"{label}: {_percent(percent / 100)} up over {_plural(len(days), 'day')}", *said])


_BAR_W, _BAR_STEP, _BAR_H = 3, 4, 34


def uptime_bars(days: Sequence[Day], *, label: str) -> Markup:
    """One bar per day, oldest first: green up, amber patchy, red down, blue planned maintenance, grey no data."""
    bars = [
        f'<rect x="{i * _BAR_STEP}" y="0" width="{_BAR_W}" height="{_BAR_H}" rx="1" fill="{_bar_colour(day)}">'
        f"<title>{_esc(_bar_title(day))}</title></rect>"
        for i, day in enumerate(days)
    ]
    width = max(len(days) * _BAR_STEP - (_BAR_STEP - _BAR_W), 1)
    return _svg(bars, summary=_uptime_summary(label, days), width=width, height=_BAR_H, stretch=True)


_LATENCY = _Frame(left=4, right=596, top=18, bottom=104, n=0, peak=0)  # latency: the plot; failed ticks go below


def _latency_summary(label: str, known: Sequence[float], n: int, threshold: float | None) -> str:
    if not known:
        return f"{label}: no probes yet" if not n else f"{label}: {_plural(n, 'probe')}, all failed"
    said = [
        f"{label}: {_plural(n, 'probe')}, {n - len(known):,} failed",
        f"median {_seconds(statistics.median(known))} s",
        f"peak {_seconds(max(known))} s",
    ]
    if threshold is not None:
        said.append(f"{sum(v > threshold for v in known):,} above the threshold of {_seconds(threshold)} s")
    return ", ".join(said)


def _threshold_line(frame: _Frame, threshold: float) -> str:
    y = _xy(frame.y(threshold))
    return (
        f'<line x1="{frame.left}" y1="{y}" x2="{frame.right}" y2="{y}" stroke="{AMBER}" stroke-width="1.5"'
        f' stroke-dasharray="6 4"><title>threshold {_seconds(threshold)} s</title></line>'
    )


def _probe_mark(frame: _Frame, i: int, value: float | None) -> str:
    """A dot to hover on for a probe's latency, or a red tick below the plot for a failed probe."""
    x = _xy(frame.x(i))
    said = "failed" if value is None else f"{_seconds(value)} s"
    title = f"<title>probe {i + 1} of {frame.n}: {said}</title>"
    if value is None:
        return f'<line x1="{x}" y1="108" x2="{x}" y2="118" stroke="{RED}" stroke-width="2">{title}</line>'
    return f'<circle cx="{x}" cy="{_xy(frame.y(value))}" r="2" fill="{BLUE}">{title}</circle>'


def latency_chart(points: Sequence[float | None], *, label: str, threshold: float | None = None) -> Markup:
    """Probe latencies in seconds, oldest first; None is a failed probe, a gap in the line and a red tick below it.

    The y axis runs from 0 to the larger of the peak and the threshold, and its top is labelled.
    """
    seen = [_known(v) for v in points]
    known = [v for v in seen if v is not None]
    limit = _known(threshold)
    top = max([*known, limit or 0.0])
    frame = replace(_LATENCY, n=len(seen), peak=top)
    body = [
        f'<text x="{frame.left}" y="12" {_FONT}>max {_seconds(top)} s</text>',
        f'<line x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}" stroke="{NO_DATA}"/>',
    ]
    if limit is not None:
        body.append(_threshold_line(frame, limit))
    body += _line([None if v is None else (frame.x(i), frame.y(v)) for i, v in enumerate(seen)], dots=False)
    body += [_probe_mark(frame, i, v) for i, v in enumerate(seen)]
    return _svg(body, summary=_latency_summary(label, known, len(seen), limit), width=600, height=120)
