"""Two customers on one desk: dependencies and grouping never cross from one to the other.

Alerts belong to a customer through their service. What a customer reads
through the API (its alerts, its incidents with their timelines) must never
name another customer's alert, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper.alerts import mutes
from watchkeeper.alerts import service as alerts
from watchkeeper.alerts.service import RoutingConfig
from watchkeeper.auth.service import create_token
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.support import service as desk
from watchkeeper.web.app import create_app

from ..conftest import NOW

IMMEDIATE = RoutingConfig(group_wait=timedelta(0))


class Tenants:
    """Alpha owns a-svc1, Bravo owns b-svc1; `ops-box` is the operator's own, of no customer."""

    def __init__(self, db, clock, config=IMMEDIATE):
        self.db, self.config = db, config
        with transaction(db.sessions) as session:
            desk.add_plan(session=session, now=NOW, name="24x7", hours="24x7", auto_case=False)
            for name in ("a-svc1", "b-svc1", "ops-box"):
                session.add(
                    Service(
                        name=name,
                        stage="production",
                        first_seen=NOW,
                        last_seen=NOW,
                        last_received_at=NOW,
                        created_at=NOW,
                    )
                )
            session.flush()
            alpha = desk.add_customer(session=session, now=NOW, name="Alpha", plan="24x7", service_pattern="a-.*")
            bravo = desk.add_customer(session=session, now=NOW, name="Bravo", plan="24x7", service_pattern="b-.*")
            tokens = {
                "staff": create_token(session=session, clock=clock, name="anna", role="engineer").token,
                "alpha": create_token(
                    session=session, clock=clock, name="alpha-noc", role="customer", customer_id=alpha.id
                ).token,
                "bravo": create_token(
                    session=session, clock=clock, name="bravo-noc", role="customer", customer_id=bravo.id
                ).token,
            }
        app = create_app(settings=db.settings, clock=clock, engine=db.engine)
        self.clients = {}
        for who, token in tokens.items():
            self.clients[who] = TestClient(app)
            self.clients[who].headers["Authorization"] = f"Bearer {token}"

    def send(self, key, service, summary, **labels):
        with transaction(self.db.sessions) as session:
            alerts.record(
                Finding(
                    key,
                    "alertmanager",
                    service,
                    Severity.CRITICAL,
                    State.FIRING,
                    summary,
                    NOW,
                    labels={"service": service, **labels} if service else labels,
                ),
                session=session,
                now=NOW,
                config=self.config,
            )

    def depend(self):
        with transaction(self.db.sessions) as session:
            mutes.add_dependency(
                session=session,
                now=NOW,
                name="trunks on their PBX",
                parent=["alertname=PBXDown"],
                child=["alertname=TrunkDown"],
                equal=["instance"],
            )

    def everything(self, who):
        """All a customer can read of alerts and incidents, as one text."""
        client = self.clients[who]
        seen = [client.get("/api/v1/alerts").json(), client.get("/api/v1/incidents").json()]
        seen += [client.get(f"/api/v1/incidents/{i['id']}").json() for i in seen[1]]
        return json.dumps(seen)

    def alerts_of(self, who):
        return {a["summary"]: a for a in self.clients[who].get("/api/v1/alerts").json()}


@pytest.fixture
def tenants(db, clock):
    return Tenants(db, clock)


def test_one_customers_parent_does_not_mute_another_customers_alert(tenants):
    tenants.depend()
    tenants.send("pbx", "a-svc1", "Alpha PBX down", alertname="PBXDown", instance="pbx-shared")
    tenants.send("trunk", "b-svc1", "BRAVO-SECRET trunk down", alertname="TrunkDown", instance="pbx-shared")
    trunk = tenants.alerts_of("bravo")["BRAVO-SECRET trunk down"]
    assert (trunk["muted"], trunk["muted_reason"]) == (None, None)
    assert trunk["incident_id"] is not None  # Bravo's outage is raised as Bravo's own incident
    assert "Alpha" not in tenants.everything("bravo")
    assert "BRAVO" not in tenants.everything("alpha")
    assert "b-svc1" not in tenants.everything("alpha")


