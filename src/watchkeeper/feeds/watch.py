"""Live feed watching: advance each due service's model and say what it finds.

A service is due when an ingest touched it (due now) or its silence deadline
has come. Claiming costs O(due): one indexed range read on `feed_states.due_at`
(watchkeeper.due: SKIP LOCKED on PostgreSQL, so several workers share the
work). The findings are returned, not recorded: the job that runs the watcher
hands them to alerts (watchkeeper.wiring).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.feeds.model import LOOKBACK, FeedModel
from watchkeeper.feeds.models import (
    MINUTES_PER_HOUR,
    FeedState,
    MinuteCount,
    Service,
    ServiceStage,
    buckets,
    stored_span,
)
from watchkeeper.feeds.rhythm import Event, Kind, Params, instant, minute_of
from watchkeeper.feeds.schemas import ServiceSettings
from watchkeeper.finding import Finding, Severity, State, Urgency

log = logging.getLogger(__name__)

SEVERITY = {Kind.SILENCE: Severity.CRITICAL, Kind.DROP: Severity.ERROR, Kind.SURGE: Severity.WARNING}


def claim_due(*, session: Session, now: datetime, limit: int) -> list[FeedState]:
    """The states of up to `limit` due services, soonest first, claimed for this transaction."""
    return due.claim(session, FeedState, due=FeedState.due_at, now=now, limit=limit)


OUTAGE_MEMORY = timedelta(days=7)  # how long late records are still set against an outage
FILLED_STEP = 0.1  # say again once another tenth of an outage's missing records has come late


@dataclass(frozen=True)
class Late:
    """Records came late for a past outage's minutes: what its alert's incident timeline says."""

    dedup_key: str
    message: str


@dataclass
class WatchReport:
    evaluated: int = 0
    findings: list[Finding] = field(default_factory=list)
    late: list[Late] = field(default_factory=list)


def watch_feeds(*, session: Session, now: datetime, limit: int = 500) -> WatchReport:
    """Claim up to `limit` due services and evaluate them; the report holds what they found."""
    return evaluate(claim_due(session=session, now=now, limit=limit), session=session, now=now)


def evaluate(claimed: Sequence[FeedState], *, session: Session, now: datetime) -> WatchReport:
    """Advance the claimed services' models to `now` and set when each is due next.

    The batch is read in a few statements (services, their recent minutes),
    and its findings are returned together for one recording, so a tick's
    database round trips do not grow with every service it evaluates.
    """
    report = WatchReport(evaluated=len(claimed))
    if not claimed:
        return report
    # In the order of the services, as they were added, rather than of their deadlines.
    states = {s.service_id: s for s in sorted(claimed, key=lambda s: s.service_id)}
    ids = list(states)
    services = {s.id: s for s in session.scalars(select(Service).where(Service.id.in_(ids)))}
    minute = minute_of(now)
    params: dict[int, Params] = {}
    kept: dict[int, ServiceSettings] = {}
    models: dict[int, FeedModel] = {}
    for service_id, state in states.items():
        service = services.get(service_id)
        if service is None:
            continue
        settings = ServiceSettings.model_validate(service.settings or {})
        own = settings.params(service.stage)
        if service.stage == ServiceStage.RETIRED:
            # Not watched any more: what it had open is over, not left firing.
            state.due_at = None
            if state.model is not None:
                retired = FeedModel.from_bytes(state.model, own)
                closed = retired.close_all(minute, "the service was retired")
                report.findings.extend(_finding(service, e, settings=settings) for e in closed)
                state.model = retired.to_bytes()
            continue
        params[service_id] = own
        kept[service_id] = settings
        if state.model is not None:
            models[service_id] = FeedModel.from_bytes(state.model, params[service_id])
    # A model reads the minutes since it last looked. A new one reads all that
    # is stored, on its own: that can be two weeks of minutes.
    span = stored_span(session, MinuteCount.hour)
    recent = _minutes(session, {i: m.now - LOOKBACK for i, m in models.items()}, span)
    for service_id, service_params in params.items():
        state, service = states[service_id], services[service_id]
        model = models.get(service_id)
        if model is None:
            history = _minutes(session, {service_id: 0}, span).get(service_id, [])
            model, events = _bootstrap(service, service_params, history, minute)
        else:
            # Time passes with what was known before; the records that came since are
            # known from the last minute on, so a delivery delay counts as silence.
            events = model.advance(minute - 1)
            for at, count in recent.get(service_id, []):
                model.observe(at, count, replace=True)
            events += model.advance(minute)
            events += model.silence_ended_ahead()
        state.model = model.to_bytes()
        state.evaluated_at = now
        deadline = model.silence_deadline()
        state.due_at = None if deadline is None else instant(deadline)
        # Raised now, however long ago the limit was crossed (a tick that fell behind, a first model).
        report.findings.extend(
            _finding(service, event.raised_as_of(minute), now=now, settings=kept[service_id]) for event in events
        )
        ended = [e for e in events if not e.firing and e.kind is not Kind.SURGE and e.missing >= 1]
        if ended or state.outages:
            kept_outages = [o for o in state.outages or [] if instant(o["ended"]) > now - OUTAGE_MEMORY]
            new = [{"kind": str(e.kind), "started": e.started_at, "ended": e.at, "missing": e.missing} for e in ended]
            state.outages = kept_outages + new
    report.late = _filled_late(session, [states[i] for i in params], services, kept, now, span)
    return report


def _filled_late(
    session: Session,
    states: list[FeedState],
    services: dict[int, Service],
    settings: dict[int, ServiceSettings],
    now: datetime,
    span: tuple[int, int] | None,
) -> list[Late]:
    """Set the records stored now for each remembered outage's minutes against those seen when it
    ended; say so when another tenth (or nearly all) of what was missing has come late."""
    windows = [(s, o) for s in states for o in s.outages or []]
    if not windows or span is None:
        return []
    oldest, newest = span
    sums = {}
    for state, outage in windows:
        start, end = int(outage["started"]), int(outage["ended"])
        sums[(state.service_id, start, end)] = session.scalar(
            select(func.coalesce(func.sum(MinuteCount.count), 0)).where(
                MinuteCount.hour.in_(
                    buckets(max(start // MINUTES_PER_HOUR, oldest), min((end - 1) // MINUTES_PER_HOUR, newest))
                ),
                MinuteCount.service_id == state.service_id,
                MinuteCount.minute >= start,
                MinuteCount.minute < end,
            )
        )
    said: list[Late] = []
    for state in {id(s): s for s, _ in windows}.values():
        still: list[dict[str, Any]] = []
        for outage in state.outages or []:
            outage = dict(outage)
            stored = float(sums[(state.service_id, int(outage["started"]), int(outage["ended"]))] or 0)
            if "seen" not in outage:  # just ended: what its minutes held then
                outage["seen"], outage["said"] = stored, 0.0
            missing = float(outage["missing"])
            share = min(max(stored - float(outage["seen"]), 0.0) / missing, 1.0) if missing else 0.0
            told = float(outage["said"])
            if share >= told + FILLED_STEP or (share >= 0.95 > told):
                service = services[state.service_id]
                said.append(
                    Late(
                        alert_key(service.name, Kind(outage["kind"])),
                        _late_words(outage, share, now, settings.get(state.service_id)),
                    )
                )
                outage["said"] = share
            if share < 0.99:
                still.append(outage)
        state.outages = still or None
    return said


def _late_words(outage: dict[str, Any], share: float, now: datetime, settings: ServiceSettings | None) -> str:
    """'by 11:40 UTC, 96 % of the 2,660 records missing from 09:40 to 10:55 UTC had come late (2,554)'."""
    missing = float(outage["missing"])
    came = share * missing
    words = (
        f"by {now:%H:%M} UTC, {share:.0%} of the {missing:,.0f} records missing from "
        f"{instant(int(outage['started'])):%Y-%m-%d %H:%M} to {instant(int(outage['ended'])):%H:%M} UTC "
        f"had come late ({came:,.0f})"
    )
    if settings is not None and settings.value_per_record is not None:
        words += f"; about {came * settings.value_per_record:,.2f} {settings.currency} of revenue recovered"
    return words


def _minutes(
    session: Session, since: dict[int, int], span: tuple[int, int] | None
) -> dict[int, list[tuple[int, float]]]:
    """Each service's minute counts from its own `since` on, in one statement.

    The minute table leads with the hour (see feeds.models), so each service
    reads its own hours, from its `since` to the newest one stored (`span`,
    the table's oldest and newest hour, read once a tick).
    """
    if not since or span is None:
        return {}
    oldest, newest = span
    wanted = or_(
        *(
            and_(
                MinuteCount.hour.in_(buckets(max(m // MINUTES_PER_HOUR, oldest), newest)),
                MinuteCount.service_id == i,
                MinuteCount.minute >= m,
            )
            for i, m in since.items()
        )
    )
    found: dict[int, list[tuple[int, float]]] = {}
    rows = session.execute(
        select(MinuteCount.service_id, MinuteCount.minute, MinuteCount.count)
        .where(wanted)
        .order_by(MinuteCount.service_id, MinuteCount.minute)
    )
    for service_id, at, count in rows:
        found.setdefault(service_id, []).append((int(at), float(count)))
    return found


def _bootstrap(
    service: Service, params: Params, history: list[tuple[int, float]], minute: int
) -> tuple[FeedModel, list[Event]]:
    """A first model, learned from the minute counts still stored (14 days by default).

    Only anomalies still open at the end are reported: the history's past
    alerts are not news.
    """
    # A service added before its first record is watched from when it was added.
    start = history[0][0] if history else minute_of(service.first_seen or service.created_at)
    model = FeedModel(params, start=min(start, minute))
    if history:
        minutes = np.array([m for m, _ in history if m < minute + 1], dtype=np.int64)
        counts = np.array([c for m, c in history if m < minute + 1])
        model.observe_ahead(minutes, counts)
    events = model.advance(minute)
    # Records in the minute in progress end a silence of the history: a new
    # service whose first batch holds a call from days ago and one from now
    # was silent then, and is not now.
    model.silence_ended_ahead()
    still_open = {kind: o.raised_at for kind, o in model.open.items()}
    return model, [e for e in events if e.firing and still_open.get(e.kind) == e.at]


def alert_key(service: str, kind: Kind) -> str:
    """The dedup key of a feed's alert of one kind."""
    return f"feed/{service}/{kind}"


def at_risk(missing: float, settings: ServiceSettings) -> str:
    """Missing records as revenue at risk, when the service says what a record is worth ('' if not)."""
    if settings.value_per_record is None or missing < 0.5:
        return ""
    value = missing * settings.value_per_record
    return (
        f"; about {value:,.2f} {settings.currency} of revenue at risk "
        f"({missing:,.0f} records at {settings.value_per_record:g} {settings.currency})"
    )


def _finding(
    service: Service, event: Event, *, now: datetime | None = None, settings: ServiceSettings | None = None
) -> Finding:
    test = service.stage == ServiceStage.TEST
    observed = instant(event.at)
    if now is not None and event.kind is Kind.SILENCE and not event.firing:
        # Only records end a silence, and live it ended when they arrived, not at
        # the minute boundary the model judged them on (up to a tick later).
        observed = min(now, max(service.last_received_at or now, instant(event.started_at)))
    summary = event.message + (at_risk(event.missing, settings) if settings is not None else "")
    if service.last_seen is None and event.kind is Kind.SILENCE and event.firing:
        summary = (
            f"no records yet since the service was added at {service.created_at:%Y-%m-%d %H:%M} UTC; "
            + (event.message.partition("; ")[2])
        )
    return Finding(
        dedup_key=alert_key(service.name, event.kind),
        source="feeds",
        service=service.name,
        severity=SEVERITY[event.kind],
        state=State.FIRING if event.firing else State.RESOLVED,
        # Named, as the summary becomes the title of the incident it opens.
        summary=f"{service.name}: {summary}",
        observed_at=observed,
        started_at=instant(event.started_at),
        labels={"service": service.name, "kind": str(event.kind), "stage": service.stage},
        urgency=Urgency.LOW if test or event.off_hours else Urgency.HIGH,
        stage=service.stage,
    )
