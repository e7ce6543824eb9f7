"""The Alertmanager parser: webhook payloads (version 4) to findings, bad alerts to rejected items, its answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.finding import Severity, State
from watchkeeper.intake.alertmanager import Alertmanager
from watchkeeper.intake.parser import Rejected

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PARSER = Alertmanager()


def alert(**fields):
    return {
        "status": "firing",
        "labels": {"alertname": "InstanceDown", "instance": "pbx-1:9100", "severity": "critical"},
        "annotations": {"summary": "pbx-1 is down"},
        "startsAt": "2026-11-23T11:58:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "a1b2",
    } | fields


def payload(*alerts, **fields):
    return {"version": "4", "receiver": "watchkeeper", "externalURL": "http://am:9093", "alerts": list(alerts)} | fields


def parse(body):
    return PARSER.parse(body, integration_id=7, now=NOW)


def test_a_firing_alert_is_a_finding_keyed_by_integration_and_fingerprint():
    (found,) = parse(payload(alert())).findings
    assert (found.dedup_key, found.source, found.state, found.severity) == (
        "alertmanager/7/a1b2",
        "alertmanager",
        State.FIRING,
        Severity.CRITICAL,
    )
    assert (found.summary, found.observed_at, found.started_at) == (
        "pbx-1 is down",
        NOW,
        datetime(2026, 11, 23, 11, 58, tzinfo=UTC),
    )
    assert found.details["external_url"] == "http://am:9093"


def test_a_resolved_alert_is_observed_when_it_ended():
    (found,) = parse(payload(alert(status="resolved", endsAt="2026-11-23T11:59:30Z"))).findings
    assert (found.state, found.observed_at) == (State.RESOLVED, datetime(2026, 11, 23, 11, 59, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    "labels,severity",
    [({"severity": "page"}, Severity.CRITICAL), ({"severity": "Minor"}, Severity.WARNING), ({}, Severity.ERROR)],
)
def test_severity_is_read_in_its_usual_spellings(labels, severity):
    (found,) = parse(payload(alert(labels={"alertname": "X", **labels}))).findings
    assert found.severity is severity


def test_without_a_fingerprint_the_labels_make_the_key():
    first, second = parse(payload(alert(fingerprint=None), alert(fingerprint=None))).findings
    assert first.dedup_key == second.dedup_key and first.dedup_key.startswith("alertmanager/7/")


@pytest.mark.parametrize(
    "body,reason",
    [
        ([], "'body': Input should be a valid dictionary"),
        ({"version": "4"}, "'alerts' is missing"),
        (payload(version="3"), "version: '3' is not supported; watchkeeper takes webhook version 4"),
    ],
)
def test_a_payload_that_is_not_one_is_rejected_as_a_whole(body, reason):
    parsed = parse(body)
    assert parsed.findings == [] and parsed.refused
    assert any(rejected.index is None and rejected.reason.startswith(reason) for rejected in parsed.rejected)


@pytest.mark.parametrize(
    "bad,reason",
    [
        (alert(status="burning"), "'alerts.1.status': Input should be 'firing' or 'resolved'"),
        ({"status": "firing", "labels": {}}, "'alerts.1.startsAt' is missing"),
        (alert(startsAt="2026-11-23T11:58:00"), "'alerts.1.startsAt': Input should have timezone info"),
        (alert(startsAt="9999-12-31T23:59:59-14:00"), "alerts.1: 'started_at' is out of range"),
        (alert(labels={"instance": "pbx\u0000"}), "alerts.1: 'labels.instance' holds a NUL"),
        (alert(fingerprint="f" * 300), "alerts.1: 'key' is longer than 300 characters"),
    ],
)
def test_a_bad_alert_is_rejected_at_its_index_and_the_good_ones_kept(bad, reason):
    parsed = parse(payload(alert(), bad))
    assert [found.dedup_key for found in parsed.findings] == ["alertmanager/7/a1b2"]
    assert not parsed.refused
    assert any(rejected.index == 1 and rejected.reason.startswith(reason) for rejected in parsed.rejected), (
        parsed.rejected
    )


def test_the_answer_counts_the_alerts_taken_and_lists_the_bad_ones():
    answer = PARSER.answer(parse(payload(alert(), alert(startsAt="9999-12-31T23:59:59-14:00"))))
    assert (answer.status_code, answer.body) == (
        200,
        {"status": "success", "alerts": 1, "rejected": ["alerts.1: 'started_at' is out of range"]},
    )


def test_an_empty_group_is_a_success_with_nothing_taken():
    answer = PARSER.answer(parse(payload()))
    assert (answer.status_code, answer.body) == (200, {"status": "success", "alerts": 0, "rejected": []})


def test_nothing_good_is_a_400_which_alertmanager_does_not_retry():
    answer = PARSER.answer(parse(payload(alert(status="burning"))))
    assert (answer.status_code, answer.body) == (
        400,
        {"detail": ["'alerts.0.status': Input should be 'firing' or 'resolved'"]},
    )
    assert PARSER.answer(parse(payload(version="3"))).body == {
        "detail": ["version: '3' is not supported; watchkeeper takes webhook version 4"]
    }


def test_a_body_that_is_not_json_and_an_unknown_key_are_said_as_detail():
    assert (PARSER.unreadable("the body is not JSON").status_code, PARSER.unknown("no such key").status_code) == (
        400,
        404,
    )
    assert PARSER.unknown("no such key").body == {"detail": "no such key"}


def test_rejected_items_say_where_and_why():
    (rejected,) = parse(payload(alert(), alert(status="burning"))).rejected
    assert rejected == Rejected(1, "'alerts.1.status': Input should be 'firing' or 'resolved'")
