from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from watchkeeper.auth.customers import Customer as Customer
from watchkeeper.db import Base, Sealed, UTCDateTime, append_only, str_enum
from watchkeeper.incidents.models import Incident as Incident
from watchkeeper.support.links import Answer
from watchkeeper.support.sla import CaseStatus, Priority, Target


class SupportPlan(Base):
    """Opening hours (or 24x7), holidays, and SLA targets per priority in minutes of business time.

    A customer names its plan by id (customers.plan_id); the desk reads the plan, the core never does.
    """

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


class ContactRole(StrEnum):
    TECHNICAL = "technical"
    BILLING = "billing"
    ESCALATION = "escalation"


class EntryKind(StrEnum):
    OPENED = "opened"
    PUBLIC = "public"  # a reply the customer sees; stops the first-response clock
    INTERNAL = "internal"
    STATUS = "status"
    PRIORITY = "priority"
    ASSIGNED = "assigned"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    ENQUIRY = "enquiry"
    CUSTOMER = "customer"  # the customer's own answer
    NOTIFICATION = "notification"


class IfExpected(StrEnum):
    SNOOZE = "snooze"
    TEST = "test"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[ContactRole] = mapped_column(str_enum(ContactRole, 16))
    channel: Mapped[str] = mapped_column(Sealed)  # an Apprise URL (mailto://..., slack://...); may hold a password


class CaseIncident(Base):
    """A case opened for an incident: one row per link, each end a foreign key."""

    __tablename__ = "case_incidents"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True, index=True)


class Case(Base):
    """A support case. `due_at` is when its next SLA clock warns or breaches (indexed, claimed by the scheduler).

    Its incidents are rows of `case_incidents`; `incident_ids` reads and sets
    them as the list of ids the API shows.
    """

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, 4))
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, 20), index=True)
    assignee: Mapped[str | None] = mapped_column(String(100))
    opened_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    incident_links: Mapped[list[CaseIncident]] = relationship(
        lazy="selectin", order_by=CaseIncident.incident_id, cascade="all, delete-orphan"
    )

    @property
    def incident_ids(self) -> list[int]:
        return [link.incident_id for link in self.incident_links]

    @incident_ids.setter
    def incident_ids(self, ids: list[int]) -> None:
        self.incident_links = [CaseIncident(incident_id=i) for i in dict.fromkeys(ids)]


@append_only
class CaseEntry(Base):
    """The work log: public replies, internal notes, changes, SLA warnings and breaches. Append-only."""

    __tablename__ = "case_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, 20))
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(8000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SlaBreach(Base):
    """A clock that passed its target, kept for the monthly reports."""

    __tablename__ = "sla_breaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    target: Mapped[Target] = mapped_column(str_enum(Target, 20))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, 4))
    breached_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Enquiry(Base):
    """A question to a customer's technical contact ("is the silence on this feed expected?")."""

    __tablename__ = "enquiries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    question: Mapped[str] = mapped_column(String(2000))
    if_expected: Mapped[IfExpected] = mapped_column(str_enum(IfExpected, 16))
    snooze_hours: Mapped[int] = mapped_column(Integer, default=24)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer: Mapped[Answer | None] = mapped_column(str_enum(Answer, 16))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServerSecret(Base):
    """One row, `links-legacy`: the key links sent before the server's key existed were signed with, sealed.

    Answer links are signed with a key derived from the server's key, which is never stored here (keys.py).
    """

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
