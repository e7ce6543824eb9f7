"""Recording findings as alerts. Services never commit: the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.finding import Finding, State
from watchkeeper.alerts.models import Alert


def record(finding: Finding, *, session: Session) -> Alert | None:
    """Fire or resolve the alert for `finding.dedup_key`.

    A repeat of a firing alert bumps its count and last-seen time; a resolve
    for a key with nothing firing is dropped (returns None).
    """
    current = session.scalars(
        select(Alert).where(Alert.dedup_key == finding.dedup_key, Alert.status == State.FIRING)
    ).first()
    if finding.state is State.RESOLVED:
        if current is None:
            return None
        current.status = State.RESOLVED
        current.resolved_at = finding.observed_at
        current.last_seen = finding.observed_at
        current.resolution = finding.summary
        return current
    if current is not None:
        current.count += 1
        current.last_seen = finding.observed_at
        current.summary = finding.summary
        return current
    alert = Alert(
        dedup_key=finding.dedup_key,
        source=finding.source,
        service=finding.service,
        severity=finding.severity,
        urgency=finding.urgency,
        status=State.FIRING,
        summary=finding.summary,
        labels=dict(finding.labels),
        started_at=finding.started_at or finding.observed_at,
        first_seen=finding.observed_at,
        last_seen=finding.observed_at,
        count=1,
    )
    session.add(alert)
    session.flush()
    return alert


def list_alerts(
    *, session: Session, service: str | None = None, status: State | None = None, limit: int = 200
) -> list[Alert]:
    query = select(Alert).order_by(Alert.first_seen.desc(), Alert.id.desc()).limit(limit)
    if service is not None:
        query = query.where(Alert.service == service)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))
