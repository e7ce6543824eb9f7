"""The checks' tables: a check with its schedule and its stored deadline, the pings it received,
and what each look at a PBX's manager interface saw."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

# Imported, not only named: the ORM resolves Check.customer when a session first runs.
from watchkeeper.auth.customers import Customer
from watchkeeper.db import Base, UTCDateTime, str_enum


class CheckKind(StrEnum):
    HEARTBEAT = "heartbeat"  # pushed: a job pings us
    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"
    DNS = "dns"
    SIP = "sip"
    AMI = "ami"


class ScheduleKind(StrEnum):
    PERIOD = "period"
    CRON = "cron"
    ONCALENDAR = "oncalendar"


class CheckStatus(StrEnum):
    NEW = "new"  # never pinged
    UP = "up"
    STARTED = "started"  # a run began and has time left to finish
    LATE = "late"  # a run began and did not finish within its grace
    DOWN = "down"
    PAUSED = "paused"


class PingKind(StrEnum):
    SUCCESS = "success"
    START = "start"
    FAIL = "fail"
    LOG = "log"  # an entry for the record; it changes no state


class Check(Base):
    __tablename__ = "checks"
    __table_args__ = (UniqueConstraint("ping_key", "slug", name="uq_checks_ping_key_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    slug: Mapped[str] = mapped_column(String(200))
    # A customer's (or the operator's) key for slug URLs: /ping/<ping_key>/<slug>.
    ping_key: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[CheckKind] = mapped_column(str_enum(CheckKind, 16), default=CheckKind.HEARTBEAT)
    schedule: Mapped[ScheduleKind] = mapped_column(str_enum(ScheduleKind, 16), default=ScheduleKind.PERIOD)
    period_seconds: Mapped[int] = mapped_column(Integer, default=86400)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    expression: Mapped[str | None] = mapped_column(String(200))  # cron or OnCalendar
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[CheckStatus] = mapped_column(str_enum(CheckStatus, 16), default=CheckStatus.NEW)
    service: Mapped[str | None] = mapped_column(String(200))  # the service or host it watches
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    customer: Mapped[Customer | None] = relationship()  # not joined: claims lock checks FOR UPDATE
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    success_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    failure_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # a probe's own options
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # the deadline
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last run's start, while it runs
    started_rid: Mapped[str | None] = mapped_column(String(64))
    last_duration_seconds: Mapped[float | None] = mapped_column(Float)
    firing: Mapped[bool] = mapped_column(default=False)  # a finding of this check is firing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A probe's damping (probe_rules): down after `fail_after` failures in a row, up after
    # `recover_after` successes; what it remembers between runs is `probe_state`.
    fail_after: Mapped[int] = mapped_column(Integer, default=2)
    recover_after: Mapped[int] = mapped_column(Integer, default=1)
    probe_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a probe's last result
    last_up: Mapped[bool | None] = mapped_column(Boolean)
    last_latency: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(String(300))


class Ping(Base):
    __tablename__ = "pings"
    __table_args__ = (Index("ix_pings_check_id_at", "check_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[PingKind] = mapped_column(str_enum(PingKind, 16))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    rid: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(64), default="")
    duration_seconds: Mapped[float | None] = mapped_column(Float)  # the run this ping finished


class ProbeResultRow(Base):
    """One run of a probe, kept `probe_retention_days`."""

    __tablename__ = "probe_results"
    __table_args__ = (Index("ix_probe_results_check_id_at", "check_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    up: Mapped[bool] = mapped_column(Boolean)
    latency: Mapped[float | None] = mapped_column(Float)  # seconds
    status: Mapped[int | None] = mapped_column(Integer)  # an HTTP or SIP status code
    reason: Mapped[str] = mapped_column(String(300), default="")  # why it was down, or the answer's reason


class PbxSnapshot(Base):
    """What one look at a PBX's manager interface saw; the next look compares with the last.

    Kept for the retention's days, so the channels and calls of each look are
    a time series capacity reports read by (check_id, at).
    """

    __tablename__ = "pbx_snapshots"
    __table_args__ = (Index("ix_pbx_snapshots_check_id_at", "check_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reloaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trunks: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    config_hashes: Mapped[dict[str, str | None]] = mapped_column(JSON, default=dict)
    channels: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)
    # What changed since the look before (a restart, a reload, a file): the PBX's timeline.
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
