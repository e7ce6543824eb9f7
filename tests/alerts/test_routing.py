"""The pure routing rules: matchers, windows across DST and midnight, dependencies, flapping, grouping."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.alerts.routing import (
    InhibitRule,
    MuteKind,
    Parent,
    Silence,
    Window,
    check_narrow,
    check_selective,
    flapping,
    group_key,
    group_labels,
    mute_for,
    parse_matcher,
    parse_matchers,
    parse_weekdays,
    urgency,
)
from watchkeeper.finding import Urgency

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LABELS = {"service": "voip-de", "severity": "critical", "instance": "pbx-1:5060"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("service=voip-de", True),
        ("service!=voip-de", False),
        ('instance=~"pbx-.*"', True),
        ("instance=~pbx", False),  # anchored, as in Alertmanager
        ("instance!~'sbc-.*'", True),
        ("team=", True),  # a missing label reads as empty
        ("team!=db", True),
        ("team=~.+", False),
        ("severity=~critical|error", True),
    ],
)
def test_matchers_follow_alertmanager(text, expected):
    assert parse_matcher(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["service", "=x", "service==x", "1abc=x", 'instance=~"pbx-("'])
def test_a_bad_matcher_is_refused_with_the_shape_expected(text):
    with pytest.raises(ValueError, match="matcher like|does not compile|starts with"):
        parse_matcher(text)


def test_a_matcher_regex_runs_in_linear_time_and_unbalanced_quotes_are_refused():
    runaway = parse_matcher('instance=~"(a+)+$"')
    # With Python's re this took 3.5 s at 28 characters, doubling with each: at 40, hours.
    assert not runaway.matches({"instance": "a" * 40 + "!"})
    assert runaway.matches({"instance": "a" * 40})
    with pytest.raises(ValueError, match="does not compile in RE2"):
        parse_matcher('instance=~"(?=pbx)"')  # lookahead: Alertmanager (Go, RE2) refuses it too
    for text in ('instance="abc', "instance=abc'", 'instance=~"pbx.*'):
        with pytest.raises(ValueError, match="quotes are unbalanced"):
            parse_matcher(text)


def test_matchers_that_would_silence_everything_are_refused():
    with pytest.raises(ValueError, match="match every alert"):
        check_selective(parse_matchers(["team!=db"]))
    check_selective(parse_matchers(["team!=db", "service=voip-de"]))


@pytest.mark.parametrize(
    "matchers",
    [
        ['service=~".+"'],
        ['service=~"\\S+"'],
        ['service=~"[^x]+"'],
        ['service=~".{1,64}"', "severity!=info"],
        ['service!~"voip-.*"'],
        ['service=~".+"', 'instance!="db1"'],
    ],
)
def test_matchers_that_take_any_value_of_a_label_are_refused(matchers):
    with pytest.raises(ValueError, match="match every alert"):
        check_narrow(parse_matchers(matchers))


@pytest.mark.parametrize(
    "matchers",
    [
        ["service=voip-de"],
        ['instance=~"pbx-.*"'],
        ['service=~"(sms|mms)-uk"'],
        ['service=~".+"', "alertname=BackupFailed"],
        ['instance=~"pbx-\\d+"'],
    ],
)
def test_matchers_that_name_something_pass(matchers):
    check_narrow(parse_matchers(matchers))


def test_a_silence_mutes_until_it_ends_and_says_who_and_why():
    silence = Silence(
        7,
        parse_matchers(["service=voip-de"]),
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
        "anna",
        "supplier migration",
    )
    mute = mute_for(LABELS, NOW, silences=[silence])
    assert mute is not None and mute.kind is MuteKind.SILENCED and mute.until == silence.ends_at
    assert "anna: supplier migration" in mute.reason
    assert mute_for(LABELS, silence.ends_at, silences=[silence]) is None
    assert mute_for({**LABELS, "service": "sms-uk"}, NOW, silences=[silence]) is None


def weekly(days: str, start: str, end: str, zone: str = "Europe/Berlin") -> Window:
    return Window(
        1,
        "nightly",
        parse_matchers(["service=voip-de"]),
        zone,
        weekdays=parse_weekdays(days),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
    )


def test_a_weekly_window_across_midnight_belongs_to_the_day_it_starts():
    window = weekly("Sun", "22:00", "02:00")  # Sunday 22:00 to Monday 02:00, Berlin (UTC+1 in November)
    sunday_late = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # 22:30 local
    monday_early = datetime(2026, 11, 23, 0, 59, tzinfo=UTC)  # 01:59 local
    assert window.end_if_active(sunday_late) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert window.end_if_active(monday_early) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert window.end_if_active(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) is None
    assert window.end_if_active(datetime(2026, 11, 23, 21, 30, tzinfo=UTC)) is None  # Monday 22:30: not a Sunday


def test_a_weekly_window_keeps_local_time_across_daylight_saving():
    window = weekly("Sat", "01:00", "05:00")
    # Berlin clocks go back on Sunday 25 October 2026; a Saturday window is 01:00-05:00 local either side.
    summer = datetime(2026, 10, 24, 2, 0, tzinfo=UTC)  # 04:00 CEST
    winter = datetime(2026, 10, 31, 3, 0, tzinfo=UTC)  # 04:00 CET
    assert window.end_if_active(summer) == datetime(2026, 10, 24, 3, 0, tzinfo=UTC)
    assert window.end_if_active(winter) == datetime(2026, 10, 31, 4, 0, tzinfo=UTC)


def test_a_window_over_the_spring_forward_gap_lasts_the_real_time_between_its_ends():
    window = weekly("Sun", "01:00", "04:00")  # 29 March 2026 02:00 -> 03:00 in Berlin: 2 real hours
    opens = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 CET
    assert window.end_if_active(opens) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)  # 04:00 CEST
    assert window.end_if_active(opens - timedelta(minutes=1)) is None


def test_a_cron_window_runs_for_its_duration_in_its_time_zone():
    window = Window(
        2,
        "backup",
        parse_matchers(["service=voip-de"]),
        "America/New_York",
        cron="30 1 * * *",
        duration=timedelta(hours=2),
    )
    # 1 November 2026: New York falls back at 02:00; 01:30 happens twice, cron takes the first.
    assert window.end_if_active(datetime(2026, 11, 2, 7, 0, tzinfo=UTC)) == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert window.end_if_active(datetime(2026, 11, 2, 8, 30, tzinfo=UTC)) is None
    summer = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT
    assert window.end_if_active(summer) == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)


def test_a_one_off_window_mutes_between_its_instants_and_says_until_when():
    window = Window(
        3, "core upgrade", parse_matchers(["instance=~pbx-.*"]), starts_at=NOW, ends_at=NOW + timedelta(hours=2)
    )
    mute = mute_for(LABELS, NOW + timedelta(minutes=5), windows=[window])
    assert mute is not None and mute.kind is MuteKind.MAINTENANCE and mute.until == NOW + timedelta(hours=2)
    assert "core upgrade" in mute.reason
    assert mute_for(LABELS, NOW + timedelta(hours=2), windows=[window]) is None


RULE = InhibitRule(
    1,
    "trunks depend on their PBX",
    parse_matchers(["alertname=PBXDown"]),
    parse_matchers(["alertname=TrunkDown"]),
    ("instance",),
)


@pytest.mark.parametrize(
    "parent_instance,child_instance,muted",
    [
        ("pbx-1", "pbx-1", True),
        ("pbx-1", "pbx-2", False),
        (None, None, False),  # missing on both: not "equal" (unlike Alertmanager), nothing is hidden
        ("pbx-1", None, False),
        (None, "pbx-1", False),
        ("", "", False),
    ],
)
def test_dependencies_need_the_equal_labels_present_and_equal(parent_instance, child_instance, muted):
    parent = {"alertname": "PBXDown"} | ({"instance": parent_instance} if parent_instance is not None else {})
    child = {"alertname": "TrunkDown"} | ({"instance": child_instance} if child_instance is not None else {})
    mute = mute_for(child, NOW, rules=[RULE], parents=[Parent(10, parent, "PBX pbx-1 unreachable")])
    assert (mute is not None) is muted
    if muted:
        assert mute.kind is MuteKind.INHIBITED and mute.ref == 10 and mute.until is None
        assert "PBX pbx-1 unreachable" in mute.reason


def test_an_alert_never_mutes_itself():
    both = InhibitRule(2, "self", parse_matchers(["alertname=PBXDown"]), parse_matchers(["alertname=PBXDown"]))
    labels = {"alertname": "PBXDown", "instance": "pbx-1"}
    assert mute_for(labels, NOW, alert_id=10, rules=[both], parents=[Parent(10, labels, "x")]) is None


@pytest.mark.parametrize(
    "parent_customer,child_customer,muted",
    [
        ("Alpha", "Alpha", True),
        ("Alpha", None, True),
        ("Alpha", "Bravo", False),  # one customer's outage neither hides nor tells of another's
        (None, "Bravo", False),
        (None, None, True),
    ],
)
def test_a_parent_mutes_only_alerts_of_its_own_customer_or_of_none(parent_customer, child_customer, muted):
    parent = Parent(10, {"alertname": "PBXDown", "instance": "pbx-shared"}, "PBX down", parent_customer)
    child = {"alertname": "TrunkDown", "instance": "pbx-shared"}
    assert (mute_for(child, NOW, customer=child_customer, rules=[RULE], parents=[parent]) is not None) is muted


def test_silence_comes_before_maintenance_before_dependency():
    silence = Silence(1, parse_matchers(["service=voip-de"]), NOW, NOW + timedelta(hours=1), "a", "b")
    window = Window(2, "w", parse_matchers(["service=voip-de"]), starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    assert mute_for(LABELS, NOW, silences=[silence], windows=[window]).kind is MuteKind.SILENCED
    assert mute_for(LABELS, NOW, windows=[window]).kind is MuteKind.MAINTENANCE


@given(st.lists(st.integers(min_value=0, max_value=120), max_size=12), st.integers(min_value=2, max_value=6))
def test_flapping_counts_only_changes_inside_the_window(minutes_ago, threshold):
    changes = [NOW - timedelta(minutes=m) for m in minutes_ago]
    inside = sum(1 for m in minutes_ago if m < 15)
    assert flapping(changes, NOW, window=timedelta(minutes=15), threshold=threshold) is (inside >= threshold)


def test_grouping_defaults_to_service_else_alertname_and_instance():
    assert group_key(group_labels(LABELS)) == "service=voip-de"
    assert group_key(group_labels({"alertname": "DiskFull", "instance": "db1"})) == "alertname=DiskFull,instance=db1"
    assert group_key(group_labels(LABELS, ("instance",))) == "instance=pbx-1:5060"


def test_the_customer_of_the_service_is_part_of_every_group_and_a_customer_label_is_not():
    trunk = {"alertname": "TrunkDown", "instance": "pbx-shared", "customer": "Bravo"}
    assert (
        group_key(group_labels(trunk, ("alertname", "instance"), "Alpha"))
        == "alertname=TrunkDown,customer=Alpha,instance=pbx-shared"
    )
    assert group_key(group_labels(trunk, ("alertname", "customer"))) == "alertname=TrunkDown"
    assert group_key(group_labels(LABELS, (), "Alpha")) == "customer=Alpha,service=voip-de"


@pytest.mark.parametrize(
    "severity,stage,given_urgency,expected",
    [
        ("critical", "production", Urgency.HIGH, Urgency.HIGH),
        ("critical", "test", Urgency.HIGH, Urgency.LOW),
        ("warning", "production", Urgency.HIGH, Urgency.LOW),
        ("info", None, Urgency.HIGH, Urgency.LOW),
        ("error", None, Urgency.LOW, Urgency.LOW),
    ],
)
def test_test_services_and_warnings_are_low_urgency(severity, stage, given_urgency, expected):
    assert urgency(severity, stage=stage, given=given_urgency) is expected
