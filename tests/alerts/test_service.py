"""Alerts to incidents on SQLite and PostgreSQL: group wait, mutes, dependencies, flapping, lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.service import RoutingConfig
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service, ServiceStage
from watchkeeper.finding import Finding, Severity, State, Urgency
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Action, InvalidTransition, Status
from watchkeeper.incidents.models import Incident

CONFIG = RoutingConfig(group_wait=timedelta(seconds=30), flap_window=timedelta(minutes=15), flap_threshold=4)


def finding(
    key="disk/db1",
    state=State.FIRING,
    *,
    service=None,
    severity=Severity.CRITICAL,
    summary="disk full",
    labels=None,
    at=None,
    urgency=Urgency.HIGH,
):
    from tests.conftest import NOW

    return Finding(
        dedup_key=key,
        source="generic",
        service=service,
        severity=severity,
        state=state,
        summary=summary,
        observed_at=at or NOW,
        labels=labels or {"alertname": "DiskFull", "instance": "db1"},
        urgency=urgency,
    )


class Desk:
    """Record findings and run the scheduler's routing job on a frozen clock."""

    def __init__(self, db, clock, config=CONFIG):
        self.db, self.clock, self.config = db, clock, config

    def send(self, *findings):
        with transaction(self.db.sessions) as session:
            return [alerts.record(f, session=session, now=self.clock.now(), config=self.config) for f in findings]

    def after(self, seconds):
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        with transaction(self.db.sessions) as session:
            return alerts.process_due(session=session, now=self.clock.now(), config=self.config)

    def incidents(self, **filters):
        with transaction(self.db.sessions) as session:
            return incidents.list_incidents(session=session, **filters)

    def timeline(self, incident_id):
        with transaction(self.db.sessions) as session:
            return [(e.kind, e.message) for e in incidents.timeline(incident_id, session=session)]

    def alert(self, alert_id):
        with transaction(self.db.sessions) as session:
            return session.get(Alert, alert_id)

    def do(self, fn, **kwargs):
        with transaction(self.db.sessions) as session:
            return fn(session=session, now=self.clock.now(), **kwargs)


@pytest.fixture
def desk(db, clock):
    return Desk(db, clock)


def test_an_alert_opens_an_incident_after_the_group_wait(desk):
    (alert,) = desk.send(finding())
    assert desk.incidents() == []
    desk.after(29)
    assert desk.incidents() == []
    desk.after(1)
    (incident,) = desk.incidents()
    assert (incident.status, incident.group_key, incident.urgency) == (
        "triggered",
        "alertname=DiskFull,instance=db1",
        "high",
    )
    assert [k for k, _ in desk.timeline(incident.id)] == ["opened", "alert_joined"]
    assert desk.alert(alert.id).incident_id == incident.id


def test_alerts_raised_together_join_one_incident_and_later_ones_join_it_at_once(desk):
    desk.send(finding("feed/voip-de/silence", service="voip-de", labels={"service": "voip-de"}))
    desk.after(10)
    desk.send(finding("feed/voip-de/drop", service="voip-de", labels={"service": "voip-de"}, severity=Severity.ERROR))
    desk.after(20)
    (incident,) = desk.incidents()
    desk.send(finding("feed/voip-de/surge", service="voip-de", labels={"service": "voip-de"}))
    kinds = [k for k, _ in desk.timeline(incident.id)]
    assert kinds == ["opened", "alert_joined", "alert_joined", "alert_joined"]


def test_a_repeat_is_one_alert_with_a_count(desk):
    first, again = desk.send(finding(), finding(summary="disk full (98%)"))
    assert first.id == again.id
    alert = desk.alert(first.id)
    assert (alert.count, alert.summary) == (2, "disk full (98%)")


def test_a_blip_that_resolves_within_the_group_wait_opens_no_incident(desk):
    desk.send(finding())
    desk.after(5)
    desk.send(finding(state=State.RESOLVED, summary="disk ok"))
    desk.after(60)
    assert desk.incidents() == []


