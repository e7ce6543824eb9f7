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
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper import due
from watchkeeper.alerts.models import Alert
from watchkeeper.auth.models import User
from watchkeeper.auth.users import find_user
from watchkeeper.db import in_transaction, server_key
from watchkeeper.errors import Conflict
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
CALLS = 10  # voice pages ringing at once (WATCHKEEPER_VOICE_CALLS)
_PAGE_KEY = re.compile(rf":{PAGE}:L(\d+):P(\d+):")


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
    def escalated(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Dialer(Protocol):
    async def place_call(self, to: str, text: str) -> CallOutcome:
        """Call `to` (what follows `sip:`) and say `text`; acknowledged or escalated by the key the callee pressed."""
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


# -- escalating now ------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalated:
    """What asking to escalate came to: the timeline's words, and the level (from 1) paged now, if any.
    `text` is None when the ask changed nothing: the step it would hurry is due or done already."""

    text: str | None
    level: int | None


def escalate_now(
    incident_id: int, *, session: Session, now: datetime, actor: str, how: str = "", after: Step | None = None
) -> Escalated:
    """Page the escalation's next level now instead of after its timeout (after the last level, the
    next pass's first): its pending step is made due now by a compare-and-swap, so two asks at
    once move it once. With `after` (the step a page came with), only the step after that one is
    hurried, so the same page answered twice (a call placed again) escalates once.

    NotFound for no incident; Conflict when nothing escalates it (no policy took it, or it is
    acknowledged or resolved)."""
    incident = incidents.get(incident_id, session=session)
    escalation = _escalation(incident_id, session=session)
    refused = not_escalating(incident, escalation)
    if refused is not None or escalation is None:
        raise Conflict(refused)
    policy = Policy.from_snapshot(escalation.snapshot)
    urgency = Urgency(escalation.urgency)
    by = f"escalated {how + ' ' if how else ''}by {actor}"
    if after is not None and after.repeat < escalation.first_pass:
        return Escalated(None, None)  # a page of a pass since started again: its answer is out of date
    wanted = None if after is None else next_step(policy, after, urgency=urgency, first_pass=escalation.first_pass)
    step = None if after is not None and wanted is None else _pending_step(escalation, wanted, session=session)
    if step is None:
        if wanted is not None:
            return Escalated(None, None)  # the step after the page's ran already
        why = "low urgency pages one level only" if urgency is Urgency.LOW else f"{policy.name} has no level left"
        text = f"{by}: {why}, nobody more is paged"
        _note(incident, text, session=session, now=now, actor=actor)
        return Escalated(text, None)
    planned = step.planned_at
    if not _due_now(step, now, session=session):
        return Escalated(None, step.level + 1)
    where = f"level {step.level + 1} of {policy.name}" + (
        f", pass {step.repeat - escalation.first_pass + 1}" if step.repeat != escalation.first_pass else ""
    )
    text = f"{by}: {where} paged now instead of at {planned:%H:%M} UTC"
    _note(incident, text, session=session, now=now, actor=actor)
    return Escalated(text, step.level + 1)


def not_escalating(incident: Incident, escalation: Escalation | None) -> str | None:
    """Why asking to escalate `incident` does nothing, or None if its escalation is paging."""
    if escalation is None:
        return f"incident {incident.id} has no escalation: no policy routes it, so nobody is paged"
    if incident.status != Status.TRIGGERED or escalation.status != EscalationStatus.ACTIVE:
        return f"incident {incident.id} is {incident.status}: its escalation is not paging, nothing to hurry"
    return None


def escalated_text(incident_id: int, done: Escalated) -> str:
    """What a face answers an ask to escalate: the timeline's words, or why nothing changed."""
    if done.text is not None:
        return f"incident {incident_id} {done.text}"
    due = f"level {done.level} is due now already" if done.level is not None else "nothing left to hurry"
    return f"incident {incident_id}: {due}; nothing changed"


def _pending_step(escalation: Escalation, wanted: Step | None, *, session: Session) -> EscalationStep | None:
    """The step `wanted` if it is still pending; with none wanted, the escalation's next pending step."""
    query = select(EscalationStep).where(
        EscalationStep.escalation_id == escalation.id, EscalationStep.status == StepStatus.PENDING
    )
    if wanted is not None:
        query = query.where(EscalationStep.level == wanted.level, EscalationStep.repeat == wanted.repeat)
    return session.scalar(query.order_by(EscalationStep.due_at, EscalationStep.id).limit(1))


def _due_now(step: EscalationStep, now: datetime, *, session: Session) -> bool:
    """Move `step` to `now` if it is still pending and due later; False if another writer, or the
    escalation job, moved or ran it first."""
    moved = session.execute(
        update(EscalationStep)
        .where(EscalationStep.id == step.id, EscalationStep.status == StepStatus.PENDING, EscalationStep.due_at > now)
        .values(due_at=now, planned_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(step, ["due_at", "planned_at", "status"])
    return int(getattr(moved, "rowcount", 0) or 0) == 1


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
    limit: int = CALLS,
) -> None:
    """Place claimed voice pages together, at most `limit` ringing at once, outside any transaction;
    each outcome is stored in a transaction of its own as its call ends. A call answered with 1
    acknowledges the incident, one answered with 2 escalates it now."""
    if not claimed:
        return
    stored = asyncio.run(_call_all(claimed, sessions, dialer=dialer, now=now, limit=limit))
    failed = [result for result in stored if isinstance(result, BaseException)]
    if failed:
        raise failed[0]  # the others' outcomes are stored; the scheduler logs this one


async def _call_all(
    claimed: Sequence[outbox.Claimed],
    sessions: sessionmaker[Session],
    *,
    dialer: Dialer,
    now: Callable[[], datetime],
    limit: int,
) -> list[object]:
    ringing = asyncio.Semaphore(limit)

    async def one(row_id: int, url: str, title: str) -> None:
        async with ringing:
            result = await _place(dialer, url, title)
        # In a thread: a write waiting on the database must not hold up the audio of the calls still on.
        await asyncio.to_thread(in_transaction, sessions, lambda s: _called(row_id, url, result, session=s, now=now()))

    return await asyncio.gather(*(one(row_id, url, title) for row_id, url, title, _ in claimed), return_exceptions=True)


@dataclass(frozen=True)
class _Result:
    error: str | None = None
    acknowledged: bool = False
    escalated: bool = False
    reason: str = ""


async def _place(dialer: Dialer, url: str, title: str) -> _Result:
    try:
        outcome = await dialer.place_call(url[len(VOICE) :], title)
    except Exception as exc:  # a failing call must not stop the others
        return _Result(error=str(exc) if isinstance(exc, outbox.SendError) else f"{type(exc).__name__}: {exc}")
    return _Result(None, outcome.acknowledged, outcome.escalated, outcome.reason)


def _page_step(key: str) -> Step | None:
    """The step a page was written by, from its key (incident:ID:page:L<level>:P<pass>:...)."""
    found = _PAGE_KEY.search(key)
    return None if found is None else Step(int(found.group(1)), int(found.group(2)))


def _called(row_id: int, url: str, result: _Result, *, session: Session, now: datetime) -> None:
    row = session.get(Notification, row_id)
    if row is None:
        return
    outbox.record(row, result.error, now)
    incident = session.get(Incident, row.subject_id)
    if incident is None:
        return
    said = f" ({result.reason})" if result.reason else ""
    if result.error is not None:
        text = f"could not call {row.recipient} at {url} (attempt {row.attempts}): {result.error}"
    elif result.acknowledged:
        text = f"called {row.recipient} at {url}: acknowledged by phone{said}"
    elif result.escalated:
        refused = not_escalating(incident, _escalation(incident.id, session=session))
        text = f"called {row.recipient} at {url}: escalated by phone{said}" + (f"; {refused}" if refused else "")
    else:
        text = f"called {row.recipient} at {url}: not acknowledged{said}"
    incidents.add_entry(
        incident,
        Entry.NOTIFICATION,
        text,
        session=session,
        at=now,
        notification_id=row.id,
        status=row.status,
        acknowledged=result.acknowledged,
    )
    if result.acknowledged and incident.status == Status.TRIGGERED:
        incidents.act(
            incident.id,
            Action.ACKNOWLEDGE,
            actor=row.recipient,
            session=session,
            now=now,
            note="by DTMF on a voice page",
        )
    elif result.escalated and incident.status == Status.TRIGGERED:
        how, after = f"by phone{said}", _page_step(row.key)
        with suppress(Conflict):  # said on the call's line above
            escalate_now(incident.id, session=session, now=now, actor=row.recipient, how=how, after=after)


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
        # By the incident's own notifications (indexed), then the step's: a LIKE alone reads them all.
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.subject == "incident",
                Notification.subject_id == incident_id,
                Notification.key.like(f"{prefix}%"),
            )
            .order_by(Notification.id)
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


def paged_now(incident_ids: Sequence[int], *, session: Session) -> dict[int, dict[str, Any]]:
    """For a list of incidents (the desk's Now), each one's escalation status and who its last step
    paged, with each page's state: `paging_view`'s first part, in three queries for them all."""
    if not incident_ids:
        return {}
    escalations = {
        e.id: e for e in session.scalars(select(Escalation).where(Escalation.incident_id.in_(list(incident_ids))))
    }
    last: dict[int, EscalationStep] = {}
    steps = session.scalars(
        select(EscalationStep)
        .where(EscalationStep.escalation_id.in_(list(escalations)), EscalationStep.status == StepStatus.DONE)
        .order_by(EscalationStep.ran_at, EscalationStep.id)
    )
    for step in steps:
        last[step.escalation_id] = step
    pages = session.execute(
        select(Notification.subject_id, Notification.key, Notification.recipient, Notification.status)
        .where(Notification.subject == "incident", Notification.subject_id.in_(list(incident_ids)))
        .order_by(Notification.id)
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for escalation in escalations.values():
        done = last.get(escalation.id)
        prefix = None if done is None else f"incident:{escalation.incident_id}:{PAGE}:L{done.level}:P{done.repeat}:"
        paged = [
            {"user": recipient, "status": str(status)}
            for subject_id, key, recipient, status in pages
            if prefix is not None and subject_id == escalation.incident_id and key.startswith(prefix)
        ]
        out[escalation.incident_id] = {"status": str(escalation.status), "paged": paged}
    return out
