"""API shapes for incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.alerts.schemas import AlertOut


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    status: str
    urgency: str
    severity: str
    service: str | None
    customer: str | None
    group_key: str
    group_labels: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    closed_at: datetime | None
    closed_by: str | None


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    actor: str
    message: str
    alert_id: int | None
    data: dict[str, Any]


class PagedOut(BaseModel):
    user: str
    channel: str = Field(description="a voice number, or an Apprise URL's scheme and host only")
    status: str = Field(description="pending (due at `at`), sending, sent or failed")
    at: str


class NextOut(BaseModel):
    at: str
    what: str


class PagingOut(BaseModel):
    """Who the incident's escalation is paging now, and what it does next unless acknowledged."""

    policy: str
    status: str = Field(description="active, acknowledged or ended")
    urgency: str
    level: int | None = Field(description="the level paged last, from 1; none yet")
    paged: list[PagedOut]
    next: NextOut | None


class IncidentDetail(IncidentOut):
    alerts: list[AlertOut]
    timeline: list[EntryOut]
    paging: PagingOut | None = Field(default=None, description="staff only: the escalation, if a policy took it")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ResolveIn(BaseModel):
    note: str | None = Field(default=None, max_length=4000)


class TimingsOut(BaseModel):
    incidents: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    median_tta_seconds: float | None
    median_ttr_seconds: float | None


Outcome = Literal["raised", "muted", "flapping"]


class StillFiringOut(BaseModel):
    """An alert that still fired when its incident was resolved or closed by hand, and what became of it."""

    alert_id: int
    summary: str
    outcome: Outcome = Field(
        description="raised again in `incident_id`; muted (`muted_reason`); or flapping, quiet now and "
        "raised anew if it fires"
    )
    incident_id: int | None
    muted_reason: str | None
    silence_matchers: list[str] = Field(description="matchers for POST /api/v1/silences that mute just this alert")


class MovedOut(IncidentOut):
    still_firing: list[StillFiringOut] = []
