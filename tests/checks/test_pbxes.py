"""PBXs as the scheduler watches them: each look over the AMI (against the
protocol-faithful server of ami_server.py; Asterisk is not packaged here),
its snapshot, the alerts it raises, and the OPTIONS check as their parent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.checks.ami_server import Serving, serving
from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.models import Alert, Dependency
from watchkeeper.alerts.routing import MuteKind
from watchkeeper.checks import pbxes
from watchkeeper.checks.models import Check, CheckKind, CheckStatus, PbxSnapshot
from watchkeeper.checks.probe_rules import alert_key
from watchkeeper.checks.runner import ProbeRunner
from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.errors import Conflict, Invalid
from watchkeeper.finding import Finding, Severity, State, Urgency
from watchkeeper.incidents.service import list_incidents
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

from ..conftest import NOW

CLOSED_PORT = "127.0.0.1:9"  # discard: nothing answers OPTIONS there


@pytest.fixture
def pbx() -> Iterator[Serving]:
    with serving() as running:
        yield running


class Desk:
    """The database, a simulated clock and serve's scheduler, as an operator's server runs them."""

    def __init__(self, db, pbx: Serving) -> None:
        self.db, self.pbx = db, pbx
        self.clock = SimulatedClock(NOW)
        self.scheduler = Scheduler(
            jobs(Context(settings=db.settings, clock=self.clock), runner=ProbeRunner(settle=10)),
            clock=self.clock,
            sessions=db.sessions,
        )

    def add(self, name: str = "fra1", **more) -> None:
        more.setdefault("config_files", ("pjsip.conf",))
        spec = pbxes.PbxInput(
            name=name, ami=f"127.0.0.1:{self.pbx.port}", username="watchkeeper", secret="s3cret", **more
        )
        with transaction(self.db.sessions) as session:
            pbxes.add(spec, session=session, now=self.clock.now())

    def look(self, name: str = "fra1") -> None:
        """Wait until the PBX is due and run the scheduler once."""
        with transaction(self.db.sessions) as session:
            due = session.scalar(select(Check.due_at).where(Check.name == name))
        if due is not None and due > self.clock.now():
            self.clock.advance((due - self.clock.now()).total_seconds())
        self.scheduler.run_due()

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.scheduler.run_due()

    def alert(self, key: str) -> Alert | None:
        with transaction(self.db.sessions) as session:
            return session.scalars(select(Alert).where(Alert.dedup_key == key).order_by(Alert.id.desc())).first()

    def shown(self, name: str = "fra1") -> dict:
        with transaction(self.db.sessions) as session:
            return pbxes.pbx_detail(pbxes.get(name, session=session), session=session, now=self.clock.now())


@pytest.fixture
def desk(db, pbx) -> Desk:
    return Desk(db, pbx)


def test_a_scheduled_look_stores_what_the_pbx_said_and_is_due_again_an_interval_later(desk):
    desk.add()
    desk.look()
    shown = desk.shown()
    snap = shown["snapshot"]
    assert [(t["name"], t["status"]) for t in snap["trunks"]] == [
        ("carrier-a", "Registered"),
        ("carrier-b", "Rejected"),
    ]
    assert (snap["channels"], snap["calls"]) == (2, 1)
    assert set(snap["config_hashes"]) == {"pjsip.conf"} and len(snap["config_hashes"]["pjsip.conf"]) == 64
    assert shown["status"] == CheckStatus.UP and shown["last_look_at"] == NOW
    assert NOW < shown["due_at"] <= NOW + timedelta(seconds=60)
    assert [a["action"] for a in desk.pbx.server.actions][0] == "Login"
    desk.look()
    assert [(r["channels"], r["calls"]) for r in desk.shown()["readings"]] == [(2, 1), (2, 1)]


def test_a_rejected_trunk_fires_and_resolves_when_it_registers_again(desk):
    desk.add()
    desk.look()
    rejected = desk.alert("ami:fra1:trunk:carrier-b")
    assert rejected is not None and rejected.status is State.FIRING and "Rejected" in rejected.summary
    assert desk.alert("ami:fra1:trunk:carrier-a") is None  # registered: nothing to say
    desk.pbx.server.answers["pjsipshowregistrationsoutbound"] = "pjsip_registrations_all_registered.txt"
    desk.look()
    resolved = desk.alert("ami:fra1:trunk:carrier-b")
    assert resolved is not None and resolved.id == rejected.id and resolved.status is State.RESOLVED


def test_a_restart_outside_maintenance_is_a_low_urgency_alert_and_on_the_timeline(desk):
    desk.add()
    desk.look()
    desk.pbx.server.answers["corestatus"] = "core_status_restarted.txt"
    desk.look()
    restarted = desk.alert("ami:fra1:reload")
    assert restarted is not None and restarted.status is State.FIRING
    assert restarted.urgency is Urgency.LOW and "restarted" in restarted.summary
    assert [c["change"] for c in desk.shown()["changes"]] == [restarted.summary]
    desk.look()  # the next look sees no new start: the change is noted, the alert resolves
    assert desk.alert("ami:fra1:reload").status is State.RESOLVED


def test_a_restart_inside_a_maintenance_window_is_only_on_the_timeline(desk):
    desk.add()
    desk.look()
    with transaction(desk.db.sessions) as session:
        mutes.add_window(
            session=session,
            now=desk.clock.now(),
            name="upgrade",
            matchers=["pbx=fra1"],
            created_by="ops",
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=2),
        )
    desk.pbx.server.answers["corestatus"] = "core_status_restarted.txt"
    desk.look()
    assert desk.alert("ami:fra1:reload") is None
    [change] = desk.shown()["changes"]
    assert change["change"].startswith("PBX fra1 restarted at 2026-11-23T11:59:48")


def test_a_changed_config_file_is_a_low_urgency_alert(desk):
    desk.add()
    desk.look()
    desk.pbx.server.answers["getconfig:pjsip.conf"] = "getconfig_pjsip_changed.txt"
    desk.look()
    changed = desk.alert("ami:fra1:config:pjsip.conf")
    assert changed is not None and changed.status is State.FIRING and changed.urgency is Urgency.LOW
    assert changed.summary == "PBX fra1: config file pjsip.conf changed"
    assert desk.shown()["changes"][0]["change"] == changed.summary


def test_a_pbx_whose_manager_port_is_closed_raises_the_link_alert(desk):
    desk.add()
    desk.look()
    desk.pbx.stop()
    desk.look()
    down = desk.alert("ami:fra1:ami")
    assert down is not None and down.status is State.FIRING and "cannot connect" in down.summary
    shown = desk.shown()
    assert shown["status"] == CheckStatus.DOWN
    assert len(shown["readings"]) == 1  # a look that got no answer stores no snapshot


def test_a_wrong_secret_raises_the_link_alert_saying_so(desk):
    spec = pbxes.PbxInput(name="fra1", ami=f"127.0.0.1:{desk.pbx.port}", username="watchkeeper", secret="wrong")
    with transaction(desk.db.sessions) as session:
        pbxes.add(spec, session=session, now=NOW)
    desk.look()
    down = desk.alert("ami:fra1:ami")
    assert down is not None and down.status is State.FIRING and "Authentication failed" in down.summary


def _options_down(desk: Desk) -> None:
    """The OPTIONS check's alert, as the probes job records it when OPTIONS go unanswered
    (probe_rules.finding_for: its key, the check's labels, check= and kind=)."""
    with transaction(desk.db.sessions) as session:
        options = session.scalar(select(Check).where(Check.name == "fra1-options"))
        finding = Finding(
            dedup_key=alert_key(options.name),
            source="checks",
            service=None,
            severity=Severity.CRITICAL,
            state=State.FIRING,
            summary=f"fra1-options ({CLOSED_PORT}): no answer to OPTIONS within 5 s",
            observed_at=desk.clock.now(),
            labels={**options.labels, "check": options.name, "kind": "sip", "target": CLOSED_PORT},
        )
        alerts.record_all([finding], session=session, now=desk.clock.now())


def test_with_the_options_check_firing_the_trunk_alert_is_muted_and_one_incident_opens(desk):
    desk.add(sip=CLOSED_PORT)
    _options_down(desk)
    desk.look()
    desk.wait(31)  # the group wait
    trunk, options = desk.alert("ami:fra1:trunk:carrier-b"), desk.alert("check/fra1-options")
    assert trunk is not None and options is not None and trunk.status is State.FIRING
    assert (trunk.muted, trunk.muted_ref) == (MuteKind.INHIBITED, options.id)
    assert "by rule 'pbx fra1'" in trunk.muted_reason
    with transaction(desk.db.sessions) as session:
        [incident] = list_incidents(session=session)
        joined = session.scalars(select(Alert.dedup_key).where(Alert.incident_id == incident.id)).all()
    assert joined == ["check/fra1-options"]


def test_with_the_options_check_up_the_trunk_alert_opens_its_own_incident(desk):
    desk.add(sip=CLOSED_PORT)
    desk.look()
    desk.wait(31)
    trunk = desk.alert("ami:fra1:trunk:carrier-b")
    assert trunk is not None and trunk.muted is None and trunk.incident_id is not None


def test_adding_a_pbx_with_sip_makes_the_options_check_and_the_rule(desk):
    desk.add(sip="127.0.0.1:5062", sip_transport="tcp")
    with transaction(desk.db.sessions) as session:
        options = session.scalar(select(Check).where(Check.name == "fra1-options"))
        ami = session.scalar(select(Check).where(Check.name == "fra1"))
        [rule] = session.scalars(select(Dependency)).all()
        assert options.kind is CheckKind.SIP and options.period_seconds == 60 and options.due_at == NOW
        assert options.settings == {"host": "127.0.0.1", "port": 5062, "transport": "tcp", "timeout": 5.0, "user": None}
        assert ami.settings["secret"].startswith("wk1:") and "s3cret" not in str(ami.settings)
        assert (rule.name, rule.parent, rule.child) == (
            "pbx fra1",
            ['check="fra1-options"'],
            ['pbx="fra1"', 'kind=~"trunk|reload|ami"'],
        )


def test_removing_a_pbx_removes_its_checks_looks_and_rule_and_resolves_its_alerts(desk):
    desk.add(sip=CLOSED_PORT)
    desk.look()
    with transaction(desk.db.sessions) as session:
        pbxes_check = pbxes.get("fra1", session=session)
        with pytest.raises(Conflict, match="pbx remove fra1"):
            from watchkeeper.checks import service

            service.remove(pbxes_check, session=session, now=NOW)
    with transaction(desk.db.sessions) as session:
        findings = pbxes.remove(pbxes.get("fra1", session=session), session=session, now=desk.clock.now())
        alerts.record_all(findings, session=session, now=desk.clock.now())
    with transaction(desk.db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 0
        assert session.scalar(select(func.count()).select_from(Dependency)) == 0
        assert session.scalar(select(func.count()).select_from(PbxSnapshot)) == 0
    assert desk.alert("ami:fra1:trunk:carrier-b").status is State.RESOLVED


def test_a_look_claimed_by_another_worker_is_not_looked_at_twice(desk):
    desk.add()
    with transaction(desk.db.sessions) as session:
        claimed = pbxes.claim_due(session=session, now=NOW, limit=10)
        assert [c.pbx.name for c in claimed] == ["fra1"] and claimed[0].target.secret == "s3cret"
    with transaction(desk.db.sessions) as session:  # the lease holds it out of the next claim's reach
        assert pbxes.claim_due(session=session, now=NOW + timedelta(seconds=60), limit=10) == []


def test_retention_keeps_each_pbx_last_look_however_old(desk):
    desk.add()
    desk.look()
    desk.look()
    with transaction(desk.db.sessions) as session:
        assert pbxes.prune(session=session, now=desk.clock.now() + timedelta(days=40), days=31) == 1
        assert session.scalar(select(func.count()).select_from(PbxSnapshot)) == 1
    desk.look()  # still compared with the one kept: no restart seen
    assert desk.alert("ami:fra1:reload") is None


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("ami", "pbx1:99999", "port must be a number from 1 to 65535"),
        ("ami", "pbx 1", "is not an AMI address"),
        ("sip", "[::1", "IPv6 SIP address"),
        ("config_files", ("../etc/passwd",), "no folders"),
        ("secret", "", "AMI secret is 1 to 200"),
        ("zone", "Mars/Olympus", "unknown time zone"),
        ("sip_transport", "tls", "udp or tcp"),
    ],
)
def test_bad_input_is_refused_saying_what_to_write(db, field, value, said):
    options = {"name": "fra1", "ami": "pbx1", "username": "wk", "secret": "s3cret", field: value}
    with transaction(db.sessions) as session, pytest.raises(Invalid, match=said):
        pbxes.add(pbxes.PbxInput(**options), session=session, now=NOW)


