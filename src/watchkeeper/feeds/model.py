"""The feed model: what silence, a drop and a surge mean for one service.

Pure: no database, no network, no clock. Time is whole minutes since the Unix
epoch (UTC) and the caller says what "now" is. The same code runs live (the
scheduler advances a service's model when it has new data or is due) and in
replay (a simulated clock over historical input).

What it learns, per hour of the week (see `rhythm.py`):

* **gaps**: the longest silence in progress during that hour, one value per
  week for the last six weeks. Silence is measured as the model lived it
  (now minus the last record known now), so a supplier that drops a file
  every hour teaches hour-long gaps and does not alert between files.
* **rate**: records per hour, an exponentially weighted average over weeks
  (recent weeks weigh more, so growth is followed).
* **variation**: how far the service's volume strays from its rate beyond
  what chance (Poisson) explains, over quarter-hours and over hours: the
  dispersion of a negative binomial, weighted to the busy hours where it
  matters. A supplier whose volume swings by a fifth from one quarter-hour
  to the next needs more evidence of a drop than one that never swings.
* **bursts**: in each of the last six weeks, the highest multiple of the
  expected volume (beyond chance) its windows of an hour or more reached,
  measured on the windows the surge test judges. A burst seen in two of the
  six weeks is the service's nature; one seen in one week only, news.

A **drop** compares the records that came since a possible change point
(15 min to 4 h back, the start snapped to just after a delivery, so a file
is never half in, half out) with what the rate expects for those minutes:
it alerts when they are below drop_ratio of it *and* so few would come by
chance, at the service's own variation, less than once in 10**drop_odds. A
deep drop on a busy feed is sure within a quarter-hour; the same share on a
feed of a few records an hour takes hours, or never alerts before its
silence does. It resolves when the last hour (or the raising window, if
shorter) is back within its normal range.

A **surge** needs a window of an hour or more above surge_ratio times what
is expected, beyond chance, above what the service's own bursts make
plausible (the second largest of its completed weekly peaks, with a wider
margin for a feed whose peaks range widely, or that bursts by nature), and
as unlikely by chance, at the variation above its rate, as a drop.
A duplicated file, the same records twice in the same minutes, doubles its
hour: news on any feed that does not double by itself.

Every silence and drop counts, while open, the records the learned rates
expected and those that came: the records missing, said when it resolves
(records that come late for its minutes afterwards are the watcher's to set
against it: `feeds.watch`).

A **silence** alerts when it is longer than its hour's gaps allow *and* the
learned rates since the last record expect enough records (silence_rarity,
12 at normal sensitivity) that none arriving is no accident: a silence that
began in a quiet weekend is not an outage at 07:01 on Monday because Monday's
first record is a little late. The hard limit (max_silence) never waits.
A test service is watched for silence only.

* **delivery delay**, live only: how late records come, measured when they
  arrive for minutes already judged (a batch or an hourly file). Silence
  limits are never below the lower median of the last eight such delays
  seen within a week, plus a tenth. A model learned from stored history
  saw every record on time; this is what keeps it from taking its
  supplier's first batches for silences. One late re-send after an outage
  does not set it: the lower median needs the delay to recur.

Hours in which an alert on learned limits was open, or would have been but
for a snooze, teach nothing: an outage never becomes normal. Only if the same
hour is anomalous three weeks running is it learned after all: a change that
recurs every week is the new rhythm (a supplier moving its file time), and an
alert that can never stop firing would be muted by its operators.

Time is processed in chunks of up to 23 whole hours, vectorised per minute.
A chunk never holds the same hour of two days, so nothing learned for an
hour inside a chunk could have changed a verdict inside it; and it never
spans two weeks, as what is learned for the whole service (variation,
bursts) is judged by as it stood when the week began. Expected records sit
on a grid of 2**-20 a minute, so their sums are exact in any order; the
events of a chunk are put in time order. The result is the same as stepping
minute by minute, only much faster (tests/feeds: the live and replay
property tests).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import struct
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from scipy.stats import nbinom

from watchkeeper.feeds.rhythm import (
    LEARNING,
    NO_GAP,
    SLOTS,
    WEEKS,
    Event,
    Kind,
    Limits,
    Params,
    duration,
    explain_limit,
    instant,
    silence_limits,
    silence_message,
    slot_at,
)

MAX_WINDOW = 240  # longest volume window, for sparse services
SETTLE = 60  # an hour's volume is learned this long after it ends, so late files count
LOOKBACK = MAX_WINDOW + SETTLE + 60  # minutes behind "now" the model still reads
HORIZON = 60  # live: minutes ahead of "now" a record may be stamped and still be held
RING = LOOKBACK + 2 * HORIZON  # per-minute history stored with the model
MAX_SEGMENTS = 23
RECURRING = 3  # weeks running an hour must be anomalous before it is learned anyway
LAG_SAMPLES = 8  # delivery delays remembered
LAG_MEMORY = 7 * 1440  # a delay not seen again for a week is forgotten (the supplier changed its delivery)
QUIET_SLACK = 1e-6  # so a sum and a product of the same rates agree at the threshold
WIDTHS = np.array([15, 30, 60, 120, 240])  # minutes back to the change points a drop is judged from
SURGE_SPAN = 60  # a surge is judged on windows of an hour or more, as its bursts are learned
SINGLE_DELIVERY_RATIO = 0.6  # a window of one hourly file is a drop below this share of drop_ratio
SNAP = 60  # the most a window's start moves back to the end of a delivery
RESOLVE_SPAN = 60  # a drop or surge ends when the last hour (at most) is back within its normal range
VARIATION_MEMORY = 0.01  # weight of each settled hour in the learned variation (about two weeks of busy hours)
VARIATION_FLOOR = 1e-3  # no feed is steadier than 3 % an hour beyond chance
BURST_MARGIN = 1.25  # a surge must exceed the service's plausible burst by this much
BURSTY = 0.1  # upper variation (a third of the rate, an hour) from which a feed bursts by nature
BURSTY_MARGIN = 1.5
VARIATIONS = 6
LN10 = math.log(10.0)
WEEK_MINUTES = 7 * 1440
_UNLEARNED = -1e9  # per-minute expectation marker: a window touching it is not judged
# The first byte of a stored model says its format; models stored before
# there was one begin with their start minute, and are told apart by their
# length (FeedModel._fits). A format that reads differently gets a new number.
FORMAT_VERSION = 2


class UnknownModelFormat(ValueError):
    """A stored model this watchkeeper cannot read: written by a newer one, or damaged."""

    def __init__(self, version: int) -> None:
        if version > FORMAT_VERSION:
            super().__init__(
                f"a feed model stored in format {version}, by a newer watchkeeper; this one reads formats up to "
                f"{FORMAT_VERSION}: run the newer version, or reset the service's model to learn it again"
            )
        else:
            super().__init__(
                "a stored feed model that is no format watchkeeper wrote (damaged?): "
                "reset the service's model to learn it again"
            )
        self.version = version


class _Segment(NamedTuple):
    slot: int
    start: int
    end: int
    slot_end: int


@dataclass
class _Open:
    started_at: int
    raised_at: int
    last_end: int = 0  # a silence: the last record's end when it was raised
    width: int = 0  # a drop or surge: the minutes of the window that raised it
    expected: float = 0.0  # records the learned rates expected from started_at to `counted`
    seen: float = 0.0  # records that came in those minutes
    counted: int = 0


@dataclass
class _Chunk:
    """Per-minute views over the minute boundaries start+1 .. end of one chunk."""

    start: int
    segments: list[_Segment]
    offsets: np.ndarray  # index of each segment's first boundary
    lengths: list[int]  # boundaries per segment
    times: np.ndarray
    ends: np.ndarray  # minute after the last record known at each boundary
    limits: Limits
    late: np.ndarray | None = None  # silence past its limit, alerted or not (a snooze still counts)
    recovered: np.ndarray | None = None  # at each boundary, the model's `recovered` as it stood there

    def segment_at(self, index: int) -> int:
        return int(np.searchsorted(self.offsets, index, side="right")) - 1


class _Odds:
    """Log-probabilities, under a negative binomial at the learned variation, of windows this low or high.

    Computed only where asked (scipy's tails cost far more than the arithmetic
    that picks the windows worth asking about), and kept.
    """

    def __init__(self, seen: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.seen, self.size, self.size_up = seen, 1.0 / lower, 1.0 / upper
        self.prob = self.size / (self.size + np.maximum(expected, 1e-9))
        self.prob_up = self.size_up / (self.size_up + np.maximum(expected, 1e-9))
        self._below = np.full(seen.shape, np.nan)
        self._above = np.full(seen.shape, np.nan)

    def below(self, where: np.ndarray) -> np.ndarray:
        """log P(X <= seen) where `where` (0 elsewhere, or as computed before)."""
        need = where & np.isnan(self._below)
        if need.any():
            self._below[need] = nbinom.logcdf(np.floor(self.seen[need]), self.size[need], self.prob[need])
        found: np.ndarray = np.nan_to_num(self._below, nan=0.0)
        return found

    def above(self, where: np.ndarray) -> np.ndarray:
        """log P(X >= seen) where `where` (0 elsewhere, or as computed before)."""
        need = where & np.isnan(self._above)
        if need.any():
            self._above[need] = nbinom.logsf(np.ceil(self.seen[need]) - 1, self.size_up[need], self.prob_up[need])
        found: np.ndarray = np.nan_to_num(self._above, nan=0.0)
        return found

    def below_row(self, i: int) -> np.ndarray:
        row: np.ndarray = self._below[i]
        return row

    def above_row(self, i: int) -> np.ndarray:
        row: np.ndarray = self._above[i]
        return row

    def at(self, i: int, column: int, below: bool) -> float:
        return float((self._below if below else self._above)[i, column])


@dataclass
class _Windows:
    """The windows judged at each picked boundary (rows) back to each of WIDTHS (columns)."""

    pick: np.ndarray
    starts: np.ndarray  # minute each window starts
    seen: np.ndarray
    expected: np.ndarray
    span: np.ndarray
    odds: _Odds


def exact(rates: np.ndarray) -> np.ndarray:
    """Records a minute on a grid of 2**-20: sums of them are exact in any order and any chunking,
    so a live model stepping minute by minute and replay in long chunks count the same."""
    on_grid: np.ndarray = np.round(rates * 2.0**20) / 2.0**20
    return on_grid


def _dispersion(parts: tuple[float, float, float], span: np.ndarray, *, upper: bool = False) -> np.ndarray:
    """FeedModel.dispersion from its parts (lasting, shrinking, upper)."""
    lasting, shrinking, high = parts
    if upper:
        return np.full(np.shape(span), high)
    result: np.ndarray = lasting + shrinking * 15.0 / np.maximum(span, 15)
    return result


def beyond_chance(seen: np.ndarray | float) -> np.ndarray | float:
    """Records in a window less three Poisson standard deviations: what a burst surely holds."""
    return np.maximum(seen - 3 * np.sqrt(seen), 0.0)


def _odds_words(log_p: float) -> str:
    """A log-probability as the rarity an operator reads: 'less than once in 10 million windows'."""
    tens = int(-log_p / LN10) if math.isfinite(log_p) else 12
    if tens >= 9:
        return "less than once in a billion windows"
    names = {6: "a million", 7: "10 million", 8: "100 million"}
    return f"less than once in {names.get(tens, f'{10**tens:,}')} windows"


def missing_words(expected: float, seen: float, during: str) -> str:
    """'about 2,660 of the 3,900 records expected since 09:40 UTC did not come (68 %)'."""
    # Words from the figures an event keeps (rounded), so live steps and replay say the same.
    expected, seen = round(expected, 3), round(seen, 3)
    missing = max(0.0, expected - seen)
    if expected < 0.5:
        return f"the learned rates expected no records {during}"
    return (
        f"about {missing:,.0f} of the {expected:,.0f} records expected {during} did not come ({missing / expected:.0%})"
    )


@dataclass
class FeedModel:
    """The learned rhythm and the open anomalies of one service."""

    params: Params
    start: int  # minute of the first record
    now: int = 0  # evaluated up to this minute boundary
    last_end: int = 0  # minute after the last record known at `now`
    base: int = 0  # minute held at counts[0]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(RING))
    expect: np.ndarray = field(default_factory=lambda: np.full(RING, _UNLEARNED))
    gaps: np.ndarray = field(default_factory=lambda: np.full((SLOTS, WEEKS), NO_GAP, np.uint16))
    rate: np.ndarray = field(default_factory=lambda: np.zeros(SLOTS))
    weeks: np.ndarray = field(default_factory=lambda: np.zeros(SLOTS, np.uint8))
    spoiled_weeks: np.ndarray = field(default_factory=lambda: np.zeros(SLOTS, np.uint8))
    # Learned variation beyond chance: weighted sums (deviation^2 - expected, expected^2) over
    # quarter-hours, then over hours below their rate, then above it; each ratio is a negative
    # binomial's dispersion. Drops are judged on the lower side, surges on the upper.
    variation: np.ndarray = field(default_factory=lambda: np.zeros(VARIATIONS))
    # What the tests judge by: the variation as it stood when this week began, so that what the
    # week teaches changes no verdict until it ends (a chunk never spans two weeks), live as in replay.
    judging: np.ndarray = field(default_factory=lambda: np.zeros(VARIATIONS))
    bursts: np.ndarray = field(default_factory=lambda: np.zeros(WEEKS))  # highest multiple of expected, per week
    burst_week: int = 0  # the week (minutes // 10080) bursts[-1] holds
    quiet: float = 0.0  # records the learned rates expected from last_end to now
    slot: int = -1  # the slot being lived through, -1 between slots
    slot_end: int = 0
    slot_gap: int = 0
    slot_tainted: bool = False
    pending: list[tuple[int, int, int]] = field(default_factory=list)  # (slot, start, end) awaiting volume
    recovered: int = 0  # first record after the last silence alert; drops are judged on windows after it
    calmed: int = 0  # end of the last surge; surges are judged on windows after it
    open: dict[Kind, _Open] = field(default_factory=dict)
    lags: list[tuple[int, int]] = field(default_factory=list)  # (minute seen, minutes late) of late deliveries
    _late: int | None = field(default=None, repr=False)  # earliest minute come late since the last `advance`
    # What the week's judging figures give, worked out once a week (they change only when it begins).
    _weekly: tuple[int, float, float, tuple[float, float, float]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.now == 0:
            self.now = self.last_end = self.start
            self.base = self.start - LOOKBACK
        self.zone = ZoneInfo(self.params.timezone)

    # -- input -------------------------------------------------------------

    def observe(self, minute: int, count: float, *, replace: bool = False) -> None:
        """Records stamped `minute` became known (live). With `replace`, `count` is the stored total.

        Late minutes count; minutes too old to matter or stamped more than
        HORIZON ahead (a supplier clock running fast) are not held.
        """
        if minute < self.base or minute >= self.now + HORIZON:
            return
        self._make_room(minute + 1)
        index = minute - self.base
        before = self.counts[index]
        self.counts[index] = count if replace else before + count
        if minute < self.now and self.counts[index] > before * (1 + 1e-6) + 0.5:  # float32 storage rounds
            self._late = minute if self._late is None else min(self._late, minute)  # came after it was judged
        if self.counts[index] > 0 and minute < self.now and minute + 1 > self.last_end:
            self.last_end = minute + 1
            self.quiet = self._expected_between(self.last_end, self.now)

    def observe_ahead(self, minutes: np.ndarray, counts: np.ndarray) -> None:
        """Replay: records for minutes at or after `now` (sorted, each minute once), any distance ahead."""
        keep = minutes >= self.now
        if not keep.all():
            minutes, counts = minutes[keep], counts[keep]
        if len(minutes) == 0:
            return
        self._make_room(int(minutes[-1]) + 1)
        self.counts[minutes - self.base] += counts

    def _make_room(self, end: int) -> None:
        """Hold minutes up to `end`, forgetting those more than LOOKBACK behind `now`."""
        if end <= self.base + len(self.counts):
            return
        keep = max(self.base, self.now - LOOKBACK)
        size = max(RING, end + HORIZON - keep)
        counts, expect = np.zeros(size), np.full(size, _UNLEARNED)
        overlap = self.base + len(self.counts) - keep
        if overlap > 0:
            counts[:overlap] = self.counts[keep - self.base :]
            expect[:overlap] = self.expect[keep - self.base :]
        self.counts, self.expect, self.base = counts, expect, keep

    # -- limits --------------------------------------------------------------

    def limits(self, segments: list[_Segment]) -> Limits:
        slots = np.array([s.slot for s in segments])
        learned = np.array([s.start - self.start >= LEARNING for s in segments])
        rate = np.where(self.weeks > 0, self.rate, 0.0)  # unknown hours get no rate floor
        limits = silence_limits(self.gaps, rate, slots, learned, self.params, self.rarity())
        floor = self.delivery_delay()
        if floor:
            hard = self.params.max_silence  # the operator's "always alert by then" still holds
            floor = floor if hard is None else min(floor, hard)
            limits = dataclasses.replace(limits, minutes=np.maximum(limits.minutes, floor))
        return limits

    def delivery_delay(self) -> int:
        """Minutes the supplier's records have recently come late (0: on time, or not known)."""
        recent = sorted(late for seen, late in self.lags if self.now - seen < LAG_MEMORY)
        if len(recent) < 2:
            return 0
        typical = recent[(len(recent) - 1) // 2]  # the lower median: one re-send after an outage is no rhythm
        return typical + max(2, typical // 10)

    def _learn_delay(self) -> None:
        """Remember how late the records that arrived since the last `advance` came."""
        if self._late is None:
            return
        self.lags = [*self.lags, (self.now, self.now - self._late)][-LAG_SAMPLES:]
        self._late = None

    def silence_deadline(self, *, horizon: int = 8 * 1440) -> int | None:
        """The minute boundary at which the current silence would alert if no record came first;
        while a silence is open, the one at which records already held end it.

        Boundary t is judged by the slot holding minute t-1, as `advance` does.
        """
        if Kind.SILENCE in self.open:
            # Only records end it; those already held for a minute still ahead
            # (a supplier's clock running fast) end it once that minute is judged.
            held = np.flatnonzero(self.counts[self.now - self.base :] > 0)
            return None if len(held) == 0 else self.now + int(held[0]) + 1
        minute, stop = self.now, self.now + horizon
        quiet, rarity = self.quiet, self.rarity() - QUIET_SLACK
        hard = self.params.max_silence
        while minute < stop:
            segments: list[_Segment] = []
            while minute < stop and len(segments) < 24:
                slot, slot_end = slot_at(minute, self.zone, self.params.holidays)
                segments.append(_Segment(slot, minute, slot_end, slot_end))
                minute = slot_end
            limits = self.limits(segments)
            evidences = self._evidence_rates(segments)
            for segment, limit, evidence, off in zip(
                segments, limits.minutes.tolist(), evidences, limits.off.tolist(), strict=True
            ):
                if limit != float("inf"):
                    # The first boundary where the quiet gate opens, as _silence judges it.
                    if quiet >= rarity or segment.start - self.start < LEARNING or off:
                        enough: float = segment.start + 1
                    elif evidence > 0:
                        enough = segment.start + math.ceil((rarity - quiet) / evidence)
                    else:
                        enough = math.inf
                    if hard is not None:
                        enough = min(enough, self.last_end + hard + 1)
                    due = max(segment.start + 1, self.last_end + int(limit) + 1, enough, self.params.snooze_until or 0)
                    if due <= segment.end:
                        return int(due)
                quiet += evidence * (segment.end - segment.start)
        return None

    def _rates(self, segments: list[_Segment]) -> list[float]:
        """Records expected per minute in each segment (_UNLEARNED where no rate is learned yet)."""
        slots = [s.slot for s in segments]
        learned = np.array([s.start - self.start >= LEARNING for s in segments])
        rates: list[float] = np.where(learned & (self.weeks[slots] >= 2), self.rate[slots] / 60.0, _UNLEARNED).tolist()
        return rates

    def _per_minute(self, segments: list[_Segment], lengths: list[int]) -> np.ndarray:
        """Records expected in each minute of `segments`: the hour's rate, leaning towards the
        neighbouring hour's in its first and last half-hours where that is within 2x (traffic
        that falls steadily after midnight), flat at a step (opening time) or next to an
        unlearned hour. Unlearned minutes are _UNLEARNED."""
        own = np.array(self._rates(segments))
        flat = np.repeat(own, lengths)
        slots = np.array([s.slot for s in segments])
        learned = own > _UNLEARNED / 2
        if not learned.any():
            return flat
        known = self.weeks >= 2
        before = np.where(known[(slots - 1) % SLOTS], self.rate[(slots - 1) % SLOTS] / 60.0, -1.0)
        after = np.where(known[(slots + 1) % SLOTS], self.rate[(slots + 1) % SLOTS] / 60.0, -1.0)
        ends = np.repeat([s.slot_end for s in segments], lengths)
        minutes = np.arange(segments[0].start, segments[-1].end)
        offset = minutes - (ends - 60) + 0.5  # within the hour: 0.5 .. 59.5
        mine = flat
        other = np.where(offset < 30, np.repeat(before, lengths), np.repeat(after, lengths))
        smooth = np.repeat(learned, lengths) & (other >= 0) & (other <= 2 * mine) & (mine <= 2 * other)
        lean = np.abs(offset - 30) / 60.0
        return exact(np.where(smooth, (1 - lean) * mine + lean * other, flat))

    # -- time passing --------------------------------------------------------

    def advance(self, now: int) -> list[Event]:
        """Judge every minute boundary up to `now`; returns the alerts raised and resolved."""
        events: list[Event] = []
        self._learn_delay()
        while self.now < now:
            self._new_week(self.now)
            segments = self._segments(now)
            end = segments[-1].end
            self._make_room(end + HORIZON)
            chunk = self._chunk(segments)
            was_open = set(self.open)
            first = len(events)
            self._silence(chunk, events)
            self._volume(chunk, events)
            for kind, opened in self.open.items():  # at the rates the chunk was judged by, before it teaches
                if kind is not Kind.SURGE:
                    self._tally(opened, end, drop=kind is Kind.DROP)
            self._learn(chunk, was_open, events[first:])
            # In the order they happened, as a live model stepping minute by minute raises them.
            events[first:] = sorted(events[first:], key=lambda e: (e.at, list(Kind).index(e.kind), e.firing))
            self.last_end = int(chunk.ends[-1])
            self.now = end
        return events

    def close_all(self, at: int, reason: str) -> list[Event]:
        """End every open anomaly at minute `at`, for `reason` (the service was
        retired): their alerts resolve, and none stays open should it return."""
        events = []
        for kind, o in self.open.items():
            if kind is not Kind.SURGE:
                self._tally(o, min(at, self.now), drop=kind is Kind.DROP)
            events.append(Event(kind, False, o.started_at, at, reason, outage_expected=o.expected, outage_seen=o.seen))
        self.open.clear()
        return events

    def silence_ended_ahead(self) -> list[Event]:
        """End an open silence that is already over: records are held for the
        minute in progress (`now`), which `advance` judges only once it ends.
        An open silence has no deadline to bring the watcher back then, so a
        feed that recovered would stay alerting until its next delivery (an
        hour, for an hourly file). It ends here, as `advance` would end it then."""
        current = self.open.get(Kind.SILENCE)
        if current is None or self.counts[self.now - self.base] <= 0:
            return []
        del self.open[Kind.SILENCE]
        self.recovered = self.now
        return [self._silence_resolved(current, self.now)]

    def _segments(self, now: int) -> list[_Segment]:
        """The next chunk's hour slots up to `now`; a chunk never spans two weeks (the bursts it teaches
        belong to one)."""
        segments = []
        minute = self.now
        now = min(now, (minute // WEEK_MINUTES + 1) * WEEK_MINUTES)
        if self.slot >= 0 and minute < self.slot_end:
            segments.append(_Segment(self.slot, minute, min(self.slot_end, now), self.slot_end))
            minute = segments[-1].end
        while minute < now and len(segments) < MAX_SEGMENTS:
            slot, slot_end = slot_at(minute, self.zone, self.params.holidays)
            segments.append(_Segment(slot, minute, min(slot_end, now), slot_end))
            minute = segments[-1].end
        return segments

    def _chunk(self, segments: list[_Segment]) -> _Chunk:
        start, end = segments[0].start, segments[-1].end
        lengths = [s.end - s.start for s in segments]
        self.expect[start - self.base : end - self.base] = self._per_minute(segments, lengths)
        counts = self.counts[start - self.base : end - self.base]
        times = np.arange(start + 1, end + 1)
        ends = np.maximum.accumulate(np.where(counts > 0, times, self.last_end))
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        limits = self.limits(segments)
        return _Chunk(start, segments, offsets, lengths, times, np.maximum(ends, self.last_end), limits)

    def _evidence_rates(self, segments: list[_Segment]) -> list[float]:
        """Records expected per minute for the quiet gate: one week of the hour is enough."""
        slots = [s.slot for s in segments]
        rates: list[float] = exact(np.where(self.weeks[slots] >= 1, self.rate[slots] / 60.0, 0.0)).tolist()
        return rates

    def _expected_between(self, start: int, end: int) -> float:
        total, minute = 0.0, start
        while minute < end:
            slot, slot_end = slot_at(minute, self.zone, self.params.holidays)
            stop = min(slot_end, end)
            total += self._evidence_rates([_Segment(slot, minute, stop, slot_end)])[0] * (stop - minute)
            minute = stop
        return total

    def _quiet(self, chunk: _Chunk) -> np.ndarray:
        """At each boundary: records the learned rates expected since the last record."""
        per_minute = np.repeat(self._evidence_rates(chunk.segments), chunk.lengths)
        cumulative = np.concatenate(([0.0], np.cumsum(per_minute)))
        upto = cumulative[1:]
        since_record = upto - cumulative[np.clip(chunk.ends - chunk.start, 0, len(per_minute))]
        return np.where(chunk.ends > self.last_end, since_record, self.quiet + upto)

    def _silence(self, chunk: _Chunk, events: list[Event]) -> None:
        limit = np.repeat(chunk.limits.minutes, chunk.lengths)
        silence = chunk.times - chunk.ends
        # A silence is news only if the records it lacks are many: one that began
        # in a quiet spell (a weekend, a night) waits until the learned rates
        # since the last record expect enough of them (silence_rarity, e.g. 12:
        # none of 12 expected happens by chance once in 160,000). The hard limit
        # (max_silence) never waits, nor does a service still learning (its only
        # limit is the hard one).
        quiet = self._quiet(chunk)
        self.quiet = float(quiet[-1])
        hard = self.params.max_silence
        learning = np.repeat([s.start - self.start < LEARNING for s in chunk.segments], chunk.lengths)
        # Outside active hours only the off-hours limit applies, and, a hard limit, it never waits either.
        off = np.repeat(chunk.limits.off, chunk.lengths)
        enough = (
            (quiet >= self.rarity() - QUIET_SLACK) | learning | off | (silence > (hard if hard is not None else np.inf))
        )
        late = chunk.late = (silence > limit) & enough
        if self.params.snooze_until is not None:
            late &= chunk.times >= self.params.snooze_until
        # Drops are judged on windows after the recovery as it stood at each boundary, not
        # at the chunk's end: a replay in long chunks must see what live steps see.
        chunk.recovered = np.full(len(chunk.times), self.recovered, dtype=np.int64)
        i = 0
        while i < len(late):
            current = self.open.get(Kind.SILENCE)
            if current is not None:
                back = np.flatnonzero((chunk.ends[i:] > current.last_end) & (silence[i:] <= limit[i:]))
                if len(back) == 0:
                    return
                i += int(back[0])
                self.recovered = chunk.recovered[i:] = int(chunk.ends[i]) - 1
                del self.open[Kind.SILENCE]
                events.append(self._silence_resolved(current, int(chunk.times[i])))
                continue
            hits = np.flatnonzero(late[i:])
            if len(hits) == 0:
                return
            i += int(hits[0])
            at, last = int(chunk.times[i]), int(chunk.ends[i])
            index = chunk.segment_at(i)
            reason = explain_limit(chunk.segments[index].slot, chunk.limits, index, self.params)
            delay = self.delivery_delay()
            if delay and float(chunk.limits.minutes[index]) <= delay:
                reason += f"; its records have lately come up to {duration(delay)} late, so the limit is at least that"
            # The message is written once, when raised: it says how long the silence was then.
            message = silence_message(last, at, reason)
            plausible = float(np.nan_to_num(chunk.limits.plausible[index]))
            events.append(
                Event(
                    Kind.SILENCE,
                    True,
                    last,
                    at,
                    message,
                    expected=plausible,
                    seen=at - last,
                    off_hours=bool(chunk.limits.off[index]),
                    reason=reason,
                )
            )
            # What the learned rates expected since the last record is what the quiet gate counted.
            opened = self._open(Kind.SILENCE, last, at, float(quiet[i]), 0.0, last_end=last)
            events[-1] = dataclasses.replace(events[-1], outage_expected=opened.expected, outage_seen=opened.seen)
            i += 1

    def _silence_resolved(self, current: _Open, at: int) -> Event:
        """The end of a silence: records came at minute at-1; the records it lacked, in words."""
        self._tally(current, at)
        message = "records are arriving again; " + missing_words(current.expected, current.seen, "during the silence")
        return Event(
            Kind.SILENCE,
            False,
            current.started_at,
            at,
            message,
            outage_expected=current.expected,
            outage_seen=current.seen,
        )

    def _volume(self, chunk: _Chunk, events: list[Event]) -> None:
        """Drop and surge over windows of records ending at the last record known.

        Only boundaries where the last record moved change the windows, so only
        those are judged, all at once: for each, the windows back to each of
        WIDTHS, every one's start snapped to just after the last delivery
        before it (an hourly file is in a window whole, or not at all).
        """
        if self.params.test and not self.open.keys() & {Kind.DROP, Kind.SURGE}:
            return  # a test service's volume is irregular by nature; only its silences are watched
        ends = chunk.ends
        moved = np.ones(len(ends), dtype=bool)
        moved[1:] = ends[1:] != ends[:-1]
        pick = np.flatnonzero(moved & (ends - MAX_WINDOW - SNAP >= self.base))
        if len(pick) == 0:
            return
        stop = (ends[pick] - self.base).astype(np.int64)
        top = int(stop.max())
        counts = self.counts[:top]
        after = np.maximum.accumulate(np.where(counts > 0, np.arange(1, top + 1), 0))  # end of the last record so far
        nominal = np.maximum(stop[:, None] - WIDTHS[None, :], SNAP + 1)
        # (picks, widths): just after the last record before the nominal start, at most SNAP earlier
        starts = np.maximum(after[nominal - 1], nominal - SNAP)
        # Sums from the earliest window on, and unlearned minutes counted apart: a cumulative sum
        # through their markers would lose the digits that live and replay must agree on.
        lo = int(starts.min())
        rates = self.expect[lo:top]
        gaps_in = rates < 0
        every_learned = not gaps_in.any()
        seen_cs = np.concatenate(([0.0], np.cumsum(counts[lo:])))
        exp_cs = np.concatenate(([0.0], np.cumsum(rates if every_learned else np.maximum(rates, 0.0))))
        stop, starts, after = stop - lo, starts - lo, after[lo:]
        # A delivery that came later than the hour's usual gap is late, not short: the minutes
        # of its lateness expect nothing (a file half an hour late holds an hour's records).
        usual = np.repeat(np.nan_to_num(chunk.limits.plausible, nan=0.0), chunk.lengths)[pick]  # the hour's gap
        gap = stop - 1 - after[np.maximum(stop - 2, 0)]
        late = np.clip(gap - usual, 0, SNAP).astype(np.int64)
        until = np.maximum(stop - late, 1)[:, None]
        seen = seen_cs[stop][:, None] - seen_cs[starts]
        expected = exp_cs[np.maximum(until, starts)] - exp_cs[starts]
        span = stop[:, None] - starts
        tuning = self.params.tuning
        # Not judged: windows reaching into unlearned minutes, or expecting too few
        # records to say anything, or across a sharp change of expected rate
        # (opening time: records stamped at the start of a 5- or 30-minute
        # interval land on one side of it).
        first, last_rate = rates[starts], rates[stop - 1][:, None]
        steady = (first <= 2 * last_rate + 1e-9) & (last_rate <= 2 * first + 1e-9)
        judged = (expected >= 3.0) & steady
        if not every_learned:
            unlearned = np.concatenate(([0], np.cumsum(gaps_in)))
            judged &= unlearned[stop][:, None] == unlearned[starts]
        # Where deliveries are an hour or more apart (hourly files), a window holding one is a
        # drop only if deep: a file late, early or split in two makes a shallow one by itself.
        single = (usual >= 45)[:, None] & (span < 2 * usual[:, None])
        ratio = np.where(single, SINGLE_DELIVERY_RATIO * tuning.drop_ratio, tuning.drop_ratio)
        recovered = chunk.recovered[pick] if chunk.recovered is not None else np.full(len(pick), self.recovered)
        # Drops are judged on windows after the last recovery: one holding a silence
        # that was alerted on would only say it again.
        begins = starts + lo + self.base  # minute each window starts
        fresh = begins >= recovered[:, None]
        if self.params.active_hours is not None:
            # Outside its active hours a service may go quiet: no drop is news there, as no silence is.
            slots = np.repeat([s.slot for s in chunk.segments], chunk.lengths)[pick]
            fresh &= np.isin(slots, list(self.params.active_hours))[:, None]
        burst = self.plausible_burst()
        limit = max(tuning.surge_ratio, self.surge_limit())
        dispersion = self.dispersion(span)
        spread = np.sqrt(expected + dispersion * expected * expected)
        low = judged & fresh & (seen < ratio * expected) & (expected - seen >= 2 * spread)
        long = judged & fresh & (span >= SURGE_SPAN)
        multiple = np.where(long, beyond_chance(seen) / np.maximum(expected, 1e-9), 0.0)
        high = multiple > limit
        watching = Kind.DROP in self.open or Kind.SURGE in self.open
        self._learn_burst(chunk.start, float(multiple.max()))
        if not watching and not low.any() and not high.any():
            return  # the common case: nothing open, nothing out of line
        odds = _Odds(seen, expected, dispersion, self.dispersion(span, upper=True))
        # A month holds 16 times fewer 4-hour windows than quarter-hours: a long window may be
        # as rare per window by that much less and still be as rare per month.
        bar = (tuning.drop_odds - np.log10(np.maximum(span, 15) / 15.0)) * LN10
        drop_bad = low & (odds.below(low) < -bar)
        surge_bad = high & (odds.above(high) < -tuning.surge_odds * LN10)
        normal_low = ~judged | (seen >= 0.75 * expected)
        normal_high = ~judged | (seen <= max(1.5, burst) * expected)
        # (Whenever one may be open during the chunk: raised in it, live would judge its end so.)
        if Kind.DROP in self.open or drop_bad.any():
            normal_low |= odds.below(~normal_low) > math.log(0.01)
        if Kind.SURGE in self.open or surge_bad.any():
            normal_high |= odds.above(~normal_high) > math.log(0.01)
        window = _Windows(pick, begins, seen, expected, span, odds)
        self._judge(Kind.DROP, drop_bad, normal_low, window, chunk, events)
        self._judge(Kind.SURGE, surge_bad, normal_high, window, chunk, events)

    def _judge(
        self, kind: Kind, bad: np.ndarray, normal: np.ndarray, w: _Windows, chunk: _Chunk, events: list[Event]
    ) -> None:
        """Raise and resolve alerts of `kind` at the judged boundaries, in order."""
        if not bad.any() and kind not in self.open:
            return
        allowed = bad if kind is Kind.DROP else bad & (w.starts >= self.calmed)
        i = 0
        while i < len(w.pick):
            current = self.open.get(kind)
            if current is not None:
                column = max(int(np.searchsorted(WIDTHS, min(current.width, RESOLVE_SPAN), side="right")) - 1, 0)
                hits = np.flatnonzero(normal[i:, column])
            else:
                hits = np.flatnonzero(allowed[i:].any(axis=1))
            if len(hits) == 0:
                return
            i += int(hits[0])
            at, end = int(chunk.times[w.pick[i]]), int(chunk.ends[w.pick[i]])
            if current is not None:
                self._tally(current, at, drop=kind is Kind.DROP)
                back = int(w.starts[i, column])
                if kind is Kind.DROP and back >= current.started_at:
                    # It ended where the window that found the volume normal again begins.
                    current.expected = max(0.0, current.expected - float(w.expected[i, column]))
                    current.seen = max(0.0, current.seen - float(w.seen[i, column]))
                del self.open[kind]
                # The next is judged on windows after this one's end, as a drop after a silence: the
                # longer windows still hold what was just found over.
                # (`recovered` as it stands may already hold a silence later in this chunk: the
                # windows after this boundary are judged by this end, as a live model would.)
                if kind is Kind.DROP:
                    self.recovered = max(self.recovered, end)
                else:
                    self.calmed = max(self.calmed, end)
                allowed = bad & (w.starts >= end)
                events.append(self._volume_resolved(kind, current, at, end, w, i, column))
            elif not self._snoozed(at):
                # The change point: the start of the window most unlikely by chance (too early, and
                # normal minutes dilute it; too late, and it holds less of the outage).
                odds = w.odds.below_row(i) if kind is Kind.DROP else w.odds.above_row(i)
                column = int(np.argmin(np.where(allowed[i], odds, np.inf)))
                started = int(w.starts[i, column])
                opened = self._open(
                    kind,
                    started,
                    at,
                    float(w.expected[i, column]),
                    float(w.seen[i, column]),
                    width=int(w.span[i, column]),
                )
                events.append(self._volume_raised(kind, opened, at, end, w, i, column))
            i += 1

    def _volume_raised(self, kind: Kind, opened: _Open, at: int, end: int, w: _Windows, i: int, column: int) -> Event:
        seen, expected = float(w.seen[i, column]), float(w.expected[i, column])
        chance = _odds_words(float(w.odds.at(i, column, kind is Kind.DROP)))
        usual = math.sqrt(float(self.dispersion(np.array(60.0))))  # below the rate, an hour
        if kind is Kind.DROP:
            message = (
                f"since {instant(opened.started_at):%H:%M} UTC, {seen:,.0f} records against about {expected:,.0f} "
                f"expected ({seen / expected:.0%}); at this service's usual variation (about {usual:.0%} an hour "
                f"beyond chance) so few would come by chance {chance}"
            )
        else:
            span = duration(int(w.span[i, column]))
            message = (
                f"{seen:,.0f} records in the {span} to {instant(end):%H:%M} UTC: {seen / expected:.1f} times the "
                f"{expected:,.0f} expected at this time of week"
            )
            burst = self.plausible_burst()
            message += (
                f"; its bursts in the last {WEEKS} weeks reached {burst:.1f} times"
                if burst > 1
                else f"; it has had no bursts like it in the last {WEEKS} weeks"
            )
            message += f", and so many would come by chance {chance}"
        return Event(
            kind,
            True,
            opened.started_at,
            at,
            message,
            expected,
            seen,
            outage_expected=opened.expected,
            outage_seen=opened.seen,
        )

    def _volume_resolved(
        self, kind: Kind, current: _Open, at: int, end: int, w: _Windows, i: int, column: int
    ) -> Event:
        seen, expected = float(w.seen[i, column]), float(w.expected[i, column])
        span = duration(int(w.span[i, column]))
        message = (
            f"volume back to normal: {seen:,.0f} records in the {span} to {instant(end):%H:%M} UTC, "
            f"expected about {expected:,.0f}"
        )
        if kind is Kind.DROP:
            message += "; " + missing_words(
                current.expected, current.seen, "since " + f"{instant(current.started_at):%H:%M} UTC"
            )
        return Event(
            kind,
            False,
            current.started_at,
            at,
            message,
            expected,
            seen,
            outage_expected=current.expected if kind is Kind.DROP else 0.0,
            outage_seen=current.seen if kind is Kind.DROP else 0.0,
        )

    def _open(self, kind: Kind, started: int, at: int, expected: float, seen: float, **more: int) -> _Open:
        """Open an outage or surge, with the records expected and seen from `started` to `at`."""
        opened = self.open[kind] = _Open(started, at, counted=at, **more)
        opened.expected, opened.seen = expected, seen
        return opened

    def _tally(self, opened: _Open, upto: int, *, drop: bool = False) -> None:
        """Count the records expected and seen in an open outage from where it was counted to `upto`,
        at the rates those minutes were judged by (so live steps and replay's chunks agree): a drop's
        by the volume tests' per-minute expectations, a silence's by the hours' rates. (Sums taken in
        other steps differ in their last bits: the events that carry them round them.)"""
        if upto <= opened.counted:
            return
        lo, hi = max(opened.counted, self.base) - self.base, upto - self.base
        if drop:
            expected = float(np.maximum(self.expect[lo:hi], 0.0).sum()) if hi > lo else 0.0
        else:
            expected = self._expected_between(opened.counted, upto)
        opened.expected += expected
        if hi > lo:
            opened.seen += float(self.counts[lo:hi].sum())
        opened.counted = upto

    def outage_so_far(self, kind: Kind) -> tuple[float, float] | None:
        """Records expected and seen so far in the open silence or drop of `kind`, None if none is open."""
        opened = self.open.get(kind)
        if opened is None or kind is Kind.SURGE:
            return None
        self._tally(opened, self.now, drop=kind is Kind.DROP)
        return opened.expected, opened.seen

    # -- what the service's history makes plausible ------------------------------

    def dispersion(self, span: np.ndarray, *, upper: bool = False) -> np.ndarray:
        """The learned variation beyond chance for windows of `span` minutes: a negative binomial's 1/size.

        Below the rate (drops), as two parts: one that shrinks as a window
        spans more quarter-hours (their ups and downs even out) and one that
        does not (a day busier than the profile, an error in the learned
        rate), told apart by how much more quarter-hours vary than hours.
        Above the rate (surges), the hour's upper side.
        """
        return _dispersion(self._of_the_week()[3], span, upper=upper)

    def _dispersions(self) -> tuple[float, float, float]:
        """(lasting, shrinking, upper): the parts of `dispersion` from the week's judging figures."""
        a15, b15, a_low, b_low, a_high, b_high = (float(v) for v in self.judging)
        # A side not seen yet (a feed as regular as clockwork never falls below its rate) borrows the other's.
        low = a_low / b_low if b_low > 0 else (a_high / b_high if b_high > 0 else 0.1)
        high = a_high / b_high if b_high > 0 else low
        hour = max(low, VARIATION_FLOOR)
        quarter = max(a15 / b15, hour) if b15 > 0 else hour
        shrinking = (quarter - hour) * 4 / 3  # a quarter-hour's own part; an hour holds a quarter of it
        lasting = max(hour - shrinking / 4, VARIATION_FLOOR)
        return lasting, shrinking, max(high, VARIATION_FLOOR)

    def plausible_burst(self) -> float:
        """The multiple of the expected volume the service's bursts reached in two of the completed weeks."""
        return float(np.sort(self.bursts[:-1])[-2])

    def surge_limit(self) -> float:
        """The multiple of the expected volume beyond which a window is a surge, by the service's bursts.

        Its plausible burst, times BURST_MARGIN, or times how far that burst is
        above its typical week's if more: a feed whose weekly peaks range from
        2x to 12x (tweets on news) has a tail that the next month will reach
        further into; one whose peaks are all about 1.4x has none.
        """
        return self._of_the_week()[1]

    def _of_the_week(self) -> tuple[int, float, float, tuple[float, float, float]]:
        """(week, surge limit, silence rarity, dispersions) as the week's judging figures give them."""
        if self._weekly is None or self._weekly[0] != self.burst_week:
            parts = self._dispersions()
            self._weekly = (self.burst_week, self._surge_limit(parts), self._rarity(parts), parts)
        return self._weekly

    def _surge_limit(self, parts: tuple[float, float, float]) -> float:
        seen = sorted(float(b) for b in self.bursts[:-1] if b > 0)
        if len(seen) < 2:
            return BURST_MARGIN * seen[-1] if seen else 0.0
        second, typical = seen[-2], statistics.median(seen)
        limit = second * max(BURST_MARGIN, second / max(typical, 1e-9))
        if parts[2] >= BURSTY:  # the upper variation
            # A feed that bursts by nature (tweets on news) has a tail the next weeks will
            # reach further into: a surge must beat its largest burst of six weeks by half.
            limit = max(limit, BURSTY_MARGIN * seen[-1])
        return limit

    def rarity(self) -> float:
        """Records the learned rates must expect since the last one before none coming is no accident.

        For traffic at random (Poisson), the tuning's silence_rarity r: none of r
        expected comes with probability e**-r. Records that come in clusters (a
        negative binomial of dispersion c over hours) leave longer
        gaps: none of E comes with probability (1 + cE)**(-1/c), so the same
        rarity takes E = (e**(rc) - 1) / c; at most four times r.
        """
        return self._of_the_week()[2]

    def _rarity(self, parts: tuple[float, float, float]) -> float:
        r = self.params.tuning.silence_rarity
        c = float(_dispersion(parts, np.array(60.0)))
        return min(4 * r, math.expm1(min(r * c, 50.0)) / c)

    def _snoozed(self, minute: int) -> bool:
        return self.params.snooze_until is not None and minute < self.params.snooze_until

    # -- learning ------------------------------------------------------------

    def _learn(self, chunk: _Chunk, was_open: set[Kind], events: list[Event]) -> None:
        """Close the hours this chunk finished, then learn the volume of hours that have settled."""
        silence = chunk.times - chunk.ends
        gaps = np.maximum.reduceat(silence, chunk.offsets)
        tainted = self._tainted(chunk, was_open, events)
        for index, segment in enumerate(chunk.segments):
            gap, spoiled = int(gaps[index]), bool(tainted[index])
            if index == 0 and segment.slot == self.slot:
                gap, spoiled = max(gap, self.slot_gap), spoiled or self.slot_tainted
            if segment.end < segment.slot_end:
                self.slot, self.slot_end = segment.slot, segment.slot_end
                self.slot_gap, self.slot_tainted = gap, spoiled
                break
            self.slot = -1
            if spoiled and self.spoiled_weeks[segment.slot] < RECURRING - 1:
                self.spoiled_weeks[segment.slot] += 1
                continue
            self.spoiled_weeks[segment.slot] = 0
            row = self.gaps[segment.slot]
            row[:-1] = row[1:]
            row[-1] = min(gap, NO_GAP - 1)
            if segment.slot_end - 60 >= self.start:  # a whole hour, not the service's first part-hour
                self.pending.append((segment.slot, segment.slot_end - 60, segment.slot_end))
        self._learn_volume(chunk.segments[-1].end)

    def _tainted(self, chunk: _Chunk, was_open: set[Kind], events: list[Event]) -> np.ndarray:
        """Per segment: was any alert open, or a silence past its limit, during it?"""
        spoiled = np.zeros(len(chunk.times), dtype=bool)
        for kind in Kind:
            opened = 0 if kind in was_open else None
            for event in (e for e in events if e.kind is kind):
                index = event.at - chunk.start - 1
                if event.firing:
                    opened = index
                elif opened is not None:
                    spoiled[opened : index + 1] = True
                    opened = None
            if opened is not None:
                spoiled[opened:] = True
        if chunk.late is not None:
            spoiled |= chunk.late
        # While a service is still learning, its only limit is the hard one; what it
        # sees then is history to learn from, or the learning would never end.
        learned = ~np.isnan(chunk.limits.plausible)
        found: np.ndarray = np.logical_or.reduceat(spoiled, chunk.offsets) & learned
        return found

    def _learn_volume(self, now: int) -> None:
        hours: list[np.ndarray] = []
        rates: list[float] = []
        while self.pending and self.pending[0][2] + SETTLE <= now:
            slot, start, end = self.pending.pop(0)
            if start < self.base:
                continue
            hour = self.counts[start - self.base : end - self.base]
            known = int(self.weeks[slot])
            before = float(self.rate[slot])
            if known and before > 0:
                hours.append(hour)
                rates.append(before)
            self.rate[slot] += max(0.3, 1.0 / (known + 1)) * (float(hour.sum()) - before)
            self.weeks[slot] = min(known + 1, 255)
        if hours:
            self._learn_variation(np.array(hours), np.array(rates))

    def _learn_variation(self, hours: np.ndarray, rates: np.ndarray) -> None:
        """Fold settled hours' deviations from their rates, beyond chance, into the learned variation,
        in the order they ended (one exponentially weighted average per side, taken all at once).

        Quarter-hours teach only from hours with records in every quarter: a
        file every 15 minutes or more, or rows of half an hour, say nothing of
        how a quarter-hour varies. Below the rate a deviation is at most the
        rate; above it, bursts count up to twice the rate (one burst, however
        high, does not make a feed bursty; many do) and each hour weighs by its
        rate rather than its square, so a bursty feed's surges, at night too,
        need to be far beyond its own.
        """
        quarters = hours.reshape(len(hours), 4, 15).sum(axis=2)
        quarter = rates / 4
        every = (quarters > 0).all(axis=1)
        off_quarters = (
            np.minimum((quarters - quarter[:, None]) ** 2, (quarter * quarter)[:, None]) - quarter[:, None]
        ).sum(axis=1)
        seen = hours.sum(axis=1)
        below = seen < rates
        off_low = (seen - rates) ** 2 - rates
        # Weighted by the rate, not its square: a quiet hour's bursts (news at night) count too.
        off_high = (np.minimum((seen - rates) ** 2, 4 * rates * rates) - rates) / rates
        sides = (
            (slice(0, 2), every, off_quarters, 4 * quarter * quarter),
            (slice(2, 4), below, off_low, rates * rates),
            (slice(4, 6), ~below, off_high, rates),
        )
        keep = 1.0 - VARIATION_MEMORY
        for side, taken, numerator, denominator in sides:
            n = int(taken.sum())
            if n == 0:
                continue
            decay = keep ** np.arange(n - 1, -1, -1)
            samples = np.stack((numerator[taken], denominator[taken]))
            self.variation[side] = keep**n * self.variation[side] + VARIATION_MEMORY * (samples * decay).sum(axis=1)

    def _new_week(self, minute: int) -> None:
        """At the first chunk of a week: the bursts move on a week, and the tests judge by the variation
        learned up to now. Verdicts read completed weeks only, so what a week teaches changes none of
        them until it ends, live as in replay."""
        week = minute // WEEK_MINUTES
        if week > self.burst_week:
            shift = min(week - self.burst_week, WEEKS)
            self.bursts = np.concatenate((self.bursts[shift:], np.zeros(shift)))
            self.burst_week = week
            self.judging = self.variation.copy()

    def _learn_burst(self, minute: int, burst: float) -> None:
        """This week's highest burst so far, from the windows just judged (a chunk never spans two weeks).

        Every burst teaches, alerted or not: a service that surges every week
        surges by nature.
        """
        if minute // WEEK_MINUTES == self.burst_week:
            self.bursts[-1] = max(self.bursts[-1], burst)

    # -- what an operator reads ----------------------------------------------

    def profile(self) -> np.ndarray:
        """Expected records per hour for each of the 168 slots (Monday 00:00 first), NaN where unknown."""
        return np.where(self.weeks > 0, self.rate, np.nan)

    # -- storage -------------------------------------------------------------

    _HEAD = struct.Struct("<qqqqdqqq?iiq")

    def to_bytes(self) -> bytes:
        """About 7 KB: 8 h of per-minute counts and expectations, six weeks of gaps, the hourly rates, the delays,
        the learned variation and bursts."""
        first = self.now - LOOKBACK
        counts = np.zeros(RING, np.float32)
        expect = np.full(RING, _UNLEARNED, np.float32)
        lo, hi = max(first, self.base), min(first + RING, self.base + len(self.counts))
        if hi > lo:
            counts[lo - first : hi - first] = self.counts[lo - self.base : hi - self.base]
            expect[lo - first : hi - first] = self.expect[lo - self.base : hi - self.base]
        pending = np.array(self.pending, dtype=np.int64).reshape(-1, 3)
        kinds = list(Kind)
        opened = np.array(
            [(kinds.index(k), o.started_at, o.raised_at, o.last_end) for k, o in self.open.items()], dtype=np.int64
        ).reshape(-1, 4)
        tallies = np.array(
            [(o.width, o.expected, o.seen, o.counted) for o in self.open.values()], dtype=np.float64
        ).reshape(-1, 4)
        head = self._HEAD.pack(
            self.start,
            self.now,
            self.last_end,
            first,
            float(self.dispersion(np.array(60.0))),  # format 1 kept one variation figure here; now informative
            self.slot,
            self.slot_end,
            self.slot_gap,
            self.slot_tainted,
            len(pending),
            len(opened),
            self.recovered,
        )
        lags = np.array(self.lags, dtype=np.int64).reshape(-1, 2)
        parts = [
            head,
            pending,
            opened,
            counts,
            expect,
            self.gaps,
            self.rate.astype(np.float32),
            self.weeks,
            self.spoiled_weeks,
            np.array([0.0, self.quiet], np.float64),  # the first was format 1's share of surging hours
            np.array([len(lags)], np.int64),
            lags,
            self.variation.astype(np.float64),
            self.judging.astype(np.float64),
            self.bursts.astype(np.float64),
            np.array([self.burst_week, self.calmed], np.int64),
            tallies,
        ]
        body = b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts)  # type: ignore[attr-defined]
        return bytes([FORMAT_VERSION]) + body

    # Per stored model, after the head and its pending and open rows: counts
    # and expectations (float32 each), gaps (uint16), rates (float32), weeks
    # and spoiled weeks (uint8).
    _FIXED = 2 * 4 * RING + 2 * SLOTS * WEEKS + 4 * SLOTS + 2 * SLOTS
    # Format 2 adds, after the delivery delays: the variation learned and judged by (6 float64 each), the
    # bursts (WEEKS float64), their week and the end of the last surge (int64 each), and a tally
    # row (4 float64) per open anomaly.
    _TAIL = 16 * VARIATIONS + 8 * WEEKS + 16

    @classmethod
    def _fits(cls, data: bytes, offset: int, version: int = 1) -> bool:
        """Does a model of `version` begin at `offset` and end where `data` ends? A model is
        read whole or not at all, so its length, given by its head, tells."""
        if len(data) < offset + cls._HEAD.size:
            return False
        n_pending, n_open = cls._HEAD.unpack_from(data, offset)[9:11]
        if not (0 <= n_pending <= len(data) and 0 <= n_open <= len(Kind)):
            return False
        end = offset + cls._HEAD.size + 24 * n_pending + 32 * n_open + cls._FIXED
        if version < 2 and len(data) in (end, end + 16):  # stored before surges and quiet, or before delivery delays
            return True
        if len(data) < end + 24:
            return False
        n_lags = int(struct.unpack_from("<q", data, end + 16)[0])
        if n_lags < 0:
            return False
        end += 24 + 16 * n_lags
        if version >= 2:
            end += cls._TAIL + 32 * n_open
        return bool(len(data) == end)

    @classmethod
    def from_bytes(cls, data: bytes, params: Params) -> FeedModel:
        """The model `to_bytes` stored, in this format or an older one (format 1,
        or the unversioned one before it); UnknownModelFormat for any other."""
        if data[:1] == bytes([FORMAT_VERSION]) and cls._fits(data, 1, FORMAT_VERSION):
            return cls._read(data, 1, params, FORMAT_VERSION)
        if data[:1] == b"\x01" and cls._fits(data, 1):
            return cls._read(data, 1, params, 1)
        if cls._fits(data, 0):
            return cls._read(data, 0, params, 1)
        raise UnknownModelFormat(data[0] if data else 0)

    @classmethod
    def _read(cls, data: bytes, offset: int, params: Params, version: int) -> FeedModel:
        head = cls._HEAD.unpack_from(data, offset)
        start, now, last_end, base, variation, slot, slot_end, slot_gap, tainted, n_pending, n_open, recovered = head
        offset += cls._HEAD.size

        def take(dtype: type, count: int) -> np.ndarray:
            nonlocal offset
            out: np.ndarray = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += out.nbytes
            return out

        pending = take(np.int64, n_pending * 3).reshape(-1, 3)
        opened = take(np.int64, n_open * 4).reshape(-1, 4)
        model = cls(params, start=start, now=now, last_end=last_end, base=base, recovered=recovered)
        model.slot, model.slot_end, model.slot_gap, model.slot_tainted = slot, slot_end, slot_gap, tainted
        model.pending = [(int(s), int(a), int(b)) for s, a, b in pending]
        kinds = list(Kind)
        model.open = {kinds[int(k)]: _Open(int(s), int(r), int(e)) for k, s, r, e in opened}
        model.counts = take(np.float32, RING).astype(np.float64)
        model.expect = take(np.float32, RING).astype(np.float64)
        model.gaps = take(np.uint16, SLOTS * WEEKS).reshape(SLOTS, WEEKS).copy()
        model.rate = take(np.float32, SLOTS).astype(np.float64)
        model.weeks = take(np.uint8, SLOTS).copy()
        model.spoiled_weeks = take(np.uint8, SLOTS).copy()
        if offset < len(data):  # models stored before these were kept lack them
            model.quiet = float(take(np.float64, 2)[1])
        if offset < len(data):
            (n_lags,) = take(np.int64, 1)
            model.lags = [(int(seen), int(late)) for seen, late in take(np.int64, int(n_lags) * 2).reshape(-1, 2)]
        if version >= 2:
            model.variation = take(np.float64, VARIATIONS).copy()
            model.judging = take(np.float64, VARIATIONS).copy()
            model.bursts = take(np.float64, WEEKS).copy()
            model.burst_week, model.calmed = (int(v) for v in take(np.int64, 2))
            for o, (width, expected, seen, counted) in zip(
                model.open.values(), take(np.float64, n_open * 4).reshape(-1, 4), strict=True
            ):
                o.width, o.expected, o.seen, o.counted = int(width), float(expected), float(seen), int(counted)
        else:
            # Format 1 kept one figure, hourly and chance included: a wide start that learning narrows.
            model.variation = np.array([2 * variation, 1.0, variation, 1.0, variation, 1.0])
            model.judging = model.variation.copy()
            for o in model.open.values():
                o.counted, o.width = model.now, RESOLVE_SPAN
        return model
