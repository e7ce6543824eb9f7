"""The PagerDuty Events v2 parser: events to findings or acknowledged keys, bad events to PagerDuty's refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.finding import Severity, State
from watchkeeper.intake.pagerduty import PagerDuty
from watchkeeper.intake.parser import Parsed

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PARSER = PagerDuty()
PAYLOAD = {"summary": "SIP trunk 7 down", "source": "sbc-1", "severity": "critical"}


def event(action="trigger", **fields):
    return {"routing_key": "KEY", "event_action": action, "dedup_key": "sip-trunk-7", "payload": PAYLOAD} | fields


def parse(body):
    return PARSER.parse(body, integration_id=3, now=NOW)


def test_a_trigger_is_a_firing_finding_keyed_by_integration_and_dedup_key():
    parsed = parse(event(payload={**PAYLOAD, "component": "trunk-7", "custom_details": {"service": "voice"}}))
    (found,) = parsed.findings
    assert (found.dedup_key, found.source, found.state, found.severity, found.service) == (
        "pagerduty/3/sip-trunk-7",
        "pagerduty",
        State.FIRING,
        Severity.CRITICAL,
        "voice",
    )
    assert found.labels == {"instance": "sbc-1", "component": "trunk-7", "alertname": "trunk-7"}
    assert (parsed.reference, parsed.acknowledged, parsed.rejected) == ("sip-trunk-7", [], [])


def test_a_resolve_needs_no_payload():
    (found,) = parse(event("resolve", payload=None)).findings
    assert (found.state, found.summary) == (State.RESOLVED, "resolved by a resolve event for sip-trunk-7")


def test_an_acknowledge_is_the_key_it_acknowledges_not_a_finding():
    parsed = parse(event("acknowledge", payload=None))
    assert (parsed.findings, parsed.acknowledged, parsed.reference) == ([], ["pagerduty/3/sip-trunk-7"], "sip-trunk-7")


def test_a_trigger_without_a_dedup_key_gets_one_of_its_own():
    body = {key: value for key, value in event().items() if key != "dedup_key"}
    first, second = parse(body), parse(body)
    assert first.reference != second.reference and len(first.reference or "") >= 16
    assert first.findings[0].dedup_key == f"pagerduty/3/{first.reference}"


@pytest.mark.parametrize(
    "body,reason",
    [
        ([], "Event object is invalid: the body must be a JSON object"),
        (event(routing_key=""), "'routing_key' is missing or blank"),
        (event(routing_key=123), "'routing_key' must be a string, not int 123"),
        (event("explode"), "'event_action' is missing or invalid"),
        (event(payload={"source": "s", "severity": "info"}), "'payload.summary' is missing or blank"),
        (event(payload={**PAYLOAD, "severity": "fatal"}), "'payload.severity' is invalid"),
        (event(payload={**PAYLOAD, "timestamp": "yesterday"}), "'payload.timestamp' is invalid"),
        (event(payload="down"), "'payload' is missing or not an object"),
        (event("resolve", dedup_key=None), "'dedup_key' is missing or blank"),
        (event(dedup_key="k" * 256), "'dedup_key' must be a string of at most 255 characters"),
        (event(payload={**PAYLOAD, "timestamp": "1999-12-31T23:00:00Z"}), "'started_at' 1999-12-31T23:00:00Z"),
        (event(payload={**PAYLOAD, "source": "sbc\u0000"}), "'labels.instance' holds a NUL"),
    ],
)
def test_a_bad_event_is_rejected_naming_the_field_and_answered_as_pagerduty_does(body, reason):
    parsed = parse(body)
    assert parsed.findings == [] and parsed.acknowledged == [] and parsed.refused
    assert any(rejected.index is None and rejected.reason.startswith(reason) for rejected in parsed.rejected), (
        parsed.rejected
    )
    answer = PARSER.answer(parsed)
    assert answer.status_code == 400
    assert answer.body["status"] == "invalid event" and answer.body["message"] == "Event object is invalid"
    assert answer.body["errors"] == [rejected.reason for rejected in parsed.rejected]


def test_a_taken_event_is_answered_202_with_its_dedup_key():
    answer = PARSER.answer(parse(event()))
    assert (answer.status_code, answer.body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "sip-trunk-7"},
    )


def test_the_key_is_read_from_the_event_after_the_event_is_checked():
    assert PARSER.key(event(routing_key=" KEY ")) == "KEY"
    refused = PARSER.key(event("explode"))
    assert isinstance(refused, Parsed) and refused.refused
    assert "'event_action' is missing or invalid" in refused.rejected[0].reason


def test_a_body_that_is_not_json_and_an_unknown_key_get_pagerdutys_refusal():
    assert PARSER.unreadable("the body is not JSON").body == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Event object is invalid: the body is not JSON"],
    }
    unknown = PARSER.unknown("no such key")
    assert (unknown.status_code, unknown.body["errors"]) == (400, ["'routing_key' is not known: no such key"])
