"""The pure rules of escalation: levels as written, the next step, urgency's rules, routes, snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.errors import Invalid
from watchkeeper.finding import Urgency
from watchkeeper.oncall.escalation import (
    Level,
    Policy,
    Route,
    Rule,
    Step,
    choose,
    duration_text,
    next_step,
    parse_duration,
    parse_level,
    rules_for,
    shown,
)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("users=alice,bob;timeout=15m", Level(("alice", "bob"), None, timedelta(minutes=15))),
        ("schedule=primary", Level((), "primary", timedelta(minutes=30))),
        (" users = carol ; schedule = primary ; timeout = 1h30m ", Level(("carol",), "primary", timedelta(minutes=90))),
        ("users=alice,alice", Level(("alice",), None, timedelta(minutes=30))),
    ],
)
def test_a_level_is_read_as_written(text, level):
    assert parse_level(text) == level


@pytest.mark.parametrize("text", ["", "timeout=5m", "users=", "team=ops", "users=a;timeout=5 minutes", "users"])
def test_a_level_that_pages_nobody_or_is_misspelt_is_refused(text):
    with pytest.raises(Invalid):
        parse_level(text)


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_a_duration_reads_back_as_written(seconds):
    span = timedelta(seconds=seconds)
    assert parse_duration(duration_text(span)) == span


def walk(policy: Policy, urgency: Urgency) -> list[tuple[int, int]]:
    step: Step | None = Step(0, 0)
    seen = []
    while step is not None:
        seen.append((step.level, step.repeat))
        step = next_step(policy, step, urgency=urgency, first_pass=0)
    return seen


def test_high_urgency_goes_through_every_level_then_repeats_as_often_as_said():
    policy = Policy("ops", (Level(("a",)), Level(("b",))), repeat=2)
    assert walk(policy, Urgency.HIGH) == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]


def test_low_urgency_pages_the_first_level_once():
    assert walk(Policy("ops", (Level(("a",)), Level(("b",))), repeat=3), Urgency.LOW) == [(0, 0)]


@given(
    st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=9), st.integers(min_value=0, max_value=5)
)
def test_a_trigger_again_pages_as_many_steps_as_the_first(levels, repeat, first):
    policy = Policy("ops", tuple(Level((f"u{n}",)) for n in range(levels)), repeat=repeat)
    step: Step | None = Step(0, first)
    count = 0
    while step is not None:
        count += 1
        step = next_step(policy, step, urgency=Urgency.HIGH, first_pass=first)
    assert count == levels * (repeat + 1)


def test_low_urgency_drops_calls_and_rules_run_soonest_first():
    rules = [Rule("sip:+49301", timedelta(minutes=5)), Rule("tgram://x/y", timedelta(minutes=2)), Rule("mailto://a@b")]
    assert [r.channel for r in rules_for(rules, Urgency.HIGH)] == ["mailto://a@b", "tgram://x/y", "sip:+49301"]
    assert [r.channel for r in rules_for(rules, Urgency.LOW)] == ["mailto://a@b", "tgram://x/y"]


def test_the_first_route_that_matches_wins_and_one_without_matchers_takes_the_rest():
    routes = [
        Route.parse("acme", ["customer=Acme"]),
        Route.parse("voice", ['service=~"voip-.*"', "severity!=info"]),
        Route.parse("default", []),
    ]
    assert choose(routes, {"customer": "Acme", "service": "voip-core"}) == "acme"
    assert choose(routes, {"service": "voip-core", "severity": "critical"}) == "voice"
    assert choose(routes, {"service": "voip-core", "severity": "info"}) == "default"
    assert choose(routes[:2], {"service": "billing"}) is None


def test_a_snapshot_is_the_policy_again():
    policy = Policy(
        "ops", (Level(("a", "b"), None, timedelta(minutes=15)), Level((), "primary")), 2, timedelta(hours=4)
    )
    assert Policy.from_snapshot(policy.snapshot()) == policy


def test_a_channel_shown_keeps_no_secret():
    assert shown("tgram://123456:SECRET@telegram/987") == "tgram://telegram"
    assert shown("mailto://user:pw@smtp.example.com:587?to=a@b") == "mailto://smtp.example.com:587"
    assert shown("sip:+4930111") == "sip:+4930111"


@pytest.mark.parametrize("repeat", [-1, 10])
def test_a_repeat_out_of_range_is_refused(repeat):
    with pytest.raises(Invalid, match="repeats 0 to 9 times"):
        Policy("ops", (Level(("a",)),), repeat)
