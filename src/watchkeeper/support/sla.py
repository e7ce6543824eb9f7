"""SLA clocks and support-hours urgency, in a plan's business time. Pure.

A plan sets, per priority, three targets in business time: first response
(from opening to the first public reply), update interval (between public
replies while the case is open) and resolution (from opening to resolved).
Every clock stops while the case waits on the customer (`pending_customer`)
and once it is resolved or closed. A clock warns at 80 % of its target and is
breached at 100 %; `reading` says where a clock stands and when the next of
those moments falls due, so the caller can store it as a due row.

Urgency follows the plan as PagerDuty's support hours do: outside an 8x5
customer's hours a high-urgency incident is low (recorded, emailed, no page)
and is raised to high when the hours begin if it is still open; a 24x7
customer's high-urgency incidents page at any hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from watchkeeper.finding import Urgency
from watchkeeper.support.calendar import Calendar

WARN_AT = 0.8


class Priority(StrEnum):
    P1 = "p1"  # service down
    P2 = "p2"  # degraded
    P3 = "p3"  # question, minor fault
    P4 = "p4"  # request


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


RUNNING = (CaseStatus.NEW, CaseStatus.OPEN)


class Target(StrEnum):
    FIRST_RESPONSE = "first_response"
    UPDATE = "update"
    RESOLUTION = "resolution"


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting on the customer
    MET = "met"
    BREACHED = "breached"


@dataclass(frozen=True)
class Targets:
    first_response: timedelta | None = None
    update: timedelta | None = None
    resolution: timedelta | None = None

    def of(self, target: Target) -> timedelta | None:
        return {
            Target.FIRST_RESPONSE: self.first_response,
            Target.UPDATE: self.update,
            Target.RESOLUTION: self.resolution,
        }[target]


@dataclass(frozen=True)
class Plan:
    name: str
    calendar: Calendar
    targets: dict[Priority, Targets]


@dataclass(frozen=True)
class CaseFacts:
    """What a clock needs to know of a case: its status changes, in order, and its public replies."""

    opened_at: datetime
    statuses: Sequence[tuple[datetime, CaseStatus]]  # (when, new status), the first at opened_at
    replies: Sequence[datetime] = ()  # public replies to the customer, in order


@dataclass(frozen=True)
class Reading:
    target: Target
    state: ClockState
    elapsed: timedelta  # business time counted so far
    limit: timedelta
    due_at: datetime | None  # breach instant if it keeps running; None when paused, met or breached
    warn_at: datetime | None  # 80 % instant if still ahead and running
    breached_at: datetime | None = None
    since: datetime | None = None  # when this clock started (the update clock restarts with every reply)

    @property
    def next_due(self) -> datetime | None:
        """When the caller must look at this clock again."""
        return self.warn_at or self.due_at


def counted(calendar: Calendar, facts: CaseFacts, start: datetime, end: datetime) -> timedelta:
    """Business time in [start, end) while the case was running (not waiting on the customer, not resolved)."""
    total = timedelta(0)
    changes = [*facts.statuses, (end, CaseStatus.CLOSED)]
    for (since, status), (until, _) in zip(changes, changes[1:], strict=False):
        lo, hi = max(since, start), min(until, end)
        if status in RUNNING and hi > lo:
            total += calendar.between(lo, hi)
    return total


def _status_at(facts: CaseFacts, at: datetime) -> CaseStatus:
    current = CaseStatus.NEW
    for since, status in facts.statuses:
        if since > at:
            break
        current = status
    return current


def _clock(target: Target, facts: CaseFacts, now: datetime) -> tuple[datetime, datetime | None] | None:
    """The span a clock measures: its start, and its stop if it has stopped; None if it does not apply."""
    if target is Target.FIRST_RESPONSE:
        first = next((r for r in facts.replies if r >= facts.opened_at), None)
        return facts.opened_at, first if first is not None and first <= now else None
    if target is Target.RESOLUTION:
        # A reopened case runs on; the time it spent resolved is not counted (see `counted`).
        if _status_at(facts, now) not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
            return facts.opened_at, None
        return facts.opened_at, max(at for at, s in facts.statuses if at <= now and s not in RUNNING)
    # Update: from the last public reply (or opening); only while no reply answers it.
    replies = [r for r in facts.replies if r <= now]
    if not replies:
        return None  # the first-response clock covers the time before the first reply
    return replies[-1], None


def reading(plan: Plan, priority: Priority, target: Target, facts: CaseFacts, now: datetime) -> Reading | None:
    """Where one clock stands at `now`; None if the plan sets no such target."""
    limit = plan.targets.get(priority, Targets()).of(target)
    span = _clock(target, facts, now)
    if limit is None or span is None:
        return None
    return replace(_reading(plan, target, facts, now, limit, *span), since=span[0])


def _reading(
    plan: Plan,
    target: Target,
    facts: CaseFacts,
    now: datetime,
    limit: timedelta,
    start: datetime,
    stop: datetime | None,
) -> Reading:
    calendar = plan.calendar
    end = stop or now
    elapsed = counted(calendar, facts, start, end)
    if elapsed >= limit:
        breached_at = _breach_instant(plan, facts, start, limit)
        return Reading(target, ClockState.BREACHED, elapsed, limit, None, None, breached_at)
    if stop is not None:
        return Reading(target, ClockState.MET, elapsed, limit, None, None)
    status = _status_at(facts, now)
    if status not in RUNNING:
        state = ClockState.PAUSED if status == CaseStatus.PENDING_CUSTOMER else ClockState.MET
        return Reading(target, state, elapsed, limit, None, None)
    due = calendar.add(now, limit - elapsed)
    warn = calendar.add(now, limit * WARN_AT - elapsed) if elapsed < limit * WARN_AT else None
    return Reading(target, ClockState.RUNNING, elapsed, limit, due, warn)


def _breach_instant(plan: Plan, facts: CaseFacts, start: datetime, limit: timedelta) -> datetime:
    """When the clock crossed its limit, walking the running spans."""
    left = limit
    changes = list(facts.statuses)
    for index, (since, status) in enumerate(changes):
        until = changes[index + 1][0] if index + 1 < len(changes) else None
        lo = max(since, start)
        if status not in RUNNING or (until is not None and until <= lo):
            continue
        if until is None:
            return plan.calendar.add(lo, left)
        span = plan.calendar.between(lo, until)
        if span >= left:
            return plan.calendar.add(lo, left)
        left -= span
    raise AssertionError("a breached clock has a breach instant")


def readings(plan: Plan, priority: Priority, facts: CaseFacts, now: datetime) -> list[Reading]:
    return [r for t in Target if (r := reading(plan, priority, t, facts, now)) is not None]


@dataclass(frozen=True)
class UrgencyDecision:
    urgency: Urgency
    raise_at: datetime | None = None  # when a low urgency becomes high if still open
    reason: str = ""


def support_urgency(calendar: Calendar, given: Urgency, now: datetime) -> UrgencyDecision:
    """What the customer's plan makes of an incident's urgency at `now`."""
    if given is Urgency.LOW:
        return UrgencyDecision(Urgency.LOW, None, "low urgency by its alerts (test service or warning)")
    if calendar.always_open or calendar.is_open(now):
        return UrgencyDecision(Urgency.HIGH, None, "within the customer's support hours")
    opens = calendar.next_open(now)
    return UrgencyDecision(
        Urgency.LOW,
        opens,
        f"outside the customer's support hours ({calendar.describe()}); "
        f"raised to high at {opens:%Y-%m-%d %H:%M} UTC if still open",
    )
