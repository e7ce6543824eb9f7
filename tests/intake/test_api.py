"""Intake over HTTP on SQLite and PostgreSQL: the PagerDuty v2 contract, Alertmanager and generic webhooks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from watchkeeper.auth.service import create_token
from watchkeeper.db import transaction
from watchkeeper.incidents.models import Incident
from watchkeeper.intake.service import Kind, create
from watchkeeper.web.app import create_app


@pytest.fixture
def desk(db, clock):
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="anna").token
        keys = {kind: create(session=session, clock=clock, kind=kind, name=f"{kind}-prod").key for kind in Kind}
    settings = db.settings.model_copy(update={"group_wait_seconds": 0})
    client = TestClient(create_app(settings=settings, clock=clock, engine=db.engine))
    client.headers["Authorization"] = f"Bearer {token}"
    client.keys = keys
    return client


def trigger(desk, dedup_key="sip-trunk-7", **payload):
    body = {
        "routing_key": desk.keys[Kind.PAGERDUTY],
        "event_action": "trigger",
        "payload": {"summary": "SIP trunk 7 down", "source": "sbc-1", "severity": "critical", **payload},
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return desk.post("/v2/enqueue", json=body, headers={"Authorization": ""})


def event(desk, action, dedup_key="sip-trunk-7"):
    return desk.post(
        "/v2/enqueue", json={"routing_key": desk.keys[Kind.PAGERDUTY], "event_action": action, "dedup_key": dedup_key}
    )


def test_pagerduty_trigger_answers_like_pagerduty_and_opens_an_incident(desk):
    answer = trigger(desk, component="trunk-7", custom_details={"carrier": "acme"})
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": "sip-trunk-7"}
    (alert,) = desk.get("/api/v1/alerts").json()
    assert (alert["source"], alert["severity"], alert["summary"], alert["count"]) == (
        "pagerduty",
        "critical",
        "SIP trunk 7 down",
        1,
    )
    assert alert["labels"] == {"instance": "sbc-1", "component": "trunk-7", "alertname": "trunk-7"}
    assert alert["details"]["custom_details"] == {"carrier": "acme"}
    (incident,) = desk.get("/api/v1/incidents").json()
    assert incident["status"] == "triggered"


def test_pagerduty_retrigger_with_the_same_key_is_one_alert_counted_twice(desk):
    trigger(desk)
    trigger(desk)
    (alert,) = desk.get("/api/v1/alerts").json()
    assert alert["count"] == 2
    assert len(desk.get("/api/v1/incidents").json()) == 1


def test_pagerduty_trigger_without_a_key_gets_a_new_one(desk):
    first = trigger(desk, dedup_key=None).json()["dedup_key"]
    second = trigger(desk, dedup_key=None).json()["dedup_key"]
    assert first != second and len(first) >= 16
    assert len(desk.get("/api/v1/alerts").json()) == 2


def test_pagerduty_acknowledge_then_resolve_moves_the_incident(desk):
    trigger(desk)
    assert event(desk, "acknowledge").status_code == 202
    (incident,) = desk.get("/api/v1/incidents").json()
    assert (incident["status"], incident["acknowledged_by"]) == ("acknowledged", "pagerduty:pagerduty-prod")
    assert event(desk, "resolve").status_code == 202
    (incident,) = desk.get("/api/v1/incidents").json()
    assert incident["status"] == "resolved"
    assert desk.get("/api/v1/alerts").json()[0]["status"] == "resolved"


def test_an_acknowledge_sent_during_the_group_wait_is_not_lost(db, clock):
    """With a group wait, the incident opens after the trigger: an acknowledge
    sent in between used to find no incident and be dropped, and it paged."""
    from watchkeeper.alerts.service import RoutingConfig, process_due

    with transaction(db.sessions) as session:
        key = create(session=session, clock=clock, kind=Kind.PAGERDUTY, name="pd").key
    settings = db.settings.model_copy(update={"group_wait_seconds": 30})
    client = TestClient(create_app(settings=settings, clock=clock, engine=db.engine))
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "early",
        "payload": {"summary": "SIP trunk 7 down", "source": "sbc-1", "severity": "critical"},
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202
    assert client.post("/v2/enqueue", json={**body, "event_action": "acknowledge"}).status_code == 202
    clock.set(clock.now() + timedelta(seconds=31))
    with transaction(db.sessions) as session:
        process_due(session=session, now=clock.now(), config=RoutingConfig.from_settings(settings))
        (incident,) = session.scalars(select(Incident)).all()
        assert (incident.status, incident.acknowledged_by) == ("acknowledged", "pagerduty:pd")


def test_pagerduty_trigger_after_resolve_opens_a_new_alert(desk):
    trigger(desk)
    event(desk, "resolve")
    trigger(desk)
    statuses = [a["status"] for a in desk.get("/api/v1/alerts").json()]
    assert statuses == ["firing", "resolved"]
    assert [i["status"] for i in desk.get("/api/v1/incidents").json()] == ["triggered", "resolved"]


def test_pagerduty_acknowledge_or_resolve_for_an_unknown_key_is_accepted_and_dropped(desk):
    for action in ("acknowledge", "resolve"):
        answer = event(desk, action, dedup_key="never-triggered")
        assert answer.status_code == 202 and answer.json()["dedup_key"] == "never-triggered"
    assert desk.get("/api/v1/alerts").json() == []


@pytest.mark.parametrize(
    "change,named",
    [
        ({"payload": {"source": "sbc-1", "severity": "critical"}}, "'payload.summary' is missing or blank"),
        ({"payload": {"summary": "x", "severity": "critical"}}, "'payload.source' is missing or blank"),
        ({"payload": {"summary": "x", "source": "sbc-1"}}, "'payload.severity' is missing or blank"),
        ({"payload": {"summary": "x", "source": "s", "severity": "fatal"}}, "'payload.severity' is invalid"),
        (
            {"payload": {"summary": "x", "source": "s", "severity": "info", "timestamp": "yesterday"}},
            "'payload.timestamp' is invalid",
        ),
        ({"event_action": "explode"}, "'event_action' is missing or invalid"),
        ({"routing_key": ""}, "'routing_key' is missing or blank"),
        ({"event_action": "resolve", "payload": None}, "'dedup_key' is missing or blank"),
    ],
)
def test_pagerduty_invalid_events_get_400_naming_the_field_and_store_nothing(desk, change, named):
    body = {
        "routing_key": desk.keys[Kind.PAGERDUTY],
        "event_action": "trigger",
        "payload": {"summary": "x", "source": "s", "severity": "critical"},
    } | change
    answer = desk.post("/v2/enqueue", json=body)
    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"
    assert any(named in error for error in answer.json()["errors"]), answer.json()
    assert desk.get("/api/v1/alerts").json() == []


@pytest.mark.parametrize("key", ["0" * 32, "not-a-key"])
def test_pagerduty_unknown_routing_key_gets_400_and_stores_nothing(desk, key):
    answer = desk.post(
        "/v2/enqueue",
        json={
            "routing_key": key,
            "event_action": "trigger",
            "payload": {"summary": "x", "source": "s", "severity": "critical"},
        },
    )
    assert answer.status_code == 400
    assert "'routing_key' is not known" in answer.json()["errors"][0]
    assert desk.get("/api/v1/alerts").json() == []


def test_a_key_of_another_kind_is_not_a_routing_key(desk):
    answer = desk.post(
        "/v2/enqueue",
        json={
            "routing_key": desk.keys[Kind.GENERIC],
            "event_action": "trigger",
            "payload": {"summary": "x", "source": "s", "severity": "critical"},
        },
    )
    assert answer.status_code == 400


def am_alert(status="firing", fingerprint="a1b2c3", **labels):
    return {
        "status": status,
        "labels": {"alertname": "InstanceDown", "instance": "pbx-1:9100", "severity": "critical", **labels},
        "annotations": {"summary": "pbx-1 is down", "runbook_url": "https://wiki/pbx"},
        "startsAt": "2026-11-23T11:58:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T11:59:30Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def am_payload(*alerts):
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "watchkeeper",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": list(alerts),
    }


def test_alertmanager_webhook_keeps_labels_and_annotations_and_resolves_per_alert(desk):
    url = f"/api/v1/intake/alertmanager/{desk.keys[Kind.ALERTMANAGER]}"
    answer = desk.post(
        url,
        json=am_payload(am_alert(), am_alert(fingerprint="d4e5", instance="pbx-2:9100")),
        headers={"Authorization": ""},
    )
    assert answer.status_code == 200
    alerts = desk.get("/api/v1/alerts").json()
    assert len(alerts) == 2
    assert alerts[0]["details"]["annotations"]["runbook_url"] == "https://wiki/pbx"
    assert alerts[0]["started_at"] == "2026-11-23T11:58:00Z"
    desk.post(url, json=am_payload(am_alert("resolved")))
    by_instance = {a["labels"]["instance"]: a for a in desk.get("/api/v1/alerts").json()}
    assert by_instance["pbx-1:9100"]["status"] == "resolved"
    assert by_instance["pbx-1:9100"]["resolved_at"] == "2026-11-23T11:59:30Z"
    assert by_instance["pbx-2:9100"]["status"] == "firing"


def test_alertmanager_bad_payload_is_400_not_5xx_so_it_is_not_retried_forever(desk):
    url = f"/api/v1/intake/alertmanager/{desk.keys[Kind.ALERTMANAGER]}"
    answer = desk.post(url, json={"version": "4", "alerts": [{"status": "burning", "labels": {}}]})
    assert answer.status_code == 400
    assert any("alerts.0.status" in e for e in answer.json()["detail"])
    assert any("alerts.0.startsAt" in e for e in answer.json()["detail"])
    assert desk.post(url, content=b"{not json").status_code == 400
    assert desk.post("/api/v1/intake/alertmanager/wrong-key", json=am_payload(am_alert())).status_code == 404
    assert desk.get("/api/v1/alerts").json() == []


def test_alertmanager_keeps_the_good_alerts_of_a_group_and_lists_the_bad_ones(desk):
    """Alertmanager does not resend on a 400: refusing a whole group for one bad
    alert would lose the good ones for good. Nothing here may be a 500 either."""
    url = f"/api/v1/intake/alertmanager/{desk.keys[Kind.ALERTMANAGER]}"
    naive = {**am_alert(fingerprint="n1"), "startsAt": "2026-11-23T11:58:00"}
    overflow = {**am_alert(fingerprint="o1"), "startsAt": "9999-12-31T23:59:59-14:00"}
    nul = am_alert(fingerprint="z1", instance="pbx\u0000")
    surrogate = am_alert(fingerprint="s1", instance="pbx\ud800")
    body = json.dumps(am_payload(naive, am_alert(), overflow, nul, surrogate))  # the surrogate as \\ud800
    answer = desk.post(url, content=body.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["alerts"] == 1
    rejected = " ".join(answer.json()["rejected"])
    assert "'alerts.0.startsAt': Input should have timezone info" in rejected
    assert "alerts.2: 'started_at' is out of range" in rejected
    assert (
        "alerts.3: 'labels.instance' holds a NUL" in rejected and "alerts.4: 'labels.instance' holds a NUL" in rejected
    )
    assert [a["labels"]["instance"] for a in desk.get("/api/v1/alerts").json()] == ["pbx-1:9100"]


def test_long_label_values_still_group_and_store_on_every_database(desk):
    url = f"/api/v1/intake/alertmanager/{desk.keys[Kind.ALERTMANAGER]}"
    long_name = "pbx-" + "x" * 1000
    payload = am_payload(am_alert(instance=long_name), am_alert(fingerprint="b2", instance=long_name + "y"))
    answer = desk.post(url, json=payload)
    assert (answer.status_code, answer.json()["alerts"]) == (200, 2)
    # two groups: the keys differ only past the cut at 500 characters, and their hashes keep them apart
    assert len(desk.get("/api/v1/incidents").json()) == 2


@pytest.mark.parametrize(
    "body", [b"[" * 20000 + b"]" * 20000, b'{"version": "4", "alerts": [], "x": ' + b"9" * 5000 + b"}"]
)
def test_json_meant_to_harm_is_a_400_on_every_intake_route(desk, body):
    for route in (
        f"/api/v1/intake/alertmanager/{desk.keys[Kind.ALERTMANAGER]}",
        f"/api/v1/intake/generic/{desk.keys[Kind.GENERIC]}",
        "/v2/enqueue",
    ):
        answer = desk.post(route, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (route, answer.text)
        assert "nested thousands deep" in answer.text or "not JSON" in answer.text


def test_a_pagerduty_event_too_deep_to_show_is_refused_and_alert_lists_keep_working(desk):
    deep: dict = {}
    for _ in range(300):
        deep = {"d": deep}
    answer = trigger(desk, custom_details=deep)
    assert answer.status_code == 400
    assert "'details' nest deeper than 16 levels" in " ".join(answer.json()["errors"])
    assert trigger(desk, dedup_key="shallow", custom_details={"a": {"b": {"c": 1}}}).status_code == 202
    assert desk.get("/api/v1/alerts").status_code == 200 and len(desk.get("/api/v1/alerts").json()) == 1


def test_pagerduty_severity_is_read_as_checked_and_a_resolve_is_not_held_to_a_payload(desk):
    assert trigger(desk, severity=" critical ").status_code == 202
    assert desk.get("/api/v1/alerts").json()[0]["severity"] == "critical"
    resolve = {
        "routing_key": desk.keys[Kind.PAGERDUTY],
        "event_action": "resolve",
        "dedup_key": "sip-trunk-7",
        "payload": {"severity": "bogus"},
    }
    assert desk.post("/v2/enqueue", json=resolve).status_code == 202
    assert desk.get("/api/v1/alerts").json()[0]["status"] == "resolved"
    wrong = desk.post("/v2/enqueue", json={"routing_key": 123, "event_action": "trigger"})
    assert "'routing_key' must be a string, not int 123" in wrong.json()["errors"]


def test_generic_webhook_keeps_good_events_and_lists_bad_ones(desk):
    url = f"/api/v1/intake/generic/{desk.keys[Kind.GENERIC]}"
    answer = desk.post(
        url,
        json=[
            {
                "key": "backup-db1",
                "summary": "nightly backup failed",
                "severity": "error",
                "service": "billing-db",
                "labels": {"instance": "db1"},
            },
            {"key": "x", "status": "firing"},
            {"summary": "no key"},
        ],
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    assert [r["index"] for r in answer.json()["rejected"]] == [1, 2]
    assert "'summary' is required when status is firing" in answer.json()["rejected"][0]["errors"][0]
    (incident,) = desk.get("/api/v1/incidents").json()
    assert (incident["service"], incident["group_key"]) == ("billing-db", "service=billing-db")
    desk.post(url, json={"key": "backup-db1", "status": "resolved"})
    assert desk.get("/api/v1/incidents").json()[0]["status"] == "resolved"


def test_incident_api_shows_the_timeline_and_takes_actions_by_the_token_holder(desk):
    trigger(desk)
    (incident,) = desk.get("/api/v1/incidents").json()
    base = f"/api/v1/incidents/{incident['id']}"
    assert desk.post(f"{base}/acknowledge").json()["acknowledged_by"] == "anna"
    assert desk.post(f"{base}/acknowledge").status_code == 409
    assert desk.post(f"{base}/notes", json={"text": "carrier says fibre cut"}).status_code == 201
    assert desk.post(f"{base}/resolve", json={"note": "rerouted via carrier B"}).json()["status"] == "resolved"
    shown = desk.get(base).json()
    assert [e["kind"] for e in shown["timeline"]] == [
        "opened",
        "alert_joined",
        "acknowledged",
        "note",
        "resolved",
        "alert_released",
    ]  # it still fires: raised again
    assert shown["timeline"][-2]["message"] == "resolved by anna: rerouted via carrier B"
    assert shown["alerts"][0]["summary"] == "SIP trunk 7 down"
    assert desk.get("/api/v1/incidents/999").status_code == 404
    assert desk.get("/api/v1/incidents/response-times").json()["incidents"] == 2


def test_silences_over_the_api_mute_new_alerts(desk):
    answer = desk.post(
        "/api/v1/silences",
        json={
            "matchers": ["instance=sbc-1"],
            "duration": "PT1H",
            "created_by": "anna",
            "comment": "SBC firmware upgrade",
        },
    )
    assert answer.status_code == 201
    trigger(desk)
    (alert,) = desk.get("/api/v1/alerts").json()
    assert alert["muted"] == "silenced"
    assert desk.get("/api/v1/incidents").json() == []
    assert (
        desk.post(
            "/api/v1/silences", json={"matchers": ["team!=x"], "duration": "PT1H", "created_by": "a", "comment": "b"}
        ).status_code
        == 422
    )
    assert desk.delete(f"/api/v1/silences/{answer.json()['id']}").status_code == 200
    assert desk.get("/api/v1/silences").json() == []


def test_mutes_that_cannot_be_meant_are_refused_with_their_words_whole(desk):
    def silence(**fields):
        return desk.post(
            "/api/v1/silences", json={"matchers": ["instance=sbc-1"], "created_by": "anna", "comment": "work", **fields}
        )

    assert silence(duration="P999999999D").status_code == 422  # past year 9999: out of range
    assert "a year at most" in silence(duration="P400D").json()["detail"]
    assert silence(ends_at="9999-12-31T23:59:59-14:00").status_code == 422
    unbalanced = silence(matchers=['instance="abc'], duration="PT1H")
    assert unbalanced.status_code == 422
    assert unbalanced.json()["detail"].startswith("'instance=\"abc': the value's quotes are unbalanced")  # quotes kept

    def window(**fields):
        return desk.post(
            "/api/v1/maintenance",
            json={"name": "w", "matchers": ["instance=db1"], "created_by": "anna", "cron": "0 2 * * *", **fields},
        )

    assert "a minute or more" in window(duration="PT30S").json()["detail"]
    assert "31 days at most" in window(duration="P365000D").json()["detail"]
    assert window(duration="PT2H").status_code == 201
    blank = desk.post(
        "/api/v1/dependencies",
        json={"name": "d", "parent": ["alertname=PBXDown"], "child": ["alertname=TrunkDown"], "equal": [""]},
    )
    assert blank.status_code == 422 and "blank label name" in blank.json()["detail"]


def test_ids_and_limits_out_of_range_are_422_not_500(desk):
    for method, path in (
        ("post", "/api/v1/incidents/9223372036854775808/acknowledge"),
        ("get", "/api/v1/incidents/99999999999999999999"),
        ("delete", "/api/v1/silences/9223372036854775808"),
        ("get", "/api/v1/alerts?limit=-1"),
        ("get", "/api/v1/incidents?limit=9223372036854775808"),
    ):
        answer = desk.request(method, path)
        assert answer.status_code in (404, 422), (path, answer.status_code, answer.text)
    trigger(desk)
    (incident,) = desk.get("/api/v1/incidents").json()
    blank = desk.post(f"/api/v1/incidents/{incident['id']}/notes", json={"text": "   "})
    assert blank.status_code == 422


def test_intake_routes_do_not_take_bearer_tokens_and_api_routes_do_not_take_keys(desk):
    assert (
        desk.get("/api/v1/incidents", headers={"Authorization": f"Bearer {desk.keys[Kind.GENERIC]}"}).status_code == 401
    )


def test_a_revoked_integration_key_stops_working_within_ten_seconds(desk, db, clock):
    from datetime import timedelta

    from watchkeeper.intake.service import list_integrations, revoke

    assert trigger(desk).status_code == 202
    with transaction(db.sessions) as session:
        pd = [i for i in list_integrations(session=session) if i.kind == Kind.PAGERDUTY][0]
        revoke(session=session, clock=clock, integration_id=pd.id)
    clock.set(clock.now() + timedelta(seconds=10))
    answer = trigger(desk)
    assert answer.status_code == 400 and "'routing_key' is not known" in answer.json()["errors"][0]


def test_a_database_that_is_away_gets_503_so_the_sender_retries(clock):
    from watchkeeper.config import Settings
    from watchkeeper.db import make_engine

    url = "postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2"  # nothing listens on port 9
    client = TestClient(create_app(settings=Settings(database_url=url), clock=clock, engine=make_engine(url)))
    answer = client.post("/api/v1/intake/alertmanager/" + "0" * 32, json={"version": "4", "alerts": []})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "the database is not available, retry later" in answer.json()["detail"]
