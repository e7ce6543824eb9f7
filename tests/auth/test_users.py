"""People with roles and channels: tokens speak as them, and cases tell their assignee what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from watchkeeper.auth.service import create_token
from watchkeeper.auth.users import add_user
from watchkeeper.db import transaction
from watchkeeper.notify.models import Notification
from watchkeeper.support import service as desk
from watchkeeper.support.sla import Priority, Targets
from watchkeeper.web.app import create_app

from ..conftest import NOW

ANNA = ["mailto://anna@operator.example", "slack://T000/B000/XXXX/#desk"]


@pytest.fixture
def desk_api(db, clock):
    """24x7 plan with a 1 h first response for P2; Anna (engineer, two channels), Sam (admin), Acme's Carla."""
    with transaction(db.sessions) as session:
        desk.add_plan(
            session=session,
            now=NOW,
            name="24x7",
            hours="24x7",
            auto_case=False,
            targets={Priority.P2: Targets(first_response=timedelta(hours=1))},
        )
        acme = desk.add_customer(session=session, now=NOW, name="Acme", plan="24x7")
        desk.add_customer(session=session, now=NOW, name="Globex", plan="24x7")
        anna = add_user(session=session, now=NOW, name="anna", role="engineer", channels=ANNA)
        sam = add_user(session=session, now=NOW, name="sam", role="admin")
        carla = add_user(
            session=session,
            now=NOW,
            name="carla",
            role="customer",
            customer_id=acme.id,
            channels=["mailto://carla@acme.example"],
        )
        tokens = {
            user.name: create_token(session=session, clock=clock, name=user.name, user=user).token
            for user in (anna, sam, carla)
        }
    app = create_app(settings=db.settings, clock=clock, engine=db.engine)

    def client(who):
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {tokens[who]}"
        return c

    return {name: client(name) for name in tokens} | {"app": app, "clock": clock, "db": db}


def queued(db):
    with transaction(db.sessions) as session:
        return [(n.recipient, n.url, n.title) for n in session.scalars(select(Notification).order_by(Notification.id))]


def test_a_token_made_for_a_user_speaks_with_their_role_and_customer(desk_api):
    carla, anna = desk_api["carla"], desk_api["anna"]
    opened = carla.post("/api/v1/cases", json={"title": "CDRs late", "priority": "p2"})
    assert opened.status_code == 201 and opened.json()["customer"] == "Acme"
    assert carla.get("/api/v1/users").status_code == 403  # a customer is not staff
    assert [c["customer"] for c in anna.get("/api/v1/cases").json()] == ["Acme"]


def test_assigning_a_case_tells_the_assignee_on_each_of_their_channels(desk_api):
    anna, sam = desk_api["anna"], desk_api["sam"]
    case = sam.post("/api/v1/cases", json={"customer": "Acme", "title": "CDRs late", "priority": "p2"}).json()
    assigned = sam.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "anna"})
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "anna"
    assert any(e["kind"] == "assigned" and e["text"] == "assigned to anna" for e in assigned.json()["log"])
    title = f"Case {case['id']} (p2) is yours: CDRs late"
    assert queued(desk_api["db"]) == [("anna", ANNA[0], title), ("anna", ANNA[1], title)]
    # Assigning to oneself tells nobody; to a customer's user or to nobody known is refused.
    assert anna.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "sam"}).json()["assignee"] == "sam"
    assert len(queued(desk_api["db"])) == 2  # sam has no channel
    assert anna.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "carla"}).status_code == 422
    assert anna.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "nobody"}).status_code == 404
    assert desk_api["carla"].post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": None}).status_code == 403


def test_the_assignee_hears_of_the_customers_reply_and_of_the_sla_warning_and_breach(desk_api):
    sam, carla, db, clock = desk_api["sam"], desk_api["carla"], desk_api["db"], desk_api["clock"]
    case = carla.post("/api/v1/cases", json={"title": "CDRs late", "priority": "p2"}).json()
    sam.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "anna"})
    carla.post(f"/api/v1/cases/{case['id']}/replies", json={"text": "still nothing since 09:00"})
    titles = [t for who, url, t in queued(db) if who == "anna" and url == ANNA[0]]
    assert titles[1] == f"Case {case['id']}: customer:carla wrote"
    for minutes in (48, 61):  # 80 % of the hour, then past it
        clock.set(NOW + timedelta(minutes=minutes))
        with transaction(db.sessions) as session:
            desk.process_due(session=session, now=clock.now())
    titles = [t for who, url, t in queued(db) if who == "anna" and url == ANNA[0]]
    assert titles[2].startswith(f"Case {case['id']} (p2): first_response at 80 % of 1:00:00")
    assert titles[3] == f"Case {case['id']} (p2): first_response target of 1:00:00 breached"


def test_only_an_admin_adds_users_and_sets_their_channels(desk_api):
    anna, sam = desk_api["anna"], desk_api["sam"]
    new = {"name": "bo", "role": "engineer", "channels": ["mailto://bo@operator.example"]}
    assert anna.post("/api/v1/users", json=new).status_code == 403
    assert sam.post("/api/v1/users", json=new).status_code == 201
    assert sam.post("/api/v1/users", json=new).status_code == 422  # the name is taken
    bad = sam.put("/api/v1/users/bo/channels", json={"channels": ["bo@operator.example"]})
    assert bad.status_code == 422 and "Apprise URL" in bad.json()["detail"]
    assert sam.put("/api/v1/users/bo/channels", json={"channels": []}).json()["channels"] == []
    listed = {u["name"]: (u["role"], u["customer"]) for u in anna.get("/api/v1/users").json()}
    assert listed == {
        "anna": ("engineer", None),
        "bo": ("engineer", None),
        "carla": ("customer", "Acme"),
        "sam": ("admin", None),
    }


@pytest.mark.parametrize(
    "fields,said",
    [
        ({"name": "x" * 101}, "a user name is at most 100 characters"),
        ({"name": "anna\x07"}, "may not hold control characters"),
        ({"channels": ["://"]}, "is not an Apprise URL"),
        ({"channels": ["mailto://"]}, "is not an Apprise URL"),
        ({"channels": [f"mailto://a{n}@example.com" for n in range(21)]}, "at most 20 channels"),
    ],
)
def test_a_user_name_or_channel_that_cannot_work_is_refused_when_given(db, clock, fields, said):
    with transaction(db.sessions) as session, pytest.raises(ValueError, match=said):
        add_user(session=session, now=NOW, **({"name": "anna", "role": "engineer"} | fields))
    with transaction(db.sessions) as session, pytest.raises(ValueError, match="a token name is at most 100"):
        create_token(session=session, clock=clock, name="t" * 101)
