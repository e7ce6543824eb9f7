"""Escalation policies, routes and personal notification rules: their tables and use cases. Never commits.

Also the tables of the escalations on their way (`escalations`, one per
incident, on a snapshot of its policy; `escalation_steps`, one due row per
level and pass), which watchkeeper.oncall.paging runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from watchkeeper.auth.models import User
from watchkeeper.auth.users import get_user
from watchkeeper.db import Base, Sealed, UTCDateTime, str_enum
from watchkeeper.errors import Conflict, Invalid, NotFound
from watchkeeper.finding import Urgency
from watchkeeper.incidents.models import Incident as Incident  # escalations' foreign keys name its table
from watchkeeper.inputs import check_channel, check_name
from watchkeeper.oncall.escalation import VOICE, Level, Policy, Route, Rule, duration_text, shown, wakes


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    ack_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    levels: Mapped[list[EscalationLevel]] = relationship(
        order_by="EscalationLevel.position", cascade="all, delete-orphan"
    )


class EscalationLevel(Base):
    """One level: its users (rows of `escalation_level_users`) and/or a schedule's on-call person, then a wait."""

    __tablename__ = "escalation_levels"
    __table_args__ = (UniqueConstraint("policy_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # A schedule's name: the schedules are the on-call rotation's, resolved through `OnCallLookup`.
    schedule: Mapped[str | None] = mapped_column(String(100))
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    users: Mapped[list[LevelUser]] = relationship(order_by="LevelUser.position", cascade="all, delete-orphan")


class LevelUser(Base):
    __tablename__ = "escalation_level_users"

    level_id: Mapped[int] = mapped_column(ForeignKey("escalation_levels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class EscalationRoute(Base):
    """Incidents whose labels all `matchers` match go to `policy`; first route (lowest position) wins."""

    __tablename__ = "escalation_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id"), index=True)
    matchers: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRule(Base):
    """A person's own rule: for pages of `urgency`, reach them on `channel` `delay_seconds` after their level."""

    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8))
    channel: Mapped[str] = mapped_column(Sealed)  # Apprise URL (may hold a password) or sip:NUMBER
    delay_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationStatus(StrEnum):
    ACTIVE = "active"  # paging
    ACKNOWLEDGED = "acknowledged"  # someone answered; paged again at `ack_due_at` if the policy says so
    ENDED = "ended"  # resolved or closed, or the policy ran out


