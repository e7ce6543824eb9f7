"""How incidents react to what alerts publish (wired in watchkeeper.wiring). Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.events import AlertFired, AlertFlapping, AlertMuted, AlertResolved
from watchkeeper.alerts.models import Alert
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.models import Incident

OPEN_CACHE = "watchkeeper.open_incidents"


def alert_fired(event: AlertFired, session: Session) -> None:
    """Join the alert to its group's open incident; else hold it for its group wait, or open one."""
    alert, now = event.alert, event.at
    if alert.incident_id is not None:
        return
    incident = open_incident(session, alert.group_key, now=now, groups=event.groups)
    if incident is not None:
        incidents.join(incident, _identified(alert, session), session=session, now=now, was_muted=event.was_muted)
    elif now < event.hold_until:
        alert.due_at = event.hold_until
        if alert.muted_reason != event.was_muted:
            alert.muted_reason = event.was_muted
    else:
        opened = incidents.open_incident(
            _identified(alert, session), session=session, now=now, was_muted=event.was_muted
        )
        _cache(session, now)[opened.group_key] = opened


def alert_muted(event: AlertMuted, session: Session) -> None:
    parent, child = session.get(Alert, event.parent_id), session.get(Alert, event.alert_id)
    if parent is not None and child is not None:
        incidents.dependent_muted(parent, child, session=session, now=event.at)


def alert_flapping(event: AlertFlapping, session: Session) -> None:
    alert = session.get(Alert, event.alert_id)
    if alert is not None:
        incidents.alert_flapping(alert, session=session, now=event.at, window=event.window)


def alert_resolved(event: AlertResolved, session: Session) -> None:
    alert = session.get(Alert, event.alert_id)
    if alert is not None:
        incidents.alert_resolved(alert, session=session, now=event.at, auto_resolve=event.auto_resolve)


def open_incident(
    session: Session, group_key: str, *, now: datetime, groups: frozenset[str] = frozenset()
) -> Incident | None:
    """The group's open incident, read with those of `groups` once per transaction and moment.

    A scheduler tick or a webhook raises many alerts at one `now`; what is read
    is checked against the incident's state now, so one resolved since is not
    joined, and one opened since is added by `alert_fired`.
    """
    cache = _cache(session, now)
    if group_key not in cache:
        wanted = sorted({group_key, *groups} - cache.keys())
        cache.update(dict.fromkeys(wanted))
        found = session.scalars(select(Incident).where(Incident.open_key.in_(wanted)))
        cache.update((i.open_key or "", i) for i in found)
    incident = cache[group_key]
    return incident if incident is not None and incident.open_key == group_key else None


def _cache(session: Session, now: datetime) -> dict[str, Incident | None]:
    cached: tuple[datetime, dict[str, Incident | None]] | None = session.info.get(OPEN_CACHE)
    if cached is None or cached[0] != now:
        cached = session.info[OPEN_CACHE] = (now, {})
    return cached[1]


def _identified(alert: Alert, session: Session) -> Alert:
    if alert.id is None:
        session.flush()
    return alert
