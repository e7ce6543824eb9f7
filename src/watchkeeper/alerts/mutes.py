"""Silences, maintenance windows and dependencies: creating, listing, ending. Never commits.

Everything is checked by building its pure rule first, so what is stored is
always something the router can apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper import weekly
from watchkeeper.alerts import routing
from watchkeeper.alerts.models import Alert, Dependency, MaintenanceWindow, Silence
from watchkeeper.alerts.routing import match_all
from watchkeeper.alerts.service import RULES_CACHE, dependency_rule, window_rule
from watchkeeper.clock import known_zone
from watchkeeper.finding import State

# A silence or a maintenance window longer than this is a typo (P999999999D),
# and a cron window is walked minute by minute when an alert is routed.
LONGEST_SILENCE = timedelta(days=366)
LONGEST_CRON_WINDOW = timedelta(days=31)


def add_silence(
    *,
    session: Session,
    now: datetime,
    matchers: list[str],
    ends_at: datetime,
    created_by: str,
    comment: str,
    starts_at: datetime | None = None,
    force: bool = False,
) -> Silence:
    """`force` lets matchers through that mute every alert having a label (see routing.check_narrow)."""
    parsed = routing.parse_matchers(matchers)
    (routing.check_selective if force else routing.check_narrow)(parsed)
    starts_at = starts_at or now
    if ends_at <= max(starts_at, now):
        raise ValueError("a silence must end in the future and after it starts")
    if ends_at - max(starts_at, now) > LONGEST_SILENCE:
        raise ValueError("a silence may last a year at most; for longer, retire the service or change the routing")
    if not comment.strip() or not created_by.strip():
        raise ValueError("say who silences and why (--author, --comment): the next person on call will ask")
    silence = Silence(
        matchers=[str(m) for m in parsed],
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by.strip(),
        comment=comment.strip(),
        created_at=now,
    )
    session.add(silence)
    session.flush()
    _changed(session)
    return silence


def list_silences(*, session: Session, now: datetime, include_expired: bool = False) -> list[Silence]:
    query = select(Silence).order_by(Silence.id)
    if not include_expired:
        query = query.where(Silence.ends_at > now)
    return list(session.scalars(query))


def expire_silence(silence_id: int, *, session: Session, now: datetime) -> Silence:
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise LookupError(f"no silence {silence_id}; `watchkeeper silences list` shows them")
    if silence.ends_at > now:
        silence.ends_at = now
        _look_again(session, routing.MuteKind.SILENCED, silence_id, now)
    return silence


def _changed(session: Session) -> None:
    session.info.pop(RULES_CACHE, None)


def _look_again(session: Session, kind: routing.MuteKind, ref: int, now: datetime) -> None:
    _changed(session)
    session.execute(
        update(Alert)
        .where(Alert.muted == kind, Alert.muted_ref == ref, Alert.status == State.FIRING)
        .values(due_at=now)
    )


def _clock_time(text: str) -> str:
    try:
        return time.fromisoformat(text).strftime("%H:%M")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a time of day like 22:00") from exc


def _weekly(hours: str | None, weekdays: str | None, start: str | None, end: str | None) -> tuple[str, str, str]:
    """A weekly window as stored: its days ('Mon,Tue'), start and end ('22:00'; an end
    not after the start is the next day's), from `hours` or from its three parts."""
    if hours is not None:
        if weekdays is not None or start is not None or end is not None:
            raise ValueError("give the weekly hours ('Sun 01:00-05:00') or the days with a start and an end, not both")
        days, first, last = weekly.single_rule(hours)
        start, end = f"{first // 60:02d}:{first % 60:02d}", f"{last // 60 % 24:02d}:{last % 60:02d}"
    else:
        if not (weekdays and start and end):
            raise ValueError("a weekly window needs the days, a start and an end, e.g. Sun 01:00-05:00")
        days = weekly.parse_days(weekdays)
        start, end = _clock_time(start), _clock_time(end)
    return ",".join(weekly.DAY_NAMES[d] for d in days), start, end


def add_window(
    *,
    session: Session,
    now: datetime,
    name: str,
    matchers: list[str],
    created_by: str,
    timezone: str = "UTC",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    weekdays: str | None = None,
    start: str | None = None,
    end: str | None = None,
    hours: str | None = None,
    cron: str | None = None,
    duration: timedelta | None = None,
    force: bool = False,
) -> MaintenanceWindow:
    """One of: starts_at + ends_at (one-off); weekly hours, `hours` ('Sun 01:00-05:00')
    or weekdays + start + end; cron + duration.

    `force` as for a silence: matchers that mute every alert having a label."""
    parsed = routing.parse_matchers(matchers)
    (routing.check_selective if force else routing.check_narrow)(parsed)
    row = MaintenanceWindow(
        name=name.strip() or "maintenance",
        matchers=[str(m) for m in parsed],
        timezone=known_zone(timezone),
        created_by=created_by,
        created_at=now,
    )
    if cron is not None:
        if duration is None or duration < timedelta(minutes=1):
            raise ValueError("a cron window needs a duration of a minute or more, e.g. --duration 2h")
        if duration > LONGEST_CRON_WINDOW:
            raise ValueError(f"a cron window may last {LONGEST_CRON_WINDOW.days} days at most")
        routing.check_cron(cron)
        row.cron, row.duration_minutes = cron, int(duration.total_seconds() // 60)
    elif hours is not None or weekdays is not None or start is not None or end is not None:
        row.weekdays, row.start_time, row.end_time = _weekly(hours, weekdays, start, end)
    elif starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            raise ValueError("a window must end after it starts")
        row.starts_at, row.ends_at = starts_at, ends_at
    else:
        raise ValueError(
            "say when: --start/--end instants, --hours (or --days with --from/--to), or --cron with --duration"
        )
    window_rule(row)
    session.add(row)
    session.flush()
    _changed(session)
    return row


def list_windows(*, session: Session) -> list[MaintenanceWindow]:
    return list(session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id)))


