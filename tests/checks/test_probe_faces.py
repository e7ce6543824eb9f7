"""Probe checks through the command line and /api/v1/checks: added, listed, shown, refused."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from watchkeeper.auth.service import create_token
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.web.app import create_app

from ..conftest import NOW


@pytest.fixture
def api(db):
    clock = SimulatedClock(NOW)
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    with transaction(db.sessions) as session:
        client.headers["Authorization"] = f"Bearer {create_token(session=session, clock=clock, name='ops').token}"
    return client


def test_the_api_adds_each_kind_of_probe_with_its_options(api):
    bodies = [
        {
            "kind": "http",
            "name": "shop",
            "url": "https://shop.example/health",
            "expected_status": "200-299",
            "keyword": "ok",
            "interval_seconds": 30,
            "headers": {"X-Token": "t"},
        },
        {"kind": "tcp", "name": "db1", "host": "db1.example", "port": 5432, "fail_after": 3},
        {"kind": "tls", "name": "cert", "host": "shop.example", "warn_days": 30},
        {"kind": "dns", "name": "mx", "resolve": "example.com", "record_type": "MX", "expected": ["10 mx.example.com"]},
        {"kind": "sip", "name": "pbx", "host": "pbx1.example", "transport": "tcp"},
    ]
    for body in bodies:
        made = api.post("/api/v1/checks", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["kind"] == body["kind"] and made.json()["status"] == "new"
    shown = {c["name"]: c for c in api.get("/api/v1/checks").json()}
    assert shown["shop"]["period_seconds"] == 30
    assert shown["shop"]["settings"]["headers"] == [["X-Token", "t"]]
    assert shown["db1"]["fail_after"] == 3 and shown["db1"]["settings"]["timeout"] == 5.0
    assert shown["mx"]["settings"]["name"] == "example.com" and shown["mx"]["settings"]["expected"] == [
        "10 mx.example.com"
    ]
    assert shown["pbx"]["settings"] == {
        "host": "pbx1.example",
        "port": 5060,
        "transport": "tcp",
        "timeout": 5.0,
        "user": None,
    }
    one = api.get("/api/v1/checks/shop").json()
    assert one["results"] == [] and one["due_at"] is not None
    heartbeat = api.post("/api/v1/checks", json={"name": "backup", "period_seconds": 3600})
    assert heartbeat.status_code == 201 and heartbeat.json()["kind"] == "heartbeat"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"kind": "http", "name": "x", "url": "https://a.example", "expect": "200"}, "Extra inputs are not permitted"),
        ({"kind": "tcp", "name": "x", "host": "db1", "port": 70000}, "less than or equal to 65535"),
        ({"kind": "tcp", "name": "x", "host": "db1"}, "Field required"),
        ({"kind": "sip", "name": "x", "host": "pbx", "transport": "sctp"}, "'udp' or 'tcp'"),
        ({"kind": "gopher", "name": "x"}, "gopher"),
        ({"kind": "http", "name": "x", "url": "ftp://a.example"}, "is not an http:// or https:// URL"),
        ({"kind": "http", "name": "x", "url": "https://a.example", "expected_status": "fine"}, "is not a code"),
        ({"kind": "dns", "name": "x", "resolve": "a.example", "record_type": "AX"}, "not a DNS record type"),
        ({"name": "x", "url": "https://a.example"}, "Extra inputs are not permitted"),
        (
            {"kind": "http", "name": "x", "url": "https://a.example", "interval_seconds": 1},
            "greater than or equal to 10",
        ),
    ],
)
def test_the_api_refuses_a_probe_it_cannot_run_with_a_422_saying_why(api, body, said):
    refused = api.post("/api/v1/checks", json=body)
    assert refused.status_code == 422
    assert said in refused.text
    assert api.get("/api/v1/checks").json() == []


def test_the_cli_adds_lists_and_shows_probes(run):
    added = run(
        "checks",
        "add",
        "shop",
        "--http",
        "https://shop.example/health",
        "--expect",
        "200-299",
        "--keyword",
        "ok",
        "--interval",
        "30s",
        "--timeout",
        "3",
        "--json",
    )
    assert added.exit_code == 0, added.output
    shop = json.loads(added.output)
    assert (shop["kind"], shop["period_seconds"]) == ("http", 30)
    assert (shop["settings"]["expected_status"], shop["settings"]["keyword"], shop["settings"]["timeout"]) == (
        "200-299",
        "ok",
        3.0,
    )
    assert run("checks", "add", "db1", "--tcp", "db1.example:5432", "--fail-after", "3").exit_code == 0
    assert (
        run("checks", "add", "cert", "--tls", "shop.example", "--warn-days", "30", "--critical-days", "10").exit_code
        == 0
    )
    assert (
        run(
            "checks", "add", "mx", "--dns", "example.com", "--record-type", "MX", "--expect", "10 mx.example.com"
        ).exit_code
        == 0
    )
    said = run("checks", "add", "pbx", "--sip", "pbx1.example:5080", "--transport", "tcp").output
    assert "added sip check pbx: sip:pbx1.example:5080 over tcp every 60 s" in said
    rows = {r["name"]: r for r in json.loads(run("checks", "list", "--json").output)}
    assert rows["cert"]["settings"]["port"] == 443 and rows["cert"]["settings"]["critical_days"] == 10
    assert rows["db1"]["fail_after"] == 3 and rows["mx"]["settings"]["expected"] == ["10 mx.example.com"]
    assert rows["pbx"]["settings"] == {
        "host": "pbx1.example",
        "port": 5080,
        "transport": "tcp",
        "timeout": 5.0,
        "user": None,
    }
    listed = run("checks", "list").output
    assert "pbx1.example:5080" in listed and "sip" in listed
    shown = run("checks", "show", "db1").output
    assert "db1 new  tcp db1.example:5432" in shown and "down after 3 failures in a row" in shown


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--http", "ftp://shop.example"], "is not an http:// or https:// URL"),
        (["--tcp", "db1.example:99999"], "port 99999 is not between 1 and 65535"),
        (["--tcp", "db1.example"], "give --tcp as HOST:PORT"),
        (["--http", "https://a.example", "--tcp", "db1:5432"], "a check probes one thing"),
        (["--tcp", "db1:5432", "--keyword", "ok"], "--keyword is for --http"),
        (["--sip", "pbx1", "--transport", "sctp"], "transport 'sctp' is not one of: udp, tcp"),
        (["--http", "https://a.example", "--interval", "5s"], "from 10 s to a day"),
        (["--expect", "200"], "--expect and --keyword are for a probe"),
    ],
)
def test_the_cli_refuses_a_probe_it_cannot_run_saying_why(run, args, said):
    assert run("checks", "add", "backup").exit_code == 0
    refused = run("checks", "add", "x", *args)
    assert refused.exit_code != 0
    assert said in " ".join(refused.output.split())
    assert [c["name"] for c in json.loads(run("checks", "list", "--json").output)] == ["backup"]
