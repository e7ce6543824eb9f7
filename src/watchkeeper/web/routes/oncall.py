"""/api/v1/schedules: on-call schedules for staff, and their iCalendar feeds.

The feeds (`calendar.ics`, `oncall.ics`) take no bearer token: calendar apps
fetch a URL and send no header, so the URL carries a secret key made for
that one calendar (`POST .../calendar-keys`, `watchkeeper oncall calendar`).
A wrong key answers 404, as an unknown calendar does, and counts against its
sender's address like a bad token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session

from watchkeeper.oncall import ical, service
from watchkeeper.oncall.schemas import (
    CalendarUrlOut,
    LayerIn,
    OnCallOut,
    OverrideIn,
    OverrideOut,
    ScheduleIn,
    ScheduleOut,
    ShiftOut,
)
from watchkeeper.web.deps import STAFF, Now, RowId, SessionDep, Tx
from watchkeeper.web.tokens import failed_attempt, refuse_if_throttled

router = APIRouter(tags=["on-call"], dependencies=STAFF)
calendars = APIRouter(tags=["on-call"])

SCHEDULES = "/api/v1/schedules"
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "a schedule of that name exists"}}
ICS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the calendar (RFC 5545)", "content": {"text/calendar": {"schema": {"type": "string"}}}},
    404: {"description": "no such calendar, or a key that does not open it"},
    429: {"description": "too many wrong keys from this address: retry after Retry-After seconds"},
}
Key = Annotated[str, Query(min_length=1, max_length=100, description="the calendar's secret key")]
At = Annotated[datetime | None, Query(description="the instant (ISO 8601 with a zone); now if left out")]


@router.get(SCHEDULES, response_model=list[ScheduleOut])
def list_schedules(session: SessionDep, now: Now) -> list[dict[str, Any]]:
    return [service.schedule_view(s, now=now) for s in service.list_schedules(session=session)]


@router.post(SCHEDULES, response_model=ScheduleOut, status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def add_schedule(body: ScheduleIn, tx: Tx) -> dict[str, Any]:
    return tx.run(
        lambda session, now: service.schedule_view(
            service.add_schedule(body.name, session=session, now=now, tz=body.tz), now=now
        )
    )


@router.get(SCHEDULES + "/{schedule_id}", response_model=ScheduleOut)
def get_schedule(schedule_id: RowId, session: SessionDep, now: Now) -> dict[str, Any]:
    return service.schedule_view(service.get_schedule(schedule_id, session=session), now=now)


@router.delete(SCHEDULES + "/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_schedule(schedule_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, _: service.remove_schedule(schedule_id, session=session))


@router.post(SCHEDULES + "/{schedule_id}/layers", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED)
def add_layer(schedule_id: RowId, body: LayerIn, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        layer = service.add_layer(
            schedule_id,
            session=session,
            now=now,
            users=body.users,
            shift=body.shift,
            start=body.start,
            handoff=body.handoff,
            restrict=body.restrict,
            name=body.name,
        )
        session.expire_all()
        return service.schedule_view(service.get_schedule(layer.schedule_id, session=session), now=now)

    return tx.run(work)


@router.delete(SCHEDULES + "/{schedule_id}/layers/{number}", response_model=ScheduleOut)
def remove_layer(schedule_id: RowId, number: RowId, tx: Tx) -> dict[str, Any]:
    def work(session: Session, now: datetime) -> dict[str, Any]:
        service.remove_layer(schedule_id, number, session=session)
        return service.schedule_view(service.get_schedule(schedule_id, session=session), now=now)

    return tx.run(work)


@router.get("/api/v1/oncall", response_model=list[OnCallOut])
def who_in_every_schedule(session: SessionDep, now: Now, at: At = None) -> list[dict[str, Any]]:
    """Who is on call, and who is next, in every schedule."""
    return [service.on_call_view(a) for a in service.who(session=session, at=at or now)]


@router.get(SCHEDULES + "/{schedule_id}/who", response_model=OnCallOut)
def who(schedule_id: RowId, session: SessionDep, now: Now, at: At = None) -> dict[str, Any]:
    (answer,) = service.who(session=session, at=at or now, schedule=schedule_id)
    return service.on_call_view(answer)


@router.get(SCHEDULES + "/{schedule_id}/shifts", response_model=list[ShiftOut])
def shifts(
    schedule_id: RowId,
    session: SessionDep,
    now: Now,
    start: At = None,
    days: Annotated[int, Query(ge=1, le=366, description="how many days from the start")] = 7,
) -> list[dict[str, Any]]:
    """The final shifts from `start` (now if left out) for `days`, gaps (user null) included."""
    begin = start or now
    found = service.shifts(schedule_id, session=session, start=begin, end=begin + timedelta(days=days))
    return [service.shift_view(s) for s in found]


@router.get(SCHEDULES + "/{schedule_id}/overrides", response_model=list[OverrideOut])
def list_overrides(schedule_id: RowId, session: SessionDep, now: Now) -> list[dict[str, Any]]:
    """The overrides not yet over."""
    schedule = service.get_schedule(schedule_id, session=session)
    return [service.override_view(o) for o in schedule.overrides if o.ends_at > now]


@router.post(SCHEDULES + "/{schedule_id}/overrides", response_model=OverrideOut, status_code=status.HTTP_201_CREATED)
def add_override(schedule_id: RowId, body: OverrideIn, tx: Tx) -> dict[str, Any]:
    return tx.run(
        lambda session, now: service.override_view(
            service.add_override(schedule_id, body.user, session=session, now=now, start=body.start, end=body.end)
        )
    )


@router.delete(SCHEDULES + "/{schedule_id}/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_override(schedule_id: RowId, override_id: RowId, tx: Tx) -> None:
    tx.run(lambda session, _: service.remove_override(schedule_id, override_id, session=session))


@router.post(
    SCHEDULES + "/{schedule_id}/calendar-keys", response_model=CalendarUrlOut, status_code=status.HTTP_201_CREATED
)
def schedule_calendar_key(schedule_id: RowId, tx: Tx) -> dict[str, str]:
    """A new secret URL of the schedule's calendar, for a calendar app to subscribe to."""
    key = tx.run(lambda session, now: service.make_calendar_key(session=session, now=now, schedule=schedule_id))
    return {"url": f"{SCHEDULES}/{schedule_id}/calendar.ics?key={key}"}


