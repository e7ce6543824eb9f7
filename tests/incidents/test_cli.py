"""`watchkeeper incidents|silences|maintenance|dependencies|integrations` as an operator runs them."""

from __future__ import annotations

import json
from datetime import timedelta

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.clock import SystemClock
from watchkeeper.config import get_settings
from watchkeeper.db import make_engine, transaction
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.intake.models import Integration
from watchkeeper.wiring import sessionmaker as wired_sessions


def fire(summary="SIP trunk 7 down"):
    engine = make_engine(get_settings().database_url)
    now = SystemClock().now()
    with transaction(wired_sessions(engine)) as session:
        record(
            Finding(
                "pd/trunk-7",
                "pagerduty",
                None,
                Severity.CRITICAL,
                State.FIRING,
                summary,
                now,
                labels={"alertname": "Trunk", "instance": "sbc-1"},
            ),
            session=session,
            now=now,
            config=RoutingConfig(group_wait=timedelta(0)),
        )
    engine.dispose()


def test_integration_key_is_printed_once_and_stored_hashed(run):
    created = run("integrations", "create", "--kind", "pagerduty", "--name", "zabbix")
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert len(key) == 32 and "/v2/enqueue" in created.output
    listed = run("integrations", "list", "--json")
    assert key not in listed.output
    assert json.loads(listed.output)[0]["prefix"] == key[:6]
    engine = make_engine(get_settings().database_url)
    with transaction(wired_sessions(engine)) as session:
        assert key not in session.query(Integration).one().key_hash
    engine.dispose()
    assert run("integrations", "revoke", "1").exit_code == 0
    assert json.loads(run("integrations", "list", "--json").output)[0]["revoked_at"] is not None


def test_incident_lifecycle_from_the_command_line(run):
    run("db", "upgrade")
    fire()
    (incident,) = json.loads(run("incidents", "list", "--json").output)
    assert incident["status"] == "triggered"
    number = str(incident["id"])
    assert run("incidents", "ack", number, "--by", "anna").exit_code == 0
    again = run("incidents", "ack", number)
    assert (
        again.exit_code == 1 and "cannot acknowledge incident: it is acknowledged; it can be resolved" in again.output
    )
    assert run("incidents", "note", number, "carrier ticket 4711", "--by", "anna").exit_code == 0
    assert run("incidents", "resolve", number, "--note", "carrier fixed the fibre", "--by", "anna").exit_code == 0
    shown = json.loads(run("incidents", "show", number, "--json").output)
    assert [e["kind"] for e in shown["timeline"]] == [
        "opened",
        "alert_joined",
        "acknowledged",
        "note",
        "resolved",
        "alert_released",
    ]  # its alert still fires: raised again
    assert shown["timeline"][-2]["message"] == "resolved by anna: carrier fixed the fibre"
    text = run("incidents", "show", number).output
    assert "carrier ticket 4711" in text and "SIP trunk 7 down" in text
    assert json.loads(run("incidents", "list", "--status", "resolved", "--json").output)[0]["id"] == incident["id"]
    (again,) = json.loads(run("incidents", "list", "--status", "triggered", "--json").output)
    assert again["id"] != incident["id"]
    stats = json.loads(run("incidents", "stats", "--json").output)
    assert (stats["incidents"], stats["acknowledged"], stats["resolved"]) == (2, 1, 1)
    assert run("incidents", "show", "99").exit_code == 1


