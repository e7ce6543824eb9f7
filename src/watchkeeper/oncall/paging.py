"""Running escalations: starting one on a snapshot, each step when due, stopping on acknowledgement. Never commits.

Every step is a row of `escalation_steps`, claimed by one worker
(watchkeeper.due) and run in the claim's transaction: it resolves its level's
targets then (the users named, and whoever is on call for its schedule at
that moment), writes each person's notification rules for the urgency as
outbox rows keyed (incident, level, pass, user, rule), so each is written
once whoever runs it, and writes the next step. A rule with a delay is an
outbox row due later. An acknowledgement cancels the pending steps and the
pages not sent yet; a resolution ends the escalation. Rows are stored, so a
restarted worker goes on where the last one stopped.

Schedules and voice calls are other modules' business; they come in through
two small interfaces, `OnCallLookup` and `Dialer`, given in `Paging`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper import due
from watchkeeper.alerts.models import Alert
from watchkeeper.auth.models import User
from watchkeeper.auth.users import find_user
from watchkeeper.db import server_key, transaction
from watchkeeper.finding import Urgency
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentOpened,
    IncidentResolved,
    IncidentUrgencyRaised,
)
from watchkeeper.incidents.lifecycle import Action, Entry, Status
from watchkeeper.incidents.models import Incident
from watchkeeper.notify import outbox
from watchkeeper.notify.models import Notification
from watchkeeper.oncall.escalation import (
    VOICE,
    Policy,
    Rule,
    Step,
    choose,
    duration_text,
    next_step,
    rules_for,
    shown,
)
from watchkeeper.oncall.policies import (
    Escalation,
    EscalationStatus,
    EscalationStep,
    StepStatus,
    get_policy,
    policy_of,
    routes,
    rules_of,
)
from watchkeeper.support.links import InvalidLink, sign_parts, verify_parts

OnCallLookup = Callable[[Session, str | int, datetime], Sequence[User]]
PAGE = "page"  # the start of a page's notification reason: page:L<level>:P<pass>:<rule>
ACK_PURPOSE = "ack"
ACK_LINK_LIFE = timedelta(days=7)


class NoSchedules(LookupError):
    pass


def no_schedules(session: Session, schedule: str | int, at: datetime) -> Sequence[User]:
    raise NoSchedules(
        f"no schedules: a level pages whoever is on call for {schedule!r}, and no on-call schedules are set up"
    )


class CallOutcome(Protocol):
    @property
    def acknowledged(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Dialer(Protocol):
    async def place_call(self, to: str, text: str) -> CallOutcome:
        """Call `to` (what follows `sip:`) and say `text`; acknowledged if the callee pressed the key."""
        ...


class NoDialer:
    async def place_call(self, to: str, text: str) -> CallOutcome:
        raise outbox.SendError("no voice channel is set up: a sip: rule cannot call")


@dataclass(frozen=True)
class Paging:
    """What escalations run with: the on-call lookup, the dialer, and where ack links point."""

    on_call: OnCallLookup = no_schedules
    dialer: Dialer = field(default_factory=NoDialer)
    public_url: str = "http://127.0.0.1:8080"


def _note(incident: Incident, text: str, *, session: Session, now: datetime, **data: Any) -> None:
    incidents.add_entry(incident, Entry.NOTIFICATION, text, session=session, at=now, escalation=True, **data)


# -- starting ------------------------------------------------------------------------------


def labels_of(incident: Incident, *, session: Session) -> dict[str, str]:
    """What routes match: the incident's alerts' labels, its group's, and service, customer, severity, urgency."""
    labels: dict[str, str] = {}
    for alert in session.scalars(select(Alert).where(Alert.incident_id == incident.id).order_by(Alert.id)):
        labels.update({k: v for k, v in alert.match_labels().items() if k not in labels})
    labels.update({str(k): str(v) for k, v in (incident.group_labels or {}).items()})
    for key, value in (
        ("service", incident.service),
        ("customer", incident.customer),
        ("severity", incident.severity),
        ("urgency", incident.urgency),
    ):
        if value is not None:
            labels[key] = str(value)
    return labels


