"""Opening, joining, moving and reading incidents. Services never commit: the caller owns the transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.models import Alert
from watchkeeper.bus import publish
from watchkeeper.db import get_existing
from watchkeeper.finding import Severity, State, Urgency
from watchkeeper.incidents.events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentOpened,
    IncidentResolved,
    IncidentUrgencyRaised,
)
from watchkeeper.incidents.lifecycle import OPEN, Action, Entry, Status, Timings, next_status, timings
from watchkeeper.incidents.models import Incident, TimelineEntry

SYSTEM = "watchkeeper"
_SEVERITY_RANK = {s: i for i, s in enumerate((Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL))}


def add_entry(
    incident: Incident,
    kind: Entry,
    message: str,
    *,
    session: Session,
    at: datetime,
    actor: str = SYSTEM,
    alert: Alert | None = None,
    **data: Any,
) -> TimelineEntry:
    entry = TimelineEntry(
        incident_id=incident.id,
        at=at,
        kind=kind,
        actor=actor,
        message=message[:4000],
        alert_id=alert.id if alert else None,
        data=data,
    )
    session.add(entry)
    return entry


def open_incident(alert: Alert, *, session: Session, now: datetime, was_muted: str | None = None) -> Incident:
    """Open the incident for `alert`'s group, with every alert of the group waiting to join."""
    # The customer is the service's (set by the desk on IncidentOpened), never a `customer` label from a sender.
    incident = Incident(
        title=alert.summary[:500],
        status=Status.TRIGGERED,
        urgency=alert.urgency,
        severity=alert.severity,
        service=alert.service,
        customer=None,
        group_key=alert.group_key,
        open_key=alert.group_key,
        group_labels=_group_labels(alert.group_key),
        created_at=now,
    )
    session.add(incident)
    session.flush()
    add_entry(
        incident,
        Entry.OPENED,
        f"opened for {alert.group_key or 'ungrouped alerts'}: {alert.summary}",
        session=session,
        at=now,
        alert=alert,
    )
    join(incident, alert, session=session, now=now, was_muted=was_muted)
    publish(session, IncidentOpened(incident.id, incident.service, now))
    waiting = session.scalars(
        select(Alert)
        .where(
            Alert.group_key == alert.group_key,
            Alert.status == State.FIRING,
            Alert.incident_id.is_(None),
            Alert.muted.is_(None),
            Alert.id != alert.id,
            Alert.resolve_held_at.is_(None),
        )
        .order_by(Alert.id)
    )
    for other in waiting:
        join(incident, other, session=session, now=now, was_muted=other.muted_reason)
        other.due_at = None
    return incident


# An acknowledge the sender sent while its alert waited to be grouped (details key).
PENDING_ACK = "acknowledged_while_waiting"


def _acknowledged_while_waiting(incident: Incident, alert: Alert, *, session: Session, now: datetime) -> None:
    """Acknowledge the incident an alert joins if its sender acknowledged the
    alert during the group wait (a PagerDuty acknowledge a second after the
    trigger), so that it opens, or goes on, acknowledged."""
    pending = (alert.details or {}).get(PENDING_ACK)
    if not isinstance(pending, dict) or incident.status != Status.TRIGGERED:
        return
    _move(
        incident,
        Action.ACKNOWLEDGE,
        actor=str(pending.get("by", "sender")),
        session=session,
        now=now,
        note=f"acknowledge event for alert {alert.id}, sent at {pending.get('at')} before the incident opened",
    )


def acknowledge_alert(dedup_key: str, *, actor: str, session: Session, now: datetime) -> bool:
    """A sender's acknowledge: the alert's open incident is acknowledged. False if nothing to acknowledge.

    An alert still in its group wait has no incident yet: the acknowledge is
    kept on the alert, and its incident opens acknowledged (`open_incident`).
    """
    alert = alerts.firing(session, dedup_key)
    if alert is None:
        return False
    if alert.incident_id is None:
        if alert.muted is not None:
            return False  # no incident will open for it while muted; a later one starts afresh
        alert.details = {**(alert.details or {}), PENDING_ACK: {"by": actor, "at": now.isoformat()}}
        return True
    incident = session.get(Incident, alert.incident_id)
    if incident is None or incident.status != Status.TRIGGERED:
        return False
    act(
        incident.id,
        Action.ACKNOWLEDGE,
        actor=actor,
        session=session,
        now=now,
        note=f"acknowledge event for alert {alert.id}",
    )
    return True


