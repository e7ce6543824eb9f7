"""From AMI messages to findings, as tables: no server, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from watchkeeper.alerts import routing
from watchkeeper.checks import pbx
from watchkeeper.finding import State, Urgency

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PBX = pbx.Pbx("pbx-fra1", service="voice", labels={"customer": "acme", "kind": "ignored"})


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Registered", State.RESOLVED),
        ("Unregistered", State.FIRING),
        ("Rejected", State.FIRING),
        ("Failed", State.FIRING),
        ("Timeout", State.FIRING),
        ("No Authentication", State.FIRING),
        ("Request Sent", None),
        ("Auth. Sent", None),
    ],
)
def test_a_trunk_registration_state_fires_resolves_or_waits(status: str, expected: State | None) -> None:
    finding = pbx.trunk_finding(PBX, pbx.Trunk("carrier-a", status), now=NOW)
    assert (finding.state if finding else None) is expected


def test_a_trunk_finding_is_keyed_and_labelled_per_pbx_and_trunk() -> None:
    finding = pbx.trunk_finding(PBX, pbx.Trunk("carrier-b", "Rejected", detail="403 Forbidden"), now=NOW)
    assert finding is not None
    assert finding.dedup_key == "ami:pbx-fra1:trunk:carrier-b"
    assert (finding.source, finding.service, finding.observed_at) == ("ami", "voice", NOW)
    assert finding.labels == {
        "customer": "acme",
        "kind": "trunk",
        "pbx": "pbx-fra1",
        "parent": "pbx-fra1",
        "trunk": "carrier-b",
    }
    assert finding.summary == "PBX pbx-fra1: trunk carrier-b registration is Rejected (403 Forbidden)"


def test_outbound_registration_details_become_trunks_and_other_events_are_skipped() -> None:
    events = [
        {
            "Event": "OutboundRegistrationDetail",
            "ObjectName": "carrier-a",
            "Status": "Registered",
            "ServerUri": "sip:a.example",
            "ClientUri": "sip:1@a.example",
        },
        {"Event": "AuthDetail", "ObjectName": "carrier-a-auth"},
        {"Event": "OutboundRegistrationDetailComplete", "EventList": "Complete", "ListItems": "1"},
    ]
    assert pbx.trunks_from_outbound_registrations(events) == [
        pbx.Trunk("carrier-a", "Registered", detail="sip:a.example", client="sip:1@a.example")
    ]


def test_chan_sip_registry_entries_are_named_user_at_host() -> None:
    events = [{"Event": "RegistryEntry", "Host": "sip.c.example", "Username": "3003", "State": "Registered"}]
    assert [t.name for t in pbx.trunks_from_registry_entries(events)] == ["3003@sip.c.example"]


TRUNKS = [
    pbx.Trunk("carrier-b", "Rejected", detail="sip:b.example", client="sip:2002@b.example"),
    pbx.Trunk("carrier-b2", "Registered", detail="sip:b.example", client="sip:2003@b.example"),
]


@pytest.mark.parametrize(
    ("event", "name"),
    [
        (
            {
                "ChannelType": "PJSIP",
                "Username": "sip:2002@b.example",
                "Domain": "sip:b.example",
                "Status": "Registered",
            },
            "carrier-b",
        ),
        (
            {
                "ChannelType": "PJSIP",
                "Username": "sip:2003@b.example",
                "Domain": "sip:b.example",
                "Status": "Registered",
            },
            "carrier-b2",
        ),
        (
            {"ChannelType": "PJSIP", "Username": "sip:9@z.example", "Domain": "sip:z.example", "Status": "Registered"},
            "z.example",
        ),
        (
            {"ChannelType": "SIP", "Username": "3003", "Domain": "sip.c.example", "Status": "Registered"},
            "3003@sip.c.example",
        ),
    ],
)
def test_a_registry_event_names_the_trunk_the_list_named(event: dict[str, str], name: str) -> None:
    trunk = pbx.trunk_from_registry_event({"Event": "Registry", **event}, pbx.registry_names(TRUNKS))
    assert (trunk.name, trunk.status) == (name, "Registered")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"Event": "ContactStatus", "EndpointName": "carrier-a", "ContactStatus": "Unreachable"},
            ("carrier-a", State.FIRING),
        ),
        (
            {"Event": "ContactStatus", "EndpointName": "carrier-a", "ContactStatus": "Reachable"},
            ("carrier-a", State.RESOLVED),
        ),
        ({"Event": "ContactStatus", "EndpointName": "carrier-a", "ContactStatus": "Updated"}, None),
        ({"Event": "ContactStatus", "AOR": "carrier-a", "ContactStatus": "Unreachable"}, ("carrier-a", State.FIRING)),
        ({"Event": "PeerStatus", "Peer": "PJSIP/carrier-a", "PeerStatus": "Unreachable"}, ("carrier-a", State.FIRING)),
        ({"Event": "PeerStatus", "Peer": "SIP/carrier-c", "PeerStatus": "Reachable"}, ("carrier-c", State.RESOLVED)),
        ({"Event": "PeerStatus", "Peer": "SIP/carrier-c", "PeerStatus": "Lagged"}, None),
        ({"Event": "Newchannel", "Channel": "PJSIP/carrier-a-0001"}, None),
    ],
)
def test_reachability_events_fire_and_resolve_a_trunk(
    event: dict[str, str], expected: tuple[str, State] | None
) -> None:
    trunk = pbx.trunk_from_reachability(event)
    finding = pbx.trunk_finding(PBX, trunk, now=NOW) if trunk else None
    assert ((finding.labels["trunk"], finding.state) if finding else None) == expected
    if finding:
        assert finding.dedup_key == f"ami:pbx-fra1:reach:{expected[0] if expected else ''}"


START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RELOAD = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("previous", "current", "change"),
    [
        (None, pbx.Uptime(START, RELOAD), None),
        (pbx.Uptime(START, RELOAD), pbx.Uptime(START, RELOAD), None),
        (pbx.Uptime(START, RELOAD), pbx.Uptime(START + timedelta(seconds=3), RELOAD), None),
        (pbx.Uptime(START, RELOAD), pbx.Uptime(START, RELOAD + timedelta(minutes=58)), "reload"),
        (pbx.Uptime(START, RELOAD), pbx.Uptime(NOW, NOW), "restart"),
    ],
)
def test_a_later_start_is_a_restart_and_a_later_reload_a_reload(
    previous: pbx.Uptime | None, current: pbx.Uptime, change: str | None
) -> None:
    finding = pbx.restart_finding(PBX, previous, current, now=NOW)
    assert finding.dedup_key == "ami:pbx-fra1:reload"
    assert finding.urgency is Urgency.LOW and finding.labels["kind"] == "reload"
    assert finding.state is (State.RESOLVED if change is None else State.FIRING)
    assert finding.details["change"] == (change or "")


def test_core_status_times_are_read_in_the_pbx_zone() -> None:
    response = {
        "CoreStartupDate": "2026-11-22",
        "CoreStartupTime": "13:00:00",
        "CoreReloadDate": "2026-11-23",
        "CoreReloadTime": "12:00:00",
    }
    uptime = pbx.uptime_from_core_status(response, zone=ZoneInfo("Europe/Berlin"))
    assert uptime == pbx.Uptime(START, RELOAD)


def test_fully_booted_counts_back_from_now() -> None:
    uptime = pbx.uptime_from_fully_booted({"Event": "FullyBooted", "Uptime": "86400", "LastReload": "3600"}, now=NOW)
    assert uptime == pbx.Uptime(START, RELOAD)


@pytest.mark.parametrize(
    ("status", "summary"),
    [("0", "PBX pbx-fra1 reloaded res_pjsip.so"), ("3", "PBX pbx-fra1 reloaded res_pjsip.so (status 3)")],
)
def test_a_reload_event_fires_a_low_urgency_change(status: str, summary: str) -> None:
    finding = pbx.reload_event_finding(PBX, {"Event": "Reload", "Module": "res_pjsip.so", "Status": status}, now=NOW)
    assert (finding.state, finding.urgency, finding.summary) == (State.FIRING, Urgency.LOW, summary)


CONFIG = {"Response": "Success", "ActionID": "1", "Category-000000": "general", "Line-000000-000000": "bindport=5060"}


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ({**CONFIG, "ActionID": "2"}, True),
        ({**CONFIG, "Line-000000-000000": "bindport=5070"}, False),
        ({**CONFIG, "Line-000000-000001": "bindaddr=0.0.0.0"}, False),
        ({**CONFIG, "Category-000000": "trunks"}, False),
    ],
)
def test_the_config_hash_follows_categories_and_lines_only(other: dict[str, str], same: bool) -> None:
    assert (pbx.config_hash(other) == pbx.config_hash(CONFIG)) is same


def test_config_lines_are_hashed_in_asterisks_order_not_the_headers() -> None:
    reordered = dict(reversed(list(CONFIG.items())))
    assert pbx.config_hash(reordered) == pbx.config_hash(CONFIG)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ({}, "abc", State.RESOLVED),
        ({"sip.conf": "abc"}, "abc", State.RESOLVED),
        ({"sip.conf": "abc"}, "def", State.FIRING),
        ({"sip.conf": "abc"}, None, State.FIRING),
    ],
)
def test_a_config_file_fires_when_its_hash_changes(
    previous: dict[str, str | None], current: str | None, expected: State
) -> None:
    [finding] = pbx.config_findings(PBX, previous, {"sip.conf": current}, now=NOW)
    assert finding.dedup_key == "ami:pbx-fra1:config:sip.conf"
    assert (finding.state, finding.urgency, finding.labels["kind"], finding.labels["file"]) == (
        expected,
        Urgency.LOW,
        "config",
        "sip.conf",
    )


def test_channels_are_counted_from_core_show_channel_events() -> None:
    events = [
        {"Event": "CoreShowChannel"},
        {"Event": "CoreShowChannel"},
        {"Event": "CoreShowChannelsComplete", "ListItems": "2"},
    ]
    assert pbx.channel_count(events) == 2
    assert pbx.calls_in_progress({"CoreCurrentCalls": "7"}) == 7


@pytest.mark.parametrize(("error", "state"), [("connection lost", State.FIRING), (None, State.RESOLVED)])
def test_the_manager_link_fires_when_it_fails_and_resolves_when_it_answers(error: str | None, state: State) -> None:
    finding = pbx.link_finding(PBX, error, now=NOW)
    assert (finding.dedup_key, finding.state, finding.labels["kind"], finding.labels["parent"]) == (
        "ami:pbx-fra1:ami",
        state,
        "ami",
        "pbx-fra1",
    )


def test_the_dependency_lets_the_options_check_mute_its_pbx_trunks_reloads_and_link_only() -> None:
    rule = pbx.dependency("pbx-fra1", "pbx-fra1-options")
    assert (rule.parent, rule.child, rule.equal) == (
        ["check=pbx-fra1-options"],
        ["pbx=pbx-fra1", "kind=~trunk|reload|ami"],
        [],
    )
    inhibit = routing.InhibitRule(
        1, "pbx-fra1", routing.parse_matchers(rule.parent), routing.parse_matchers(rule.child)
    )
    options = {"check": "pbx-fra1-options"}
    other = pbx.Pbx("pbx-ber1")
    trunk = pbx.trunk_finding(PBX, pbx.Trunk("carrier-b", "Rejected"), now=NOW)
    elsewhere = pbx.trunk_finding(other, pbx.Trunk("carrier-b", "Rejected"), now=NOW)
    assert trunk is not None and elsewhere is not None
    assert inhibit.mutes(options, trunk.labels)
    assert not inhibit.mutes(options, elsewhere.labels)
    assert not inhibit.mutes({"check": "pbx-ber1-options"}, trunk.labels)
    assert inhibit.mutes(options, pbx.link_finding(PBX, "refused", now=NOW).labels)
    changed = pbx.config_findings(PBX, {"pjsip.conf": "a"}, {"pjsip.conf": "b"}, now=NOW)[0]
    assert not inhibit.mutes(options, changed.labels)  # a changed file is news whatever SIP does
