"""A supplier's ingest token posts usage for its own services and reads its own feed's files, nothing else."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth.service import create_token
from watchkeeper.db import transaction
from watchkeeper.feeds.models import FileFinding, IngestedFile
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.web.app import create_app

from ..conftest import NOW

USAGE = "/api/v1/usage"


@pytest.fixture
def client(db, clock):
    with transaction(db.sessions) as session:
        tokens = {
            "anna": create_token(session=session, clock=clock, name="anna", role="engineer").token,
            "acme": create_token(
                session=session, clock=clock, name="acme-supplier", role="ingest", services="acme-.*", feed="acme"
            ).token,
            "open": create_token(session=session, clock=clock, name="any-supplier", role="ingest").token,
        }
        for feed in ("acme", "globex"):
            session.add(
                IngestedFile(
                    feed=feed,
                    name=f"{feed}-0001.csv",
                    content_hash=f"blake3:{feed}",
                    size=10,
                    format="usage-csv",
                    accepted=3,
                    received_at=NOW,
                )
            )
            session.add(
                FileFinding(
                    feed=feed, file_name=f"{feed}-0002.csv", kind="sequence_gap", detail="0002 missing", created_at=NOW
                )
            )
        record(
            Finding(
                "backup/db1",
                "generic",
                None,
                Severity.CRITICAL,
                State.FIRING,
                "nightly backup failed",
                NOW,
                labels={"alertname": "BackupFailed", "instance": "db1"},
            ),
            session=session,
            now=NOW,
            config=RoutingConfig(),
        )
    app = create_app(settings=db.settings, clock=clock, engine=db.engine)

    def as_(who: str) -> TestClient:
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {tokens[who]}"
        return c

    return as_


def row(service: str) -> dict[str, object]:
    return {"service": service, "ts": "2026-11-23T11:00:00Z", "count": 5}


def test_an_ingest_token_posts_usage_for_the_services_its_pattern_allows(client):
    acme, anna = client("acme"), client("anna")
    answer = acme.post(USAGE, json=[row("acme-cdr")])
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    refused = acme.post(USAGE, json=[row("acme-sms"), row("globex-cdr")])
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this token may not post usage for globex-cdr; nothing of the batch was stored"
    assert anna.get("/api/v1/services/acme-sms").status_code == 404  # the good row went back with the batch
    csv = acme.post(
        USAGE,
        content=b"timestamp,service,count\n2026-11-23T11:00:00Z,globex-cdr,1\n",
        headers={"Content-Type": "text/csv"},
    )
    assert csv.status_code == 403
    assert client("open").post(USAGE, json=[row("globex-cdr")]).status_code == 200  # no pattern: any service


def test_an_ingest_token_reads_its_own_feeds_files_and_findings_only(client):
    acme = client("acme")
    assert [f["feed"] for f in acme.get("/api/v1/files").json()] == ["acme"]
    assert [f["feed"] for f in acme.get("/api/v1/files/findings").json()] == ["acme"]
    assert acme.get("/api/v1/files", params={"feed": "globex"}).status_code == 403
    assert "made for no feed" in client("open").get("/api/v1/files").json()["detail"]
    assert {f["feed"] for f in client("anna").get("/api/v1/files").json()} == {"acme", "globex"}


def _routes(app) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    found = []
    for path, operations in paths.items():
        if (
            "/intake/" in path
            or path.startswith(("/v2/", "/ping/"))  # a ping URL's uuid is its secret, as in Healthchecks
            or path.endswith(".ics")  # a calendar URL's key is its secret: calendar apps send no header
            or path in ("/healthz", USAGE)
            or path.startswith("/api/v1/files")
        ):
            continue  # an integration key's, open, or what an ingest token may do
        for method in operations:
            concrete = path.replace("{name}", "acme-cdr").replace("{name:path}", "acme-cdr")
            found.append((method, "/".join("1" if p.startswith("{") else p for p in concrete.split("/"))))
    return found


def test_an_ingest_token_is_refused_every_other_route_metrics_included(client):
    acme = client("acme")
    routes = _routes(acme.app)
    assert ("get", "/metrics") in routes and ("post", "/api/v1/silences") in routes and len(routes) > 25
    for method, path in routes:
        answer = acme.request(method, path, json={})
        assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
        assert "an ingest token posts usage" in answer.json()["detail"]


def test_a_silence_is_recorded_under_the_tokens_name_whatever_the_body_says(client):
    anna = client("anna")
    made = anna.post(
        "/api/v1/silences",
        json={"matchers": ["service=acme-cdr"], "duration": "PT1H", "created_by": "mallory", "comment": "carrier work"},
    )
    assert made.status_code == 201 and made.json()["created_by"] == "anna"


def test_a_silence_of_every_alert_having_a_label_is_refused_unless_forced(client):
    anna = client("anna")
    body = {"matchers": ['service=~".+"'], "duration": "P30D", "comment": "supplier maintenance"}
    refused = anna.post("/api/v1/silences", json=body)
    assert refused.status_code == 422 and "add --force" in refused.json()["detail"]
    assert anna.get("/api/v1/silences").json() == []
    (backup,) = anna.get("/api/v1/alerts").json()
    assert backup["muted"] is None  # the unrelated backup alert stays loud
    forced = anna.post("/api/v1/silences", json=body | {"force": True})
    assert forced.status_code == 201 and forced.json()["matchers"] == ['service=~".+"']
    window = anna.post(
        "/api/v1/maintenance",
        json={
            "name": "all",
            "matchers": ['instance=~"\\S+"'],
            "starts_at": "2026-11-23T13:00:00Z",
            "ends_at": "2026-11-23T14:00:00Z",
        },
    )
    assert window.status_code == 422 and "one must name something" in window.json()["detail"]


def test_token_create_makes_an_ingest_token_and_token_list_shows_role_user_customer_and_limits(run):
    made = run(
        "token", "create", "--name", "acme-supplier", "--role", "ingest", "--services", "acme-.*", "--feed", "acme"
    )
    assert made.exit_code == 0 and made.output.startswith("ingest token 1 (acme-supplier)")
    assert "only an ingest token" in run("token", "create", "--name", "x", "--services", "a.*").output
    assert (
        "not a regular expression"
        in run("token", "create", "--name", "x", "--role", "ingest", "--services", "(").output
    )
    assert run("users", "add", "bob", "--role", "engineer").exit_code == 0
    assert run("token", "create", "--user", "bob").exit_code == 0
    listed = run("token", "list", "--json")
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows["acme-supplier"] | {"created_at": None} == {
        "id": 1,
        "name": "acme-supplier",
        "role": "ingest",
        "user": None,
        "customer": None,
        "services": "acme-.*",
        "feed": "acme",
        "prefix": rows["acme-supplier"]["prefix"],
        "created_at": None,
        "revoked_at": None,
    }
    assert (rows["bob"]["role"], rows["bob"]["user"]) == ("engineer", "bob")
    table = run("token", "list").output
    assert "ingest" in table and "engineer" in table and "bob" in table
