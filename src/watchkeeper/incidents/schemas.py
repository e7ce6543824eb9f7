"""API shapes for incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class IncidentDetail(IncidentOut):
    alerts: list[AlertOut]
    timeline: list[EntryOut]


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
