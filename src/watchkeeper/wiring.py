"""Who reacts to what: every handler of every domain event, and every due job, in one place.

The faces (web app, CLI, scheduler, demo) and the tests make their session
factory here, so every unit of work carries the same bus. A lower layer
publishes (watchkeeper.bus) and never learns who listens; the order below is
the order handlers run in.

Due work (feed and check deadlines, PBX looks, alerts' group waits and mutes,
support hours, SLA clocks, escalation steps, the outbox, the probes) is a
`DueJob`: claimed a batch at a time, each batch in one transaction of these
sessions, so what a job's work publishes reaches the handlers; work that goes
out to the network (a send, a call, a look, a probe) runs after its claim
commits. Signals only say what they found; the jobs that run them hand the
findings to alerts here, so no signal knows of alerts. `jobs()` is the one
list of what `watchkeeper serve`'s scheduler runs, and how often.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionFactory

from watchkeeper import metrics
from watchkeeper.bus import MessageBus
from watchkeeper.clock import Clock
from watchkeeper.config import Settings
from watchkeeper.db import make_sessionmaker, transaction
from watchkeeper.scheduler import DueJob, Job, drain

# Every command makes its sessions here, `watchkeeper ingest` too, so the domains
# the handlers and jobs need load only when a handler or a job is first wanted.
if TYPE_CHECKING:
    from watchkeeper.alerts.service import RoutingConfig
    from watchkeeper.checks.events import PbxAdded, PbxRemoved
    from watchkeeper.checks.models import Check
    from watchkeeper.checks.pbxes import Look
    from watchkeeper.checks.runner import Done, Planned, ProbeRunner
    from watchkeeper.feeds.models import FeedState
    from watchkeeper.feeds.watch import WatchReport
    from watchkeeper.finding import Finding
    from watchkeeper.notify.models import Notification
    from watchkeeper.notify.outbox import Claimed
    from watchkeeper.oncall.paging import Paging
    from watchkeeper.oncall.policies import EscalationStep


def message_bus(settings: Settings | None = None) -> MessageBus:
    """The app's bus; its handlers (and their domains' modules) load when the first event is published."""
    return MessageBus(wire=lambda bus: subscribe_all(bus, settings))


def subscribe_all(bus: MessageBus, settings: Settings | None = None) -> None:
    from watchkeeper.alerts.events import AlertFired, AlertFlapping, AlertMuted, AlertResolved
    from watchkeeper.checks.events import PbxAdded, PbxRemoved
    from watchkeeper.incidents import reactions as incidents
    from watchkeeper.incidents.events import (
        IncidentAcknowledged,
        IncidentClosed,
        IncidentOpened,
        IncidentResolved,
        IncidentUrgencyRaised,
    )
    from watchkeeper.oncall import paging
    from watchkeeper.support import incidents as desk

    # Incidents group alerts: join, hold for the group wait, open; say what happened on the timeline.
    bus.subscribe(AlertFired, incidents.alert_fired)
    bus.subscribe(AlertMuted, incidents.alert_muted)
    bus.subscribe(AlertFlapping, incidents.alert_flapping)
    bus.subscribe(AlertResolved, incidents.alert_resolved)

    # The desk: the customer, support-hours urgency, an automatic case, an enquiry to the customer.
    options = desk.DeskSettings() if settings is None else desk.DeskSettings.from_settings(settings)

    def incident_opened(event: IncidentOpened, session: Session) -> None:
        desk.incident_opened(event, session, options=options)

    bus.subscribe(IncidentOpened, incident_opened)

    # A PBX's SIP OPTIONS check is the parent of its trunk, reload and link findings.
    bus.subscribe(PbxAdded, pbx_added)
    bus.subscribe(PbxRemoved, pbx_removed)

    # Paging, once the desk has set the customer and the urgency: the escalation starts on a
    # snapshot of its policy; an acknowledgement stops it, a resolution ends it, high urgency restarts it.
    bus.subscribe(IncidentOpened, paging.incident_opened)
    bus.subscribe(IncidentAcknowledged, paging.acknowledged)
    bus.subscribe(IncidentResolved, paging.ended)
    bus.subscribe(IncidentClosed, paging.ended)
    bus.subscribe(IncidentUrgencyRaised, paging.urgency_raised)

    # CaseBreached (support.events) has no handler yet: reports will.


def pbx_added(event: PbxAdded, session: Session) -> None:
    from watchkeeper.alerts import mutes

    mutes.add_dependency(
        session=session, now=event.at, name=event.rule, parent=list(event.parent), child=list(event.child), equal=[]
    )


def pbx_removed(event: PbxRemoved, session: Session) -> None:
    from watchkeeper.alerts import mutes

    for rule in mutes.list_dependencies(session=session):
        if rule.name == event.rule:
            mutes.delete_dependency(rule.id, session=session, now=event.at)


def sessionmaker(engine: Engine, settings: Settings | None = None) -> SessionFactory[Session]:
    """The app's sessions on `engine`, each with the bus wired for `settings`."""
    return make_sessionmaker(engine, bus=message_bus(settings))


