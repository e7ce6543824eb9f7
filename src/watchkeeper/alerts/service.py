"""Recording findings as alerts and routing them. Services never commit: the caller owns the transaction.

An alert that fires is, in order: muted (silence, maintenance window, a
parent's alert) and looked at again when that ends; or, unmuted, published
as `AlertFired`, on which incidents join it to its group's open incident or
hold it for the group wait. Everything that must happen later is the
alert's `due_at`, claimed by `process_due`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.alerts import routing
from watchkeeper.alerts.events import AlertFired, AlertFlapping, AlertMuted, AlertResolved
from watchkeeper.alerts.models import Alert, Dependency, MaintenanceWindow, Silence, match_labels
from watchkeeper.bus import publish
from watchkeeper.config import Settings
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, State, Urgency


@dataclass(frozen=True)
class RoutingConfig:
    group_wait: timedelta = timedelta(seconds=30)
    group_by: tuple[str, ...] = ()
    flap_window: timedelta = timedelta(minutes=15)
    flap_threshold: int = 4
    auto_resolve: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingConfig:
        return cls(
            group_wait=timedelta(seconds=settings.group_wait_seconds),
            group_by=routing.check_label_names(settings.group_by.split(",")),
            flap_window=timedelta(minutes=settings.flap_window_minutes),
            flap_threshold=settings.flap_threshold,
            auto_resolve=settings.incident_auto_resolve,
        )


DEFAULT = RoutingConfig()


def record(
    finding: Finding, *, session: Session, now: datetime, config: RoutingConfig = DEFAULT, batch: Batch | None = None
) -> Alert | None:
    """Fire, repeat or resolve the alert for `finding.dedup_key`.

    A repeat of a firing alert bumps its count and last-seen time; a resolve
    for a key with nothing firing is dropped (returns None). Recording many
    findings at once, pass the `Batch` read for all of them (`record_all`).
    """
    if batch is None:
        batch = Batch.read(session, [finding], now=now, config=config)
    current = batch.firing(finding.dedup_key)
    if finding.state is State.RESOLVED:
        if current is not None:
            _resolve_or_hold(current, finding, session=session, now=now, config=config)
        return current
    if current is not None:
        _repeat(current, finding, session=session, now=now, config=config, batch=batch)
        return current
    alert = _create(finding, session=session, now=now, config=config, batch=batch)
    settle(alert, session=session, now=now, config=config, batch=batch)
    return alert


def record_all(
    findings: Sequence[Finding], *, session: Session, now: datetime, config: RoutingConfig = DEFAULT
) -> list[Alert | None]:
    """`record` each finding in order, reading what they need in three statements, not three each."""
    batch = Batch.read(session, findings, now=now, config=config)
    return [record(f, session=session, now=now, config=config, batch=batch) for f in findings]


def firing(session: Session, dedup_key: str) -> Alert | None:
    return session.scalars(select(Alert).where(Alert.firing_key == dedup_key)).first()


class Batch:
    """What recording a batch of findings reads, read once for the whole batch.

    A scheduler tick or a webhook records many findings in one transaction.
    Reading each one's firing alert, its last resolved alert and its group's
    open incident one by one cost three round trips per finding, most of a
    tick on PostgreSQL. Each lookup checks what it returns against the
    object's state now, so what the batch itself changed (an alert resolved)
    is seen; what it creates is added with `fired`. The batch's groups go
    with each `AlertFired`, so that incidents read their open incidents at once.
    """

    def __init__(
        self,
        firing: dict[str, Alert],
        resolved: dict[str, Alert],
        groups: frozenset[str],
        services: dict[str, Service | None],
    ) -> None:
        self._firing, self._resolved, self.groups, self._services = firing, resolved, groups, services

    @classmethod
    def read(cls, session: Session, findings: Sequence[Finding], *, now: datetime, config: RoutingConfig) -> Batch:
        keys = sorted({f.dedup_key for f in findings})
        if not keys:
            return cls({}, {}, frozenset(), {})
        services = services_named(session, [f.service for f in findings])
        groups = frozenset(
            {
                group_of(
                    f.labels,
                    severity=f.severity,
                    source=f.source,
                    service=f.service,
                    config=config,
                    customer=customer_of(services.get(f.service or "")),
                )
                for f in findings
            }
        )
        firing = {a.dedup_key: a for a in session.scalars(select(Alert).where(Alert.firing_key.in_(keys)))}
        # Only an alert resolved within the flap window passes its changes on (see _create).
        resolved = {
            a.dedup_key: a
            for a in session.scalars(
                select(Alert)
                .where(
                    Alert.dedup_key.in_(keys),
                    Alert.status == State.RESOLVED,
                    Alert.resolved_at > now - config.flap_window,
                )
                .order_by(Alert.id)
            )
        }
        return cls(firing, resolved, groups, services)

    @classmethod
    def for_groups(cls, groups: Iterable[str]) -> Batch:
        return cls({}, {}, frozenset(groups), {})

    def firing(self, key: str) -> Alert | None:
        alert = self._firing.get(key)
        return alert if alert is not None and alert.firing_key == key else None

    def resolved(self, key: str) -> Alert | None:
        # The last alert to fire for the key, if the batch has resolved it, is newer than any read.
        for alert in (self._firing.get(key), self._resolved.get(key)):
            if alert is not None and alert.status == State.RESOLVED:
                return alert
        return None

    def fired(self, alert: Alert) -> None:
        self._firing[alert.dedup_key] = alert

    def service(self, session: Session, name: str | None) -> Service | None:
        if not name:
            return None
        if name not in self._services:
            self._services.update(services_named(session, [name]))
        return self._services.get(name)


def group_of(
    labels: dict[str, Any],
    *,
    severity: str,
    source: str,
    service: str | None,
    config: RoutingConfig,
    customer: str | None = None,
) -> str:
    """The group key of an alert with these labels, of `customer`'s service (see routing.group_labels)."""
    seen = match_labels(labels, severity=severity, source=source, service=service)
    return routing.group_key(routing.group_labels(seen, config.group_by, customer))