def incident_opened(event: IncidentOpened, session: Session) -> None:
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        start(incident, session=session, now=event.at)


def start(incident: Incident, *, session: Session, now: datetime) -> Escalation | None:
    """The incident's escalation, on a snapshot of the policy its routes pick; None if no route takes it."""
    existing = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))
    if existing is not None:
        return existing
    known = routes(session=session)
    name = choose(known, labels_of(incident, session=session))
    if name is None:
        if known:  # with no route at all, paging is simply not set up: nothing to say on every incident
            _note(incident, "no escalation policy routes this incident: nobody is paged", session=session, now=now)
        return None
    row = get_policy(name, session=session)
    policy = policy_of(row)
    acked = incident.status != Status.TRIGGERED
    escalation = Escalation(
        incident_id=incident.id,
        policy_id=row.id,
        snapshot=policy.snapshot(),
        urgency=incident.urgency,
        status=EscalationStatus.ACKNOWLEDGED if acked else EscalationStatus.ACTIVE,
        first_pass=0,
        last_pass=0,
        started_at=now,
        ack_due_at=now + policy.ack_timeout if acked and policy.ack_timeout else None,
    )
    session.add(escalation)
    session.flush()
    _note(incident, f"escalation policy {name} ({incident.urgency} urgency)", session=session, now=now, policy=name)
    if not acked:
        _add_step(escalation, Step(0, 0), now, session=session)
    return escalation


