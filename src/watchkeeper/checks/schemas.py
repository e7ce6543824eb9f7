"""The API's shapes of a check and its pings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from watchkeeper.checks.models import CheckKind, CheckStatus, PingKind, ScheduleKind

YEAR = 366 * 86400


class CheckIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    schedule: ScheduleKind = ScheduleKind.PERIOD
    period_seconds: int = Field(default=86400, ge=60, le=YEAR, description="for a period schedule")
    grace_seconds: int = Field(default=3600, ge=0, le=YEAR, description="how late a ping may be")
    expression: str | None = Field(
        default=None, max_length=200, description="cron ('30 2 * * *') or OnCalendar ('Mon..Fri *-*-* 02:30')"
    )
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone of a cron or OnCalendar schedule")
    service: str | None = Field(default=None, max_length=200, description="the service or host it watches")
    customer: str | None = Field(default=None, max_length=100, description="whose it is")
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)
    success_keywords: list[str] = Field(default_factory=list, max_length=20)
    failure_keywords: list[str] = Field(default_factory=list, max_length=20)
    slug: str | None = Field(default=None, max_length=200)
    ping_key: str | None = Field(default=None, max_length=64, description="for slug URLs /ping/<key>/<slug>")


class PingOut(BaseModel):
    at: datetime
    kind: PingKind
    exit_status: int | None
    rid: str | None
    body: str = Field(description="the first 100 KB of the body, as text")
    user_agent: str
    source: str
    duration_seconds: float | None = Field(description="the run this ping finished, from its start")


class CheckOut(BaseModel):
    name: str
    uuid: str
    slug: str
    ping_key: str | None
    kind: CheckKind
    status: CheckStatus
    schedule: ScheduleKind
    period_seconds: int
    grace_seconds: int
    expression: str | None
    tz: str
    service: str | None
    customer: str | None
    labels: dict[str, str]
    success_keywords: list[str]
    failure_keywords: list[str]
    due_at: datetime | None = Field(description="the deadline: late after it")
    last_ping_at: datetime | None
    last_duration_seconds: float | None
    created_at: datetime


class CheckShown(CheckOut):
    pings: list[PingOut] = Field(description="the last pings, newest first")
