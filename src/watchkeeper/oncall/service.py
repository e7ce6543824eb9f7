"""On-call schedules over a session: add, show, who is on call, overrides. Never commits.

A schedule is stored as rows and loaded into `rotation.Schedule`, whose pure
rules say who is on call; users are those of `watchkeeper users`, and only
the operator's staff (admin, engineer) go on call.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper import weekly
from watchkeeper.auth.models import User
from watchkeeper.auth.principal import Role
from watchkeeper.clock import known_zone
from watchkeeper.db import MAX_ROW_ID
from watchkeeper.errors import Conflict, Invalid, NotFound
from watchkeeper.inputs import check_name
from watchkeeper.oncall import rotation
from watchkeeper.oncall.models import CalendarKey, OncallLayer, OncallMember, OncallOverride, OncallSchedule
from watchkeeper.oncall.rotation import Shift, ShiftLength

MAX_LAYERS = 20
MAX_MEMBERS = 100
MAX_RENDER = timedelta(days=366)


def add_schedule(name: str, *, session: Session, now: datetime, tz: str = "UTC") -> OncallSchedule:
    name = check_name(name.strip(), "schedule")
    try:
        known_zone(tz)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if session.scalar(select(OncallSchedule.id).where(OncallSchedule.name == name)) is not None:
        raise Conflict(f"a schedule named {name!r} exists; `watchkeeper oncall schedules list` shows them")
    schedule = OncallSchedule(name=name, tz=tz, created_at=now)
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(key: str | int, *, session: Session) -> OncallSchedule:
    """A schedule by its name, or by its id (a number)."""
    found: OncallSchedule | None
    if isinstance(key, int) or (key.isdigit() and 0 < int(key) <= MAX_ROW_ID):
        found = session.get(OncallSchedule, int(key))
    else:
        found = session.scalar(select(OncallSchedule).where(OncallSchedule.name == key))
    if found is None:
        raise NotFound(f"no schedule {key!r}; `watchkeeper oncall schedules list` shows them")
    return found


def list_schedules(*, session: Session) -> list[OncallSchedule]:
    return list(session.scalars(select(OncallSchedule).order_by(OncallSchedule.name)))


def remove_schedule(key: str | int, *, session: Session) -> OncallSchedule:
    schedule = get_schedule(key, session=session)
    session.delete(schedule)
    session.flush()
    return schedule


def _staff(name: str, *, session: Session) -> User:
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"no user {name.strip()!r}; `watchkeeper users list` shows them")
    if user.role not in (Role.ADMIN, Role.ENGINEER):
        raise Invalid(f"{user.name} is a customer's user; only the operator's staff (admin, engineer) go on call")
    return user


def parse_handoff(text: str) -> time:
    """'09:00' as a wall-clock time."""
    try:
        hour, minute = (int(part) for part in text.strip().split(":"))
        return time(hour, minute)
    except ValueError as exc:
        raise Invalid(f"{text!r} is not a handoff time; give hours and minutes, like 09:00") from exc


def add_layer(
    key: str | int,
    *,
    session: Session,
    now: datetime,
    users: Sequence[str],
    shift: str,
    start: date,
    handoff: str = "09:00",
    restrict: str | None = None,
    name: str = "",
) -> OncallLayer:
    """A rotation on top of the schedule's layers: it overrides them where it has someone."""
    schedule = get_schedule(key, session=session)
    names = [u.strip() for u in users if u.strip()]
    if not names:
        raise Invalid("a layer needs at least one user in its rotation: --users ann,bob")
    if len(names) > MAX_MEMBERS:
        raise Invalid(f"a layer takes at most {MAX_MEMBERS} turns; this has {len(names):,}")
    if len(schedule.layers) >= MAX_LAYERS:
        raise Invalid(f"a schedule has at most {MAX_LAYERS} layers; remove one first")
    people = [_staff(n, session=session) for n in names]
    try:
        length = ShiftLength.parse(shift)
        hours = weekly.parse(restrict) if restrict else None
        # Checks the whole layer as the rules will read it.
        rotation.Layer(tuple(names), length, start, parse_handoff(handoff), hours)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    at = parse_handoff(handoff)
    layer = OncallLayer(
        schedule_id=schedule.id,
        position=max((la.position for la in schedule.layers), default=0) + 1,
        name=check_name(name, "layer") if name else "",
        shift_count=length.count,
        shift_unit=length.unit,
        handoff_minute=at.hour * 60 + at.minute,
        start_date=start,
        restrictions=str(hours) if hours is not None else None,
        created_at=now,
        members=[OncallMember(position=i, user_id=p.id) for i, p in enumerate(people)],
    )
    schedule.layers.append(layer)
    session.flush()
    return layer