def test_a_parent_still_mutes_its_own_customers_alert(tenants):
    tenants.depend()
    tenants.send("pbx", "a-svc1", "Alpha PBX down", alertname="PBXDown", instance="pbx-shared")
    tenants.send("trunk-a", "a-svc1", "Alpha trunk down", alertname="TrunkDown", instance="pbx-shared")
    tenants.send("trunk-b", "b-svc1", "BRAVO-SECRET trunk down", alertname="TrunkDown", instance="pbx-shared")
    assert tenants.alerts_of("alpha")["Alpha trunk down"]["muted"] == "inhibited"
    (incident,) = tenants.clients["alpha"].get("/api/v1/incidents").json()
    shown = tenants.clients["alpha"].get(f"/api/v1/incidents/{incident['id']}").json()
    muted = [e["message"] for e in shown["timeline"] if e["kind"] == "dependent_muted"]
    assert len(muted) == 1 and "Alpha trunk down" in muted[0]
    assert "BRAVO" not in json.dumps(shown)


def test_the_operators_own_parent_mutes_no_customers_alert(tenants):
    tenants.depend()
    tenants.send("pbx", "ops-box", "shared PBX down", alertname="PBXDown", instance="pbx-shared")
    tenants.send("trunk-b", "b-svc1", "Bravo trunk down", alertname="TrunkDown", instance="pbx-shared")
    trunk = tenants.alerts_of("bravo")["Bravo trunk down"]
    assert (trunk["muted"], trunk["incident_id"] is not None) == (None, True)
    assert "shared PBX" not in tenants.everything("bravo")


def test_a_customers_parent_may_mute_an_alert_of_no_customer(tenants):
    tenants.depend()
    tenants.send("pbx", "a-svc1", "Alpha PBX down", alertname="PBXDown", instance="pbx-shared")
    tenants.send("trunk", None, "trunk to pbx-shared down", alertname="TrunkDown", instance="pbx-shared")
    (trunk,) = [a for a in tenants.clients["staff"].get("/api/v1/alerts").json() if a["summary"].startswith("trunk")]
    assert trunk["muted"] == "inhibited"


def test_two_customers_alerts_with_the_same_group_labels_open_two_incidents(db, clock):
    tenants = Tenants(db, clock, RoutingConfig(group_wait=timedelta(seconds=30), group_by=("alertname", "instance")))
    tenants.send("trunk-a", "a-svc1", "Alpha trunk down", alertname="TrunkDown", instance="pbx-shared")
    tenants.send("trunk-b", "b-svc1", "BRAVO-SECRET trunk down", alertname="TrunkDown", instance="pbx-shared")
    tenants.send("trunk-x", None, "operator trunk down", alertname="TrunkDown", instance="pbx-shared")
    with transaction(db.sessions) as session:
        alerts.process_due(session=session, now=NOW + timedelta(seconds=30), config=tenants.config)
    staff = tenants.clients["staff"].get("/api/v1/incidents").json()
    assert sorted((i["customer"] or "-", i["group_key"]) for i in staff) == [
        ("-", "alertname=TrunkDown,instance=pbx-shared"),
        ("Alpha", "alertname=TrunkDown,customer=Alpha,instance=pbx-shared"),
        ("Bravo", "alertname=TrunkDown,customer=Bravo,instance=pbx-shared"),
    ]
    alpha = tenants.everything("alpha")
    assert "Alpha trunk down" in alpha and "BRAVO" not in alpha and "operator" not in alpha
    assert "Alpha" not in tenants.everything("bravo")


def test_a_customer_label_from_the_sender_does_not_give_an_incident_to_that_customer(tenants):
    tenants.send("x", None, "core router down", alertname="CoreDown", instance="r1", customer="Bravo")
    assert tenants.clients["bravo"].get("/api/v1/incidents").json() == []
    (incident,) = tenants.clients["staff"].get("/api/v1/incidents").json()
    assert incident["customer"] is None