def test_resolving_and_closing_by_hand_while_the_alert_fires_shows_it_still_fires(run):
    run("db", "upgrade")
    fire()
    resolved = run("incidents", "resolve", "1", "--by", "anna")
    assert resolved.exit_code == 0, resolved.output
    lines = resolved.output.splitlines()
    assert lines[:2] == ["incident 1 resolved", "alert 1 still fires (SIP trunk 7 down): raised again in incident 2"]
    assert "watchkeeper silences add -m alertname=Trunk -m instance=sbc-1 --duration 2h" in resolved.output
    assert run("incidents", "close", "1").output.strip() == "incident 1 closed"
    assert "firing, now in incident 2" in run("incidents", "show", "1").output
    (open_one,) = json.loads(run("incidents", "list", "--status", "triggered", "--json").output)
    assert open_one["id"] == 2
    shown = json.loads(run("incidents", "show", "2", "--json").output)
    assert [a["status"] for a in shown["alerts"]] == ["firing"]
    assert shown["timeline"][-1]["message"] == "alert 1 still fired when incident 1 was resolved by anna"
    assert (
        run(
            "silences",
            "add",
            "-m",
            "alertname=Trunk",
            "-m",
            "instance=sbc-1",
            "--duration",
            "2h",
            "--comment",
            "carrier works",
        ).exit_code
        == 0
    )
    quiet = run("incidents", "resolve", "2", "--by", "anna").output
    assert "alert 1 still fires (SIP trunk 7 down): muted, silenced by silence 1" in quiet
    assert json.loads(run("incidents", "list", "--status", "triggered", "--json").output) == []


def test_silences_add_list_and_expire(run):
    added = run(
        "silences",
        "add",
        "-m",
        "service=voip-de",
        "-m",
        'instance=~"pbx-.*"',
        "--duration",
        "2h",
        "--comment",
        "carrier maintenance",
        "--author",
        "anna",
        "--json",
    )
    assert added.exit_code == 0, added.output
    silence = json.loads(added.output)
    assert silence["matchers"] == ['service="voip-de"', 'instance=~"pbx-.*"']
    assert [s["id"] for s in json.loads(run("silences", "list", "--json").output)] == [silence["id"]]
    assert run("silences", "expire", str(silence["id"])).exit_code == 0
    assert json.loads(run("silences", "list", "--json").output) == []
    assert len(json.loads(run("silences", "list", "--expired", "--json").output)) == 1


def test_bad_silences_are_refused_with_what_to_do(run):
    everything = run("silences", "add", "-m", "team!=db", "--duration", "1h", "--comment", "x")
    assert everything.exit_code == 1 and "match every alert" in everything.output
    assert run("silences", "add", "-m", "service=a", "--duration", "soon", "--comment", "x").exit_code == 2
    assert "give --duration or --until" in run("silences", "add", "-m", "service=a", "--comment", "x").output