def _add_step(escalation: Escalation, step: Step, at: datetime, *, session: Session) -> None:
    row = EscalationStep(
        escalation_id=escalation.id,
        incident_id=escalation.incident_id,
        level=step.level,
        repeat=step.repeat,
        status=StepStatus.PENDING,
        due_at=at,
        planned_at=at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass  # written already (the key is unique): one is enough
    escalation.last_pass = max(escalation.last_pass, step.repeat)


# -- running steps -------------------------------------------------------------------------


def claim_due(*, session: Session, now: datetime, limit: int) -> list[EscalationStep]:
    return due.claim(
        session,
        EscalationStep,
        due=EscalationStep.due_at,
        now=now,
        limit=limit,
        where=[EscalationStep.status == StepStatus.PENDING],
    )


def run(steps: Sequence[EscalationStep], *, session: Session, now: datetime, paging: Paging) -> None:
    for step in steps:
        escalation = session.get(Escalation, step.escalation_id)
        incident = session.get(Incident, step.incident_id)
        step.due_at, step.ran_at = None, now
        if escalation is None or incident is None or escalation.status != EscalationStatus.ACTIVE:
            step.status = StepStatus.CANCELLED
            continue
        if incident.status != Status.TRIGGERED:
            step.status = StepStatus.CANCELLED
            continue
        step.status = StepStatus.DONE
        _page(escalation, incident, step, session=session, now=now, paging=paging)


def _page(
    escalation: Escalation, incident: Incident, step: EscalationStep, *, session: Session, now: datetime, paging: Paging
) -> None:
    policy = Policy.from_snapshot(escalation.snapshot)
    level = policy.levels[step.level]
    urgency = Urgency(escalation.urgency)
    users, problems = _targets(policy, step.level, session=session, now=now, paging=paging)
    said = []
    for user in users:
        rules = rules_for(rules_of(user, urgency, session=session), urgency)
        for rule in rules:
            _write(incident, step, user, rule, urgency, session=session, now=now, paging=paging)
        ways = ", ".join(f"{shown(r.channel)} {_when(r.delay)}" for r in rules) or f"no {urgency} channel"
        said.append(f"{user.name} ({ways})")
    where = f"level {step.level + 1} of {policy.name}, pass {step.repeat - escalation.first_pass + 1}"
    text = f"{where}: paging {'; '.join(said) or 'nobody'}" + "".join(f"; {p}" for p in problems)
    nxt = next_step(policy, Step(step.level, step.repeat), urgency=urgency, first_pass=escalation.first_pass)
    if nxt is not None:
        _add_step(escalation, nxt, now + level.timeout, session=session)
        text += f"; level {nxt.level + 1} at {now + level.timeout:%H:%M} UTC unless acknowledged"
    elif urgency is Urgency.LOW:
        text += "; low urgency: no further levels"
    else:
        text += "; the policy's last step"
    _note(incident, text, session=session, now=now, level=step.level, repeat=step.repeat, users=[u.name for u in users])


def _targets(
    policy: Policy, index: int, *, session: Session, now: datetime, paging: Paging
) -> tuple[list[User], list[str]]:
    level = policy.levels[index]
    users: dict[int, User] = {}
    problems: list[str] = []
    for name in level.users:
        user = find_user(name, session=session)
        if user is None:
            problems.append(f"no user {name} any more")
        else:
            users.setdefault(user.id, user)
    if level.schedule is not None:
        try:
            on_call = list(paging.on_call(session, level.schedule, now))
        except LookupError as exc:
            problems.append(str(exc))
        else:
            if not on_call:
                problems.append(f"nobody is on call for {level.schedule}")
            for user in on_call:
                users.setdefault(user.id, user)
    return list(users.values()), problems


def _write(
    incident: Incident,
    step: EscalationStep,
    user: User,
    rule: Rule,
    urgency: Urgency,
    *,
    session: Session,
    now: datetime,
    paging: Paging,
) -> None:
    link = ack_link(incident.id, user.name, step.repeat, session=session, now=now, base_url=paging.public_url)
    title = f"[{urgency}] incident {incident.id}: {incident.title}"
    body = (
        f"Paged: level {step.level + 1}, pass {step.repeat + 1}\n{incident.title}\n"
        f"service: {incident.service or '-'}  customer: {incident.customer or '-'}  "
        f"severity: {incident.severity}\n\nAcknowledge: {link}\n"
        f"or: watchkeeper incidents ack {incident.id}"
    )
    outbox.enqueue(
        session=session,
        now=now,
        subject="incident",
        subject_id=incident.id,
        reason=f"{PAGE}:L{step.level}:P{step.repeat}:{rule.key}",
        recipient=user.name,
        url=rule.channel,
        title=title,
        body=body,
        due_at=now + rule.delay,
    )


def _when(delay: timedelta) -> str:
    return "at once" if not delay else f"after {duration_text(delay)}"


# -- acknowledgement, resolution, urgency ----------------------------------------------------


def _escalation(incident_id: int, *, session: Session) -> Escalation | None:
    return session.scalar(select(Escalation).where(Escalation.incident_id == incident_id))


def _cancel(escalation: Escalation, *, session: Session) -> tuple[int, int]:
    """Cancel the pending steps and the pages not sent yet; how many of each."""
    steps = list(
        session.scalars(
            select(EscalationStep).where(
                EscalationStep.escalation_id == escalation.id, EscalationStep.status == StepStatus.PENDING
            )
        )
    )
    for step in steps:
        step.status, step.due_at = StepStatus.CANCELLED, None
    # Only those still pending: a page being sent (claimed) goes; its row says so.
    pages = session.execute(
        delete(Notification).where(
            Notification.subject == "incident",
            Notification.subject_id == escalation.incident_id,
            Notification.key.like(f"incident:{escalation.incident_id}:{PAGE}:%"),
            Notification.status == outbox.Status.PENDING,
        )
    )
    return len(steps), int(getattr(pages, "rowcount", 0) or 0)


def acknowledged(event: IncidentAcknowledged, session: Session) -> None:
    escalation = _escalation(event.incident_id, session=session)
    incident = session.get(Incident, event.incident_id)
    if escalation is None or incident is None or escalation.status == EscalationStatus.ENDED:
        return
    steps, pages = _cancel(escalation, session=session)
    policy = Policy.from_snapshot(escalation.snapshot)
    escalation.status = EscalationStatus.ACKNOWLEDGED
    escalation.ack_due_at = event.at + policy.ack_timeout if policy.ack_timeout else None
    text = f"escalation stopped: acknowledged by {event.actor}; {steps} step(s) and {pages} page(s) not sent cancelled"
    if escalation.ack_due_at is not None:
        text += f"; paged again at {escalation.ack_due_at:%Y-%m-%d %H:%M} UTC if not resolved by then"
    _note(incident, text, session=session, now=event.at)


def ended(event: IncidentResolved | IncidentClosed, session: Session) -> None:
    escalation = _escalation(event.incident_id, session=session)
    incident = session.get(Incident, event.incident_id)
    if escalation is None or incident is None or escalation.status == EscalationStatus.ENDED:
        return
    steps, pages = _cancel(escalation, session=session)
    escalation.status, escalation.ended_at, escalation.ack_due_at = EscalationStatus.ENDED, event.at, None
    if steps or pages:
        text = f"escalation ended: {incident.status} by {event.actor}; {steps} step(s), {pages} page(s) cancelled"
        _note(incident, text, session=session, now=event.at)


def urgency_raised(event: IncidentUrgencyRaised, session: Session) -> None:
    """A low-urgency escalation starts again as high, from its first level."""
    escalation = _escalation(event.incident_id, session=session)
    incident = session.get(Incident, event.incident_id)
    if escalation is None or incident is None or escalation.urgency == Urgency.HIGH:
        return
    escalation.urgency = Urgency.HIGH
    if escalation.status != EscalationStatus.ACTIVE:
        return
    _restart(escalation, incident, "urgency raised to high", session=session, now=event.at)


def _restart(escalation: Escalation, incident: Incident, why: str, *, session: Session, now: datetime) -> None:
    _cancel(escalation, session=session)
    escalation.status, escalation.ack_due_at = EscalationStatus.ACTIVE, None
    escalation.first_pass = escalation.last_pass + 1
    _add_step(escalation, Step(0, escalation.first_pass), now, session=session)
    _note(incident, f"escalation starts again from level 1 ({escalation.urgency}): {why}", session=session, now=now)


def claim_ack_due(*, session: Session, now: datetime, limit: int) -> list[Escalation]:
    return due.claim(
        session,
        Escalation,
        due=Escalation.ack_due_at,
        now=now,
        limit=limit,
        where=[Escalation.status == EscalationStatus.ACKNOWLEDGED],
    )


def ack_timed_out(claimed: Sequence[Escalation], *, session: Session, now: datetime) -> None:
    """Acknowledged, not resolved in the policy's time: triggered and paged again from level 1."""
    for escalation in claimed:
        escalation.ack_due_at = None
        incident = session.get(Incident, escalation.incident_id)
        if incident is None:
            continue
        span = Policy.from_snapshot(escalation.snapshot).ack_timeout or timedelta(0)
        why = f"acknowledged {duration_text(span)} ago and not resolved"
        if incidents.trigger_again(incident, why, session=session, now=now):
            _restart(escalation, incident, why, session=session, now=now)


# -- acknowledge links and calls ------------------------------------------------------------


def _secret(session: Session) -> bytes:
    return server_key(session).derive("ack-links")


def ack_link(incident_id: int, user: str, repeat: int, *, session: Session, now: datetime, base_url: str) -> str:
    token = sign_parts(_secret(session), ACK_PURPOSE, (str(incident_id), user, str(repeat)), now + ACK_LINK_LIFE)
    return f"{base_url.rstrip('/')}/ack/{token}"


@dataclass(frozen=True)
class AckLink:
    incident: Incident
    user: str
    current: bool  # the page it came with is the escalation's current one, and the incident is triggered


def read_ack_link(token: str, *, session: Session, now: datetime) -> AckLink:
    """What a link would acknowledge, or InvalidLink: forged, expired, or its incident or user gone."""
    incident_id, user, repeat = verify_parts(_secret(session), ACK_PURPOSE, token, now, 3)
    incident = session.get(Incident, int(incident_id))
    escalation = _escalation(int(incident_id), session=session)
    if incident is None or escalation is None or find_user(user, session=session) is None:
        raise InvalidLink()
    current = int(repeat) >= escalation.first_pass and incident.status == Status.TRIGGERED
    return AckLink(incident, user, current)


def use_ack_link(token: str, *, session: Session, now: datetime) -> AckLink:
    """Acknowledge as the link's user, once: a used link (or one of a page since superseded) does nothing."""
    link = read_ack_link(token, session=session, now=now)
    if link.current:
        incidents.act(
            link.incident.id,
            Action.ACKNOWLEDGE,
            actor=link.user,
            session=session,
            now=now,
            note="by the link in a page",
        )
    return link


def is_call(claimed: outbox.Claimed) -> bool:
    return claimed[1].lower().startswith(VOICE)


def call(
    claimed: Sequence[outbox.Claimed],
    sessions: sessionmaker[Session],
    *,
    dialer: Dialer,
    now: Callable[[], datetime],
) -> None:
    """Place claimed voice pages, outside any transaction; a call acknowledged by DTMF acknowledges the incident."""
    for row_id, url, title, _body in claimed:
        error, acked, reason = None, False, ""
        try:
            outcome = asyncio.run(dialer.place_call(url[len(VOICE) :], title))
            acked, reason = outcome.acknowledged, outcome.reason
        except Exception as exc:  # a failing call must not stop the others
            error = str(exc) if isinstance(exc, outbox.SendError) else f"{type(exc).__name__}: {exc}"
        with transaction(sessions) as session:
            _called(row_id, url, error, acked, reason, session=session, now=now())


def _called(
    row_id: int, url: str, error: str | None, acked: bool, reason: str, *, session: Session, now: datetime
) -> None:
    row = session.get(Notification, row_id)
    if row is None:
        return
    outbox.record(row, error, now)
    incident = session.get(Incident, row.subject_id)
    if incident is None:
        return
    if error is not None:
        text = f"could not call {row.recipient} at {url} (attempt {row.attempts}): {error}"
    else:
        text = f"called {row.recipient} at {url}: " + (
            "acknowledged by phone" + (f" ({reason})" if reason else "") if acked else f"not acknowledged ({reason})"
        )
    incidents.add_entry(
        incident,
        Entry.NOTIFICATION,
        text,
        session=session,
        at=now,
        notification_id=row.id,
        status=row.status,
        acknowledged=acked,
    )
    if acked and incident.status == Status.TRIGGERED:
        incidents.act(
            incident.id,
            Action.ACKNOWLEDGE,
            actor=row.recipient,
            session=session,
            now=now,
            note="by DTMF on a voice page",
        )


# -- what `incidents show` says ------------------------------------------------------------


def paging_view(incident_id: int, *, session: Session) -> dict[str, Any] | None:
    """Who is being paged now (the pages of the escalation's last step, with their state), and what comes next."""
    escalation = _escalation(incident_id, session=session)
    if escalation is None:
        return None
    policy = Policy.from_snapshot(escalation.snapshot)
    done = session.scalar(
        select(EscalationStep)
        .where(EscalationStep.escalation_id == escalation.id, EscalationStep.status == StepStatus.DONE)
        .order_by(EscalationStep.ran_at.desc(), EscalationStep.id.desc())
        .limit(1)
    )
    paged = []
    if done is not None:
        prefix = f"incident:{incident_id}:{PAGE}:L{done.level}:P{done.repeat}:"
        rows = session.scalars(
            select(Notification).where(Notification.key.like(f"{prefix}%")).order_by(Notification.id)
        )
        paged = [
            {
                "user": n.recipient,
                "channel": shown(n.url),
                "status": str(n.status),
                "at": (n.sent_at or n.due_at or n.created_at).isoformat(),
            }
            for n in rows
        ]
    pending = session.scalar(
        select(EscalationStep)
        .where(EscalationStep.escalation_id == escalation.id, EscalationStep.status == StepStatus.PENDING)
        .order_by(EscalationStep.due_at)
        .limit(1)
    )
    return {
        "policy": policy.name,
        "status": str(escalation.status),
        "urgency": str(escalation.urgency),
        "level": None if done is None else done.level + 1,
        "paged": paged,
        "next": _next_view(escalation, policy, pending),
    }


def _next_view(escalation: Escalation, policy: Policy, pending: EscalationStep | None) -> dict[str, Any] | None:
    if pending is not None and pending.due_at is not None:
        level = policy.levels[pending.level]
        return {"at": pending.planned_at.isoformat(), "what": f"level {pending.level + 1}: {level.describe()}"}
    if escalation.ack_due_at is not None:
        return {"at": escalation.ack_due_at.isoformat(), "what": "paged again from level 1 unless resolved"}
    return None