def remove_layer(key: str | int, number: int, *, session: Session) -> OncallLayer:
    """The layer at `number` (1 the lowest, as `show` lists them)."""
    schedule = get_schedule(key, session=session)
    if not 1 <= number <= len(schedule.layers):
        raise NotFound(f"{schedule.name} has no layer {number}; it has {len(schedule.layers)} (1 the lowest)")
    layer = schedule.layers[number - 1]
    schedule.layers.remove(layer)
    session.flush()
    return layer


def add_override(
    key: str | int, user: str, *, session: Session, now: datetime, start: datetime, end: datetime
) -> OncallOverride:
    schedule = get_schedule(key, session=session)
    person = _staff(user, session=session)
    try:
        rotation.Override(person.name, start, end)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if end - start > MAX_RENDER:
        raise Invalid("an override covers at most a year; for longer, add a layer")
    override = OncallOverride(schedule_id=schedule.id, user_id=person.id, starts_at=start, ends_at=end, created_at=now)
    schedule.overrides.append(override)
    session.flush()
    return override


def remove_override(key: str | int, override_id: int, *, session: Session) -> OncallOverride:
    schedule = get_schedule(key, session=session)
    found = next((o for o in schedule.overrides if o.id == override_id), None)
    if found is None:
        raise NotFound(f"{schedule.name} has no override {override_id}; `watchkeeper oncall schedules show` lists them")
    schedule.overrides.remove(found)
    session.flush()
    return found


def load(schedule: OncallSchedule) -> rotation.Schedule:
    """The stored schedule as the rules read it."""
    layers = tuple(
        rotation.Layer(
            users=tuple(m.user.name for m in layer.members),
            shift=ShiftLength(layer.shift_count, layer.shift_unit),
            start=layer.start_date,
            handoff=time(layer.handoff_minute // 60, layer.handoff_minute % 60),
            restrictions=weekly.parse(layer.restrictions) if layer.restrictions else None,
            name=layer.name,
        )
        for layer in schedule.layers
    )
    overrides = tuple(rotation.Override(o.user.name, o.starts_at, o.ends_at) for o in schedule.overrides)
    return rotation.Schedule(ZoneInfo(schedule.tz), layers, overrides, schedule.name)


def shifts(key: str | int, *, session: Session, start: datetime, end: datetime) -> list[Shift]:
    if end <= start:
        raise Invalid(f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})")
    if end - start > MAX_RENDER:
        raise Invalid("shifts are shown for at most a year at a time")
    return rotation.render(load(get_schedule(key, session=session)), start, end)


@dataclass(frozen=True)
class OnCall:
    schedule: OncallSchedule
    now: Shift | None
    next: Shift | None


def who(*, session: Session, at: datetime, schedule: str | int | None = None) -> list[OnCall]:
    """Who is on call at `at` and who comes next, for every schedule (or one)."""
    chosen = [get_schedule(schedule, session=session)] if schedule is not None else list_schedules(session=session)
    answers = []
    for row in chosen:
        rules = load(row)
        answers.append(OnCall(row, rotation.on_call(rules, at), rotation.next_shift(rules, at)))
    return answers


def who_is_on_call(session: Session, schedule_id: str | int, at: datetime) -> list[User]:
    """The users on call for the schedule at `at` (none in a gap): what an escalation step pages."""
    shift = rotation.on_call(load(get_schedule(schedule_id, session=session)), at)
    if shift is None or shift.user is None:
        return []
    return list(session.scalars(select(User).where(User.name == shift.user)))


