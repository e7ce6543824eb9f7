"""Incident states, the moves between them, and MTTA/MTTR from the timeline. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import mean, median

from watchkeeper.errors import Conflict


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CLOSE = "close"


class Entry(StrEnum):
    """Kinds of timeline entry."""

    OPENED = "opened"
    ALERT_JOINED = "alert_joined"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_FLAPPING = "alert_flapping"
    ALERT_RELEASED = "alert_released"  # still firing when the incident was resolved or closed by hand
    ALERT_CARRIED = "alert_carried_over"  # such an alert, raised again in this incident
    ALL_RESOLVED = "all_alerts_resolved"
    DEPENDENT_MUTED = "dependent_muted"
    URGENCY_RAISED = "urgency_raised"
    URGENCY_LOWERED = "urgency_lowered"
    CASE_OPENED = "case_opened"
    ENQUIRY_SENT = "enquiry_sent"
    CUSTOMER_ANSWER = "customer_answer"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"
    NOTE = "note"
    NOTIFICATION = "notification"
    RUNBOOK_STEP = "runbook_step"


OPEN = (Status.TRIGGERED, Status.ACKNOWLEDGED)
_MOVES: dict[tuple[Status, Action], Status] = {
    (Status.TRIGGERED, Action.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    (Status.TRIGGERED, Action.RESOLVE): Status.RESOLVED,
    (Status.ACKNOWLEDGED, Action.RESOLVE): Status.RESOLVED,
    (Status.RESOLVED, Action.CLOSE): Status.CLOSED,
}


_PAST = {Action.ACKNOWLEDGE: "acknowledged", Action.RESOLVE: "resolved", Action.CLOSE: "closed"}


class InvalidTransition(Conflict):
    pass


def next_status(current: Status, action: Action) -> Status:
    moved = _MOVES.get((current, action))
    if moved is None:
        allowed = " or ".join(_PAST[a] for (s, a) in _MOVES if s == current)
        then = f"it can be {allowed}" if allowed else "a closed incident is final"
        raise InvalidTransition(f"cannot {action} incident: it is {current}; {then}")
    return moved


@dataclass(frozen=True)
class Timings:
    incidents: int
    acknowledged: int
    resolved: int
    mtta: timedelta | None  # mean time from opening to first acknowledgement
    mttr: timedelta | None  # mean time from opening to resolution
    median_tta: timedelta | None
    median_ttr: timedelta | None


def timings(timelines: Iterable[list[tuple[str, datetime]]]) -> Timings:
    """MTTA and MTTR from each incident's (kind, at) entries, in order.

    An incident resolved without an acknowledgement counts its resolution as
    the acknowledgement, as PagerDuty does: someone did respond.
    """
    tta: list[float] = []
    ttr: list[float] = []
    count = 0
    for entries in timelines:
        opened = next((at for kind, at in entries if kind == Entry.OPENED), None)
        if opened is None:
            continue
        count += 1
        acked = next((at for kind, at in entries if kind in (Entry.ACKNOWLEDGED, Entry.RESOLVED)), None)
        resolved = next((at for kind, at in entries if kind == Entry.RESOLVED), None)
        if acked is not None:
            tta.append((acked - opened).total_seconds())
        if resolved is not None:
            ttr.append((resolved - opened).total_seconds())

    def span(values: list[float], how: object) -> timedelta | None:
        return timedelta(seconds=how(values)) if values else None  # type: ignore[operator]

    return Timings(count, len(tta), len(ttr), span(tta, mean), span(ttr, mean), span(tta, median), span(ttr, median))