def test_a_second_pbx_of_the_same_name_is_refused(db):
    spec = pbxes.PbxInput(name="fra1", ami="pbx1", username="wk", secret="s3cret")
    with transaction(db.sessions) as session:
        pbxes.add(spec, session=session, now=NOW)
    with transaction(db.sessions) as session, pytest.raises(Conflict, match="a check named 'fra1' exists"):
        pbxes.add(spec, session=session, now=NOW)


def test_an_answer_that_cannot_be_read_is_that_pbx_link_alert_and_the_others_are_still_looked_at(desk):
    with serving() as other:
        desk.add("fra1")
        spec = pbxes.PbxInput(name="ber1", ami=f"127.0.0.1:{other.port}", username="watchkeeper", secret="s3cret")
        with transaction(desk.db.sessions) as session:
            pbxes.add(spec, session=session, now=NOW)
        desk.pbx.server.answers["corestatus"] = "core_status_bad_calls.txt"
        desk.look()
    down = desk.alert("ami:fra1:ami")
    assert down is not None and down.status is State.FIRING and "could not be read" in down.summary
    assert desk.shown("fra1")["snapshot"] is None
    assert desk.shown("ber1")["snapshot"]["channels"] == 2


def test_pausing_a_pbx_resolves_its_trunk_and_link_alerts_and_pauses_its_options_check(desk):
    desk.add(sip=CLOSED_PORT)
    desk.add("ham1", config_files=())
    desk.look()
    assert desk.alert("ami:fra1:trunk:carrier-b").status is State.FIRING
    with transaction(desk.db.sessions) as session:
        findings = pbxes.pause(pbxes.get("fra1", session=session), session=session, now=desk.clock.now())
        alerts.record_all(findings, session=session, now=desk.clock.now())
    assert desk.alert("ami:fra1:trunk:carrier-b").status is State.RESOLVED
    assert desk.alert("ami:ham1:trunk:carrier-b").status is State.FIRING  # another PBX's: untouched
    with transaction(desk.db.sessions) as session:
        options = session.scalar(select(Check).where(Check.name == "fra1-options"))
        assert (options.status, options.due_at) == (CheckStatus.PAUSED, None)
        pbxes.resume(pbxes.get("fra1", session=session), session=session, now=desk.clock.now())
        assert options.status is CheckStatus.NEW and options.due_at is not None


