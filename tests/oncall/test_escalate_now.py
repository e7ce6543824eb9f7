"""Escalating now by hand: the next level (after the last, the next pass) is paged at once instead of
after its timeout, from the command line, the API and the service both share, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper import wiring
from watchkeeper.auth.service import create_token
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.errors import Conflict
from watchkeeper.incidents.lifecycle import Action
from watchkeeper.incidents.service import act
from watchkeeper.oncall.paging import escalate_now
from watchkeeper.scheduler import drain
from watchkeeper.web.app import create_app

from ..conftest import NOW
from .escalation_helpers import engineers, escalate, fire, pages, policy, said


def hurry(db, clock, incident, who="anna"):
    with transaction(db.sessions) as session:
        return escalate_now(incident, session=session, now=clock.now(), actor=who)


def paged_users(db, incident):
    return [(user, minute) for user, _, minute, _ in pages(db, incident)]


def test_escalating_goes_level_by_level_into_the_next_pass_and_says_when_none_is_left(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=carol;timeout=15m", "users=bob;timeout=10m", repeat=1)
    incident = fire(db, NOW)
    escalate(db, clock)
    clock.advance(timedelta(minutes=1))
    assert hurry(db, clock, incident).level == 2
    escalate(db, clock)
    clock.advance(timedelta(minutes=1))
    assert hurry(db, clock, incident).level == 1
    escalate(db, clock)
    assert paged_users(db, incident) == [("carol", 0), ("bob", 1), ("carol", 2)]
    assert said(db, incident)[-2:] == [
        "escalated by anna: level 1 of ops, pass 2 paged now instead of at 12:11 UTC",
        "level 1 of ops, pass 2: paging carol (mailto://127.0.0.1:25 at once); level 2 at 12:17 UTC unless acknowledged",
    ]
    hurry(db, clock, incident)
    escalate(db, clock)
    last = hurry(db, clock, incident)
    assert (last.level, last.text) == (None, "escalated by anna: ops has no level left, nobody more is paged")
    assert said(db, incident)[-1] == last.text


def test_asking_twice_before_the_level_runs_moves_it_once(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=carol;timeout=15m", "users=bob")
    incident = fire(db, NOW)
    escalate(db, clock)
    first, second = hurry(db, clock, incident), hurry(db, clock, incident, who="bob")
    assert (first.level, second.level, second.text) == (2, 2, None)
    assert [m for m in said(db, incident) if m.startswith("escalated")] == [first.text]


def test_an_acknowledged_incident_is_not_escalated(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=carol;timeout=15m", "users=bob")
    incident = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:
        act(incident, Action.ACKNOWLEDGE, actor="carol", session=session, now=NOW)
    with pytest.raises(Conflict, match="is acknowledged: its escalation is not paging"):
        hurry(db, clock, incident)


@pytest.fixture
def api(db):
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=carol;timeout=15m", "users=bob")
    incident = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="anna").token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    return clock, client, incident


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_api_escalates_once_per_ask_and_refuses_an_acknowledged_incident(db, api):
    clock, client, incident = api
    clock.advance(timedelta(minutes=3))
    done = client.post(f"/api/v1/incidents/{incident}/escalate")
    assert done.status_code == 200, done.text
    assert done.json() == {
        "incident_id": incident,
        "level": 2,
        "changed": True,
        "message": f"incident {incident} escalated by anna: level 2 of ops paged now instead of at 12:15 UTC",
    }
    again = client.post(f"/api/v1/incidents/{incident}/escalate").json()
    assert (again["changed"], again["message"]) == (
        False,
        f"incident {incident}: level 2 is due now already; nothing changed",
    )
    escalate(db, clock)
    assert paged_users(db, incident)[-1] == ("bob", 3)
    client.post(f"/api/v1/incidents/{incident}/acknowledge")
    refused = client.post(f"/api/v1/incidents/{incident}/escalate")
    assert refused.status_code == 409 and "is acknowledged" in refused.json()["detail"]
    assert client.post("/api/v1/incidents/999/escalate").status_code == 404


def test_incidents_escalate_on_the_command_line_pages_the_next_level_now(run):
    from watchkeeper.alerts.service import RoutingConfig, record
    from watchkeeper.cli.common import context
    from watchkeeper.finding import Finding, Severity, State

    run("users", "add", "bob", "--role", "engineer", "--channel", "mailto://bob@example.com")
    run("users", "add", "carol", "--role", "engineer", "--channel", "mailto://carol@example.com")
    run("oncall", "policies", "add", "ops", "--level", "users=bob;timeout=10m", "--level", "users=carol")
    run("oncall", "routes", "add", "ops")
    ctx = context()
    with ctx.transaction() as session:
        record(
            Finding("x/down", "checks", "x", Severity.CRITICAL, State.FIRING, "x is down", ctx.clock.now()),
            session=session,
            now=ctx.clock.now(),
            config=RoutingConfig(group_wait=timedelta(0)),
        )
    for job in wiring.due_jobs(ctx):
        if job.name == "escalation":
            drain(job, ctx.sessions, ctx.clock)  # level 1 pages bob: what `serve` would do
    done = run("incidents", "escalate", "1", "--by", "bob")
    assert done.exit_code == 0, done.output
    assert re.fullmatch(
        r"incident 1 escalated by bob: level 2 of ops paged now instead of at \d\d:\d\d UTC", done.output.strip()
    )
    again = run("incidents", "escalate", "1")
    assert again.output.strip() == "incident 1: level 2 is due now already; nothing changed"
    nobody = run("incidents", "escalate", "2")
    assert nobody.exit_code == 1 and "no incident 2" in nobody.output
    run("incidents", "ack", "1", "--by", "bob")
    refused = run("incidents", "escalate", "1")
    assert refused.exit_code == 1 and "incident 1 is acknowledged" in " ".join(refused.output.split())
    timeline = [e["message"] for e in json.loads(run("incidents", "show", "1", "--json").output)["timeline"]]
    assert [m for m in timeline if m.startswith("escalated")] == [done.output.strip().removeprefix("incident 1 ")]