def services_named(session: Session, names: Iterable[str | None]) -> dict[str, Service | None]:
    """The services of these names, each with its customer, in one statement; None for one not known."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    found: dict[str, Service | None] = dict.fromkeys(wanted)
    found.update((s.name, s) for s in session.scalars(select(Service).where(Service.name.in_(wanted))))
    return found


def customer_of(service: Service | None) -> str | None:
    """The customer an alert on `service` belongs to: its service's (services.customer_id), never a label."""
    return service.customer.name if service is not None and service.customer is not None else None


def _create(finding: Finding, *, session: Session, now: datetime, config: RoutingConfig, batch: Batch) -> Alert:
    row = batch.service(session, finding.service)
    stage = finding.stage if finding.stage is not None or row is None else row.stage
    previous = batch.resolved(finding.dedup_key)
    changes = list(previous.changes) if previous and _recent(previous.resolved_at, now, config) else []
    labels = dict(finding.labels)
    alert = Alert(
        dedup_key=finding.dedup_key,
        firing_key=finding.dedup_key,
        source=finding.source,
        service=finding.service,
        severity=finding.severity,
        urgency=routing.urgency(finding.severity, stage=stage, given=finding.urgency),
        status=State.FIRING,
        summary=finding.summary[:2000],
        labels=labels,
        details=dict(finding.details),
        started_at=finding.started_at or finding.observed_at,
        first_seen=now,
        last_seen=now,
        count=1,
        changes=_pruned([*changes, now.isoformat()], now, config),
        flapping=False,
        group_key=group_of(
            labels,
            severity=finding.severity,
            source=finding.source,
            service=finding.service,
            config=config,
            customer=customer_of(row),
        ),
    )
    # Not flushed: a new alert usually waits out its group wait and needs no id
    # yet, so a batch's new alerts are inserted together. `_identified` gives
    # one an id where it must be named.
    session.add(alert)
    batch.fired(alert)
    return alert


def _identified(alert: Alert, session: Session) -> Alert:
    if alert.id is None:
        session.flush()
    return alert


def _recent(at: datetime | None, now: datetime, config: RoutingConfig) -> bool:
    return at is not None and at > now - config.flap_window


def _pruned(changes: list[str], now: datetime, config: RoutingConfig) -> list[str]:
    return [c for c in changes if _recent(datetime.fromisoformat(c), now, config)]


def _repeat(
    alert: Alert, finding: Finding, *, session: Session, now: datetime, config: RoutingConfig, batch: Batch
) -> None:
    alert.count += 1
    alert.last_seen = now
    alert.summary = finding.summary[:2000]
    if alert.resolve_held_at is not None:
        # It fired again while its resolve was held: still flapping, still one alert.
        alert.resolve_held_at = None
        alert.resolution = None
        alert.changes = _pruned([*alert.changes, now.isoformat()], now, config)
        settle(alert, session=session, now=now, config=config, batch=batch)