def delete_window(window_id: int, *, session: Session, now: datetime) -> None:
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        raise LookupError(f"no maintenance window {window_id}; `watchkeeper maintenance list` shows them")
    _look_again(session, routing.MuteKind.MAINTENANCE, window_id, now)
    session.delete(row)


def add_dependency(
    *, session: Session, now: datetime, name: str, parent: list[str], child: list[str], equal: list[str]
) -> Dependency:
    parent_m, child_m = routing.parse_matchers(parent), routing.parse_matchers(child)
    routing.check_selective(parent_m)
    routing.check_selective(child_m)
    if any(not label.strip() for label in equal):
        # Dropped, an empty name would leave no label to compare: every child muted by any parent.
        raise ValueError("a blank label name in --equal; name the labels parent and child must share")
    row = Dependency(
        name=name.strip() or "dependency",
        parent=[str(m) for m in parent_m],
        child=[str(m) for m in child_m],
        equal=list(routing.check_label_names(equal)),
        created_at=now,
    )
    dependency_rule(row)
    for same in session.scalars(select(Dependency)):
        if (set(same.parent), set(same.child), set(same.equal)) == (set(row.parent), set(row.child), set(row.equal)):
            raise ValueError(
                f"dependency {same.id} ({same.name!r}) is the same rule; `watchkeeper dependencies list` shows it"
            )
    session.add(row)
    session.flush()
    _changed(session)
    return row


def list_dependencies(*, session: Session) -> list[Dependency]:
    return list(session.scalars(select(Dependency).order_by(Dependency.id)))


def delete_dependency(dependency_id: int, *, session: Session, now: datetime) -> None:
    row = session.get(Dependency, dependency_id)
    if row is None:
        raise LookupError(f"no dependency {dependency_id}; `watchkeeper dependencies list` shows them")
    session.execute(
        update(Alert).where(Alert.muted == routing.MuteKind.INHIBITED, Alert.status == State.FIRING).values(due_at=now)
    )
    session.delete(row)
    _changed(session)


STEP = timedelta(minutes=15)


def maintenance_by_day(
    labels: dict[str, str], days: Sequence[date], *, session: Session, now: datetime, step: timedelta = STEP
) -> list[timedelta]:
    """How long maintenance windows matching `labels` were in force on each UTC day of `days`
    (sampled every `step`; the day's future not counted)."""
    windows = [w for w in (window_rule(row) for row in list_windows(session=session)) if match_all(w.matchers, labels)]
    if not windows:
        return [timedelta()] * len(days)
    out = []
    for day in days:
        start = datetime.combine(day, time(), UTC)
        end = min(start + timedelta(days=1), now)
        total, at = timedelta(), start
        while at < end:
            if any(w.end_if_active(at) is not None for w in windows):
                total += min(step, end - at)
            at += step
        out.append(total)
    return out
