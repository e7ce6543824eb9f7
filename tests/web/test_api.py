"""The HTTP API through a real ASGI client, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from watchkeeper.db import transaction
from watchkeeper.web.app import create_app

RECORD = {"service": "voip-de", "ts": "2026-11-23T09:15:00Z", "count": 3, "quantity": 90}


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/api/v1/usage"),
        ("get", "/api/v1/services"),
        ("get", "/api/v1/services/voip-de"),
        ("patch", "/api/v1/services/voip-de"),
        ("get", "/api/v1/files"),
        ("get", "/api/v1/files/findings"),
        ("get", "/metrics"),
    ],
)
def test_requests_without_a_valid_token_get_401_and_touch_nothing(api, method, path):
    api.post("/api/v1/usage", json=[RECORD])
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wk_not-a-token"}, {"Authorization": "Basic eDp5"}):
        answer = api.request(method, path, headers=headers, json=[RECORD] if method == "post" else {"stage": "test"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    service = api.get("/api/v1/services/voip-de").json()
    assert (service["total_count"], service["stage"]) == (3, "new")


def test_a_revoked_token_is_refused(api, db, clock):
    from watchkeeper.auth.service import list_tokens, revoke_token

    with transaction(db.sessions) as session:
        revoke_token(session=session, clock=clock, token_id=list_tokens(session=session)[0].id)
    assert api.get("/api/v1/services").status_code == 401


def test_usage_post_answers_after_storing_and_lists_rejected_rows(api):
    answer = api.post(
        "/api/v1/usage", json=[RECORD, {"service": "voip-de", "ts": "2026-11-23T09:20:00Z", "count": "many"}]
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["records"]) == (1, 1, 3)
    assert body["errors"] == [
        {
            "index": 1,
            "line": None,
            "field": "count",
            "reason": "'many' is not a whole number from 0 to 1,000,000,000,000",
        }
    ]
    assert api.get("/api/v1/services/voip-de").json()["total_count"] == 3


def test_usage_post_takes_csv(api):
    answer = api.post(
        "/api/v1/usage",
        content=b"timestamp,service,count\n2026-11-23T09:15:00Z,sms-uk,7\n",
        headers={"Content-Type": "text/csv"},
    )
    assert answer.json()["records"] == 7


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"", "empty: usage-csv needs a header line"),
        (b"time,svc\n2026-11-23T09:15:00Z,a\n", "header 'time,svc' lacks timestamp, service"),
        (
            b'"acme","1","2","ctx","","SIP/a","","Dial","","2026-11-23 09:15:00","","",5,3,"ANSWERED","DOCUMENTATION"\n',
            "lacks timestamp, service",
        ),
        (bytes(range(256)) * 8, "binary data"),
    ],
)
def test_a_csv_body_that_cannot_be_read_gets_400_saying_why_and_stores_nothing(api, body, reason):
    answer = api.post("/api/v1/usage", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 400
    assert reason in answer.json()["detail"]
    assert answer.json()["detail"].startswith("text/csv body: ")
    assert api.get("/api/v1/services").json() == []


def test_json_rows_that_are_no_record_are_refused_one_by_one_and_the_rest_stored(api):
    body = (
        b'[{"service": "a\\ud800", "ts": "2026-11-23T09:15:00Z"}, [{"service": "b"}], 7, '
        b'{"service": "voip-de", "ts": "2026-11-23T09:15:00Z", "count": 1e3}]'
    )
    answer = api.post("/api/v1/usage", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["accepted"], answer.json()["rejected"], answer.json()["records"]) == (1, 3, 1000)
    assert [(e["index"], e["field"]) for e in answer.json()["errors"]] == [(0, "service"), (1, "row"), (2, "row")]
    assert answer.json()["errors"][1]["reason"] == 'not a JSON object: [{"service": "b"}]'
    assert [s["name"] for s in api.get("/api/v1/services").json()] == ["voip-de"]


def test_json_nested_thousands_deep_is_a_bad_batch_not_a_crash(api):
    answer = api.post(
        "/api/v1/usage", content=b"[" * 20000 + b"]" * 20000, headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["detail"]) == (
        400,
        "body is not a batch of records: JSON nested thousands deep",
    )


def test_a_body_in_another_format_gets_415_and_gzip_is_read(api):
    import gzip

    answer = api.post("/api/v1/usage", content=b"<usage/>", headers={"Content-Type": "application/xml"})
    assert (answer.status_code, answer.json()["detail"]) == (
        415,
        "Content-Type 'application/xml' is not read here: send application/json or text/csv",
    )
    packed = gzip.compress(b"timestamp,service,count\n2026-11-23T09:15:00Z,sms-uk,7\n")
    answer = api.post("/api/v1/usage", content=packed, headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"})
    assert (answer.status_code, answer.json()["records"]) == (200, 7)
    answer = api.post("/api/v1/usage", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and "not valid gzip" in answer.json()["detail"]
    assert api.post("/api/v1/usage", content=packed, headers={"Content-Encoding": "br"}).status_code == 415
    # curl -d sends a form's type: read as JSON, as the API docs' example does
    answer = api.post(
        "/api/v1/usage",
        content=b'[{"service": "a", "ts": "2026-11-23T09:15:00Z"}]',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200


def test_a_gzip_bomb_is_refused_before_it_fills_memory(api, db):
    import gzip

    settings = db.settings.model_copy(update={"max_usage_body_mb": 1})
    small = TestClient(create_app(settings=settings, clock=api.app.state.clock, engine=db.engine), headers=api.headers)
    answer = small.post(
        "/api/v1/usage", content=gzip.compress(b"[" + b" " * (4 << 20) + b"]"), headers={"Content-Encoding": "gzip"}
    )
    assert (answer.status_code, answer.json()["detail"]) == (
        413,
        "body inflates to more than 1 MB, the limit of this route: send smaller batches, or raise WATCHKEEPER_MAX_USAGE_BODY_MB",
    )
    inflates_to_the_limit = gzip.compress(b"[" + b" " * ((1 << 20) - 2) + b"]")
    assert (
        small.post("/api/v1/usage", content=inflates_to_the_limit, headers={"Content-Encoding": "gzip"}).status_code
        == 200
    )


def test_a_csv_body_with_a_byte_order_mark_is_read(api):
    answer = api.post(
        "/api/v1/usage",
        content=b"\xef\xbb\xbftimestamp,service,count\n2026-11-23T09:15:00Z,sms-uk,7\n",
        headers={"Content-Type": "text/csv"},
    )
    assert (answer.status_code, answer.json()["records"]) == (200, 7)


def test_idempotency_key_makes_a_retry_count_once(api):
    first = api.post("/api/v1/usage", json=[RECORD], headers={"Idempotency-Key": "abc"})
    retry = api.post("/api/v1/usage", json=[RECORD], headers={"Idempotency-Key": "abc"})
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert api.get("/api/v1/services/voip-de").json()["total_count"] == 3
    other = api.post("/api/v1/usage", json=[{**RECORD, "count": 1}], headers={"Idempotency-Key": "abc"})
    assert other.status_code == 422


def test_a_body_that_is_not_json_gets_400_with_the_reason(api):
    answer = api.post("/api/v1/usage", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["detail"]


def test_patch_changes_stage_and_merges_settings(api):
    api.post("/api/v1/usage", json=[RECORD])
    api.patch("/api/v1/services/voip-de", json={"settings": {"timezone": "Europe/Berlin"}})
    answer = api.patch(
        "/api/v1/services/voip-de", json={"stage": "production", "settings": {"max_silence_minutes": 60}}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["stage"] == "production"
    assert (body["settings"]["timezone"], body["settings"]["max_silence_minutes"]) == ("Europe/Berlin", 60)


def test_patch_takes_silences_as_durations_as_the_cli_does_and_null_clears_one(api):
    api.post("/api/v1/usage", json=[RECORD])
    answer = api.patch("/api/v1/services/voip-de", json={"settings": {"max_silence": "6h", "min_silence": "1h30m"}})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["settings"]["max_silence_minutes"], answer.json()["settings"]["min_silence_minutes"]) == (
        360,
        90,
    )
    answer = api.patch("/api/v1/services/voip-de", json={"settings": {"max_silence": 120, "min_silence": None}})
    assert (answer.json()["settings"]["max_silence_minutes"], answer.json()["settings"]["min_silence_minutes"]) == (
        120,
        None,
    )


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"min_silence_minutes": 90, "max_silence_minutes": 30}, "must not exceed"),
        ({"max_silence": "6 fortnights"}, "not a duration like 15m, 6h"),
        ({"max_silence": "99999999999999999999d"}, "less than or equal to 527040"),
        ({"max_silence": "6h", "max_silence_minutes": 60}, "not both"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_get_422_naming_the_problem(api, settings, message):
    api.post("/api/v1/usage", json=[RECORD])
    answer = api.patch("/api/v1/services/voip-de", json={"settings": settings})
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


def test_unknown_service_is_404(api):
    assert api.get("/api/v1/services/nope").status_code == 404


def test_counts_for_a_window_that_ends_before_it_starts_is_422(api):
    api.post("/api/v1/usage", json=[RECORD])
    answer = api.get(
        "/api/v1/services/voip-de/counts", params={"since": "2026-11-23T10:00:00Z", "until": "2026-11-23T09:00:00Z"}
    )
    assert answer.status_code == 422 and "must be before until" in answer.json()["detail"]


def test_counts_endpoint_gives_minutes_and_hours(api):
    api.post("/api/v1/usage", json=[RECORD, {**RECORD, "ts": "2026-11-23T09:16:00Z"}])
    minutes = api.get("/api/v1/services/voip-de/counts", params={"resolution": "minute"}).json()
    hours = api.get("/api/v1/services/voip-de/counts").json()
    assert [(p["at"], p["count"]) for p in minutes] == [("2026-11-23T09:15:00Z", 3), ("2026-11-23T09:16:00Z", 3)]
    assert [(p["at"], p["count"]) for p in hours] == [("2026-11-23T09:00:00Z", 6)]


def test_a_service_whose_name_holds_a_slash_is_reached_however_the_slash_is_sent(api):
    api.post("/api/v1/usage", json=[{**RECORD, "service": "carrier/de"}])
    for path in ("carrier/de", "carrier%2Fde"):
        assert api.get(f"/api/v1/services/{path}").json()["total_count"] == 3
        assert [p["count"] for p in api.get(f"/api/v1/services/{path}/counts").json()] == [3]
    assert api.patch("/api/v1/services/carrier%2Fde", json={"stage": "test"}).json()["stage"] == "test"
    assert api.get("/api/v1/services/carrier").status_code == 404


def _metric(api, name: str, **labels: str) -> float:
    """One sample's value from /metrics, as Prometheus would scrape it (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = [s for family in text_string_to_metric_families(api.get("/metrics").text) for s in family.samples]
    return sum(s.value for s in samples if s.name == name and s.labels == labels)