def _resolve_or_hold(alert: Alert, finding: Finding, *, session: Session, now: datetime, config: RoutingConfig) -> None:
    alert.last_seen = now
    alert.changes = _pruned([*alert.changes, now.isoformat()], now, config)
    moments = [datetime.fromisoformat(c) for c in alert.changes]
    if routing.flapping(moments, now, window=config.flap_window, threshold=config.flap_threshold):
        if not alert.flapping:
            alert.flapping = True
            publish(session, AlertFlapping(_identified(alert, session).id, now, config.flap_window))
        alert.resolve_held_at = finding.observed_at
        alert.resolution = finding.summary[:2000]
        alert.due_at = now + config.flap_window
        return
    resolve(alert, at=finding.observed_at, resolution=finding.summary, session=session, now=now, config=config)


def resolve(
    alert: Alert, *, at: datetime, resolution: str, session: Session, now: datetime, config: RoutingConfig = DEFAULT
) -> None:
    alert.status = State.RESOLVED
    alert.firing_key = None
    alert.resolved_at = at
    alert.resolution = resolution[:2000]
    alert.due_at = None
    alert.resolve_held_at = None
    if alert.incident_id is not None:
        publish(session, AlertResolved(alert.id, alert.incident_id, now, auto_resolve=config.auto_resolve))
    # What this alert muted as their parent is looked at again now. (One never
    # given an id was never anybody's parent: finding parents reads, and so flushes.)
    if alert.id is None:
        return
    session.execute(
        update(Alert)
        .where(Alert.muted == routing.MuteKind.INHIBITED, Alert.muted_ref == alert.id, Alert.status == State.FIRING)
        .values(due_at=now)
    )


def settle(
    alert: Alert, *, session: Session, now: datetime, config: RoutingConfig = DEFAULT, batch: Batch | None = None
) -> None:
    """Mute the alert, or publish that it fires unmuted (incidents hold it for its group wait, or raise it)."""
    if alert.status != State.FIRING or alert.resolve_held_at is not None:
        return
    if alert.due_at is not None:
        alert.due_at = None
    rules = _rules(session, now)
    customer = None
    if rules["parents"]:
        customer = customer_of(services_named(session, [alert.service]).get(alert.service or ""))
    mute = routing.mute_for(alert.match_labels(), now, alert_id=alert.id, customer=customer, **rules)
    if mute is not None:
        news = (alert.muted, alert.muted_ref) != (mute.kind, mute.ref)
        alert.muted, alert.muted_ref, alert.muted_reason, alert.due_at = mute.kind, mute.ref, mute.reason, mute.until
        if news and mute.kind is routing.MuteKind.INHIBITED and mute.ref is not None:
            publish(session, AlertMuted(_identified(alert, session).id, mute.ref, now))
        return
    was_muted = alert.muted_reason
    if (alert.muted, alert.muted_ref, alert.muted_reason) != (None, None, None):
        alert.muted = alert.muted_ref = alert.muted_reason = None
    if alert.incident_id is not None:
        return
    groups = batch.groups if batch is not None else frozenset()
    hold_until = alert.first_seen + config.group_wait
    publish(session, AlertFired(alert, now, hold_until, was_muted=was_muted, groups=groups | {alert.group_key}))


def in_maintenance(finding: Finding, *, session: Session, now: datetime) -> str | None:
    """Why a finding with these labels is expected now (the maintenance window it falls in), or None."""
    seen = match_labels(finding.labels, severity=finding.severity, source=finding.source, service=finding.service)
    mute = routing.mute_for(seen, now, windows=_rules(session, now)["windows"])
    return mute.reason if mute is not None else None


RULES_CACHE = "watchkeeper.routing_rules"