class Escalation(Base):
    """An incident's escalation, on the snapshot of its policy taken when it started."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id", ondelete="SET NULL"))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8))
    status: Mapped[EscalationStatus] = mapped_column(str_enum(EscalationStatus, 16), index=True)
    first_pass: Mapped[int] = mapped_column(Integer, default=0)  # the pass the current trigger began with
    last_pass: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class EscalationStep(Base):
    """One level of one pass, due at `due_at`; claimed by one worker (watchkeeper.due), run once."""

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("incident_id", "level", "repeat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    level: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    status: Mapped[StepStatus] = mapped_column(str_enum(StepStatus, 12), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it is (was) meant to run
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- policies ------------------------------------------------------------------------------


def _missing_policy(name: str) -> str:
    return f"no escalation policy {name!r}; `watchkeeper oncall policies list` shows them"


def get_policy(name: str, *, session: Session) -> EscalationPolicy:
    row = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
    if row is None:
        raise NotFound(_missing_policy(name))
    return row


def _set_levels(row: EscalationPolicy, levels: Sequence[Level], *, session: Session) -> None:
    row.levels.clear()
    session.flush()
    for position, level in enumerate(levels):
        users = [get_user(name, session=session) for name in level.users]
        row.levels.append(
            EscalationLevel(
                position=position,
                schedule=level.schedule,
                timeout_seconds=int(level.timeout.total_seconds()),
                users=[LevelUser(user_id=u.id, position=i) for i, u in enumerate(users)],
            )
        )


def add_policy(
    *,
    session: Session,
    now: datetime,
    name: str,
    levels: Sequence[Level],
    repeat: int = 0,
    ack_timeout: timedelta | None = None,
) -> EscalationPolicy:
    check_name(name, "policy")
    Policy(name, tuple(levels), repeat, ack_timeout)  # refuses what no policy may be
    if session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == name)) is not None:
        raise Conflict(f"an escalation policy named {name!r} exists; edit it or pick another name")
    row = EscalationPolicy(name=name, repeat=repeat, ack_timeout_seconds=_seconds(ack_timeout), created_at=now)
    session.add(row)
    _set_levels(row, levels, session=session)
    session.flush()
    return row


def edit_policy(
    name: str,
    *,
    session: Session,
    levels: Sequence[Level] | None = None,
    repeat: int | None = None,
    ack_timeout: timedelta | None = None,
) -> EscalationPolicy:
    """Change a policy; escalations already on their way keep the snapshot they started with."""
    row = get_policy(name, session=session)
    current = policy_of(row)
    Policy(name, tuple(levels or current.levels), current.repeat if repeat is None else repeat, ack_timeout)
    if levels is not None:
        _set_levels(row, levels, session=session)
    if repeat is not None:
        row.repeat = repeat
    if ack_timeout is not None:
        row.ack_timeout_seconds = _seconds(ack_timeout)
    session.flush()
    return row


def remove_policy(name: str, *, session: Session) -> None:
    row = get_policy(name, session=session)
    used = session.scalar(select(func.count()).where(EscalationRoute.policy_id == row.id))
    if used:
        raise Conflict(f"policy {name!r} is used by {used} route(s); remove them first (`watchkeeper oncall routes`)")
    session.delete(row)
    session.flush()


def list_policies(*, session: Session) -> list[EscalationPolicy]:
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def policy_of(row: EscalationPolicy) -> Policy:
    names = {u.id: u.name for u in _users_of(row)}
    levels = tuple(
        Level(
            tuple(names[u.user_id] for u in lv.users),
            lv.schedule,
            timedelta(seconds=lv.timeout_seconds),
        )
        for lv in row.levels
    )
    ack = row.ack_timeout_seconds
    return Policy(row.name, levels, row.repeat, None if ack is None else timedelta(seconds=ack))


def _users_of(row: EscalationPolicy) -> list[User]:
    session = object_session(row)
    ids = [u.user_id for lv in row.levels for u in lv.users]
    if session is None or not ids:
        return []
    return list(session.scalars(select(User).where(User.id.in_(ids))))


def policy_view(row: EscalationPolicy) -> dict[str, Any]:
    policy = policy_of(row)
    return {
        "name": policy.name,
        "repeat": policy.repeat,
        "ack_timeout": None if policy.ack_timeout is None else duration_text(policy.ack_timeout),
        "levels": [
            {"users": list(lv.users), "schedule": lv.schedule, "timeout": duration_text(lv.timeout)}
            for lv in policy.levels
        ],
    }


def _seconds(span: timedelta | None) -> int | None:
    return None if span is None else int(span.total_seconds())


# -- routes --------------------------------------------------------------------------------


def add_route(*, session: Session, now: datetime, policy: str, matchers: Sequence[str]) -> EscalationRoute:
    """A route after the others: routes are tried in the order they were added, the first match wins."""
    Route.parse(policy, matchers)
    row = get_policy(policy, session=session)
    last = session.scalar(select(func.max(EscalationRoute.position))) or 0
    route = EscalationRoute(position=last + 1, policy_id=row.id, matchers=list(matchers), created_at=now)
    session.add(route)
    session.flush()
    return route


def remove_route(route_id: int, *, session: Session) -> None:
    route = session.get(EscalationRoute, route_id)
    if route is None:
        raise NotFound(f"no route {route_id}; `watchkeeper oncall routes list` shows them")
    session.delete(route)
    session.flush()


def list_routes(*, session: Session) -> list[tuple[EscalationRoute, str]]:
    rows = session.execute(
        select(EscalationRoute, EscalationPolicy.name)
        .join(EscalationPolicy, EscalationPolicy.id == EscalationRoute.policy_id)
        .order_by(EscalationRoute.position)
    )
    return [(route, name) for route, name in rows]


def routes(*, session: Session) -> list[Route]:
    return [Route.parse(name, route.matchers) for route, name in list_routes(session=session)]


def route_view(route: EscalationRoute, policy: str) -> dict[str, Any]:
    return {"id": route.id, "position": route.position, "policy": policy, "matchers": list(route.matchers)}


# -- personal notification rules -----------------------------------------------------------


def check_rule_channel(channel: str) -> str:
    channel = channel.strip()
    if wakes(channel):
        number = channel[len(VOICE) :]
        if not number or not number.replace("+", "", 1).replace("@", "").replace(".", "").isalnum():
            raise Invalid(f"{channel!r} is not a voice channel; write it like sip:+4930123456 or sip:alice@pbx")
        return channel
    try:
        return check_channel(channel)
    except ValueError as exc:
        raise Invalid(f"{exc} (or sip:NUMBER for a voice call)") from exc


def add_rule(
    name: str, *, session: Session, now: datetime, urgency: Urgency, channel: str, delay: timedelta
) -> NotificationRule:
    if delay < timedelta(0) or delay > timedelta(hours=24):
        raise Invalid(f"--after {duration_text(delay)}: a rule waits 0 to 24 hours after its level is paged")
    user = get_user(name, session=session)
    rule = NotificationRule(
        user_id=user.id,
        urgency=urgency,
        channel=check_rule_channel(channel),
        delay_seconds=int(delay.total_seconds()),
        created_at=now,
    )
    session.add(rule)
    session.flush()
    return rule


def list_rules(name: str, *, session: Session) -> list[NotificationRule]:
    user = get_user(name, session=session)
    return list(
        session.scalars(
            select(NotificationRule)
            .where(NotificationRule.user_id == user.id)
            .order_by(NotificationRule.urgency, NotificationRule.delay_seconds, NotificationRule.id)
        )
    )


def remove_rule(name: str, rule_id: int, *, session: Session) -> None:
    user = get_user(name, session=session)
    rule = session.get(NotificationRule, rule_id)
    if rule is None or rule.user_id != user.id:
        raise NotFound(f"{name} has no rule {rule_id}; `watchkeeper oncall rules list {name}` shows them")
    session.delete(rule)
    session.flush()


def rules_of(user: User, urgency: Urgency, *, session: Session) -> list[Rule]:
    """`user`'s rules for `urgency`; with none, their channels, at once."""
    rows = session.scalars(
        select(NotificationRule).where(NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
    )
    rules = [Rule(r.channel, timedelta(seconds=r.delay_seconds), f"rule{r.id}") for r in rows]
    return rules or [Rule(str(c), timedelta(0), f"channel{i}") for i, c in enumerate(user.channels)]


def rule_view(rule: NotificationRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "urgency": str(rule.urgency),
        "channel": shown(rule.channel),
        "after": duration_text(timedelta(seconds=rule.delay_seconds)),
    }
