"""The vocabulary of the feed model: hours of the week, tuning, silence limits. Pure.

A service's week is 168 hour slots in its own time zone (a public holiday,
when the service names a country, counts as a Sunday). What the model learns
per slot lives in `model.py`; this module turns it into a silence limit and
the words that explain it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from watchkeeper import public_holidays, weekly
from watchkeeper.words import count

SLOTS = 7 * 24
WEEKS = 6
NO_GAP = 0xFFFF  # a slot-week with no observation (alert open, snoozed, not yet seen)
LEARNING = 7 * 1440  # minutes of history before learned limits apply
HARD_LIMIT = 72 * 60  # silence that alerts even while learning, unless the operator sets one
MIN_OBSERVATIONS = 3


class Kind(StrEnum):
    SILENCE = "silence"
    DROP = "drop"
    SURGE = "surge"


class Sensitivity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True)
class Tuning:
    silence_factor: float  # multiple of the longest plausible gap, until a service's own is known
    silence_stretch: float  # the most that a service's own late gaps may make that multiple (tail_factor)
    silence_pad: int  # minutes added on top, so tiny gaps do not give hair triggers
    silence_floor: int  # never alert on a shorter silence
    silence_spread: float  # standard deviations of the hour's gaps above their median
    silence_rarity: float  # random traffic at r records/h is silent this many 60/r minutes only by rare chance
    drop_ratio: float  # a drop: seen below this share of expected...
    drop_odds: float  # ...and that few by chance less than once in 10**drop_odds, at the service's own variation
    surge_ratio: float  # a surge: seen above this multiple of expected (and above the service's own bursts)...
    surge_odds: float  # ...and that many by chance less than once in 10**surge_odds


TUNINGS = {
    Sensitivity.LOW: Tuning(2.0, 2.5, 10, 15, 9.0, 16.0, 0.35, 9.0, 2.5, 9.0),
    Sensitivity.NORMAL: Tuning(1.5, 1.75, 5, 5, 7.0, 12.0, 0.5, 6.5, 1.6, 7.0),
    Sensitivity.HIGH: Tuning(1.25, 1.5, 3, 3, 5.0, 9.0, 0.6, 5.0, 1.3, 5.0),
}


@dataclass(frozen=True)
class Params:
    """What an operator tunes for one service (ServiceSettings, in model terms)."""

    timezone: str = "UTC"
    sensitivity: Sensitivity = Sensitivity.NORMAL
    min_silence: int | None = None  # minutes
    max_silence: int | None = None  # minutes; alerts by then whatever was learned
    snooze_until: int | None = None  # minute; no new alerts before it
    active_hours: frozenset[int] | None = None  # slots where activity is expected; None = any
    off_hours_max_silence: int | None = None  # minutes; outside active hours, alert (low urgency) only past it
    holidays: str | None = None  # country, or country-subdivision like "DE-BY"
    test: bool = False  # low urgency, and judged at low sensitivity

    @property
    def tuning(self) -> Tuning:
        return TUNINGS[Sensitivity.LOW if self.test else self.sensitivity]

    @property
    def off_hours_limit(self) -> int:
        """The silence that alerts outside active hours: the operator's, else
        the hard limit of a service being learned, or max_silence if longer.
        A night or a weekend is no outage; three days of nothing may be."""
        return self.off_hours_max_silence or max(HARD_LIMIT, self.max_silence or 0)


@dataclass(frozen=True)
class Event:
    """An alert starting (firing) or ending (resolved) for one service."""

    kind: Kind
    firing: bool
    started_at: int  # minute the anomaly is believed to have begun
    at: int  # minute it was raised or resolved
    message: str
    expected: float = 0.0
    seen: float = 0.0
    off_hours: bool = False  # raised outside the service's active hours, so low urgency
    reason: str = ""  # a silence raised: why its limit is what it is, to say again if raised later
    # Records the learned rates expected over the outage (silence or drop) and those that came,
    # from its start to when it was raised (firing) or resolved.
    outage_expected: float = 0.0
    outage_seen: float = 0.0

    def __post_init__(self) -> None:
        # Sums of the same minutes taken in other steps differ in their last bits: live and replay
        # must say the same.
        for name in ("expected", "seen", "outage_expected", "outage_seen"):
            object.__setattr__(self, name, round(getattr(self, name), 3))

    @property
    def missing(self) -> float:
        """Records expected during the outage that did not come (0 for a surge)."""
        if self.kind is Kind.SURGE:
            return 0.0
        return max(0.0, self.outage_expected - self.outage_seen)

    def raised_as_of(self, minute: int) -> Event:
        """This event as raised at `minute`, later than the model judged it (a
        tick that fell behind, a first model learned from history): a silence
        then says how long the feed had been silent at `minute`."""
        if self.kind is not Kind.SILENCE or not self.firing or minute <= self.at:
            return self
        message = silence_message(self.started_at, minute, self.reason)
        return dataclasses.replace(self, at=minute, message=message, seen=minute - self.started_at)


def silence_message(since: int, raised: int, reason: str) -> str:
    """What a silence alert says; `since` is the end of the last record's minute
    (the record came in the minute before it), `raised` when the alert is raised."""
    last = instant(since - 1)
    return f"no records since {last:%Y-%m-%d %H:%M} UTC ({duration(raised - since)} when raised); {reason}"


def minute_of(at: datetime) -> int:
    return int(at.timestamp()) // 60


def instant(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def duration(minutes: float) -> str:
    """47 -> '47 min', 150 -> '2 h 30 min', 4000 -> '2 d 18 h'."""
    whole = int(round(minutes))
    days, rest = divmod(whole, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def check_holidays(code: str) -> str:
    """Validate a country or country-subdivision code such as 'DE' or 'US-CA'."""
    return public_holidays.check(code)


def slot_at(minute: int, zone: ZoneInfo, holiday_code: str | None) -> tuple[int, int]:
    """The hour-of-week slot holding `minute`, and the minute that slot ends."""
    local = datetime.fromtimestamp(minute * 60, zone)
    day = local.weekday()
    if public_holidays.is_holiday(holiday_code, local.date()):
        day = 6
    return day * 24 + local.hour, minute + 60 - local.minute


def parse_active_hours(text: str) -> frozenset[int]:
    """Active hours in the weekly grammar (`watchkeeper.weekly`; bare hours such as
    'Mon-Fri 08-18, Sat 09-13' too) to the hour slots they cover."""
    if not text.replace(",", "").replace(";", "").strip():
        raise ValueError("active hours are empty; leave them unset for 'any time'")
    slots = hour_slots(weekly.parse(text, whole_hours=True))
    if not slots:
        raise ValueError(f"{text!r} covers no whole hour; the feed model counts hours, e.g. 'Mon-Fri 08:00-18:00'")
    return slots


def hour_slots(hours: weekly.WeeklyHours) -> frozenset[int]:
    """The hour slots of `hours`. The model counts whole hours, so a range covers
    the hour it starts in up to, not including, the hour it ends in:
    08:30-18:30 counts as 08-18."""
    return frozenset(h % SLOTS for start, end in hours.spans for h in range(start // 60, end // 60))


def siblings(slot: int) -> list[int]:
    """The same hour on days of the same kind: weekdays together, Saturday and Sunday together."""
    day, hour = divmod(slot, 24)
    days = range(5) if day < 5 else range(5, 7)
    return [d * 24 + hour for d in days]


# Sibling slots per slot, padded with SLOTS, which indexes an all-empty row.
_SIBLINGS = np.array([siblings(s) + [SLOTS] * (5 - len(siblings(s))) for s in range(SLOTS)])


@dataclass(frozen=True)
class Limits:
    """Silence limits for several slots at once (see `silence_limits`)."""

    minutes: np.ndarray  # a silence longer than this alerts; inf = never
    plausible: np.ndarray  # longest gap history makes plausible; NaN while learning
    weeks: np.ndarray  # weeks of history behind the figure
    by_rate: np.ndarray  # True where the rate, not the gaps seen, sets the limit
    rate: np.ndarray  # records per hour expected
    young: np.ndarray  # True where the service is still in its first week
    off: np.ndarray  # True outside the service's active hours: only the off-hours limit applies


def silence_limits(
    gaps: np.ndarray,
    rate: np.ndarray,
    slots: np.ndarray,
    learned: np.ndarray,
    params: Params,
    rarity: float | None = None,
) -> Limits:
    """How long a silence may last in each of `slots`, from the gaps learned for it and its siblings.

    The same hour on sibling days gives enough samples for a stable figure;
    the hour's own weeks keep a day that differs (quiet Friday afternoons)
    from alerting. The top sixth of samples is dropped (an outage nobody
    alerted on, a holiday), and feeds whose gaps vary a lot (sparse, random
    traffic) get a margin in proportion to that variation.

    The margin above the longest plausible gap is the service's own: how far
    its rare longest gaps went beyond their hour's plausible one, at worst,
    over all its hours (`tail_factor`). A feed whose rows come like clockwork
    (every 5 or 30 minutes, never late) needs hardly any; a supplier whose
    files are sometimes half an hour late needs half as much again or more,
    up to the tuning's silence_stretch. The tuning's silence_factor applies
    while there is too little history to tell.

    Six weeks of one hour are few samples for a sparse feed, so the rate
    gives a floor too: records arriving at random at r an hour leave a gap of
    k * 60 / r minutes with probability e**-k (`rarity` is k for this
    service: more than the tuning's when its records come in clusters). An
    hour that normally has no records at all (rate 0 once learned) never
    alerts on silence.
    """
    tuning, hard = params.tuning, params.max_silence
    table = np.vstack([gaps, np.full((1, WEEKS), NO_GAP, gaps.dtype)]).astype(np.float64)
    table[table == NO_GAP] = np.nan
    grouped = table[_SIBLINGS[slots]]  # (slots, 5, weeks)
    pooled, count, kept = _pooled(grouped)
    rows = np.arange(len(slots))
    inside = np.arange(pooled.shape[1]) < kept[:, None]
    plausible = pooled[rows, kept - 1]
    median = pooled[rows, kept // 2]
    mean = np.where(inside, pooled, 0.0).sum(axis=1) / kept
    spread = np.sqrt(np.where(inside, (pooled - mean[:, None]) ** 2, 0.0).sum(axis=1) / kept)
    own = np.sort(table[slots], axis=1)
    own_count = (~np.isnan(own)).sum(axis=1)
    own_plausible = own[rows, np.maximum(own_count - 1 - own_count // 6, 0)]
    plausible = np.fmax(plausible, own_plausible)
    by_gaps = np.maximum(
        plausible * tail_factor(table, tuning.silence_factor, tuning.silence_stretch) + tuning.silence_pad,
        median + tuning.silence_spread * spread + tuning.silence_pad,
    )
    hourly = rate[slots]
    with np.errstate(divide="ignore"):
        by_rate = (rarity or tuning.silence_rarity) * 60.0 / hourly
    minutes = np.maximum.reduce(
        [by_gaps, by_rate, np.full(len(slots), float(max(tuning.silence_floor, params.min_silence or 0)))]
    )
    unlearned = ~learned | (count < MIN_OBSERVATIONS)
    minutes[unlearned] = hard or HARD_LIMIT
    plausible[unlearned] = np.nan
    if hard is not None:
        minutes = np.minimum(minutes, hard)
    off = np.zeros(len(slots), dtype=bool)
    if params.active_hours is not None:
        off = ~np.isin(slots, list(params.active_hours))
        minutes[off] = params.off_hours_limit
        plausible[off] = np.nan
    weeks = (~np.isnan(grouped)).sum(axis=2).max(axis=1)
    return Limits(minutes, plausible, weeks, by_rate > by_gaps, hourly, ~learned, off)


def _pooled(grouped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each slot's samples from its siblings' weeks, sorted (NaN last); how many; how many are kept.

    The top sixth is dropped (an outage nobody alerted on, a holiday).
    """
    pooled = np.sort(grouped.reshape(len(grouped), -1), axis=1)
    count = (~np.isnan(pooled)).sum(axis=1)
    return pooled, count, np.maximum(count - count // 6, 1)


TAIL_WEEKS = 4  # weeks of history before a service's own tail factor replaces the tuning's


def tail_factor(table: np.ndarray, default: float, most: float) -> float:
    """How far beyond its hour's plausible gap a service's longest gaps have gone, at worst: 1.0 to `most`.

    Over every hour with enough samples, the longest gap seen divided by the
    plausible one (what is left when the top sixth is dropped). One hour's
    odd gap (an outage nobody alerted on) can only widen the margin, up to
    `most`. With under TAIL_WEEKS of history, `default`.
    """
    observed_weeks = (~np.isnan(table[:SLOTS])).sum(axis=1)
    if np.median(observed_weeks) < TAIL_WEEKS:
        return default
    pooled, count, kept = _pooled(table[_SIBLINGS])
    enough = count >= MIN_OBSERVATIONS
    if not enough.any():
        return default
    rows = np.flatnonzero(enough)
    longest, plausible = pooled[rows, count[rows] - 1], pooled[rows, kept[rows] - 1]
    return float(np.clip(np.max(longest / np.maximum(plausible, 1.0)), 1.0, most))


def explain_limit(slot: int, limits: Limits, index: int, params: Params) -> str:
    """Why the silence limit of `slot` is what it is, in words."""
    hard = params.max_silence
    if params.active_hours is not None and slot not in params.active_hours:
        return (
            f"outside the service's active hours only its off-hours limit of "
            f"{duration(params.off_hours_limit)} applies (low urgency)"
        )
    plausible = float(limits.plausible[index])
    if np.isnan(plausible):
        limit = duration(hard or HARD_LIMIT)
        if limits.young[index]:
            return f"the service is still being learned, so only the hard limit of {limit} applies"
        # Hours under an alert teach nothing: a service that alerts often can lack weeks long after its first.
        return (
            f"at {_hour_words(slot, params.timezone)} too few weeks passed without an alert to learn from, "
            f"so only the hard limit of {limit} applies"
        )
    reason = (
        f"at {_hour_words(slot, params.timezone)} this service has rarely been silent for more than "
        f"{duration(plausible)} in the last {count(int(limits.weeks[index]), 'week')}"
    )
    if limits.by_rate[index]:
        reason += (
            f"; at about {limits.rate[index]:.0f} records an hour a silence of "
            f"{duration(float(limits.minutes[index]))} is still plausible by chance, so the limit is that"
        )
    if hard is not None and limits.minutes[index] >= hard:
        reason += f", and the hard limit is {duration(hard)}"
    return reason


def _hour_words(slot: int, timezone: str = "UTC") -> str:
    """The hour of the week `slot` names, local to the service, its zone named unless UTC."""
    day, hour = divmod(slot, 24)
    zone = "" if timezone == "UTC" else f" {timezone} time"
    return f"{hour:02d}:00-{hour + 1:02d}:00{zone} on {'weekdays' if day < 5 else 'weekends'}"