def test_maintenance_windows_weekly_and_cron(run):
    weekly = run(
        "maintenance",
        "add",
        "--name",
        "PBX patching",
        "-m",
        "service=pbx-berlin",
        "--days",
        "Sun",
        "--from",
        "01:00",
        "--to",
        "05:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert weekly.exit_code == 0, weekly.output
    assert "Sun 01:00-05:00 (Europe/Berlin)" in weekly.output
    cron = run(
        "maintenance",
        "add",
        "--name",
        "backup",
        "-m",
        "instance=db1",
        "--cron",
        "30 2 * * *",
        "--duration",
        "90m",
        "--json",
    )
    assert json.loads(cron.output)["duration_minutes"] == 90
    listed = json.loads(run("maintenance", "list", "--json").output)
    assert [w["when"] for w in listed] == ["Sun 01:00-05:00 (Europe/Berlin)", "cron '30 2 * * *' for 1 h 30 min (UTC)"]
    bad = run("maintenance", "add", "--name", "x", "-m", "service=a", "--cron", "61 * * * *", "--duration", "1h")
    assert bad.exit_code == 1 and "not a cron expression" in bad.output
    zone = run(
        "maintenance",
        "add",
        "--name",
        "x",
        "-m",
        "service=a",
        "--days",
        "Mon",
        "--from",
        "1:00",
        "--to",
        "2:00",
        "--timezone",
        "Mars/Olympus",
    )
    assert zone.exit_code == 1 and "IANA time zone" in zone.output
    assert run("maintenance", "delete", "1").exit_code == 0


def test_a_weekly_maintenance_window_takes_its_hours_in_one_option(run):
    added = run(
        "maintenance",
        "add",
        "--name",
        "night",
        "-m",
        "service=pbx-berlin",
        "--hours",
        "sat,sun 23:00-01:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert added.exit_code == 0, added.output
    assert "Sat,Sun 23:00-01:00 (Europe/Berlin)" in added.output
    bad = run("maintenance", "add", "--name", "x", "-m", "service=a", "--hours", "Sun 9-5")
    assert bad.exit_code == 1 and "not a time range like 09:00-17:00" in bad.output


def test_dependencies_add_and_list(run):
    added = run(
        "dependencies",
        "add",
        "--name",
        "trunks need their PBX",
        "--parent",
        "alertname=PBXDown",
        "--child",
        "alertname=TrunkDown",
        "--equal",
        "instance",
        "--json",
    )
    assert json.loads(added.output)["equal"] == ["instance"]
    assert json.loads(run("dependencies", "list", "--json").output)[0]["name"] == "trunks need their PBX"


def test_incidents_list_keeps_the_group_at_80_columns(run, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from watchkeeper.cli import common as cli_common
    from watchkeeper.db import upgrade

    from ..conftest import NOW

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    upgrade(engine)
    with transaction(wired_sessions(engine)) as session:
        record(
            Finding(
                "am/PBXDown/pbx-hamburg-2",
                "alertmanager",
                None,
                Severity.CRITICAL,
                State.FIRING,
                "PBX does not answer SIP OPTIONS",
                NOW,
                labels={"alertname": "PBXDown", "instance": "pbx-hamburg-2"},
            ),
            session=session,
            now=NOW,
            config=RoutingConfig(group_wait=timedelta(0)),
        )
    engine.dispose()
    screen = Console(width=80, file=io.StringIO(), record=True)
    monkeypatch.setitem(vars(cli_common), "console", screen)
    assert run("incidents", "list").exit_code == 0
    shown = screen.export_text()
    assert max(len(line) for line in shown.splitlines()) <= 80
    group = "".join(line.split("┃" if "┃" in line else "│")[3].strip() for line in shown.splitlines()[3:-2])
    assert "instance=pbx-hamburg-2" in group  # only the group names the instance
    assert "not shown at 80 columns: urgency, severity, opened (UTC)" in " ".join(shown.split())


def test_silences_add_refuses_matchers_that_take_any_value_unless_forced(run):
    broad = ["silences", "add", "-m", 'service=~".+"', "--duration", "30d", "--comment", "supplier work"]
    refused = run(*broad)
    assert refused.exit_code == 1
    assert "one must name something" in " ".join(refused.output.split())
    forced = run(*broad, "--force")
    assert forced.exit_code == 0 and 'service=~".+"' in forced.output


def test_the_same_dependency_twice_is_refused_naming_the_first(run):
    first = run(
        "dependencies",
        "add",
        "--name",
        "trunks need their PBX",
        "--parent",
        "alertname=PBXDown",
        "--child",
        "alertname=TrunkDown",
        "--equal",
        "instance",
        "--json",
    )
    assert first.exit_code == 0, first.output
    again = run(
        "dependencies",
        "add",
        "--name",
        "again",
        "--parent",
        'alertname="PBXDown"',
        "--child",
        "alertname=TrunkDown",
        "--equal",
        "instance",
    )
    assert again.exit_code == 1
    assert "dependency 1 ('trunks need their PBX') is the same rule" in again.output
    assert len(json.loads(run("dependencies", "list", "--json").output)) == 1
    other = run(
        "dependencies",
        "add",
        "--name",
        "per site",
        "--parent",
        "alertname=PBXDown",
        "--child",
        "alertname=TrunkDown",
        "--equal",
        "site",
    )
    assert other.exit_code == 0, other.output