def test_an_incident_resolves_when_its_last_alert_resolves(desk):
    desk.send(finding("a"), finding("b", labels={"alertname": "DiskFull", "instance": "db1", "mount": "/var"}))
    desk.after(30)
    desk.send(finding("a", State.RESOLVED, summary="ok"))
    assert desk.incidents()[0].status == "triggered"
    desk.send(finding("b", State.RESOLVED, summary="ok"))
    (incident,) = desk.incidents()
    assert (incident.status, incident.resolved_by) == ("resolved", "watchkeeper")
    assert desk.timeline(incident.id)[-1] == ("resolved", "resolved by watchkeeper: all its alerts resolved")


def test_without_auto_resolve_the_incident_waits_for_a_person(db, clock):
    desk = Desk(db, clock, RoutingConfig(group_wait=timedelta(0), auto_resolve=False))
    desk.send(finding())
    desk.send(finding(state=State.RESOLVED, summary="ok"))
    (incident,) = desk.incidents()
    assert incident.status == "triggered"
    assert desk.timeline(incident.id)[-1][0] == "all_alerts_resolved"


def test_lifecycle_with_who_and_when_and_refused_moves(desk, clock):
    desk.send(finding())
    desk.after(30)
    (incident,) = desk.incidents()
    desk.do(lambda session, now: incidents.act(incident.id, Action.ACKNOWLEDGE, actor="anna", session=session, now=now))
    with pytest.raises(InvalidTransition, match="cannot acknowledge incident: it is acknowledged"):
        desk.do(
            lambda session, now: incidents.act(incident.id, Action.ACKNOWLEDGE, actor="bob", session=session, now=now)
        )
    desk.after(600)
    desk.do(
        lambda session, now: incidents.add_note(incident.id, "cleared /var/log", actor="anna", session=session, now=now)
    )
    desk.do(
        lambda session, now: incidents.act(
            incident.id, Action.RESOLVE, actor="anna", note="disk cleaned", session=session, now=now
        )
    )
    desk.do(lambda session, now: incidents.act(incident.id, Action.CLOSE, actor="bob", session=session, now=now))
    (incident,) = desk.incidents()
    assert (incident.status, incident.acknowledged_by, incident.closed_by) == ("closed", "anna", "bob")
    assert desk.timeline(incident.id)[2:] == [
        ("acknowledged", "acknowledged by anna"),
        ("note", "cleared /var/log"),
        ("resolved", "resolved by anna: disk cleaned"),
        ("alert_released", "alert 1 still fires (disk full): it leaves this incident and is raised again"),
        ("closed", "closed by bob"),
    ]
    with transaction(desk.db.sessions) as session:
        times = incidents.response_times(session=session, since=clock.now() - timedelta(days=1), until=clock.now())
    assert (times.incidents, times.mtta, times.mttr) == (1, timedelta(0), timedelta(seconds=600))


def test_the_timeline_cannot_be_rewritten(desk):
    from watchkeeper.incidents.models import TimelineEntry

    desk.send(finding())
    desk.after(30)
    with pytest.raises(RuntimeError, match="append-only"):
        with transaction(desk.db.sessions) as session:
            entry = session.query(TimelineEntry).first()
            entry.message = "nothing happened"
            session.flush()


def test_a_silenced_alert_is_recorded_and_raised_when_the_silence_is_expired(desk):
    silence = desk.do(
        mutes.add_silence,
        matchers=["instance=db1"],
        ends_at=desk.clock.now() + timedelta(hours=2),
        created_by="anna",
        comment="disk swap tonight",
    )
    (alert,) = desk.send(finding())
    desk.after(60)
    assert desk.incidents() == []
    muted = desk.alert(alert.id)
    assert muted.muted == "silenced" and "disk swap tonight" in muted.muted_reason
    desk.do(lambda session, now: mutes.expire_silence(silence.id, session=session, now=now))
    desk.after(1)
    (incident,) = desk.incidents()
    assert "no longer muted (it was silenced by silence" in desk.timeline(incident.id)[1][1]


