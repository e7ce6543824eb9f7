"""What `incidents show` and GET /api/v1/incidents/N tell of an incident's alerts."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth.service import create_token
from watchkeeper.clock import SystemClock
from watchkeeper.config import get_settings
from watchkeeper.db import make_engine, transaction
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.web.app import create_app
from watchkeeper.wiring import sessionmaker as wired_sessions

from ..conftest import NOW

RUNBOOK = "https://wiki.example/runbooks/pbx-down"


def pbx_down(now):
    return Finding(
        "alertmanager/1/abc",
        "alertmanager",
        None,
        Severity.CRITICAL,
        State.FIRING,
        "pbx-1 is down",
        now,
        labels={"alertname": "PBXDown", "instance": "pbx-1"},
        details={"annotations": {"summary": "pbx-1 is down", "runbook_url": RUNBOOK}},
    )


def test_the_runbook_link_of_an_alertmanager_alert_is_shown_on_the_command_line(run):
    run("db", "upgrade")
    engine = make_engine(get_settings().database_url)
    now = SystemClock().now()
    with transaction(wired_sessions(engine)) as session:
        record(pbx_down(now), session=session, now=now, config=RoutingConfig(group_wait=timedelta(0)))
    engine.dispose()
    assert f"runbook: {RUNBOOK}" in run("incidents", "show", "1").output
    assert run("incidents", "stats").output.startswith("1 incident in the last 30d: 0 acknowledged")


def test_the_runbook_link_is_in_the_apis_incident(db, clock):
    with transaction(db.sessions) as session:
        record(pbx_down(NOW), session=session, now=NOW, config=RoutingConfig(group_wait=timedelta(0)))
        token = create_token(session=session, clock=clock, name="anna", role="engineer").token
    api = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    api.headers["Authorization"] = f"Bearer {token}"
    (alert,) = api.get("/api/v1/incidents/1").json()["alerts"]
    assert alert["runbook_url"] == RUNBOOK
