"""`watchkeeper oncall ...`, as an operator runs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def desk(run):
    for name in ("ann", "bob", "cho"):
        assert run("users", "add", name, "--role", "engineer").exit_code == 0
    assert run("oncall", "schedules", "add", "primary", "--timezone", "Europe/Berlin").exit_code == 0
    added = run(
        "oncall",
        "layers",
        "add",
        "primary",
        "--users",
        "ann,bob",
        "--shift",
        "1d",
        "--handoff",
        "09:00",
        "--start",
        "2026-01-05",
    )
    assert added.exit_code == 0, added.output
    return run


def test_shifts_of_a_week_show_the_daily_handoff_at_0900_local(desk):
    shown = desk("oncall", "shifts", "primary", "--days", "3", "--from", "2026-03-28T09:00", "--json")
    shifts = json.loads(shown.output)
    # Berlin moves its clocks forward on 29 March 2026: 09:00 is 08:00 UTC before, 07:00 UTC after.
    assert [(s["start"], s["user"]) for s in shifts] == [
        ("2026-03-28T08:00:00Z", "ann"),  # 82 days after the start: ann's turn
        ("2026-03-29T07:00:00Z", "bob"),
        ("2026-03-30T07:00:00Z", "ann"),
    ]
    text = desk("oncall", "shifts", "primary", "--days", "1", "--from", "2026-03-29T09:00").output
    assert "Sun 2026-03-29 09:00 CEST" in text and "bob" in text


def test_a_restricted_layer_and_an_override_show_in_who_and_shifts(desk):
    assert (
        desk(
            "oncall",
            "layers",
            "add",
            "primary",
            "--users",
            "cho",
            "--shift",
            "1w",
            "--start",
            "2026-01-05",
            "--restrict",
            "Mon-Fri 12:00-13:00",
        ).exit_code
        == 0
    )
    made = desk("oncall", "override", "primary", "bob", "--from", "2026-12-01T12:30", "--to", "2026-12-01T14:00")
    assert made.exit_code == 0 and "override 1: bob on call" in made.output
    shifts = json.loads(
        desk("oncall", "shifts", "primary", "--days", "1", "--from", "2026-12-01T10:00", "--json").output
    )
    assert [(s["start"][11:16], s["user"]) for s in shifts] == [
        ("09:00", "ann"),  # times in UTC; Berlin is UTC+1 in December
        ("11:00", "cho"),
        ("11:30", "bob"),
        ("13:00", "ann"),
        ("08:00", "bob"),
    ]
    who = json.loads(desk("oncall", "who", "--at", "2026-12-01T11:15:00Z", "--json").output)
    assert who == [
        {
            "schedule": "primary",
            "schedule_id": 1,
            "tz": "Europe/Berlin",
            "now": {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T11:30:00Z", "user": "cho"},
            "next": {"start": "2026-12-01T11:30:00Z", "end": "2026-12-01T13:00:00Z", "user": "bob"},
        }
    ]
    shown = desk("oncall", "schedules", "show", "primary").output
    assert "Mon-Fri 12:00-13:00" in shown and "ann, bob" in shown
    assert desk("oncall", "overrides", "remove", "primary", "1").exit_code == 0
    who = json.loads(desk("oncall", "who", "--at", "2026-12-01T11:45:00Z", "--json").output)
    assert who[0]["now"]["user"] == "cho"


def test_who_reads_now_from_the_clock_and_says_nobody_in_a_gap(desk):
    assert desk("oncall", "schedules", "add", "later", "--timezone", "UTC").exit_code == 0
    assert desk("oncall", "layers", "add", "later", "--users", "cho", "--start", "2099-01-05").exit_code == 0
    text = desk("oncall", "who").output
    assert "primary" in text and "later" in text and "nobody" in text
    rows = {r["schedule"]: r for r in json.loads(desk("oncall", "who", "--json").output)}
    assert rows["later"]["now"] is None
    now = datetime.now(UTC)
    assert _at(rows["primary"]["now"]["start"]) <= now < _at(rows["primary"]["now"]["end"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("oncall", "schedules", "add", "x", "--timezone", "Berlin"), "unknown time zone 'Berlin'"),
        (("oncall", "layers", "add", "primary", "--users", "ann,zed", "--start", "2026-01-05"), "no user 'zed'"),
        (("oncall", "layers", "add", "primary", "--users", "ann", "--start", "soon"), "not a date"),
        (
            ("oncall", "layers", "add", "primary", "--users", "ann", "--start", "2026-01-05", "--shift", "1month"),
            "not a shift length",
        ),
        (
            ("oncall", "override", "primary", "ann", "--from", "2026-12-01T14:00", "--to", "2026-12-01T12:00"),
            "must end after it starts",
        ),
        (
            ("oncall", "override", "primary", "zed", "--from", "2026-12-01T12:00", "--to", "2026-12-01T14:00"),
            "no user 'zed'",
        ),
        (("oncall", "shifts", "nowhere"), "no schedule 'nowhere'"),
        (("oncall", "layers", "remove", "primary", "3"), "has no layer 3"),
    ],
)
def test_bad_input_is_refused_with_a_message(desk, args, message):
    refused = desk(*args)
    assert refused.exit_code != 0
    assert message in " ".join(refused.output.split())


def test_list_and_remove_a_schedule(desk):
    listed = json.loads(desk("oncall", "schedules", "list", "--json").output)
    assert [(s["name"], s["tz"], len(s["layers"])) for s in listed] == [("primary", "Europe/Berlin", 1)]
    assert "removed schedule primary" in desk("oncall", "schedules", "remove", "primary").output
    assert "no schedules" in desk("oncall", "schedules", "list").output


def test_calendar_prints_a_secret_url(desk):
    url = desk("oncall", "calendar", "primary", "--base-url", "https://desk.example.com/").output.strip()
    assert url.startswith("https://desk.example.com/api/v1/schedules/1/calendar.ics?key=") and len(url) > 80
    assert "/api/v1/users/ann/oncall.ics?key=" in desk("oncall", "calendar", "--user", "ann").output
    assert "1 calendar URL(s) revoked" in desk("oncall", "calendar", "primary", "--revoke").output
