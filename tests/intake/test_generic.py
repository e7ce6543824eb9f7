"""The generic JSON parser: one event or a list to findings, bad events to rejected items by index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.finding import Severity, State
from watchkeeper.intake.generic import MAX_EVENTS, Generic
from watchkeeper.intake.parser import Rejected

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PARSER = Generic()
GOOD = {"key": "backup-db1", "summary": "nightly backup failed", "service": "billing-db", "labels": {"instance": "db1"}}


def parse(body):
    return PARSER.parse(body, integration_id=5, now=NOW)


def test_one_event_is_a_finding_keyed_by_integration_and_key():
    (found,) = parse(GOOD).findings
    assert (found.dedup_key, found.source, found.state, found.severity, found.service) == (
        "generic/5/backup-db1",
        "generic",
        State.FIRING,
        Severity.ERROR,
        "billing-db",
    )
    assert found.labels == {"instance": "db1", "service": "billing-db"}
    assert found.details == {"key": "backup-db1"}


def test_a_list_of_events_is_a_finding_each_and_a_resolve_needs_no_summary():
    parsed = parse([GOOD, {"key": "backup-db1", "status": "resolved"}])
    assert [(f.state, f.summary) for f in parsed.findings] == [
        (State.FIRING, "nightly backup failed"),
        (State.RESOLVED, "backup-db1 resolved"),
    ]
    assert parsed.rejected == []


@pytest.mark.parametrize(
    "bad,reason",
    [
        ({"summary": "no key"}, "'key' is missing"),
        ({"key": "x"}, "'summary' is required when status is firing"),
        ({"key": "x", "summary": "s", "severity": "fatal"}, "'severity': Input should be"),
        ({"key": "x", "summary": "s", "started_at": "2026-11-23T09:15:00"}, "'started_at' needs a time zone"),
        ({"key": "x", "summary": "s", "started_at": "1999-01-01T00:00:00Z"}, "'started_at' 1999-01-01T00:00:00Z"),
        ({"key": "x", "summary": "s", "labels": {"instance": "db\u0000"}}, "'labels.instance' holds a NUL"),
        ("down", "'body': Input should be a valid dictionary"),
    ],
)
def test_a_bad_event_is_rejected_at_its_index_and_the_good_ones_kept(bad, reason):
    parsed = parse([GOOD, bad])
    assert [f.dedup_key for f in parsed.findings] == ["generic/5/backup-db1"]
    assert any(rejected.index == 1 and rejected.reason.startswith(reason) for rejected in parsed.rejected), (
        parsed.rejected
    )


def test_too_many_events_are_rejected_as_a_whole():
    parsed = parse([GOOD] * (MAX_EVENTS + 1))
    assert parsed.findings == []
    assert parsed.rejected == [
        Rejected(None, f"at most {MAX_EVENTS} events per request; this one has {MAX_EVENTS + 1}")
    ]
    answer = PARSER.answer(parsed)
    assert (answer.status_code, answer.body) == (400, {"detail": parsed.rejected[0].reason})


def test_the_answer_counts_what_was_taken_and_lists_each_bad_event_once_by_index():
    two_nuls = {"key": "x", "summary": "s", "labels": {"instance": "db\u0000", "job": "j\u0000"}}
    answer = PARSER.answer(parse([{"summary": "no key"}, GOOD, two_nuls]))
    assert answer.status_code == 200
    assert answer.body == {
        "accepted": 1,
        "rejected": [
            {"index": 0, "errors": ["'key' is missing"]},
            {
                "index": 2,
                "errors": [
                    "'labels.instance' holds a NUL or text that is not Unicode",
                    "'labels.job' holds a NUL or text that is not Unicode",
                ],
            },
        ],
    }


def test_nothing_good_is_a_400_listing_the_bad_events():
    answer = PARSER.answer(parse([{"key": "x"}]))
    assert (answer.status_code, answer.body) == (
        400,
        {"accepted": 0, "rejected": [{"index": 0, "errors": ["'summary' is required when status is firing"]}]},
    )


def test_a_body_that_is_not_json_and_an_unknown_key_are_said_as_detail():
    assert (PARSER.unreadable("not JSON").status_code, PARSER.unreadable("not JSON").body) == (
        400,
        {"detail": "not JSON"},
    )
    assert (PARSER.unknown("no such key").status_code, PARSER.unknown("no such key").body) == (
        404,
        {"detail": "no such key"},
    )
