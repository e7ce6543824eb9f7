"""A PBX's real SIP OPTIONS check as the parent of its trunk alerts: the probes due job
sends OPTIONS to a port nothing answers (and later to a real Kamailio), the pbx due job
looks at the PBX over its AMI (tests/checks/ami_server.py, where trunk carrier-b is
Rejected), and what the operator sees is one incident while the PBX is unreachable,
the trunk's alert muted by the rule "pbx fra1" until the PBX answers again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.checks.ami_server import Serving, serving
from tests.checks.test_sip_kamailio import Kamailio
from tests.checks.test_sip_kamailio import pytestmark as needs_kamailio
from watchkeeper import wiring
from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.routing import MuteKind
from watchkeeper.alerts.service import list_alerts
from watchkeeper.checks import pbxes
from watchkeeper.checks.models import Check, CheckStatus
from watchkeeper.checks.runner import ProbeRunner
from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.finding import State
from watchkeeper.incidents.service import list_incidents
from watchkeeper.scheduler import drain

from ..conftest import NOW

pytestmark = [needs_kamailio, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]

TRUNK = "ami:fra1:trunk:carrier-b"


@pytest.fixture
def ami() -> Iterator[Serving]:
    with serving() as running:
        yield running


class Operator:
    """One PBX added as `watchkeeper pbx add` adds it, and the due jobs `watchkeeper run` ticks."""

    def __init__(self, db, ami: Serving, sip_port: int) -> None:
        self.db, self.clock = db, SimulatedClock(NOW)
        self.jobs = wiring.due_jobs(Context(settings=db.settings, clock=self.clock), runner=ProbeRunner(settle=10))
        spec = pbxes.PbxInput(
            name="fra1",
            ami=f"127.0.0.1:{ami.port}",
            username="watchkeeper",
            secret="s3cret",
            sip=f"127.0.0.1:{sip_port}",
            timeout=1.0,  # the AMI's and the OPTIONS check's
        )
        with transaction(db.sessions) as session:
            pbxes.add(spec, session=session, now=self.clock.now())
            uuid = session.scalar(select(Check.uuid).where(Check.name == "fra1-options"))
        self.options_key = f"check:{uuid}"  # the key the probes job gives a check's alert

    def tick(self, name: str) -> int:
        return sum(drain(job, self.db.sessions, self.clock) for job in self.jobs if job.name == name)

    def probe_when_due(self) -> None:
        with transaction(self.db.sessions) as session:
            due = session.scalar(select(Check.due_at).where(Check.name == "fra1-options"))
        if due is not None and due > self.clock.now():
            self.clock.advance((due - self.clock.now()).total_seconds())
        assert self.tick("probes") == 1

    def options_status(self) -> CheckStatus:
        with transaction(self.db.sessions) as session:
            return session.scalar(select(Check.status).where(Check.name == "fra1-options"))

    def alerts(self) -> dict[str, Alert]:
        """The alerts list, newest first, by key (the newest of each)."""
        with transaction(self.db.sessions) as session:
            listed = list_alerts(session=session)
            session.expunge_all()
        return {a.dedup_key: a for a in reversed(listed)}

    def incidents(self) -> list[tuple[int, str, list[str]]]:
        with transaction(self.db.sessions) as session:
            return [
                (
                    i.id,
                    str(i.status),
                    sorted(session.scalars(select(Alert.dedup_key).where(Alert.incident_id == i.id))),
                )
                for i in sorted(list_incidents(session=session), key=lambda i: i.id)
            ]


def test_the_unanswered_options_check_mutes_the_trunk_alert_and_once_kamailio_answers_it_opens_its_own_incident(
    db, ami, tmp_path
):
    kamailio = Kamailio(tmp_path)  # its port is chosen, nothing listens on it yet
    desk = Operator(db, ami, kamailio.port)
    OPTIONS = desk.options_key  # noqa: N806

    desk.probe_when_due()
    assert desk.options_status() is not CheckStatus.DOWN  # one failure: fail_after is 2
    desk.probe_when_due()
    assert desk.options_status() is CheckStatus.DOWN
    assert desk.alerts()[OPTIONS].status is State.FIRING

    assert desk.tick("pbx") == 1
    desk.clock.advance(31)  # the group wait
    desk.tick("alerts")
    shown = desk.alerts()
    trunk, options = shown[TRUNK], shown[OPTIONS]
    assert trunk.status is State.FIRING and "Rejected" in trunk.summary
    assert (trunk.muted, trunk.muted_ref) == (MuteKind.INHIBITED, options.id)
    assert "by rule 'pbx fra1'" in trunk.muted_reason
    assert trunk.incident_id is None
    [(first, status, joined)] = desk.incidents()
    assert (status, joined) == ("triggered", [OPTIONS])

    kamailio.start()
    try:
        desk.probe_when_due()
    finally:
        kamailio.stop()
    assert desk.options_status() is CheckStatus.UP
    shown = desk.alerts()
    assert shown[OPTIONS].status is State.RESOLVED
    assert shown[TRUNK].muted is MuteKind.INHIBITED  # until the alerts job looks at it again, at once
    desk.tick("alerts")
    shown = desk.alerts()
    assert shown[TRUNK].status is State.FIRING and shown[TRUNK].muted is None
    desk.clock.advance(31)  # its group wait
    desk.tick("alerts")
    incidents = desk.incidents()
    assert incidents[0][0] == first and OPTIONS in incidents[0][2]
    trunk_incident = [i for i in incidents if TRUNK in i[2]]
    assert len(trunk_incident) == 1 and trunk_incident[0][0] != first, incidents
    assert trunk_incident[0][1] == "triggered"
