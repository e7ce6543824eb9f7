"""The faces of escalation: `watchkeeper oncall`, /api/v1/oncall, a rule per user, ack links, `incidents show`."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from watchkeeper.auth.service import create_token
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.incidents.service import get
from watchkeeper.notify.models import Notification
from watchkeeper.support import service as desk
from watchkeeper.web.app import create_app

from ..conftest import NOW
from .escalation_helpers import engineers, escalate, fire, policy, said


def test_a_policy_its_route_and_rules_from_the_command_line(run):
    assert run("users", "add", "alice", "--role", "engineer").exit_code == 0
    added = run(
        "oncall", "policies", "add", "ops",
        "--level", "users=alice;timeout=15m", "--level", "schedule=primary;timeout=30m",
        "--repeat", "2", "--ack-timeout", "4h",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = json.loads(run("oncall", "policies", "show", "ops", "--json").output)
    assert shown == {
        "name": "ops",
        "repeat": 2,
        "ack_timeout": "4h",
        "levels": [
            {"users": ["alice"], "schedule": None, "timeout": "15m"},
            {"users": [], "schedule": "primary", "timeout": "30m"},
        ],
    }
    assert "1. alice; then 15m" in run("oncall", "policies", "list").output
    assert run("oncall", "routes", "add", "ops", "--match", "customer=Acme").exit_code == 0
    assert json.loads(run("oncall", "routes", "list", "--json").output)[0]["matchers"] == ["customer=Acme"]
    for channel, after in (("mailto://alice@example.com", "0m"), ("sip:+4930111", "5m")):
        done = run("oncall", "rules", "add", "alice", "--channel", channel, "--after", after)
        assert done.exit_code == 0, done.output
    assert json.loads(run("oncall", "rules", "list", "alice", "--json").output) == [
        {"id": 1, "urgency": "high", "channel": "mailto://example.com", "after": "0m"},
        {"id": 2, "urgency": "high", "channel": "sip:+4930111", "after": "5m"},
    ]
    refused = run("oncall", "policies", "remove", "ops")
    assert refused.exit_code == 1 and "used by 1 route(s)" in refused.output


@pytest.mark.parametrize(
    ("args", "said_"),
    [
        (("--level", "users=nobody"), "no user 'nobody'"),
        (("--level", "timeout=15m"), "pages nobody: give users=NAME"),
        (("--level", "users=alice;timeout=soon"), "'soon' is not a duration"),
        (("--level", "users=alice;wait=1m"), "a level takes users=, schedule= and timeout="),
        ((), "needs at least one level"),
    ],
)
def test_a_policy_that_cannot_page_is_refused_with_what_to_write(run, args, said_):
    run("users", "add", "alice", "--role", "engineer")
    done = run("oncall", "policies", "add", "ops", *args)
    assert done.exit_code == 1
    assert said_ in " ".join(done.output.split())


def test_a_rule_on_no_channel_is_refused(run):
    run("users", "add", "alice", "--role", "engineer")
    done = run("oncall", "rules", "add", "alice", "--channel", "phone")
    assert done.exit_code == 1 and "or sip:NUMBER for a voice call" in " ".join(done.output.split())


@pytest.fixture
def paged(db):
    """alice paged for incident 1, level 1, on an app with the test's database and a simulated clock."""
    clock = SimulatedClock(NOW)
    engineers(db, NOW)
    policy(db, NOW, "users=alice;timeout=15m", "users=bob")
    incident = fire(db, NOW)
    escalate(db, clock)
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="anna").token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    return db, clock, client, incident


def test_the_api_shows_who_is_paged_now_and_what_comes_next(paged):
    _, _, api, incident = paged
    body = api.get(f"/api/v1/incidents/{incident}").json()
    assert body["paging"] == {
        "policy": "ops",
        "status": "active",
        "urgency": "high",
        "level": 1,
        "paged": [
            {
                "user": "alice",
                "channel": "mailto://127.0.0.1:25",
                "status": "pending",
                "at": "2026-11-23T12:00:00+00:00",
            },
            {
                "user": "alice",
                "channel": "mailto://127.0.0.1:25",
                "status": "pending",
                "at": "2026-11-23T12:02:00+00:00",
            },
            {"user": "alice", "channel": "sip:+4930111", "status": "pending", "at": "2026-11-23T12:05:00+00:00"},
        ],
        "next": {"at": "2026-11-23T12:15:00+00:00", "what": "level 2: bob; then 30m"},
    }


