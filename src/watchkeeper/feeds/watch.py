"""Live feed watching: advance each due service's model and record what it finds.

A service is due when an ingest touched it (due now) or its silence deadline
has come. Claiming costs O(due): one indexed range read on `feed_states.due_at`
(with SKIP LOCKED on PostgreSQL, so several workers share the work).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.finding import Finding, Severity, State, Urgency
from watchkeeper.feeds.model import LOOKBACK, FeedModel
from watchkeeper.feeds.models import FeedState, MinuteCount, Service, ServiceStage
from watchkeeper.feeds.rhythm import Event, Kind, Params, instant, minute_of
from watchkeeper.feeds.schemas import ServiceSettings

log = logging.getLogger(__name__)

SEVERITY = {Kind.SILENCE: Severity.CRITICAL, Kind.DROP: Severity.ERROR, Kind.SURGE: Severity.WARNING}


def claim_due(*, session: Session, now: datetime, limit: int) -> list[int]:
    query = select(FeedState.service_id).where(FeedState.due_at <= now).order_by(FeedState.due_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


@dataclass
class WatchReport:
    evaluated: int = 0
    findings: list[Finding] = field(default_factory=list)


def watch_feeds(*, session: Session, now: datetime, limit: int = 500,
                routing: alerts.RoutingConfig = alerts.DEFAULT) -> WatchReport:
    """Evaluate up to `limit` due services and record what they found as alerts."""
    report = WatchReport()
    for service_id in claim_due(session=session, now=now, limit=limit):
        report.findings.extend(evaluate(service_id, session=session, now=now, routing=routing))
        report.evaluated += 1
    return report


def evaluate(service_id: int, *, session: Session, now: datetime,
             routing: alerts.RoutingConfig = alerts.DEFAULT) -> list[Finding]:
    state = session.get(FeedState, service_id)
    service = session.get(Service, service_id)
    if state is None or service is None:
        return []
    if service.stage == ServiceStage.RETIRED:
        state.due_at = None
        return []
    params = ServiceSettings.model_validate(service.settings or {}).params(service.stage)
    minute = minute_of(now)
    if state.model is None:
        model, events = _bootstrap(session, service, params, minute)
    else:
        model = FeedModel.from_bytes(state.model, params)
        # Time passes with what was known before; the records that came since are
        # known from the last minute on, so a delivery delay counts as silence.
        events = model.advance(minute - 1)
        for at, count in _minutes(session, service_id, model.now - LOOKBACK):
            model.observe(at, count, replace=True)
        events += model.advance(minute)
    state.model = model.to_bytes()
    state.evaluated_at = now
    deadline = model.silence_deadline()
    state.due_at = None if deadline is None else instant(deadline)
    findings = [_finding(service, event) for event in events]
    for finding in findings:
        alerts.record(finding, session=session, now=now, config=routing)
    return findings


def _minutes(session: Session, service_id: int, since: int) -> list[tuple[int, float]]:
    rows = session.execute(
        select(MinuteCount.minute, MinuteCount.count)
        .where(MinuteCount.service_id == service_id, MinuteCount.minute >= since)
        .order_by(MinuteCount.minute)
    )
    return [(int(m), float(c)) for m, c in rows]


def _bootstrap(session: Session, service: Service, params: Params, minute: int) -> tuple[FeedModel, list[Event]]:
    """A first model, learned from the minute counts still stored (14 days by default).

    Only anomalies still open at the end are reported: the history's past
    alerts are not news.
    """
    history = _minutes(session, service.id, 0)
    start = history[0][0] if history else minute_of(service.first_seen)
    model = FeedModel(params, start=min(start, minute))
    if history:
        minutes = np.array([m for m, _ in history if m < minute + 1], dtype=np.int64)
        counts = np.array([c for m, c in history if m < minute + 1])
        model.observe_ahead(minutes, counts)
    events = model.advance(minute)
    still_open = {kind: o.raised_at for kind, o in model.open.items()}
    return model, [e for e in events if e.firing and still_open.get(e.kind) == e.at]


def alert_key(service: str, kind: Kind) -> str:
    """The dedup key of a feed's alert of one kind."""
    return f"feed/{service}/{kind}"


def _finding(service: Service, event: Event) -> Finding:
    test = service.stage == ServiceStage.TEST
    return Finding(
        dedup_key=alert_key(service.name, event.kind),
        source="feeds",
        service=service.name,
        severity=SEVERITY[event.kind],
        state=State.FIRING if event.firing else State.RESOLVED,
        summary=event.message,
        observed_at=instant(event.at),
        started_at=instant(event.started_at),
        labels={"service": service.name, "kind": str(event.kind), "stage": service.stage},
        urgency=Urgency.LOW if test else Urgency.HIGH,
        stage=service.stage,
    )
