from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.alerts.routing import MuteKind
from watchkeeper.db import Base, UTCDateTime, str_enum
from watchkeeper.finding import Severity, State, Urgency


class Alert(Base):
    """One alert per dedup key while it fires; a new one if it fires again after resolving.

    `firing_key` holds the dedup key while the alert fires and is unique, so two
    processes taking the same new alert at once cannot both create it.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_key_status", "dedup_key", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300))
    firing_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(50))
    service: Mapped[str | None] = mapped_column(String(200), index=True)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 16))
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8))
    status: Mapped[State] = mapped_column(str_enum(State, 16), index=True)
    summary: Mapped[str] = mapped_column(String(2000))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(2000))
    # Routing: why it does not page (silenced, maintenance, inhibited), and by what.
    muted: Mapped[MuteKind | None] = mapped_column(str_enum(MuteKind, 16))
    # A silence's, a window's or a parent alert's id, as `muted` says: three
    # tables, so no foreign key can name the one it is.
    muted_ref: Mapped[int | None] = mapped_column(Integer)
    muted_reason: Mapped[str | None] = mapped_column(String(1000))
    group_key: Mapped[str] = mapped_column(String(500), index=True, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # When routing must look at it again: group wait over, a mute ends, a held resolve.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    resolve_held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def runbook_url(self) -> str | None:
        """The sender's runbook link: Alertmanager's `runbook_url` annotation, or a `runbook_url` detail."""
        annotations = (self.details or {}).get("annotations")
        for where in (annotations if isinstance(annotations, dict) else {}, self.details or {}):
            url = where.get("runbook_url")
            if isinstance(url, str) and url.strip():
                return url.strip()
        return None

    def match_labels(self) -> dict[str, str]:
        """What matchers see: the alert's labels plus service, severity and source."""
        return match_labels(self.labels, severity=self.severity, source=self.source, service=self.service)


def match_labels(labels: dict[str, Any], *, severity: str, source: str, service: str | None) -> dict[str, str]:
    """An alert's labels plus service, severity and source, as matchers and grouping see them."""
    seen = {k: str(v) for k, v in labels.items()}
    seen.setdefault("severity", severity)
    seen.setdefault("source", source)
    if service:
        seen.setdefault("service", service)
    return seen


class Silence(Base):
    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matchers: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    matchers: Mapped[list[str]] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    weekdays: Mapped[str | None] = mapped_column(String(40))
    start_time: Mapped[str | None] = mapped_column(String(5))
    end_time: Mapped[str | None] = mapped_column(String(5))
    cron: Mapped[str | None] = mapped_column(String(100))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Dependency(Base):
    """An inhibit rule: a parent's firing alert mutes its children's."""

    __tablename__ = "dependencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[list[str]] = mapped_column(JSON)
    child: Mapped[list[str]] = mapped_column(JSON)
    equal: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
