"""`watchkeeper pbx ...` as an operator runs it, looking at the protocol-faithful AMI server of ami_server.py."""

from __future__ import annotations

import json
import sqlite3

from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock, SystemClock
from watchkeeper.config import get_settings
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

from .ami_server import serving

SECRET = "pa55-w0rd-x7"


def _add(run, port: int, *more: str):
    return run(
        "pbx", "add", "fra1", "--ami", f"127.0.0.1:{port}", "--ami-user", "watchkeeper", "--ami-secret", SECRET, *more
    )


def test_add_show_list_and_remove_a_pbx_with_its_options_check_and_rule(run, tmp_path):
    added = _add(run, 5038, "--sip", "127.0.0.1:5062", "--config", "pjsip.conf", "--interval", "2m")
    assert added.exit_code == 0, added.output
    assert "added PBX fra1: AMI 127.0.0.1:5038 as watchkeeper, every 0:02:00" in added.output
    assert "SIP OPTIONS check fra1-options to 127.0.0.1:5062 is its parent" in added.output
    checks = {c["name"]: c for c in json.loads(run("checks", "list", "--json").output)}
    assert {n: (c["kind"], c["period_seconds"]) for n, c in checks.items()} == {
        "fra1": ("ami", 120),
        "fra1-options": ("sip", 120),
    }
    [rule] = json.loads(run("dependencies", "list", "--json").output)
    assert rule["parent"] == ['check="fra1-options"']
    shown = json.loads(run("pbx", "show", "fra1", "--json").output)
    assert (shown["ami"], shown["sip"], shown["snapshot"], shown["config_files"]) == (
        "127.0.0.1:5038",
        "127.0.0.1:5062",
        None,
        ["pjsip.conf"],
    )
    assert "fra1" in run("pbx", "list").output
    refused = run("checks", "remove", "fra1-options")
    assert refused.exit_code == 1 and "watchkeeper pbx remove fra1" in refused.output
    assert run("pbx", "remove", "fra1").output.strip() == "removed PBX fra1"
    assert json.loads(run("checks", "list", "--json").output) == []
    assert json.loads(run("dependencies", "list", "--json").output) == []
    missing = run("pbx", "show", "fra1")
    assert missing.exit_code == 1 and "no PBX 'fra1'" in missing.output


def test_the_secret_is_never_printed_back_nor_stored_in_the_clear(run, tmp_path):
    outputs = [
        _add(run, 5038, "--json").output,
        run("pbx", "show", "fra1", "--json").output,
        run("pbx", "show", "fra1").output,
        run("pbx", "list", "--json").output,
        run("checks", "show", "fra1", "--json").output,
    ]
    assert all(SECRET not in output for output in outputs)
    with sqlite3.connect(tmp_path / "cli.db") as database:
        [(stored,)] = database.execute("SELECT settings FROM checks WHERE name = 'fra1'").fetchall()
    assert SECRET not in stored and json.loads(stored)["secret"].startswith("wk1:")


def test_show_prints_the_last_look_the_channels_over_time_and_the_changes(run):
    with serving(secret=SECRET) as pbx:
        assert _add(run, pbx.port, "--config", "pjsip.conf").exit_code == 0
        clock = SimulatedClock(SystemClock().now())  # `pbx add` made it due at the wall clock's now
        ctx = Context(settings=get_settings(), clock=clock)
        try:
            scheduler = Scheduler(jobs(ctx), clock=clock, sessions=ctx.sessions)
            scheduler.run_due()
            pbx.server.answers["corestatus"] = "core_status_reloaded.txt"
            clock.advance(61)
            scheduler.run_due()
        finally:
            ctx.engine.dispose()
    printed = run("pbx", "show", "fra1", "--hours", "1").output
    text = " ".join(printed.split())
    assert "trunk carrier-b: Rejected (sip:sip.carrier-b.example)" in text
    assert "pjsip.conf: " in text
    assert "channels now 2, calls now 1; last 1 h: peak 2 channels at" in text and "(2 looks)" in text
    assert "PBX fra1 reloaded at 2026-11-23T11:58:30+00:00" in text


def test_bad_input_is_refused_in_one_line_saying_what_to_write(run):
    cases = [
        (("--ami", "pbx1:70000"), "the AMI port must be a number from 1 to 65535"),
        (("--ami", "pbx1", "--sip", "sip host"), "is not a SIP address like"),
        (("--ami", "pbx1", "--interval", "10s"), "the period must be at least a minute"),
        (("--ami", "pbx1", "--customer", "nobody"), "no customer 'nobody'"),
        (("--ami", "pbx1", "--config", "/etc/asterisk/pjsip.conf"), "no folders"),
    ]
    for options, said in cases:
        refused = run("pbx", "add", "fra1", "--ami-user", "wk", "--ami-secret", "s", *options)
        assert refused.exit_code == 1 and said in " ".join(refused.output.split()), (options, refused.output)
    assert json.loads(run("checks", "list", "--json").output) == []  # nothing half-made
    assert run("pbx", "add", "fra1", "--ami", "pbx1", "--ami-user", "wk", "--ami-secret", "s").exit_code == 0
    again = run("pbx", "add", "fra1", "--ami", "pbx1", "--ami-user", "wk", "--ami-secret", "s")
    assert again.exit_code == 1 and "a check named 'fra1' exists" in again.output
