"""When a probe's results become a finding, and when a probe runs. Pure.

One lost packet must page nobody: a probe is judged down only after
`fail_after` failures in a row, and up again after `recover_after` successes
in a row. Probes run on a grid of their interval shifted by a stable offset
taken from the check's name, so a thousand checks of one interval spread over
it instead of firing in the same second, and a restart keeps each one's slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from watchkeeper.checks.result import ProbeResult
from watchkeeper.finding import Finding, Severity, State

SOURCE = "checks"
DEFAULT_SEVERITY = Severity.CRITICAL
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ProbeState:
    """What the damping remembers of a probe between runs."""

    up: bool = True  # as judged, after damping; a new probe is presumed up
    failures: int = 0  # in a row, up to now
    successes: int = 0  # in a row, up to now
    failing_since: datetime | None = None  # the first failure of the current run of them
    severity: Severity | None = None  # of the finding fired, while judged down


class Change(StrEnum):
    NONE = "none"
    FIRE = "fire"  # judged down, or down at a new severity
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Step:
    state: ProbeState
    change: Change


def step(state: ProbeState, result: ProbeResult, *, fail_after: int = 2, recover_after: int = 1) -> Step:
    """The state after `result`, and whether a finding fires or resolves."""
    if fail_after < 1 or recover_after < 1:
        raise ValueError("a probe fails after at least 1 failure and recovers after at least 1 success")
    if result.up:
        after = replace(state, failures=0, successes=state.successes + 1, failing_since=None)
        if not state.up and after.successes >= recover_after:
            return Step(replace(after, up=True, severity=None), Change.RESOLVE)
        return Step(after, Change.NONE)
    after = replace(
        state,
        failures=state.failures + 1,
        successes=0,
        failing_since=state.failing_since or result.observed_at,
    )
    severity = result.severity or DEFAULT_SEVERITY
    if state.up and after.failures >= fail_after:
        return Step(replace(after, up=False, severity=severity), Change.FIRE)
    if not state.up and severity != state.severity:
        return Step(replace(after, severity=severity), Change.FIRE)
    return Step(after, Change.NONE)


def alert_key(check_name: str) -> str:
    """The dedup key of a probe's alert: one per check."""
    return f"check/{check_name}"


def finding_for(check_name: str, labels: dict[str, str], state: ProbeState, result: ProbeResult) -> Finding:
    """The finding of a probe judged down (firing) or up (resolved) by `step`; its summary
    names the check and what it probes, as a person reading the alert list looks for both."""
    firing = not state.up
    speed = f", {result.latency:.2f} s" if result.latency is not None else ""
    said = result.error if firing and result.error else ("down" if firing else "up")
    if not firing and result.up:
        said = "up again"
    return Finding(
        dedup_key=alert_key(check_name),
        source=SOURCE,
        service=labels.get("service"),
        severity=state.severity or result.severity or DEFAULT_SEVERITY,
        state=State.FIRING if firing else State.RESOLVED,
        summary=f"{check_name} ({result.target}): {said}{speed}",
        observed_at=result.observed_at,
        started_at=state.failing_since if firing else None,
        labels={**labels, "check": check_name, "kind": str(result.kind), "target": result.target},
        details={k: v for k, v in result.detail.items() if isinstance(v, str | int | float | bool | list)},
    )


def jitter(check_name: str, interval: timedelta) -> timedelta:
    """A stable offset within `interval` for the check: the same in every
    process and after every restart (a digest, not Python's salted hash)."""
    micros = interval // timedelta(microseconds=1)
    if micros <= 0:
        raise ValueError("a probe's interval must be positive")
    digest = int.from_bytes(hashlib.blake2b(check_name.encode(), digest_size=8).digest(), "big")
    return timedelta(microseconds=digest % micros)


def next_run(last: datetime, interval: timedelta, offset: timedelta) -> datetime:
    """The first slot after `last` on the grid EPOCH + offset + k * interval.

    A slot, not `last + interval`: a probe that ran late (a slow run, a busy
    scheduler) comes back to its slot instead of drifting into its neighbours'.
    """
    if interval <= timedelta(0):
        raise ValueError("a probe's interval must be positive")
    origin = EPOCH + offset % interval
    slots = (last - origin) // interval + 1
    return origin + slots * interval
