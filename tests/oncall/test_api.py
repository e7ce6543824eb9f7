"""/api/v1/schedules as staff and calendar apps use it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from watchkeeper.auth.service import create_token
from watchkeeper.auth.users import add_user
from watchkeeper.db import transaction
from watchkeeper.support.service import add_customer, add_plan
from watchkeeper.web.app import create_app

from ..conftest import NOW  # Monday 23 November 2026, 12:00 UTC


@pytest.fixture
def app(db, clock):
    with transaction(db.sessions) as session:
        for name in ("ann", "bob"):
            add_user(session=session, now=NOW, name=name, role="engineer")
        add_plan(session=session, now=NOW, name="basic", hours="24x7")
        customer = add_customer(session=session, now=NOW, name="acme", plan="basic")
        staff = create_token(session=session, clock=clock, name="ops").token
        theirs = create_token(session=session, clock=clock, name="acme", role="customer", customer_id=customer.id).token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    return client, staff, theirs


@pytest.fixture
def api(app):
    client, staff, _ = app
    client.headers["Authorization"] = f"Bearer {staff}"
    made = client.post("/api/v1/schedules", json={"name": "primary", "tz": "Europe/Berlin"})
    assert made.status_code == 201, made.text
    layer = client.post(
        f"/api/v1/schedules/{made.json()['id']}/layers",
        json={"users": ["ann", "bob"], "shift": "1d", "handoff": "09:00", "start": "2026-11-23"},
    )
    assert layer.status_code == 201, layer.text
    return client


def test_create_a_schedule_with_a_layer_and_ask_who_is_on_call(api):
    (schedule,) = api.get("/api/v1/schedules").json()
    assert schedule["layers"] == [
        {
            "number": 1,
            "name": "",
            "users": ["ann", "bob"],
            "shift": "1d",
            "handoff": "09:00",
            "start": "2026-11-23",
            "restrictions": None,
        }
    ]
    who = api.get(f"/api/v1/schedules/{schedule['id']}/who").json()
    assert who["now"] == {"start": "2026-11-23T08:00:00Z", "end": "2026-11-24T08:00:00Z", "user": "ann"}
    assert who["next"]["user"] == "bob"
    assert api.get("/api/v1/oncall", params={"at": "2026-11-24T09:00:00Z"}).json()[0]["now"]["user"] == "bob"


def test_an_override_shows_in_the_shifts_and_goes_when_removed(api):
    sid = api.get("/api/v1/schedules").json()[0]["id"]
    made = api.post(
        f"/api/v1/schedules/{sid}/overrides",
        json={"user": "bob", "start": "2026-11-23T13:00:00+01:00", "end": "2026-11-23T15:00:00+01:00"},
    )
    assert made.status_code == 201, made.text
    shifts = api.get(f"/api/v1/schedules/{sid}/shifts", params={"days": 1}).json()
    assert [(s["start"], s["user"]) for s in shifts] == [
        ("2026-11-23T12:00:00Z", "bob"),
        ("2026-11-23T14:00:00Z", "ann"),
        ("2026-11-24T08:00:00Z", "bob"),
    ]
    assert [o["user"] for o in api.get(f"/api/v1/schedules/{sid}/overrides").json()] == ["bob"]
    assert api.delete(f"/api/v1/schedules/{sid}/overrides/{made.json()['id']}").status_code == 204
    assert api.get(f"/api/v1/schedules/{sid}/who").json()["now"]["user"] == "ann"


@pytest.mark.parametrize(
    ("path", "body", "code", "detail"),
    [
        ("/api/v1/schedules", {"name": "x", "tz": "Mars/Olympus"}, 422, "unknown time zone"),
        ("/api/v1/schedules", {"name": "primary"}, 409, "exists"),
        ("/api/v1/schedules", {"name": "x", "colour": "red"}, 422, "extra"),
        ("/api/v1/schedules/{sid}/layers", {"users": ["zed"], "start": "2026-11-23"}, 404, "no user 'zed'"),
        (
            "/api/v1/schedules/{sid}/layers",
            {"users": ["ann"], "start": "2026-11-23", "shift": "2y"},
            422,
            "not a shift length",
        ),
        (
            "/api/v1/schedules/{sid}/overrides",
            {"user": "ann", "start": "2026-11-23T15:00:00Z", "end": "2026-11-23T13:00:00Z"},
            422,
            "must end after it starts",
        ),
        (
            "/api/v1/schedules/{sid}/overrides",
            {"user": "ann", "start": "2026-11-23T15:00:00", "end": "2026-11-23T16:00:00Z"},
            422,
            "timezone",
        ),
        (
            "/api/v1/schedules/999/overrides",
            {"user": "ann", "start": "2026-11-23T15:00:00Z", "end": "2026-11-23T16:00:00Z"},
            404,
            "no schedule 999",
        ),
    ],
)
def test_bad_requests_are_refused_saying_why(api, path, body, code, detail):
    sid = api.get("/api/v1/schedules").json()[0]["id"]
    answer = api.post(path.format(sid=sid), json=body)
    assert answer.status_code == code, answer.text
    assert detail in str(answer.json()["detail"])


def test_schedules_are_for_staff_only(app):
    client, _, customer = app
    assert client.get("/api/v1/schedules").status_code == 401
    refused = client.get("/api/v1/schedules", headers={"Authorization": f"Bearer {customer}"})
    assert refused.status_code == 403


def test_a_calendar_url_serves_the_shifts_as_icalendar_without_a_bearer_token(api):
    sid = api.get("/api/v1/schedules").json()[0]["id"]
    url = api.post(f"/api/v1/schedules/{sid}/calendar-keys").json()["url"]
    app_fetch = TestClient(api.app)  # a calendar app: no Authorization header
    answer = app_fetch.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(answer.content).walk("VEVENT")
    # The layer began this morning, so nothing before it; then one a day to eight weeks ahead, the last cut there.
    assert len(events) == 8 * 7 + 1
    monday = next(e for e in events if e.decoded("dtstart").isoformat() == "2026-11-23T08:00:00+00:00")
    assert str(monday["summary"]) == "On call: ann (primary)"
    assert monday.decoded("dtend").isoformat() == "2026-11-24T08:00:00+00:00"
    assert app_fetch.get(url.replace("key=", "key=x")).status_code == 404
    assert app_fetch.get(f"/api/v1/schedules/{sid + 1}/calendar.ics?{url.split('?')[1]}").status_code == 404


def test_a_users_calendar_holds_their_shifts_only(api):
    url = api.post("/api/v1/users/bob/calendar-keys").json()["url"]
    events = Calendar.from_ical(TestClient(api.app).get(url).content).walk("VEVENT")
    assert events and all("bob" in str(e["summary"]) for e in events)
    assert TestClient(api.app).get(url.replace("/bob/", "/ann/")).status_code == 404