def test_health_is_open_and_metrics_count_ingest(api):
    # The counters live as long as the test process: what this request adds is compared.
    rows = "watchkeeper_ingest_rows_total"
    before = {o: _metric(api, rows, source="api", outcome=o) for o in ("accepted", "rejected")}
    records = _metric(api, "watchkeeper_ingest_records_total", source="api")
    api.post("/api/v1/usage", json=[RECORD, {"service": "", "ts": "x"}, {"service": "a", "ts": "y"}])
    assert api.get("/healthz", headers={"Authorization": ""}).json() == {"status": "ok"}
    assert _metric(api, rows, source="api", outcome="accepted") - before["accepted"] == 1
    assert _metric(api, rows, source="api", outcome="rejected") - before["rejected"] == 2
    assert _metric(api, "watchkeeper_ingest_records_total", source="api") - records == RECORD["count"]
    assert api.get("/docs", headers={"Authorization": ""}).status_code == 200


def test_metrics_show_how_late_the_scheduler_ran(api, clock):
    from watchkeeper.scheduler import Job, Scheduler

    job = Job("feeds", timedelta(seconds=1), lambda: None, next_due=clock.now() - timedelta(seconds=2.5))
    Scheduler([job], clock=clock).run_due()
    assert _metric(api, "watchkeeper_scheduler_lag_seconds") == 2.5
    assert _metric(api, "watchkeeper_scheduler_runs_total", job="feeds", outcome="ok") >= 1


def test_a_service_can_be_added_before_its_first_record(api):
    answer = api.post(
        "/api/v1/services", json={"name": "sup-x", "stage": "production", "settings": {"max_silence": "2h"}}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["name"], body["stage"], body["first_seen"], body["total_count"]) == ("sup-x", "production", None, 0)
    assert body["settings"]["max_silence_minutes"] == 120
    assert api.post("/api/v1/services", json={"name": "sup-x"}).status_code == 409
    assert api.post("/api/v1/services", json={"name": "sup-y", "customer": "Nobody"}).status_code == 422
    assert api.post("/api/v1/services", json={"name": "sup-y", "settings": {"max_silence": "soon"}}).status_code == 422
    assert [s["name"] for s in api.get("/api/v1/services").json()] == ["sup-x"]
    api.post("/api/v1/usage", json=[{"service": "sup-x", "ts": "2026-11-23T09:15:00Z", "count": 3}])
    service = api.get("/api/v1/services/sup-x").json()
    assert (service["first_seen"], service["total_count"]) == ("2026-11-23T09:15:00Z", 3)
