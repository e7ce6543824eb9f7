"""/api/v1/pbx as staff and customers see it; the PBX's looks against the protocol-faithful AMI server."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.checks.ami_server import serving
from watchkeeper.auth.service import create_token
from watchkeeper.cli.common import Context
from watchkeeper.db import transaction
from watchkeeper.scheduler import Scheduler
from watchkeeper.support.service import add_customer, add_plan
from watchkeeper.web.app import create_app
from watchkeeper.wiring import jobs

SECRET = "s3cret"


def _body(port: int = 5038, **more):
    return {"name": "fra1", "ami": f"127.0.0.1:{port}", "ami_user": "watchkeeper", "ami_secret": SECRET, **more}


def test_add_show_and_remove_a_pbx_and_its_secret_is_never_given_back(api, db, clock):
    with serving() as pbx:
        made = api.post("/api/v1/pbx", json=_body(pbx.port, sip="127.0.0.1:5062", config_files=["pjsip.conf"]))
        assert made.status_code == 201, made.text
        assert made.json()["options_check"] == "fra1-options" and made.json()["sip_transport"] == "udp"
        Scheduler(jobs(Context(settings=db.settings, clock=clock)), clock=clock, sessions=db.sessions).run_due()
    shown = api.get("/api/v1/pbx/fra1")
    assert shown.status_code == 200
    body = shown.json()
    assert [(t["name"], t["status"]) for t in body["snapshot"]["trunks"]] == [
        ("carrier-a", "Registered"),
        ("carrier-b", "Rejected"),
    ]
    assert body["readings"] == [{"at": "2026-11-23T12:00:00Z", "channels": 2, "calls": 1}]
    scraped = api.get("/metrics").text
    assert 'watchkeeper_pbx_channels_active{pbx="fra1"} 2.0' in scraped
    assert 'watchkeeper_pbx_calls_active{pbx="fra1"} 1.0' in scraped
    assert all(SECRET not in r.text for r in (made, shown, api.get("/api/v1/pbx"), api.get("/api/v1/checks/fra1")))
    assert [r["name"] for r in api.get("/api/v1/dependencies").json()] == ["pbx fra1"]
    assert api.delete("/api/v1/pbx/fra1").status_code == 204
    assert api.get("/api/v1/pbx/fra1").status_code == 404
    assert api.get("/api/v1/checks").json() == [] and api.get("/api/v1/dependencies").json() == []


def test_bad_input_gets_a_clear_answer(api):
    port = api.post("/api/v1/pbx", json=_body(ami="pbx1:0"))
    assert port.status_code == 422 and "port must be a number from 1 to 65535" in port.text
    transport = api.post("/api/v1/pbx", json=_body(sip="pbx1", sip_transport="tls"))
    assert transport.status_code == 422 and "sip_transport" in transport.text
    assert api.post("/api/v1/pbx", json=_body(customer="nobody")).status_code == 404
    assert api.post("/api/v1/pbx", json=_body()).status_code == 201
    assert api.post("/api/v1/pbx", json=_body()).status_code == 409
    assert api.get("/api/v1/pbx/nosuch").status_code == 404


def test_a_customer_token_may_not_see_or_add_pbxs(db, clock):
    with transaction(db.sessions) as session:
        add_plan(session=session, now=clock.now(), name="24x7", hours="24x7", auto_case=False)
        acme = add_customer(session=session, now=clock.now(), name="acme", plan="24x7")
        token = create_token(session=session, clock=clock, name="acme", role="customer", customer_id=acme.id).token
    client = TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    assert client.get("/api/v1/pbx").status_code == 403
    assert client.post("/api/v1/pbx", json=_body()).status_code == 403