def test_an_ack_link_acknowledges_as_its_user_once_and_stops_the_paging(paged):
    db, clock, api, incident = paged
    with transaction(db.sessions) as session:
        body = session.scalars(select(Notification.body).order_by(Notification.id)).first()
    link = re.search(r"Acknowledge: http://127\.0\.0\.1:8080(/ack/\S+)", body).group(1)
    anyone = {"Authorization": ""}
    assert api.get(link.replace("/ack/", "/ack/x"), headers=anyone).status_code == 404
    page = api.get(link, headers=anyone)
    assert page.status_code == 200 and "Acknowledge as alice: stop paging" in page.text
    with transaction(db.sessions) as session:
        assert get(incident, session=session).status == "triggered"  # opening it did nothing
    clock.advance(timedelta(minutes=1))
    done = api.post(link, headers=anyone)
    assert "is acknowledged by alice; paging stopped" in done.text
    with transaction(db.sessions) as session:
        assert get(incident, session=session).acknowledged_by == "alice"
    assert "escalation stopped: acknowledged by alice" in said(db, incident)[-1]
    again = api.post(link, headers=anyone)
    assert "Nothing to acknowledge" in again.text and "is acknowledged" in again.text
    clock.advance(timedelta(minutes=30))
    escalate(db, clock)
    assert api.get(f"/api/v1/incidents/{incident}").json()["paging"]["next"] is None


def test_policies_routes_and_rules_over_the_api_staff_only_and_strict(paged):
    db, clock, api, _ = paged
    made = api.post(
        "/api/v1/oncall/policies",
        json={"name": "night", "levels": [{"users": ["bob"], "timeout": "10m"}], "repeat": 1, "ack_timeout": "4h"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["levels"] == [{"users": ["bob"], "schedule": None, "timeout": "10m"}]
    assert (
        api.post("/api/v1/oncall/policies", json={"name": "x", "levels": [{"users": ["bob"]}], "x": 1}).status_code
        == 422
    )
    assert api.post("/api/v1/oncall/routes", json={"policy": "night", "matchers": ["customer=Acme"]}).status_code == 201
    assert [r["policy"] for r in api.get("/api/v1/oncall/routes").json()] == ["ops", "night"]
    rule = api.post("/api/v1/users/bob/rules", json={"urgency": "low", "channel": "sip:+4930222", "after": "1m"})
    assert rule.status_code == 201 and rule.json()["after"] == "1m"
    assert api.post("/api/v1/users/bob/rules", json={"channel": "nope"}).status_code == 422
    with transaction(db.sessions) as session:
        desk.add_plan(session=session, now=NOW, name="24x7", hours="24x7")
        acme = desk.add_customer(session=session, now=NOW, name="Acme", plan="24x7", service_pattern="acme-.*")
        customer_token = create_token(session=session, clock=clock, name="acme", role="customer", customer_id=acme.id)
    assert (
        api.get("/api/v1/oncall/policies", headers={"Authorization": f"Bearer {customer_token.token}"}).status_code
        == 403
    )


def test_incidents_ack_on_the_command_line_stops_the_escalation(run, tmp_path):
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
    shown_ = run("incidents", "show", "1")
    assert "paging: policy ops, active, high urgency" in shown_.output
    assert "next: level 1: bob; then 10m" in shown_.output
    done = run("incidents", "ack", "1", "--by", "bob")
    assert done.exit_code == 0, done.output
    shown_ = run("incidents", "show", "1")
    assert "paging: policy ops, acknowledged" in shown_.output and "next: nothing more" in shown_.output
    timeline = [e["message"] for e in json.loads(run("incidents", "show", "1", "--json").output)["timeline"]]
    assert timeline[-1] == "escalation stopped: acknowledged by bob; 1 step(s) and 0 page(s) not sent cancelled"