def _rules(session: Session, now: datetime) -> dict[str, list[Any]]:
    # A batch (a scheduler tick, a webhook with many alerts) routes many alerts
    # at one `now`: read silences, windows and dependencies once per transaction.
    # Changing any of them (alerts/mutes.py) drops this copy.
    cached = session.info.get(RULES_CACHE)
    if cached is None or cached[0] != now:
        silences = [
            silence_rule(s)
            for s in session.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now))
        ]
        windows = [window_rule(w) for w in session.scalars(select(MaintenanceWindow))]
        rules = [dependency_rule(d) for d in session.scalars(select(Dependency))]
        cached = session.info[RULES_CACHE] = (now, silences, windows, rules)
    _, silences, windows, rules = cached
    parents: list[routing.Parent] = []
    if rules:
        candidates = [
            (c, c.match_labels())
            for c in session.scalars(select(Alert).where(Alert.status == State.FIRING, Alert.resolve_held_at.is_(None)))
        ]
        candidates = [(c, seen) for c, seen in candidates if any(routing.match_all(r.parent, seen) for r in rules)]
        services = services_named(session, [c.service for c, _ in candidates])
        parents = [
            routing.Parent(c.id, labels, c.summary, customer_of(services.get(c.service or "")))
            for c, labels in candidates
        ]
    return {"silences": silences, "windows": windows, "rules": rules, "parents": parents}


def silence_rule(row: Silence) -> routing.Silence:
    return routing.Silence(
        row.id, routing.parse_matchers(row.matchers), row.starts_at, row.ends_at, row.created_by, row.comment
    )


def window_rule(row: MaintenanceWindow) -> routing.Window:
    def clock_time(text: str | None) -> time | None:
        return None if text is None else time.fromisoformat(text)

    return routing.Window(
        id=row.id,
        name=row.name,
        matchers=routing.parse_matchers(row.matchers),
        timezone=row.timezone,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        weekdays=routing.parse_weekdays(row.weekdays) if row.weekdays else frozenset(),
        start=clock_time(row.start_time),
        end=clock_time(row.end_time),
        cron=row.cron,
        duration=timedelta(minutes=row.duration_minutes) if row.duration_minutes else None,
    )


def dependency_rule(row: Dependency) -> routing.InhibitRule:
    return routing.InhibitRule(
        row.id, row.name, routing.parse_matchers(row.parent), routing.parse_matchers(row.child), tuple(row.equal)
    )


def process_due(*, session: Session, now: datetime, config: RoutingConfig = DEFAULT, limit: int = 500) -> int:
    """Look again at alerts whose group wait, mute or held resolve is over. Returns how many."""
    claimed = claim_due(session=session, now=now, limit=limit)
    process(claimed, session=session, now=now, config=config)
    return len(claimed)


def claim_due(*, session: Session, now: datetime, limit: int) -> list[Alert]:
    """Up to `limit` alerts whose group wait, mute or held resolve is over, claimed for this transaction."""
    return due.claim(session, Alert, due=Alert.due_at, now=now, limit=limit)


def process(claimed: Sequence[Alert], *, session: Session, now: datetime, config: RoutingConfig = DEFAULT) -> None:
    """Resolve, mute, hold or join the claimed alerts, as is due for each."""
    batch = Batch.for_groups(a.group_key for a in claimed if a.status == State.FIRING)
    for alert in claimed:
        if alert.status != State.FIRING:
            alert.due_at = None
        elif alert.resolve_held_at is not None:
            note = f"{alert.resolution or 'resolved'} (held while flapping; quiet since)"
            resolve(alert, at=alert.resolve_held_at, resolution=note, session=session, now=now, config=config)
        else:
            settle(alert, session=session, now=now, config=config, batch=batch)


def list_alerts(
    *,
    session: Session,
    service: str | None = None,
    status: State | None = None,
    urgency: Urgency | None = None,
    limit: int = 200,
    services: list[str] | None = None,
) -> list[Alert]:
    """Newest first; `services` (if given) limits them to those services' alerts."""
    query = select(Alert).order_by(Alert.first_seen.desc(), Alert.id.desc()).limit(limit)
    if services is not None:
        query = query.where(Alert.service.in_(services))
    if service is not None:
        query = query.where(Alert.service == service)
    if status is not None:
        query = query.where(Alert.status == status)
    if urgency is not None:
        query = query.where(Alert.urgency == urgency)
    return list(session.scalars(query))


def firing_counts(services: Sequence[str], *, session: Session) -> dict[str, int]:
    """How many alerts fire now for each of `services` (those with none left out)."""
    if not services:
        return {}
    rows = session.execute(
        select(Alert.service, func.count())
        .where(Alert.service.in_(list(services)), Alert.status == State.FIRING)
        .group_by(Alert.service)
    )
    return {str(service): int(n) for service, n in rows}