@router.post("/api/v1/users/{name}/calendar-keys", response_model=CalendarUrlOut, status_code=status.HTTP_201_CREATED)
def user_calendar_key(name: str, tx: Tx) -> dict[str, str]:
    """A new secret URL of the user's own shifts in every schedule."""
    key = tx.run(lambda session, now: service.make_calendar_key(session=session, now=now, user=name))
    return {"url": f"/api/v1/users/{quote(name, safe='')}/oncall.ics?key={key}"}


def _opened(
    request: Request, session: Session, key: str, *, schedule_id: int | None = None, user: str | None = None
) -> None:
    """Refuse, as an unknown calendar, a key that does not open this calendar."""
    refuse_if_throttled(request)
    if service.calendar_key_opens(key, session=session, schedule_id=schedule_id, user=user):
        return
    failed_attempt(request)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no such calendar, or a key that does not open it")


def _ics(body: bytes, name: str) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{quote(name, safe="")}.ics"'},
    )


@calendars.get(SCHEDULES + "/{schedule_id}/calendar.ics", response_class=Response, responses=ICS)
def schedule_calendar(schedule_id: RowId, key: Key, request: Request, session: SessionDep, now: Now) -> Response:
    """The schedule's shifts from a week ago to eight weeks ahead, one event each."""
    _opened(request, session, key, schedule_id=schedule_id)
    row = service.get_schedule(schedule_id, session=session)
    found = service.shifts(schedule_id, session=session, start=now - ical.PAST, end=now + ical.AHEAD)
    return _ics(ical.feed(f"On call: {row.name}", [(row.name, s) for s in found], now=now), row.name)


@calendars.get("/api/v1/users/{name}/oncall.ics", response_class=Response, responses=ICS)
def user_calendar(name: str, key: Key, request: Request, session: SessionDep, now: Now) -> Response:
    """The user's shifts in every schedule, from a week ago to eight weeks ahead."""
    _opened(request, session, key, user=name)
    found = service.user_shifts(name, session=session, start=now - ical.PAST, end=now + ical.AHEAD)
    return _ics(ical.feed(f"On call: {name}", [(row.name, s) for row, s in found], now=now), name)