def on_delivery_outcome(row: Notification, session: Session, now: datetime) -> None:
    """Where the outbox hands each delivery's outcome (sent, retrying, given up), in the
    transaction that records it: the desk notes it on the incident's timeline and the
    case's work log. The scheduler's outbox job passes it to `deliver_due`."""
    from watchkeeper.support.outcomes import record_outcome

    record_outcome(row, session, now)


# -- due jobs ------------------------------------------------------------------------------


class Runtime(Protocol):
    """What the jobs run with: the command line's context is one."""

    settings: Settings
    clock: Clock

    @property
    def sessions(self) -> SessionFactory[Session]: ...


# Rows claimed per transaction: enough to keep up, few enough that one busy
# minute (a file touching 10,000 services) never holds the write lock long.
BATCH = 200
SENDS = 20  # notifications per claim, sent together: each mostly waits on its channel's server
SENDS_AT_ONCE = SENDS  # all of a claim's sends are under way together
# Escalation steps, and the outbox, run in lanes of their own (threads), looking at least this often:
# a step due when its incident opens is run, and its pages handed to their channels, within about
# this long, whatever the other jobs are busy with. An idle look is three indexed queries.
PAGING_TICK = timedelta(seconds=0.1)
STEPS = 20  # escalation steps per claim: their pages go out once the claim commits, so a burst goes in parts
# Alerts whose group wait is over, per claim: an incident is opened at its claim's time and seen
# (and paged) once the claim commits, so a burst of openings commits in parts.
OPENINGS = 20
PROBES = 1000  # probe checks per claim, at most as many as the runner has room for (`probe_concurrency`)
STORES = 500  # probe results stored per transaction
PROBE_TICK = timedelta(seconds=0.1)
LOOKS = 50  # PBXs looked at together: each holds a manager session open for the look


def record_watch(report: WatchReport, *, session: Session, now: datetime, config: RoutingConfig | None = None) -> None:
    """What a tick of the feed watcher found: its findings to alerts, and each outage that late
    records filled since on the timeline of its alert's incident."""
    from sqlalchemy import select

    from watchkeeper.alerts import service as alerts
    from watchkeeper.alerts.models import Alert
    from watchkeeper.incidents import service as incidents
    from watchkeeper.incidents.lifecycle import Entry

    alerts.record_all(report.findings, session=session, now=now, config=config or alerts.DEFAULT)
    for late in report.late:
        alert = session.scalar(
            select(Alert)
            .where(Alert.dedup_key == late.dedup_key, Alert.incident_id.is_not(None))
            .order_by(Alert.id.desc())
            .limit(1)
        )
        if alert is not None and alert.incident_id is not None:
            incident = incidents.get(alert.incident_id, session=session)
            incidents.add_entry(incident, Entry.NOTE, late.message, session=session, at=now, alert=alert)


def paging_options(settings: Settings) -> Paging:
    """What escalations run with: who is on call by the schedules, calls through the
    operator's trunk (`voice_trunk`; unset, a sip: rule says "no voice channel" on the
    timeline), and the server's public URL for the acknowledgement links."""
    from watchkeeper.oncall import service as schedules
    from watchkeeper.oncall.paging import Dialer, NoDialer, Paging

    dialer: Dialer = NoDialer()
    if settings.voice_trunk:
        from watchkeeper.notify.voice.dialer import TrunkDialer, trunk_from_url

        dialer = TrunkDialer(trunk_from_url(settings.voice_trunk))
    return Paging(on_call=schedules.who_is_on_call, dialer=dialer, public_url=settings.public_url)


