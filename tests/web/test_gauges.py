"""/metrics shows what is wrong now, read from the database at scrape time: on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.db import transaction
from watchkeeper.finding import Finding, Severity, State


def _scrape(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def _fire(db, clock, key, severity):
    with transaction(db.sessions) as session:
        record(
            Finding(
                key, "test", None, severity, State.FIRING, f"{key} is down", clock.now(), labels={"alertname": key}
            ),
            session=session,
            now=clock.now(),
            config=RoutingConfig(group_wait=timedelta(0)),
        )


def test_metrics_show_firing_alerts_open_incidents_and_each_services_last_record_age(api, db, clock):
    assert _scrape(api)[("watchkeeper_incidents_open", (("status", "triggered"),))] == 0
    api.post("/api/v1/usage", json=[{"service": "voip-de", "ts": "2026-11-23T11:15:00Z", "count": 3}])
    api.post("/api/v1/usage", json=[{"service": "sms-uk", "ts": "2026-11-23T11:59:30Z", "count": 1}])
    _fire(db, clock, "pbx-1", Severity.CRITICAL)
    _fire(db, clock, "pbx-2", Severity.CRITICAL)
    _fire(db, clock, "disk-1", Severity.WARNING)
    clock.set(clock.now() + timedelta(minutes=1))
    seen = _scrape(api)
    assert seen[("watchkeeper_alerts_firing", (("severity", "critical"),))] == 2
    assert seen[("watchkeeper_alerts_firing", (("severity", "warning"),))] == 1
    assert seen[("watchkeeper_incidents_open", (("status", "triggered"),))] == 3
    assert seen[("watchkeeper_incidents_open", (("status", "acknowledged"),))] == 0
    age = "watchkeeper_service_last_record_age_seconds"
    assert seen[(age, (("service", "voip-de"), ("stage", "new")))] == 46 * 60
    assert seen[(age, (("service", "sms-uk"), ("stage", "new")))] == 90


def test_a_service_added_before_its_first_record_is_scraped_without_an_age(api, db, clock):
    from watchkeeper.feeds.schemas import ServicePatch
    from watchkeeper.feeds.service import add_service

    with transaction(db.sessions) as session:
        add_service(session=session, name="carrier-x", patch=ServicePatch(), now=clock.now())
    samples = _scrape(api)
    assert not [key for key in samples if dict(key[1]).get("service") == "carrier-x"]