def _group_labels(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",") if "=" in part)


def join(incident: Incident, alert: Alert, *, session: Session, now: datetime, was_muted: str | None = None) -> None:
    alert.incident_id = incident.id
    alert.muted_reason = None
    message = f"alert {alert.id} ({alert.severity}, {alert.source}) joined: {alert.summary}"
    if was_muted:
        message += f"; raised now that it is no longer muted (it was {was_muted})"
    add_entry(
        incident,
        Entry.ALERT_JOINED,
        message,
        session=session,
        at=now,
        alert=alert,
        dedup_key=alert.dedup_key,
        started_at=alert.started_at.isoformat(),
        labels=alert.match_labels(),
        details=alert.details,
    )
    # Not while low only for being outside the customer's support hours: that rises when they begin.
    if alert.urgency == Urgency.HIGH and incident.urgency == Urgency.LOW and incident.raise_at is None:
        incident.urgency = Urgency.HIGH
        add_entry(
            incident,
            Entry.URGENCY_RAISED,
            f"urgency raised to high by alert {alert.id}",
            session=session,
            at=now,
            alert=alert,
        )
        publish(session, IncidentUrgencyRaised(incident.id, now))
    if _SEVERITY_RANK.get(Severity(alert.severity), 0) > _SEVERITY_RANK.get(Severity(incident.severity), 0):
        incident.severity = alert.severity
    _acknowledged_while_waiting(incident, alert, session=session, now=now)
    for child in session.scalars(
        select(Alert).where(Alert.muted == "inhibited", Alert.muted_ref == alert.id, Alert.status == State.FIRING)
    ):
        dependent_muted(alert, child, session=session, now=now)


def dependent_muted(parent: Alert, child: Alert, *, session: Session, now: datetime) -> None:
    """Say on the parent's incident which dependent alert it keeps quiet."""
    incident = session.get(Incident, parent.incident_id) if parent.incident_id else None
    if incident is not None:
        add_entry(
            incident,
            Entry.DEPENDENT_MUTED,
            f"muted dependent alert {child.id} ({child.service or child.labels.get('instance', '')}): "
            f"{child.summary}; {child.muted_reason}",
            session=session,
            at=now,
            alert=child,
        )


def alert_resolved(alert: Alert, *, session: Session, now: datetime, auto_resolve: bool) -> None:
    incident = session.get(Incident, alert.incident_id)
    if incident is None:
        return
    add_entry(
        incident,
        Entry.ALERT_RESOLVED,
        f"alert {alert.id} resolved: {alert.resolution}",
        session=session,
        at=now,
        alert=alert,
    )
    if incident.status not in OPEN:
        return
    session.flush()
    still = session.scalar(
        select(Alert.id).where(Alert.incident_id == incident.id, Alert.status == State.FIRING).limit(1)
    )
    if still is not None:
        return
    if auto_resolve:
        _move(incident, Action.RESOLVE, actor=SYSTEM, session=session, now=now, note="all its alerts resolved")
    else:
        add_entry(
            incident,
            Entry.ALL_RESOLVED,
            "all alerts resolved; resolve it by hand when satisfied",
            session=session,
            at=now,
        )


def alert_flapping(alert: Alert, *, session: Session, now: datetime, window: timedelta) -> None:
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if incident is not None:
        add_entry(
            incident,
            Entry.ALERT_FLAPPING,
            f"alert {alert.id} is flapping; held as one alert until it stays resolved for {window}",
            session=session,
            at=now,
            alert=alert,
        )


_DONE = {Action.ACKNOWLEDGE: Entry.ACKNOWLEDGED, Action.RESOLVE: Entry.RESOLVED, Action.CLOSE: Entry.CLOSED}
_EVENT = {Action.ACKNOWLEDGE: IncidentAcknowledged, Action.RESOLVE: IncidentResolved, Action.CLOSE: IncidentClosed}


def _move(
    incident: Incident, action: Action, *, actor: str, session: Session, now: datetime, note: str | None = None
) -> Incident:
    incident.status = next_status(Status(incident.status), action)
    if action is Action.ACKNOWLEDGE:
        incident.acknowledged_at, incident.acknowledged_by = now, actor
    elif action is Action.RESOLVE:
        incident.resolved_at, incident.resolved_by, incident.open_key = now, actor, None
    else:
        incident.closed_at, incident.closed_by = now, actor
    message = f"{_DONE[action]} by {actor}" + (f": {note}" if note else "")
    add_entry(incident, _DONE[action], message, session=session, at=now, actor=actor)
    publish(session, _EVENT[action](incident.id, actor, now))
    return incident