def due_jobs(
    ctx: Runtime,
    routing: RoutingConfig | None = None,
    runner: ProbeRunner | None = None,
    paging: Paging | None = None,
) -> list[DueJob[Any]]:
    """The due work, in the order a tick runs it: what the feeds found is routed in the same tick,
    and the pages an escalation step writes go out in the tick it ran in."""
    from watchkeeper.alerts import service as alerts
    from watchkeeper.checks import pbxes
    from watchkeeper.checks import service as checks
    from watchkeeper.checks.runner import ProbeRunner
    from watchkeeper.feeds import watch
    from watchkeeper.notify import outbox
    from watchkeeper.oncall import paging as pages
    from watchkeeper.support import incidents as desk_incidents
    from watchkeeper.support import service as desk

    routing = routing or alerts.RoutingConfig.from_settings(ctx.settings)
    tick = timedelta(seconds=ctx.settings.scheduler_tick_seconds)
    paging_tick = min(tick, PAGING_TICK)

    def watched(states: Sequence[FeedState], session: Session, now: datetime) -> None:
        record_watch(watch.evaluate(states, session=session, now=now), session=session, now=now, config=routing)

    def deadlines(claimed: Sequence[Check], session: Session, now: datetime) -> None:
        findings = checks.evaluate(claimed, session=session, now=now)
        alerts.record_all(findings, session=session, now=now, config=routing)

    def looked(claimed: Sequence[Look]) -> None:
        # Claimed and committed first: no row stays locked while a PBX is slow to answer.
        done = asyncio.run(pbxes.look_all(claimed, clock=ctx.clock))
        with transaction(ctx.sessions) as session:
            now = ctx.clock.now()
            findings = pbxes.store(done, session=session, now=now)
            # A restart, reload or changed file inside a maintenance window is on the
            # PBX's timeline (its snapshot's changes) and raises nothing.
            findings = [
                f for f in findings if not (pbxes.is_change(f) and alerts.in_maintenance(f, session=session, now=now))
            ]
            alerts.record_all(findings, session=session, now=now, config=routing)
        for one in done:
            if one.snapshot is not None:
                metrics.pbx_in_use(one.look.pbx.name, channels=one.snapshot.channels, calls=one.snapshot.calls)

    sender = outbox.AppriseSender()
    options = paging or paging_options(ctx.settings)

    def send(claimed: Sequence[Claimed]) -> None:
        # Calls come from the calls lane; one here was queued before calls had a lane of their own.
        calls = [c for c in claimed if pages.is_call(c)]
        rest = [c for c in claimed if not pages.is_call(c)]
        outbox.deliver(
            rest, ctx.sessions, sender=sender, now=ctx.clock.now, on_outcome=on_delivery_outcome, at_once=SENDS_AT_ONCE
        )
        ring(calls)

    def ring(calls: Sequence[Claimed]) -> None:
        pages.call(calls, ctx.sessions, dialer=options.dialer, now=ctx.clock.now, limit=max(len(calls), 1))

    def escalate(steps: Sequence[EscalationStep], session: Session, now: datetime) -> None:
        pages.run(steps, session=session, now=now, paging=options)

    # Probes stream: the claim moves each check to its next slot and commits, taking no
    # more than the runner has room for; the probes start at once with no transaction
    # open, and their results are stored, damped and alerted as they come in, a few
    # hundred a transaction, on this turn or a later one.
    probing = runner or ProbeRunner(limit=ctx.settings.probe_concurrency)
    # Claimed more often than the other due work: a probe starts within this of its slot,
    # and a claim of at most `probe_concurrency` a turn keeps up with thousands a minute.
    probe_tick = min(tick, PROBE_TICK)

    def claim_probes(session: Session, now: datetime, limit: int) -> Sequence[Planned]:
        return checks.claim_probes(session=session, now=now, limit=min(limit, probing.room()))

    def take_probed(session: Session, now: datetime, limit: int) -> Sequence[Done]:
        return probing.finished(most=limit)

    def store_probed(done: Sequence[Done], session: Session, now: datetime) -> None:
        try:
            findings = checks.record_results([(p.check_id, r) for p, r in done], session=session, now=now)
            alerts.record_all(findings, session=session, now=now, config=routing)
        except Exception:
            probing.give_back(done)  # rolled back: stored on a later turn, once
            raise

    probed = DueJob("probe-results", probe_tick, STORES, take_probed, store_probed)

    def probe(planned: Sequence[Planned]) -> None:
        probing.start(planned, ctx.clock)
        if probing.settle:
            probing.wait(probing.settle)
            drain(probed, ctx.sessions, ctx.clock)

    return [
        DueJob("feeds", tick, BATCH, _claim(watch.claim_due), watched),
        DueJob("checks", tick, BATCH, _claim(checks.claim_due), deadlines),
        DueJob("pbx", tick, LOOKS, _claim(pbxes.claim_due), after_commit=looked),
        DueJob(
            "alerts",
            tick,
            OPENINGS,
            _claim(alerts.claim_due),
            lambda rows, session, now: alerts.process(rows, session=session, now=now, config=routing),
        ),
        # The desk's: support hours that began, then SLA clocks that warn or breach.
        DueJob("cases", tick, BATCH, _claim(desk_incidents.claim_raise), _handle(desk_incidents.raise_urgency)),
        DueJob("cases", tick, BATCH, _claim(desk.claim_due), _handle(desk.check_clocks)),
        # Escalations: steps due, then acknowledgements that timed out.
        DueJob("escalation", paging_tick, STEPS, _claim(pages.claim_due), escalate, lane="paging"),
        DueJob(
            "escalation", paging_tick, BATCH, _claim(pages.claim_ack_due), _handle(pages.ack_timed_out), lane="paging"
        ),
        DueJob(
            "notify",
            paging_tick,
            SENDS,
            _claim(partial(outbox.claim_to_send, calls=False)),
            after_commit=send,
            lane="notify",
        ),
        # Calls ring for up to a minute: in a lane of their own, claimed no more than may ring at once,
        # so no message waits behind a phone and no claimed call waits past its lease for its turn.
        DueJob(
            "calls",
            paging_tick,
            ctx.settings.voice_calls,
            _claim(partial(outbox.claim_to_send, calls=True)),
            after_commit=ring,
            lane="calls",
        ),
        # One batch a turn: a batch behind on the network never keeps the others waiting.
        DueJob("probes", probe_tick, PROBES, claim_probes, after_commit=probe, most=1),
        probed,
    ]