def test_an_alert_still_firing_when_the_maintenance_window_ends_is_raised_then(desk):
    now = desk.clock.now()
    desk.do(
        mutes.add_window,
        name="db patching",
        matchers=["instance=db1"],
        created_by="ops",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=55),
    )
    (alert,) = desk.send(finding())
    assert desk.alert(alert.id).due_at == now + timedelta(minutes=55)
    desk.after(54 * 60)
    assert desk.incidents() == []
    desk.after(60)
    (incident,) = desk.incidents()
    assert "maintenance window 'db patching'" in desk.timeline(incident.id)[1][1]


def test_an_alert_that_resolves_inside_the_window_never_pages(desk):
    now = desk.clock.now()
    desk.do(
        mutes.add_window,
        name="db patching",
        matchers=["instance=db1"],
        created_by="ops",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    desk.send(finding())
    desk.after(600)
    desk.send(finding(state=State.RESOLVED, summary="ok"))
    desk.after(3600)
    assert desk.incidents() == []


def test_a_parents_alert_mutes_its_dependants_and_its_incident_says_so(desk):
    desk.do(
        mutes.add_dependency,
        name="trunks depend on their PBX",
        parent=["alertname=PBXDown"],
        child=["alertname=TrunkDown"],
        equal=["instance"],
    )
    pbx = {"alertname": "PBXDown", "instance": "pbx-1"}
    trunk = {"alertname": "TrunkDown", "instance": "pbx-1", "trunk": "carrier-a"}
    (parent,) = desk.send(finding("pbx-1", labels=pbx, summary="PBX pbx-1 unreachable"))
    (child,) = desk.send(finding("trunk-a", labels=trunk, summary="trunk carrier-a down"))
    desk.after(30)
    (incident,) = desk.incidents()
    assert incident.group_key == "alertname=PBXDown,instance=pbx-1"
    assert desk.alert(child.id).muted == "inhibited"
    muted_entries = [m for k, m in desk.timeline(incident.id) if k == "dependent_muted"]
    assert len(muted_entries) == 1 and "trunk carrier-a down" in muted_entries[0]
    # The PBX comes back but the trunk is still down: now the trunk is news.
    desk.send(finding("pbx-1", State.RESOLVED, labels=pbx, summary="pbx up"))
    desk.after(1)
    trunk_incident = desk.incidents(status=Status.TRIGGERED)
    assert [i.group_key for i in trunk_incident] == ["alertname=TrunkDown,instance=pbx-1"]


def test_a_flapping_alert_is_held_as_one_until_it_stays_resolved(desk):
    desk.send(finding())
    desk.after(30)
    keys = set()
    for _ in range(4):
        desk.after(60)
        desk.send(finding(state=State.RESOLVED, summary="ok"))
        desk.after(60)
        keys.update(a.id for a in desk.send(finding()))
    desk.after(60)
    desk.send(finding(state=State.RESOLVED, summary="ok"))
    # First cycle resolves for real (one change is not flapping); from then on it is one held alert.
    assert len(keys) == 1
    (held,) = [desk.alert(i) for i in keys]
    assert held.flapping and held.status == "firing"
    open_incidents = desk.incidents(status=Status.TRIGGERED)
    assert len(open_incidents) == 1
    desk.after(15 * 60)
    assert desk.alert(held.id).status == "resolved"
    assert desk.incidents(status=Status.TRIGGERED) == []
    assert "alert_flapping" in [k for k, _ in desk.timeline(open_incidents[0].id)]


def test_test_services_and_warnings_make_low_urgency_incidents(desk, db, clock):
    with transaction(db.sessions) as session:
        now = clock.now()
        session.add(
            Service(
                name="trial-feed",
                stage=ServiceStage.TEST,
                first_seen=now,
                last_seen=now,
                last_received_at=now,
                created_at=now,
            )
        )
    desk.send(
        finding("t", service="trial-feed", labels={"service": "trial-feed"}),
        finding("w", severity=Severity.WARNING, labels={"alertname": "Cpu", "instance": "x"}),
    )
    desk.after(30)
    assert {i.urgency for i in desk.incidents()} == {"low"}
    assert len(desk.incidents(urgency=Urgency.LOW)) == 2
    desk.send(finding("c", labels={"alertname": "Cpu", "instance": "x"}, summary="cpu pegged"))
    raised = [i for i in desk.incidents() if i.group_key == "alertname=Cpu,instance=x"][0]
    assert raised.urgency == "high"
    assert "urgency_raised" in [k for k, _ in desk.timeline(raised.id)]


def test_a_resolved_incident_does_not_take_new_alerts(desk):
    desk.send(finding())
    desk.after(30)
    (first,) = desk.incidents()
    desk.do(lambda session, now: incidents.act(first.id, Action.RESOLVE, actor="anna", session=session, now=now))
    desk.send(finding("other", labels={"alertname": "DiskFull", "instance": "db1", "mount": "/"}))
    desk.after(30)
    assert len(desk.incidents()) == 2
    with transaction(desk.db.sessions) as session:
        assert session.query(Incident).filter(Incident.open_key.is_not(None)).count() == 1


def test_a_batch_of_findings_sees_what_it_changed_itself(db, clock):
    """A webhook or a scheduler tick records many findings at once; each one sees what those before it did."""
    config = RoutingConfig(group_wait=timedelta(0), flap_window=timedelta(minutes=15), flap_threshold=4)
    pbx = {"alertname": "Down", "instance": "pbx1"}
    batch = [  # one service, so one group
        finding("down/pbx1", service="pbx1", labels=pbx, summary="pbx1 down"),
        finding("sip/pbx1", service="pbx1", labels={**pbx, "alertname": "SipDown"}, summary="sip down"),
        finding("down/pbx1", service="pbx1", labels=pbx, summary="pbx1 still down"),
        finding("down/pbx1", State.RESOLVED, service="pbx1", labels=pbx, summary="pbx1 up"),
        finding("down/pbx1", service="pbx1", labels=pbx, summary="pbx1 down again"),
    ]
    with transaction(db.sessions) as session:
        down, sip, repeat, resolved, again = alerts.record_all(batch, session=session, now=clock.now(), config=config)
        assert down is repeat is resolved
        assert (down.status, down.count, again.status, again.count) == ("resolved", 2, "firing", 1)
        assert again is not down
        # The flap history goes on from the alert resolved a moment before, in the same batch.
        assert len(again.changes) == 3
        ids = (down.incident_id, sip.incident_id, again.incident_id)
    desk = Desk(db, clock, config)
    (incident,) = desk.incidents()
    assert ids == (incident.id,) * 3
    kinds = [kind for kind, _ in desk.timeline(incident.id)]
    assert kinds == ["opened", "alert_joined", "alert_joined", "alert_resolved", "alert_joined"]


def test_a_weekly_window_given_as_hours_is_stored_as_its_days_and_times(desk):
    window = desk.do(
        mutes.add_window,
        name="night",
        matchers=["instance=db1"],
        created_by="ops",
        timezone="Europe/Berlin",
        hours="Mon-Fri 22:00-02:00",
    )
    assert (window.weekdays, window.start_time, window.end_time) == ("Mon,Tue,Wed,Thu,Fri", "22:00", "02:00")
    assert alerts.window_rule(window).describe() == "Mon,Tue,Wed,Thu,Fri 22:00-02:00 (Europe/Berlin)"


@pytest.mark.parametrize(
    "when,message",
    [
        ({"hours": "Sun 01:00-05:00; Mon 01:00-02:00"}, "one day group and one time range, like 'Sun 01:00-05:00'"),
        ({"hours": "Sun 01:00-05:00", "weekdays": "Sun"}, "not both"),
        ({"hours": "Moonday 01:00-05:00"}, "days are Mon..Sun"),
    ],
)
def test_a_weekly_window_in_a_bad_spelling_is_refused_with_what_to_write(desk, when, message):
    with pytest.raises(ValueError, match=message):
        desk.do(mutes.add_window, name="x", matchers=["instance=db1"], created_by="ops", **when)
