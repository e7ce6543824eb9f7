"""The intake registry: one parser per kind, looked up by kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.intake.parser import KeyInBody, Parser
from watchkeeper.intake.registry import PARSERS, parser
from watchkeeper.intake.service import Kind

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ONE_OF_EACH = {
    Kind.ALERTMANAGER: {
        "version": "4",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down"}, "startsAt": "2026-11-23T11:58:00Z"}],
    },
    Kind.PAGERDUTY: {
        "routing_key": "KEY",
        "event_action": "trigger",
        "dedup_key": "trunk-7",
        "payload": {"summary": "trunk 7 down", "source": "sbc-1", "severity": "error"},
    },
    Kind.GENERIC: {"key": "backup", "summary": "backup failed"},
}


def test_the_registry_holds_exactly_the_three_kinds():
    assert set(PARSERS) == {Kind.ALERTMANAGER, Kind.PAGERDUTY, Kind.GENERIC} == set(Kind)
    assert all(isinstance(entry, Parser) and entry.kind is kind for kind, entry in PARSERS.items())


@pytest.mark.parametrize("kind", list(Kind))
def test_each_kind_is_parsed_by_its_own_parser(kind):
    (found,) = parser(kind).parse(ONE_OF_EACH[kind], integration_id=1, now=NOW).findings
    assert found.source == kind and found.dedup_key.startswith(f"{kind}/1/")


@pytest.mark.parametrize("kind", list(Kind))
def test_a_payload_of_another_kind_is_rejected_not_taken(kind):
    other = next(k for k in Kind if k is not kind)
    parsed = parser(kind).parse(ONE_OF_EACH[other], integration_id=1, now=NOW)
    assert parsed.findings == [] and parsed.refused


def test_only_pagerduty_carries_its_key_in_the_body():
    assert [kind for kind, entry in PARSERS.items() if isinstance(entry, KeyInBody)] == [Kind.PAGERDUTY]


def test_a_kind_without_a_parser_is_a_lookup_error_naming_the_kinds():
    with pytest.raises(LookupError, match="the kinds are alertmanager, pagerduty, generic"):
        parser("heartbeat")  # type: ignore[arg-type]
