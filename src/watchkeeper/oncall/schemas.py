"""The API's shapes of on-call schedules, their layers, overrides and shifts, and of an escalation hurried."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone of handoffs and restrictions")


class LayerIn(_Strict):
    users: list[str] = Field(min_length=1, max_length=100, description="who takes turns, in order")
    shift: str = Field(default="1w", max_length=10, description="each turn: 12h (elapsed hours), 1d or 1w (local days)")
    handoff: str = Field(default="09:00", max_length=5, description="the local time turns change")
    start: date = Field(description="the date of the first handoff")
    restrict: str | None = Field(
        default=None, max_length=500, description="on call only in these weekly hours: 'Mon-Fri 08:00-18:00'"
    )
    name: str = Field(default="", max_length=100)


class OverrideIn(_Strict):
    user: str = Field(min_length=1, max_length=100)
    start: AwareDatetime
    end: AwareDatetime


class ShiftOut(_Strict):
    start: datetime
    end: datetime
    user: str | None = Field(description="who is on call; null for a gap, nobody")


class LayerOut(_Strict):
    number: int = Field(description="1 the lowest; a higher layer overrides a lower one where it has someone")
    name: str
    users: list[str]
    shift: str
    handoff: str
    start: date
    restrictions: str | None


class OverrideOut(_Strict):
    id: int
    user: str
    start: datetime
    end: datetime


class ScheduleOut(_Strict):
    id: int
    name: str
    tz: str
    layers: list[LayerOut]
    overrides: list[OverrideOut] = Field(description="those not yet over")
    created_at: datetime


class OnCallOut(_Strict):
    schedule: str
    schedule_id: int
    tz: str
    now: ShiftOut | None = Field(description="the shift on call at the instant asked; null in a gap")
    next: ShiftOut | None = Field(description="the next shift with someone on call, within four weeks")


class CalendarUrlOut(_Strict):
    url: str = Field(description="the path of the calendar, its secret key in the query; shown once")


class EscalatedOut(BaseModel):
    incident_id: int
    level: int | None = Field(description="the level (from 1) paged now, or due now already; null: none left")
    changed: bool = Field(description="false when the level was due already, or none was left to page")
    message: str = Field(description="what the incident's timeline says, or why nothing changed")
