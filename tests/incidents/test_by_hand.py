"""An incident resolved or closed by hand while its alert still fires: the alert is raised again at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth.service import create_token
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.web.app import create_app

from ..conftest import NOW


@pytest.fixture
def api(db, clock):
    with transaction(db.sessions) as session:
        session.add(
            Service(
                name="acme-cdr", stage="production", first_seen=NOW, last_seen=NOW, last_received_at=NOW, created_at=NOW
            )
        )
        session.flush()
        record(
            Finding(
                "feed/acme-cdr/silence",
                "feeds",
                "acme-cdr",
                Severity.CRITICAL,
                State.FIRING,
                "no records from acme-cdr since 11:20",
                NOW,
                labels={"service": "acme-cdr"},
            ),
            session=session,
            now=NOW,
            config=RoutingConfig(group_wait=timedelta(0)),
        )
        token = create_token(session=session, clock=clock, name="anna", role="engineer").token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def kinds(api, incident_id):
    return [e["kind"] for e in api.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]]


def test_resolving_by_hand_while_the_alert_fires_raises_it_again_at_once(api):
    (first,) = api.get("/api/v1/incidents").json()
    answer = api.post(f"/api/v1/incidents/{first['id']}/resolve", json={"note": "restarted the exporter"})
    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert moved["status"] == "resolved"
    (still,) = moved["still_firing"]
    assert (still["outcome"], still["summary"], still["silence_matchers"]) == (
        "raised",
        "no records from acme-cdr since 11:20",
        ["service=acme-cdr"],
    )
    (alert,) = api.get("/api/v1/alerts").json()
    assert (alert["status"], alert["incident_id"]) == ("firing", still["incident_id"])
    second = api.get(f"/api/v1/incidents/{still['incident_id']}").json()
    assert second["status"] == "triggered" and second["id"] != first["id"]
    assert "alert_released" in kinds(api, first["id"])
    # The resolved incident still lists its alert, which says where it is now.
    assert [a["incident_id"] for a in api.get(f"/api/v1/incidents/{first['id']}").json()["alerts"]] == [second["id"]]
    carried = [e["message"] for e in second["timeline"] if e["kind"] == "alert_carried_over"]
    assert carried == [f"alert {alert['id']} still fired when incident {first['id']} was resolved by anna"]


def test_silenced_it_is_recorded_muted_and_the_incident_closes(api):
    (first,) = api.get("/api/v1/incidents").json()
    second = api.post(f"/api/v1/incidents/{first['id']}/resolve").json()["still_firing"][0]["incident_id"]
    silence = api.post(
        "/api/v1/silences",
        json={
            "matchers": ["service=acme-cdr"],
            "duration": "PT2H",
            "created_by": "anna",
            "comment": "exporter being replaced",
        },
    )
    assert silence.status_code == 201, silence.text
    (still,) = api.post(f"/api/v1/incidents/{second}/resolve").json()["still_firing"]
    assert (still["outcome"], still["incident_id"]) == ("muted", None)
    assert "exporter being replaced" in still["muted_reason"]
    closed = api.post(f"/api/v1/incidents/{second}/close")
    assert (closed.status_code, closed.json()["still_firing"]) == (200, [])
    assert [i["status"] for i in api.get("/api/v1/incidents").json()] == ["closed", "resolved"]
    (alert,) = api.get("/api/v1/alerts").json()
    assert (alert["status"], alert["muted"], alert["incident_id"]) == ("firing", "silenced", None)


def test_an_alert_left_firing_in_a_resolved_incident_is_raised_when_it_is_closed(api, db):
    # As incidents resolved before alerts were raised again hold them.
    from watchkeeper.alerts.models import Alert
    from watchkeeper.incidents.models import Incident

    (first,) = api.get("/api/v1/incidents").json()
    with transaction(db.sessions) as session:
        incident = session.get(Incident, first["id"])
        incident.status, incident.open_key, incident.resolved_by, incident.resolved_at = "resolved", None, "bo", NOW
        assert session.query(Alert).one().incident_id == first["id"]
    (still,) = api.post(f"/api/v1/incidents/{first['id']}/close").json()["still_firing"]
    assert still["outcome"] == "raised"
    assert api.get(f"/api/v1/incidents/{still['incident_id']}").json()["status"] == "triggered"


def test_acknowledging_leaves_the_alert_where_it_is(api):
    (first,) = api.get("/api/v1/incidents").json()
    assert api.post(f"/api/v1/incidents/{first['id']}/acknowledge").status_code == 200
    (alert,) = api.get("/api/v1/alerts").json()
    assert alert["incident_id"] == first["id"]
    assert len(api.get("/api/v1/incidents").json()) == 1
