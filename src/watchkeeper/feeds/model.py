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
  (recent weeks weigh more, so growth is followed), plus one dispersion
  figure for the whole service. A drop or surge compares the records of the
  last window with what the rate expects for those same minutes.

A silence alerts when it is longer than its hour's gaps allow *and* the
learned rates since the last record expect enough records (silence_rarity,
12 at normal sensitivity) that none arriving is no accident: a silence that
began in a quiet weekend is not an outage at 07:01 on Monday because Monday's
first record is a little late. The hard limit (max_silence) never waits.
Surges stop alerting for a service whose own history holds them more than
twice a week (a social feed, a batch partner); a test service is watched for
silence only.

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
A chunk never holds the same hour of two days, so nothing learned inside a
chunk could have changed a verdict inside it: the result is the same as
stepping minute by minute, only much faster.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

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
# A service that surges more than twice a week, on average over about two
# weeks, surges by nature (a social feed, a batch partner): its surges are
# not news, so they stop alerting until they become rare again.
SURGE_MEMORY = 1 / 336
SURGES_PER_WEEK = 2.0  # hours holding a surge (alerted or not) per week
_UNLEARNED = -1e9  # per-minute expectation marker: a window touching it is not judged
# The first byte of a stored model says its format; models stored before
# there was one begin with their start minute, and are told apart by their
# length (FeedModel._fits). A format that reads differently gets a new number.
FORMAT_VERSION = 1


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
    last_end: int = 0


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
    surging: np.ndarray | None = None  # boundaries whose window was a surge, alerted or not
    recovered: np.ndarray | None = None  # at each boundary, the model's `recovered` as it stood there

    def segment_at(self, index: int) -> int:
        return int(np.searchsorted(self.offsets, index, side="right")) - 1


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
    cv2: float = 0.1  # squared coefficient of variation of hourly volume around the rate
    surges: float = 0.0  # share of hours holding a surge, averaged over about two weeks
    quiet: float = 0.0  # records the learned rates expected from last_end to now
    slot: int = -1  # the slot being lived through, -1 between slots
    slot_end: int = 0
    slot_gap: int = 0
    slot_tainted: bool = False
    pending: list[tuple[int, int, int]] = field(default_factory=list)  # (slot, start, end) awaiting volume
    recovered: int = 0  # first record after the last silence alert; drops are judged on windows after it
    open: dict[Kind, _Open] = field(default_factory=dict)
    lags: list[tuple[int, int]] = field(default_factory=list)  # (minute seen, minutes late) of late deliveries
    _late: int | None = field(default=None, repr=False)  # earliest minute come late since the last `advance`

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
        limits = silence_limits(self.gaps, rate, slots, learned, self.params)
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
        quiet, rarity = self.quiet, self.params.tuning.silence_rarity - QUIET_SLACK
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

    # -- time passing --------------------------------------------------------

    def advance(self, now: int) -> list[Event]:
        """Judge every minute boundary up to `now`; returns the alerts raised and resolved."""
        events: list[Event] = []
        self._learn_delay()
        while self.now < now:
            segments = self._segments(now)
            end = segments[-1].end
            self._make_room(end + HORIZON)
            chunk = self._chunk(segments)
            was_open = set(self.open)
            first = len(events)
            self._silence(chunk, events)
            self._volume(chunk, events)
            self._learn(chunk, was_open, events[first:])
            self.last_end = int(chunk.ends[-1])
            self.now = end
        return events

    def close_all(self, at: int, reason: str) -> list[Event]:
        """End every open anomaly at minute `at`, for `reason` (the service was
        retired): their alerts resolve, and none stays open should it return."""
        events = [Event(kind, False, o.started_at, at, reason) for kind, o in self.open.items()]
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
        return [Event(Kind.SILENCE, False, current.started_at, self.now, "records are arriving again")]

    def _segments(self, now: int) -> list[_Segment]:
        segments = []
        minute = self.now
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
        self.expect[start - self.base : end - self.base] = np.repeat(self._rates(segments), lengths)
        counts = self.counts[start - self.base : end - self.base]
        times = np.arange(start + 1, end + 1)
        ends = np.maximum.accumulate(np.where(counts > 0, times, self.last_end))
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        limits = self.limits(segments)
        return _Chunk(start, segments, offsets, lengths, times, np.maximum(ends, self.last_end), limits)

    def _evidence_rates(self, segments: list[_Segment]) -> list[float]:
        """Records expected per minute for the quiet gate: one week of the hour is enough."""
        slots = [s.slot for s in segments]
        rates: list[float] = np.where(self.weeks[slots] >= 1, self.rate[slots] / 60.0, 0.0).tolist()
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
            (quiet >= self.params.tuning.silence_rarity - QUIET_SLACK)
            | learning
            | off
            | (silence > (hard if hard is not None else np.inf))
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
                events.append(
                    Event(Kind.SILENCE, False, current.started_at, int(chunk.times[i]), "records are arriving again")
                )
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
            self.open[Kind.SILENCE] = _Open(last, at, last)
            i += 1

    def _volume(self, chunk: _Chunk, events: list[Event]) -> None:
        """Drop and surge over the window of records ending at the last record known.

        Only boundaries where the last record moved change the window, so only
        those are judged, all at once.
        """
        # Long enough to expect about 40 records (short for busy services, up to 4 h for
        # sparse ones) and to span two of the service's usual gaps, so a supplier's
        # hourly file is never half in, half out of the window.
        if self.params.test and not self.open.keys() & {Kind.DROP, Kind.SURGE}:
            return  # a test service's volume is irregular by nature; only its silences are watched
        rates = self.rate[[s.slot for s in chunk.segments]]
        gaps = np.nan_to_num(chunk.limits.plausible, nan=0.0)
        windows = np.clip(np.maximum(40 * 60 / np.maximum(rates, 1e-9), 2 * gaps + 2), 30, MAX_WINDOW).astype(np.int64)
        ends = chunk.ends
        moved = np.ones(len(ends), dtype=bool)
        moved[1:] = ends[1:] != ends[:-1]
        window = np.repeat(windows, chunk.lengths)
        pick = np.flatnonzero(moved & (ends - window >= self.base))
        if len(pick) == 0:
            return
        stop, width = ends[pick] - self.base, window[pick]
        seen_cs = np.concatenate(([0.0], np.cumsum(self.counts[: int(stop.max())])))
        exp_cs = np.concatenate(([0.0], np.cumsum(self.expect[: int(stop.max())])))
        seen = seen_cs[stop] - seen_cs[stop - width]
        expected = exp_cs[stop] - exp_cs[stop - width]
        tuning = self.params.tuning
        # Not judged: windows reaching into unlearned minutes, and (for drops) windows
        # still holding a silence that was alerted on, which would only say it again.
        # And windows across a sharp change of expected rate (opening time): records
        # stamped at the start of a 5- or 30-minute interval land on one side of it.
        first, last_rate = self.expect[stop - width], self.expect[stop - 1]
        steady = (first <= 2 * last_rate + 1e-9) & (last_rate <= 2 * first + 1e-9)
        judged = (expected >= 0) & steady
        recovered = chunk.recovered[pick] if chunk.recovered is not None else self.recovered
        fresh = ends[pick] - width >= recovered
        if self.params.active_hours is not None:
            # Outside its active hours a service may go quiet: no drop is news there, as no silence is.
            slots = np.repeat([s.slot for s in chunk.segments], chunk.lengths)[pick]
            fresh &= np.isin(slots, list(self.params.active_hours))
        if (
            Kind.DROP not in self.open
            and Kind.SURGE not in self.open
            and not (
                judged & ((fresh & (seen < tuning.drop_ratio * expected)) | (seen > tuning.surge_ratio * expected))
            ).any()
        ):
            return  # the common case: nothing open, nothing out of line
        z = (seen - expected) / (np.sqrt(np.maximum(expected + self.cv2 * expected * expected, 0.0)) + 1.0)
        surge_like = (
            judged & (expected >= tuning.min_expected) & (seen > tuning.surge_ratio * expected) & (z > tuning.surge_z)
        )
        chunk.surging = chunk.times[pick[surge_like]]
        rules = {
            Kind.DROP: (
                judged
                & fresh
                & (expected >= tuning.min_expected)
                & (seen < tuning.drop_ratio * expected)
                & (z < -tuning.drop_z),
                ~judged | (seen >= 0.75 * expected),
            ),
            Kind.SURGE: (
                surge_like & (self.surges * 168 < SURGES_PER_WEEK),
                ~judged | (seen <= 1.5 * expected),
            ),
        }
        for kind, (bad, good) in rules.items():
            i = 0
            while i < len(pick):
                current = self.open.get(kind)
                hits = np.flatnonzero((good if current else bad)[i:])
                if len(hits) == 0:
                    break
                i += int(hits[0])
                at, last = int(chunk.times[pick[i]]), int(ends[pick[i]])
                if current is not None or not self._snoozed(at):
                    span = f"{seen[i]:.0f} records in the {duration(int(width[i]))} to {instant(last):%H:%M} UTC"
                    self._volume_event(
                        kind, current, at, last - int(width[i]), span, float(seen[i]), float(expected[i]), events
                    )
                i += 1

    def _volume_event(
        self,
        kind: Kind,
        current: _Open | None,
        at: int,
        started: int,
        span: str,
        seen: float,
        expected: float,
        events: list[Event],
    ) -> None:
        if current is not None:
            del self.open[kind]
            message = f"volume back to normal: {span}, expected about {expected:.0f}"
            events.append(Event(kind, False, current.started_at, at, message, expected, seen))
            return
        how = f"{seen / expected:.0%} of" if kind is Kind.DROP else f"{seen / max(expected, 1.0):.1f} times"
        message = f"{span}: {how} the {expected:.0f} expected at this time of week"
        self.open[kind] = _Open(started, at)
        events.append(Event(kind, True, started, at, message, expected, seen))

    def _snoozed(self, minute: int) -> bool:
        return self.params.snooze_until is not None and minute < self.params.snooze_until

    # -- learning ------------------------------------------------------------

    def _learn(self, chunk: _Chunk, was_open: set[Kind], events: list[Event]) -> None:
        """Close the hours this chunk finished, then learn the volume of hours that have settled."""
        silence = chunk.times - chunk.ends
        gaps = np.maximum.reduceat(silence, chunk.offsets)
        tainted = self._tainted(chunk, was_open, events)
        surging = chunk.surging
        for index, segment in enumerate(chunk.segments):
            gap, spoiled = int(gaps[index]), bool(tainted[index])
            if index == 0 and segment.slot == self.slot:
                gap, spoiled = max(gap, self.slot_gap), spoiled or self.slot_tainted
            if segment.end < segment.slot_end:
                self.slot, self.slot_end = segment.slot, segment.slot_end
                self.slot_gap, self.slot_tainted = gap, spoiled
                break
            self.slot = -1
            surged = surging is not None and bool(((surging > segment.start) & (surging <= segment.end)).any())
            self.surges += SURGE_MEMORY * (float(surged) - self.surges)
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
        while self.pending and self.pending[0][2] + SETTLE <= now:
            slot, start, end = self.pending.pop(0)
            if start < self.base:
                continue
            seen = float(self.counts[start - self.base : end - self.base].sum())
            known = int(self.weeks[slot])
            if known:
                before = self.rate[slot]
                spread = (seen - before) / max(before, 1.0)
                self.cv2 += 0.02 * (min(spread * spread, 4.0) - self.cv2)
            self.rate[slot] += max(0.3, 1.0 / (known + 1)) * (seen - self.rate[slot])
            self.weeks[slot] = min(known + 1, 255)

    # -- what an operator reads ----------------------------------------------

    def profile(self) -> np.ndarray:
        """Expected records per hour for each of the 168 slots (Monday 00:00 first), NaN where unknown."""
        return np.where(self.weeks > 0, self.rate, np.nan)

    # -- storage -------------------------------------------------------------

    _HEAD = struct.Struct("<qqqqdqqq?iiq")

    def to_bytes(self) -> bytes:
        """About 7 KB: 8 h of per-minute counts and expectations, six weeks of gaps, the hourly rates, the delays."""
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
        head = self._HEAD.pack(
            self.start,
            self.now,
            self.last_end,
            first,
            self.cv2,
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
            np.array([self.surges, self.quiet], np.float64),
            np.array([len(lags)], np.int64),
            lags,
        ]
        body = b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts)  # type: ignore[attr-defined]
        return bytes([FORMAT_VERSION]) + body

    # Per stored model, after the head and its pending and open rows: counts
    # and expectations (float32 each), gaps (uint16), rates (float32), weeks
    # and spoiled weeks (uint8).
    _FIXED = 2 * 4 * RING + 2 * SLOTS * WEEKS + 4 * SLOTS + 2 * SLOTS

    @classmethod
    def _fits(cls, data: bytes, offset: int) -> bool:
        """Does a model begin at `offset` and end where `data` ends? A model is
        read whole or not at all, so its length, given by its head, tells."""
        if len(data) < offset + cls._HEAD.size:
            return False
        n_pending, n_open = cls._HEAD.unpack_from(data, offset)[9:11]
        if not (0 <= n_pending <= len(data) and 0 <= n_open <= len(Kind)):
            return False
        end = offset + cls._HEAD.size + 24 * n_pending + 32 * n_open + cls._FIXED
        if len(data) in (end, end + 16):  # stored before surges and quiet, or before delivery delays
            return True
        if len(data) < end + 24:
            return False
        n_lags = int(struct.unpack_from("<q", data, end + 16)[0])
        return n_lags >= 0 and len(data) == end + 24 + 16 * n_lags

    @classmethod
    def from_bytes(cls, data: bytes, params: Params) -> FeedModel:
        """The model `to_bytes` stored, in this format or the unversioned one
        before it; UnknownModelFormat for any other."""
        if data[:1] == bytes([FORMAT_VERSION]) and cls._fits(data, 1):
            return cls._read(data, 1, params)
        if cls._fits(data, 0):
            return cls._read(data, 0, params)
        raise UnknownModelFormat(data[0] if data else 0)

    @classmethod
    def _read(cls, data: bytes, offset: int, params: Params) -> FeedModel:
        head = cls._HEAD.unpack_from(data, offset)
        start, now, last_end, base, cv2, slot, slot_end, slot_gap, tainted, n_pending, n_open, recovered = head
        offset += cls._HEAD.size

        def take(dtype: type, count: int) -> np.ndarray:
            nonlocal offset
            out: np.ndarray = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += out.nbytes
            return out

        pending = take(np.int64, n_pending * 3).reshape(-1, 3)
        opened = take(np.int64, n_open * 4).reshape(-1, 4)
        model = cls(params, start=start, now=now, last_end=last_end, base=base, cv2=cv2, recovered=recovered)
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
            model.surges, model.quiet = (float(v) for v in take(np.float64, 2))
        if offset < len(data):
            (n_lags,) = take(np.int64, 1)
            model.lags = [(int(seen), int(late)) for seen, late in take(np.int64, int(n_lags) * 2).reshape(-1, 2)]
        return model
