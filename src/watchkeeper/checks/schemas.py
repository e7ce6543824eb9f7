"""The API's shapes of a check and its pings, and of a PBX and its looks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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


class PbxIn(BaseModel):
    name: str = Field(min_length=1, max_length=190)
    ami: str = Field(min_length=1, max_length=300, description="the manager interface, HOST[:5038]")
    ami_user: str = Field(min_length=1, max_length=200, description="the manager.conf user")
    ami_secret: str = Field(min_length=1, max_length=200, description="its secret: stored sealed, never shown")
    sip: str | None = Field(default=None, max_length=300, description="SIP OPTIONS to HOST[:5060]: the parent check")
    sip_transport: Literal["udp", "tcp"] = "udp"
    config_files: list[str] = Field(default_factory=list, max_length=20, description="files whose changes to note")
    customer: str | None = Field(default=None, max_length=100, description="whose it is")
    service: str | None = Field(default=None, max_length=200, description="the service it carries")
    interval_seconds: int = Field(default=60, ge=60, le=86400, description="how often to look")
    timezone: str = Field(default="UTC", max_length=64, description="the PBX's own zone, of CoreStatus's times")
    timeout: float = Field(default=5.0, ge=0.1, le=30, description="seconds to wait for each answer")
    chan_sip: bool = Field(default=False, description="also read chan_sip's registrations")


class PbxOut(BaseModel):
    name: str
    status: CheckStatus
    ami: str
    ami_user: str
    sip: str | None
    sip_transport: str | None
    options_check: str | None = Field(description="the SIP OPTIONS check whose alert mutes this PBX's")
    config_files: list[str]
    zone: str
    interval_seconds: int
    service: str | None
    customer: str | None
    due_at: datetime | None = Field(description="the next look")
    last_look_at: datetime | None
    created_at: datetime


class TrunkOut(BaseModel):
    name: str
    status: str
    detail: str


class SnapshotOut(BaseModel):
    at: datetime
    started_at: datetime
    reloaded_at: datetime
    trunks: list[TrunkOut]
    config_hashes: dict[str, str | None] = Field(description="SHA-256 of each file's GetConfig; null: not readable")
    channels: int
    calls: int


class ReadingOut(BaseModel):
    at: datetime
    channels: int = Field(description="active channels (CoreShowChannels)")
    calls: int = Field(description="calls in progress (CoreStatus's CoreCurrentCalls)")


class ChangeOut(BaseModel):
    at: datetime
    change: str


class PbxShown(PbxOut):
    snapshot: SnapshotOut | None = Field(description="the last look that answered")
    readings: list[ReadingOut] = Field(description="channels and calls at each look, oldest first")
    changes: list[ChangeOut] = Field(description="restarts, reloads and changed files, newest first")