def test_pausing_a_pbx_whose_manager_link_is_down_resolves_the_link_alert(desk):
    desk.add()
    desk.look()
    desk.pbx.stop()
    desk.look()
    assert desk.alert("ami:fra1:ami").status is State.FIRING
    with transaction(desk.db.sessions) as session:
        findings = pbxes.pause(pbxes.get("fra1", session=session), session=session, now=desk.clock.now())
        alerts.record_all(findings, session=session, now=desk.clock.now())
    assert desk.alert("ami:fra1:ami").status is State.RESOLVED


def test_a_paused_pbx_is_not_looked_at_and_resumed_it_is_at_once(desk):
    from watchkeeper.checks import service

    desk.add()
    with transaction(desk.db.sessions) as session:
        service.pause(pbxes.get("fra1", session=session), session=session, now=NOW)
    desk.wait(120)
    assert desk.shown()["snapshot"] is None
    with transaction(desk.db.sessions) as session:
        service.resume(pbxes.get("fra1", session=session), session=session, now=desk.clock.now())
    desk.wait(1)
    assert desk.shown()["snapshot"] is not None


def test_a_name_too_long_for_its_options_check_is_refused_saying_why(db):
    spec = pbxes.PbxInput(name="p" * 191, ami="pbx1", username="wk", secret="s3cret")
    with transaction(db.sessions) as session, pytest.raises(Invalid, match="at most 190 characters"):
        pbxes.add(spec, session=session, now=NOW)


def test_the_hourly_retention_job_prunes_old_looks(desk):
    desk.add()
    desk.look()
    desk.look()
    desk.clock.advance(timedelta(days=40))
    [retention] = [j for j in jobs(Context(settings=desk.db.settings, clock=desk.clock)) if j.name == "retention"]
    retention.run()
    with transaction(desk.db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(PbxSnapshot)) == 1
