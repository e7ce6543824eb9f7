"""On-call tables: schedules, their layers with members in turn, overrides, and calendar keys."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

# Imported, not only named: the ORM resolves the members' and overrides' users when a session first runs.
from watchkeeper.auth.models import User
from watchkeeper.db import Base, UTCDateTime, str_enum
from watchkeeper.oncall.rotation import Unit


class OncallSchedule(Base):
    __tablename__ = "oncall_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    tz: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    layers: Mapped[list[OncallLayer]] = relationship(
        order_by="OncallLayer.position", cascade="all, delete-orphan", passive_deletes=True
    )
    overrides: Mapped[list[OncallOverride]] = relationship(
        order_by="OncallOverride.id", cascade="all, delete-orphan", passive_deletes=True
    )


class OncallLayer(Base):
    """A rotation; a higher `position` overrides a lower one where it has someone."""

    __tablename__ = "oncall_layers"
    __table_args__ = (UniqueConstraint("schedule_id", "position", name="uq_oncall_layers_schedule_id_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    shift_count: Mapped[int] = mapped_column(Integer)
    shift_unit: Mapped[Unit] = mapped_column(str_enum(Unit, 8))
    handoff_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    start_date: Mapped[date] = mapped_column(Date)
    restrictions: Mapped[str | None] = mapped_column(String(500))  # weekly hours, as watchkeeper.weekly spells them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    members: Mapped[list[OncallMember]] = relationship(
        order_by="OncallMember.position", cascade="all, delete-orphan", passive_deletes=True
    )


class OncallMember(Base):
    """One turn of a layer's rotation: its users take turns in `position` order."""

    __tablename__ = "oncall_members"
    __table_args__ = (UniqueConstraint("layer_id", "position", name="uq_oncall_members_layer_id_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("oncall_layers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user: Mapped[User] = relationship(lazy="joined")


class OncallOverride(Base):
    """`user` covers [starts_at, ends_at) of a schedule, whatever its layers say; a later one wins."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule_id_ends_at", "schedule_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user: Mapped[User] = relationship(lazy="joined")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalendarKey(Base):
    """The secret of one calendar URL (a schedule's, or a user's shifts); only its SHA-256 is kept.

    Calendar apps fetch a URL and send no header, so the key rides in the URL.
    """

    __tablename__ = "oncall_calendar_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
