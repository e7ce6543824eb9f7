"""The web desk on the test's database and clock: two customers (acme, globex), each with a
service, an incident and a case; ann of the operator's staff, carol of acme, gus of globex,
each with a password."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth import signin
from watchkeeper.auth.customers import get_customer
from watchkeeper.auth.users import add_user
from watchkeeper.db import transaction
from watchkeeper.feeds import service as feeds
from watchkeeper.feeds.ingest import ingest_batch
from watchkeeper.feeds.schemas import ServicePatch
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.support import service as desk
from watchkeeper.support.sla import Priority, Targets
from watchkeeper.web.app import create_app

PASSWORD = "correct horse battery"
NOW_WAIT = RoutingConfig(group_wait=timedelta(0))


@dataclass
class World:
    incidents: dict[str, int]  # customer: its incident
    cases: dict[str, int]  # customer: its case


def fire(db, now, service: str, key: str) -> int:
    with transaction(db.sessions) as session:
        record(
            Finding(key, "feeds", service, Severity.CRITICAL, State.FIRING, f"{service} is silent", now),
            session=session,
            now=now,
            config=NOW_WAIT,
        )
    from watchkeeper.incidents.service import list_incidents

    with transaction(db.sessions) as session:
        return next(i.id for i in list_incidents(session=session, service=service))


def post_usage(db, clock, service: str, minutes: int, count: int) -> None:
    """A supplier's batch: `count` records in each of the `minutes` minutes up to now, as POST /api/v1/usage takes it."""
    now = clock.now()
    rows = [
        {"service": service, "ts": (now - timedelta(minutes=m)).isoformat(), "count": count}
        for m in range(minutes, 0, -1)
    ]
    with transaction(db.sessions) as session:
        ingest_batch(
            json.dumps(rows).encode(),
            "application/json",
            idempotency_key=None,
            session=session,
            clock=clock,
            settings=db.settings,
        )


@pytest.fixture
def world(db, clock) -> World:
    now = clock.now()
    with transaction(db.sessions) as session:
        targets = {p: Targets(first_response=timedelta(hours=4), resolution=timedelta(days=2)) for p in Priority}
        desk.add_plan(session=session, now=now, name="24x7", hours="24x7", targets=targets)
        for name in ("acme", "globex"):
            desk.add_customer(session=session, now=now, name=name, plan="24x7", service_pattern=f"{name}-.*")
            feeds.add_service(session=session, name=f"{name}-voice", patch=ServicePatch(), now=now)
        for name, role, customer in (
            ("ann", "engineer", None),
            ("carol", "customer", "acme"),
            ("gus", "customer", "globex"),
        ):
            customer_id = get_customer(customer, session=session).id if customer else None
            user = add_user(
                session=session,
                now=now,
                name=name,
                role=role,
                customer_id=customer_id,
                channels=[f"mailto://127.0.0.1:2525?to={name}@example.com"],
            )
            signin.set_password(user, PASSWORD)
    incidents = {name: fire(db, now, f"{name}-voice", f"feeds/{name}-voice/silence") for name in ("acme", "globex")}
    with transaction(db.sessions) as session:
        cases = {
            name: desk.open_case(
                session=session, now=now, customer=name, title=f"{name} calls fail", priority=Priority.P2, author="ann"
            ).id
            for name in ("acme", "globex")
        }
    return World(incidents, cases)


@pytest.fixture
def app(db, clock):
    return create_app(settings=db.settings, clock=clock, engine=db.engine)


def form_token(page: str) -> str:
    found = re.search(r'name="(?:csrf|form)" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    page = client.get("/signin")
    return client.post(
        "/signin",
        data={"name": name, "password": password, "form": form_token(page.text), "next": "/"},
        follow_redirects=False,
    )


@pytest.fixture
def browser_for(app):
    """A signed-in TestClient for a user."""

    def make(name: str) -> TestClient:
        client = TestClient(app, base_url="http://desk.test")
        answer = sign_in(client, name)
        assert answer.status_code == 303, answer.text
        return client

    return make


from .browser import chrome, served  # noqa: E402, F401 (the browser tests' fixtures)