def trigger_again(incident: Incident, reason: str, *, session: Session, now: datetime) -> bool:
    """An acknowledged incident no one resolved in time is triggered again (an escalation
    policy's acknowledgement timeout), so the next acknowledgement counts. False if not acknowledged."""
    if incident.status != Status.ACKNOWLEDGED:
        return False
    incident.status, incident.acknowledged_at, incident.acknowledged_by = Status.TRIGGERED, None, None
    add_entry(incident, Entry.NOTE, f"triggered again: {reason}", session=session, at=now)
    return True


def _missing(incident_id: int) -> str:
    return f"no incident {incident_id}; `watchkeeper incidents list` shows them"


def get(incident_id: int, *, session: Session) -> Incident:
    return get_existing(session, Incident, incident_id, missing=_missing(incident_id))


def act(
    incident_id: int, action: Action, *, actor: str, session: Session, now: datetime, note: str | None = None
) -> Incident:
    """Acknowledge, resolve or close by hand. Raises LookupError or InvalidTransition."""
    return move(incident_id, action, actor=actor, session=session, now=now, note=note)[0]


def move(
    incident_id: int, action: Action, *, actor: str, session: Session, now: datetime, note: str | None = None
) -> tuple[Incident, list[Alert]]:
    """`act`, returning also the alerts that still fired and so left the incident.

    A person may resolve (or close) an incident whose alerts still fire: they
    may know better than the monitor. But an alert left in a resolved incident
    would fire unseen, so each leaves it, due at once: routing raises it again
    as a new incident (or the group's open one), or records it muted if a
    silence now covers it. `move_by_hand` routes them in the same
    transaction; otherwise the scheduler's next round does.
    """
    # Locked on PostgreSQL: two people resolving at once must not both move it.
    incident = get_existing(session, Incident, incident_id, missing=_missing(incident_id), lock=True)
    _move(incident, action, actor=actor, session=session, now=now, note=note)
    if action is Action.ACKNOWLEDGE:
        return incident, []
    return incident, _release_firing(incident, session=session, now=now)


def _release_firing(incident: Incident, *, session: Session, now: datetime) -> list[Alert]:
    released = list(
        session.scalars(
            select(Alert).where(Alert.incident_id == incident.id, Alert.status == State.FIRING).order_by(Alert.id)
        )
    )
    for alert in released:
        alert.incident_id = None
        if alert.resolve_held_at is None:
            alert.due_at = now
            message = f"alert {alert.id} still fires ({alert.summary}): it leaves this incident and is raised again"
        else:
            # Flapping, quiet now: its held resolve stays due; should it fire again, it is raised anew.
            message = (
                f"alert {alert.id} is flapping ({alert.summary}): it leaves this incident and is "
                "raised anew if it fires"
            )
        add_entry(incident, Entry.ALERT_RELEASED, message, session=session, at=now, alert=alert)
    return released


@dataclass(frozen=True)
class Moved:
    """An incident acknowledged, resolved or closed by hand, and the alerts that
    still fired: each raised again (its `incident_id`), muted (`muted_reason`),
    or, flapping, held until it fires again."""

    incident: Incident
    still_firing: list[Alert]


def move_by_hand(
    incident_id: int,
    action: Action,
    *,
    actor: str,
    session: Session,
    now: datetime,
    config: alerts.RoutingConfig = alerts.DEFAULT,
    note: str | None = None,
) -> Moved:
    """Acknowledge, resolve or close an incident, and route at once what still fires (see `move`)."""
    incident, released = move(incident_id, action, actor=actor, session=session, now=now, note=note)
    batch = alerts.Batch.for_groups(a.group_key for a in released)
    # They were raised once already: no group wait again.
    at_once = replace(config, group_wait=timedelta(0))
    for alert in released:
        alerts.settle(alert, session=session, now=now, config=at_once, batch=batch)
        carried_over(alert, incident, session=session, now=now)
    return Moved(incident, released)


def carried_over(alert: Alert, previous: Incident, *, session: Session, now: datetime) -> None:
    """Say on the incident an alert was raised again in why it is there."""
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if incident is None or incident.id == previous.id:
        return
    who = previous.closed_by if previous.status == Status.CLOSED else previous.resolved_by
    add_entry(
        incident,
        Entry.ALERT_CARRIED,
        f"alert {alert.id} still fired when incident {previous.id} was {previous.status} by {who}",
        session=session,
        at=now,
        alert=alert,
        previous_incident=previous.id,
    )


