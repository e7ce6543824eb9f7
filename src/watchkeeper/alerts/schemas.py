"""API shapes for alerts, silences, maintenance windows and dependencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    dedup_key: str
    source: str
    service: str | None
    severity: str
    urgency: str
    status: str
    summary: str
    labels: dict[str, Any]
    details: dict[str, Any]
    started_at: datetime
    first_seen: datetime
    last_seen: datetime
    count: int
    resolved_at: datetime | None
    resolution: str | None
    muted: str | None
    muted_reason: str | None
    incident_id: int | None
    flapping: bool
    runbook_url: str | None = None


class SilenceIn(BaseModel):
    matchers: list[str] = Field(min_length=1, examples=[["service=voip-de", 'instance=~"pbx-.*"']])
    ends_at: AwareDatetime | None = None
    duration: timedelta | None = Field(default=None, description="instead of ends_at, e.g. PT2H")
    starts_at: AwareDatetime | None = None
    comment: str = Field(min_length=1, max_length=1000)
    force: bool = Field(
        default=False, description='allow matchers that mute every alert having a label, e.g. service=~".+"'
    )


class SilenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime


class WindowIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    matchers: list[str] = Field(min_length=1, examples=[["service=voip-de"]])
    timezone: str = "UTC"
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    hours: str | None = Field(
        default=None,
        examples=["Sun 01:00-05:00"],
        description="weekly: one day group and one local time range (docs/hours.md); or weekdays, start and end",
    )
    weekdays: str | None = Field(default=None, examples=["Sun"])
    start: str | None = Field(default=None, examples=["01:00"])
    end: str | None = Field(default=None, examples=["05:00"])
    cron: str | None = Field(default=None, examples=["0 2 * * 0"])
    duration: timedelta | None = None
    force: bool = Field(default=False, description="as for a silence")


class WindowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    matchers: list[str]
    timezone: str
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: str | None
    start_time: str | None
    end_time: str | None
    cron: str | None
    duration_minutes: int | None
    created_by: str


class DependencyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    parent: list[str] = Field(min_length=1, examples=[["alertname=PBXDown"]])
    child: list[str] = Field(min_length=1, examples=[["alertname=~SipTrunk.*"]])
    equal: list[str] = Field(default_factory=list, examples=[["instance"]])


class DependencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent: list[str]
    child: list[str]
    equal: list[str]