def user_shifts(name: str, *, session: Session, start: datetime, end: datetime) -> list[tuple[OncallSchedule, Shift]]:
    """A user's shifts over [start, end) in every schedule, in order of start."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}; `watchkeeper users list` shows them")
    found = [
        (row, s)
        for row in list_schedules(session=session)
        for s in rotation.render(load(row), start, end)
        if s.user == user.name
    ]
    return sorted(found, key=lambda pair: (pair[1].start, pair[0].name))


# Calendar URLs: a key opens one feed, a schedule's or a user's.


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_calendar_key(
    *, session: Session, now: datetime, schedule: str | int | None = None, user: str | None = None
) -> str:
    """A new secret for a calendar URL of a schedule or of a user; shown once, stored hashed."""
    if (schedule is None) == (user is None):
        raise Invalid("a calendar key opens one schedule's calendar or one user's: give one of them")
    row = CalendarKey(created_at=now)
    if schedule is not None:
        row.schedule_id = get_schedule(schedule, session=session).id
    else:
        row.user_id = _staff(user or "", session=session).id
    key = secrets.token_urlsafe(24)
    row.key_hash = _hash(key)
    session.add(row)
    session.flush()
    return key


def calendar_key(key: str, *, session: Session) -> CalendarKey | None:
    """The calendar key `key` is, or None."""
    return session.scalar(select(CalendarKey).where(CalendarKey.key_hash == _hash(key)))


def calendar_key_opens(key: str, *, session: Session, schedule_id: int | None = None, user: str | None = None) -> bool:
    """Whether `key` opens the calendar of that schedule, or of that user."""
    found = calendar_key(key, session=session)
    if found is None:
        return False
    if schedule_id is not None:
        return found.schedule_id == schedule_id
    if user is None or found.user_id is None:
        return False
    return session.scalar(select(User.id).where(User.name == user)) == found.user_id


def revoke_calendar_keys(*, session: Session, schedule: str | int | None = None, user: str | None = None) -> int:
    """Forget every calendar key of a schedule or a user; their URLs stop working. How many."""
    if schedule is not None:
        where = CalendarKey.schedule_id == get_schedule(schedule, session=session).id
    elif user is not None:
        where = CalendarKey.user_id == _staff(user, session=session).id
    else:
        raise Invalid("give a schedule or a user whose calendar keys to revoke")
    return int(session.execute(delete(CalendarKey).where(where)).rowcount)  # type: ignore[attr-defined]


# Views, as the API and the command line show them.


def shift_view(shift: Shift) -> dict[str, Any]:
    return {"start": shift.start, "end": shift.end, "user": shift.user}


def layer_view(layer: OncallLayer, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "name": layer.name,
        "users": [m.user.name for m in layer.members],
        "shift": str(ShiftLength(layer.shift_count, layer.shift_unit)),
        "handoff": f"{layer.handoff_minute // 60:02d}:{layer.handoff_minute % 60:02d}",
        "start": layer.start_date.isoformat(),
        "restrictions": layer.restrictions,
    }


def override_view(override: OncallOverride) -> dict[str, Any]:
    return {"id": override.id, "user": override.user.name, "start": override.starts_at, "end": override.ends_at}


def schedule_view(schedule: OncallSchedule, *, now: datetime) -> dict[str, Any]:
    """A schedule with its layers (1 the lowest) and the overrides not yet over."""
    return {
        "id": schedule.id,
        "name": schedule.name,
        "tz": schedule.tz,
        "layers": [layer_view(layer, i) for i, layer in enumerate(schedule.layers, start=1)],
        "overrides": [override_view(o) for o in schedule.overrides if o.ends_at > now],
        "created_at": schedule.created_at,
    }


def on_call_view(answer: OnCall) -> dict[str, Any]:
    return {
        "schedule": answer.schedule.name,
        "schedule_id": answer.schedule.id,
        "tz": answer.schedule.tz,
        "now": shift_view(answer.now) if answer.now else None,
        "next": shift_view(answer.next) if answer.next else None,
    }