def jobs(
    ctx: Runtime,
    inbox: Path | None = None,
    live: Callable[[], object] | None = None,
    runner: ProbeRunner | None = None,
) -> list[Job | DueJob[Any]]:
    """Every job of `serve`: `live` (the demo's suppliers), the due work, retention, the inbox."""
    from watchkeeper.alerts.service import RoutingConfig
    from watchkeeper.checks.pbxes import prune as prune_snapshots
    from watchkeeper.checks.service import prune_pings, prune_probe_results
    from watchkeeper.feeds.service import apply_retention

    routing = RoutingConfig.from_settings(ctx.settings)

    def retention() -> None:
        with transaction(ctx.sessions) as session:
            apply_retention(session=session, clock=ctx.clock, settings=ctx.settings)
            prune_pings(session=session, now=ctx.clock.now(), days=ctx.settings.ping_retention_days)
            prune_probe_results(session=session, now=ctx.clock.now(), days=ctx.settings.probe_retention_days)
            prune_snapshots(session=session, now=ctx.clock.now(), days=ctx.settings.pbx_snapshot_retention_days)

    listed: list[Job | DueJob[Any]] = []
    if live is not None:  # first, so the feeds are topped up before the feed watcher looks at them
        listed.append(Job("demo-feeds", timedelta(minutes=1), live))
    listed += due_jobs(ctx, routing, runner)
    listed.append(Job("retention", timedelta(hours=1), retention))
    if inbox is not None:
        listed.append(Job("inbox", timedelta(seconds=5), lambda: _scan(ctx, inbox, routing)))
    return listed


def _scan(ctx: Runtime, inbox: Path, routing: RoutingConfig) -> None:
    from watchkeeper.alerts import service as alerts
    from watchkeeper.feeds.inbox import scan_inbox

    def file_alerts(session: Session, findings: list[Finding]) -> None:
        # Duplicates, gaps and unreadable files, in the transaction of the file that raised them.
        alerts.record_all(findings, session=session, now=ctx.clock.now(), config=routing)

    scan_inbox(inbox, ctx.sessions, clock=ctx.clock, settings=ctx.settings, on_findings=file_alerts)


def _claim(claim: Callable[..., Sequence[Any]]) -> Callable[[Session, datetime, int], Sequence[Any]]:
    """A domain's `claim_due(*, session, now, limit)` as a DueJob claims."""
    return lambda session, now, limit: claim(session=session, now=now, limit=limit)


def _handle(handle: Callable[..., object]) -> Callable[[Sequence[Any], Session, datetime], object]:
    """A domain's `handle(rows, *, session, now)` as a DueJob handles."""
    return lambda rows, session, now: handle(rows, session=session, now=now)
