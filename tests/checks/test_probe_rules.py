"""Damping, the finding, and when a probe runs: pure rules, table tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.checks.probe_rules import (
    Change,
    ProbeState,
    alert_key,
    finding_for,
    jitter,
    next_run,
    step,
)
from watchkeeper.checks.probes import ProbeKind, ProbeResult
from watchkeeper.finding import Severity, State

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def result(up: bool, minute: int = 0, **kw: object) -> ProbeResult:
    fields: dict[str, object] = {
        "kind": ProbeKind.HTTP,
        "target": "api.example.com",
        "up": up,
        "latency": 0.21,
        "observed_at": T0 + timedelta(minutes=minute),
        "error": "" if up else "HTTP 503 (expected 200-399)",
    }
    fields.update(kw)
    return ProbeResult(**fields)  # type: ignore[arg-type]


def run(pattern: str, **kw: int) -> tuple[ProbeState, str]:
    """Feed results ("u" up, "d" down) and spell the changes: "." none, "F" fire, "R" resolve."""
    state, changes = ProbeState(), ""
    for minute, mark in enumerate(pattern):
        stepped = step(state, result(mark == "u", minute), **kw)
        state = stepped.state
        changes += {Change.NONE: ".", Change.FIRE: "F", Change.RESOLVE: "R"}[stepped.change]
    return state, changes


@pytest.mark.parametrize(
    ("pattern", "kw", "changes"),
    [
        ("d", {}, "."),  # one lost packet pages nobody
        ("dd", {}, ".F"),
        ("dud", {}, "..."),  # not in a row
        ("dddd", {}, ".F.."),  # fires once
        ("ddu", {}, ".FR"),
        ("ddudd", {}, ".FR.F"),
        ("d", {"fail_after": 1}, "F"),
        ("ddd", {"fail_after": 3}, "..F"),
        ("dduu", {"recover_after": 2}, ".F.R"),
        ("ddudu", {"recover_after": 2}, ".F..."),  # successes in a row, too
        ("uuuu", {}, "...."),
    ],
)
def test_damping(pattern: str, kw: dict[str, int], changes: str) -> None:
    assert run(pattern, **kw)[1] == changes


def test_state_remembers_when_the_failures_began() -> None:
    state, _ = run("uddd")
    assert not state.up and state.failures == 3
    assert state.failing_since == T0 + timedelta(minutes=1)
    assert run("ddu")[0].failing_since is None


def test_a_new_severity_fires_again() -> None:
    state = ProbeState()
    warned = result(False, severity=Severity.WARNING)
    state = step(state, warned).state
    fired = step(state, warned)
    assert fired.change is Change.FIRE and fired.state.severity is Severity.WARNING
    assert step(fired.state, warned).change is Change.NONE
    critical = step(fired.state, result(False, severity=Severity.CRITICAL))
    assert critical.change is Change.FIRE and critical.state.severity is Severity.CRITICAL


def test_thresholds_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        step(ProbeState(), result(True), fail_after=0)


def test_finding_of_a_probe_judged_down() -> None:
    state, _ = run("dd")
    finding = finding_for("api", {"service": "billing-api", "check": "spoofed"}, state, result(False, 1))
    assert finding.dedup_key == alert_key("api") == "check/api"
    assert finding.source == "checks" and finding.service == "billing-api"
    assert finding.state is State.FIRING and finding.severity is Severity.CRITICAL
    assert finding.summary == "api (api.example.com): HTTP 503 (expected 200-399), 0.21 s"
    assert finding.started_at == T0
    assert finding.labels == {"service": "billing-api", "check": "api", "kind": "http", "target": "api.example.com"}


def test_finding_of_a_probe_up_again_resolves() -> None:
    state, _ = run("ddu")
    finding = finding_for("api", {}, state, result(True, 2, latency=0.05))
    assert finding.state is State.RESOLVED
    assert finding.summary == "api (api.example.com): up again, 0.05 s"


def test_finding_of_an_expiring_certificate_is_a_warning() -> None:
    expiring = result(
        False,
        kind=ProbeKind.TLS,
        target="billing.example.com:443",
        error="certificate expires in 15 days (2026-12-17)",
        severity=Severity.WARNING,
        detail={"days_left": 15},
        latency=None,
    )
    state = step(step(ProbeState(), expiring).state, expiring).state
    finding = finding_for("cert", {}, state, expiring)
    assert finding.severity is Severity.WARNING
    assert finding.summary == "cert (billing.example.com:443): certificate expires in 15 days (2026-12-17)"
    assert finding.details == {"days_left": 15}
    assert finding.labels["kind"] == "tls"


@pytest.mark.parametrize(
    ("name", "interval"),
    [("api", timedelta(seconds=60)), ("db-backup", timedelta(minutes=5)), ("x", timedelta(seconds=1))],
)
def test_jitter_is_stable_and_within_the_interval(name: str, interval: timedelta) -> None:
    offset = jitter(name, interval)
    assert timedelta(0) <= offset < interval
    assert jitter(name, interval) == offset


def test_jitter_spreads_a_thousand_checks_over_the_interval() -> None:
    seconds = {jitter(f"check-{i}", timedelta(seconds=60)) // timedelta(seconds=1) for i in range(1000)}
    assert len(seconds) == 60  # every second of the minute has some


def test_jitter_refuses_an_empty_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        jitter("api", timedelta(0))


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (T0, T0 + timedelta(seconds=17)),  # before this minute's slot
        (T0 + timedelta(seconds=17), T0 + timedelta(seconds=77)),  # exactly on it: the next one
        (T0 + timedelta(seconds=30), T0 + timedelta(seconds=77)),
        (T0 + timedelta(minutes=10, seconds=59), T0 + timedelta(minutes=11, seconds=17)),  # late: back to its slot
    ],
)
def test_next_run_keeps_to_its_slot(last: datetime, expected: datetime) -> None:
    assert next_run(last, timedelta(seconds=60), timedelta(seconds=17)) == expected


@given(
    st.integers(min_value=0, max_value=100 * 365 * 86_400 * 10**6).map(lambda us: T0 + timedelta(microseconds=us)),
    st.integers(min_value=1, max_value=86_400),
    st.text(max_size=20),
)
def test_next_run_is_the_first_slot_after_last(last: datetime, seconds: int, name: str) -> None:
    interval = timedelta(seconds=seconds)
    offset = jitter(name, interval)
    following = next_run(last, interval, offset)
    assert last < following <= last + interval
    assert next_run(following - timedelta(microseconds=1), interval, offset) == following
