"""Customers and their support plans: the support desk's tables that other
domains' models refer to (a service belongs to a customer).

A module apart from support.models so that a command that loads only the
feed modules, such as `watchkeeper ingest`, registers these two classes and
not the desk's other six: 0.01 s of its start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.db import Base, UTCDateTime


class SupportPlan(Base):
    """Opening hours (or 24x7), holidays, and SLA targets per priority in minutes of business time."""

    __tablename__ = "support_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    hours: Mapped[str] = mapped_column(String(200))  # "24x7" or "Mon-Fri 08:00-18:00"
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    holidays: Mapped[str | None] = mapped_column(String(16))
    closed_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"p1": {"first_response": 60, ...}}
    auto_case: Mapped[bool] = mapped_column(Boolean, default=True)
    # Ask the technical contact by themselves when a production feed of the customer goes silent.
    auto_enquire: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("support_plans.id"))
    timezone: Mapped[str | None] = mapped_column(String(64))  # the plan's if unset
    service_pattern: Mapped[str | None] = mapped_column(String(200))  # services whose name matches are theirs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