def add_note(incident_id: int, text: str, *, actor: str, session: Session, now: datetime) -> TimelineEntry:
    if not text.strip():
        raise ValueError("a note needs some text")
    return add_entry(get(incident_id, session=session), Entry.NOTE, text.strip(), session=session, at=now, actor=actor)


def list_incidents(
    *,
    session: Session,
    status: Status | None = None,
    service: str | None = None,
    customer: str | None = None,
    urgency: Urgency | None = None,
    limit: int = 100,
) -> list[Incident]:
    query = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit)
    for column, value in (
        (Incident.status, status),
        (Incident.service, service),
        (Incident.customer, customer),
        (Incident.urgency, urgency),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query))


def timeline(incident_id: int, *, session: Session) -> list[TimelineEntry]:
    return list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )


def alerts_of(incident_id: int, *, session: Session) -> list[Alert]:
    """Every alert that joined the incident, also one that left it still firing (its incident_id says where to)."""
    joined = select(TimelineEntry.alert_id).where(
        TimelineEntry.incident_id == incident_id, TimelineEntry.kind == Entry.ALERT_JOINED
    )
    return list(
        session.scalars(
            select(Alert).where((Alert.incident_id == incident_id) | Alert.id.in_(joined)).order_by(Alert.id)
        )
    )


def response_times(
    *, session: Session, since: datetime, until: datetime, service: str | None = None, customer: str | None = None
) -> Timings:
    """MTTA and MTTR of incidents opened in [since, until], read from their timelines."""
    ids = select(Incident.id).where(Incident.created_at >= since, Incident.created_at <= until)
    if service is not None:
        ids = ids.where(Incident.service == service)
    if customer is not None:
        ids = ids.where(Incident.customer == customer)
    entries: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    rows = session.execute(
        select(TimelineEntry.incident_id, TimelineEntry.kind, TimelineEntry.at)
        .where(TimelineEntry.incident_id.in_(ids))
        .order_by(TimelineEntry.at, TimelineEntry.id)
    )
    for incident_id, kind, at in rows:
        entries[incident_id].append((kind, at))
    return timings(entries.values())


def newest_entry(*, session: Session) -> int:
    """The id of the newest timeline entry (0 before the first): it moves with every change to any incident."""
    return session.scalar(select(func.max(TimelineEntry.id))) or 0


def open_incidents(
    *, session: Session, customer: str | None = None, limit: int = 200, offset: int = 0
) -> list[Incident]:
    """Open incidents (triggered or acknowledged), high urgency first, then the newest."""
    query = select(Incident).where(Incident.status.in_(OPEN))
    if customer is not None:
        query = query.where(Incident.customer == customer)
    rank = case((Incident.urgency == Urgency.HIGH, 0), else_=1)
    ordered = query.order_by(rank, Incident.created_at.desc(), Incident.id.desc())
    return list(session.scalars(ordered.offset(offset).limit(limit)))


def count_open(*, session: Session, customer: str | None = None) -> int:
    query = select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN))
    if customer is not None:
        query = query.where(Incident.customer == customer)
    return session.scalar(query) or 0


def down_spans(
    services: Sequence[str], *, session: Session, since: datetime, now: datetime
) -> dict[str, list[tuple[datetime, datetime]]]:
    """When each service had an incident open, from `since`: (opened, resolved or now) spans."""
    out: dict[str, list[tuple[datetime, datetime]]] = {name: [] for name in services}
    if not services:
        return out
    rows = session.execute(
        select(Incident.service, Incident.created_at, Incident.resolved_at).where(
            Incident.service.in_(list(services)),
            (Incident.resolved_at.is_(None)) | (Incident.resolved_at >= since),
        )
    )
    for service, opened, resolved in rows:
        out[str(service)].append((max(opened, since), resolved or now))
    return out


def affecting(
    services: Sequence[str], *, session: Session, since: datetime, customer: str | None = None, limit: int = 50
) -> list[Incident]:
    """The incidents of `services` (or of `customer`) opened since `since`, newest first."""
    condition: ColumnElement[bool] = Incident.service.in_(list(services))
    if customer is not None:
        condition = or_(condition, Incident.customer == customer)
    query = select(Incident).where(condition, Incident.created_at >= since)
    return list(session.scalars(query.order_by(Incident.created_at.desc()).limit(limit)))
