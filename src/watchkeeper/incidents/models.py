from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.alerts.models import Alert as Alert
from watchkeeper.db import Base, UTCDateTime, append_only, str_enum
from watchkeeper.finding import Severity, Urgency
from watchkeeper.incidents.lifecycle import Entry, Status


class Incident(Base):
    """Alerts of one group, from the first that was raised until someone closes it.

    `open_key` holds the group key while the incident is open (triggered or
    acknowledged) and is unique: one open incident per group, even when two
    processes raise the group's first alerts at once.
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[Status] = mapped_column(str_enum(Status, 16), index=True)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 16))
    service: Mapped[str | None] = mapped_column(String(200), index=True)
    customer: Mapped[str | None] = mapped_column(String(200), index=True)
    group_key: Mapped[str] = mapped_column(String(500), index=True)
    open_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    group_labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(100))
    # Low urgency only because it is outside the customer's support hours: raised to high then, if still open.
    raise_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


@append_only
class TimelineEntry(Base):
    """One thing that happened to an incident. Append-only: never updated, never deleted.

    Its alert is a foreign key. The case, enquiry or notification an entry
    speaks of stays a number in `data`, as the API shows it: those tables
    belong to the desk and the outbox, layers above incidents, which the
    incidents' tables must not need. The desk keeps its side as foreign keys
    (`case_incidents`, `enquiries.incident_id`).
    """

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[Entry] = mapped_column(str_enum(Entry, 32))
    actor: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(4000))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
