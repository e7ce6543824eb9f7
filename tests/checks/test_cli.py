"""`watchkeeper checks ...` and `watchkeeper run --check`, as an operator runs them."""

from __future__ import annotations

import json


def test_add_run_and_show_a_check_with_its_pings(run):
    added = json.loads(run("checks", "add", "backup", "--period", "1h", "--grace", "5m", "--json").output)
    assert added["status"] == "new" and added["period_seconds"] == 3600
    failed = run("run", "--check", "backup", "--", "sh", "-c", "echo copying; echo no space left; exit 3")
    assert failed.exit_code == 3
    assert run("run", "--check", "backup", "--", "true").exit_code == 0
    shown = json.loads(run("checks", "show", "backup", "--json").output)
    assert shown["status"] == "up"
    assert [(p["kind"], p["exit_status"]) for p in shown["pings"]] == [
        ("success", 0),
        ("start", None),
        ("fail", 3),
        ("start", None),
    ]
    assert shown["pings"][2]["body"] == "copying\nno space left\n"
    assert shown["pings"][2]["duration_seconds"] >= 0
    text = run("checks", "show", "backup").output
    assert "no space left" in text and "fail exit 3" in text


def test_pause_resume_remove_and_list(run):
    run("checks", "add", "rating", "--cron", "30 2 * * *", "--tz", "Europe/Berlin")
    assert "paused check rating" in run("checks", "pause", "rating").output
    assert json.loads(run("checks", "list", "--json").output)[0]["status"] == "paused"
    run("checks", "resume", "rating")
    assert json.loads(run("checks", "list", "--json").output)[0]["status"] == "new"
    run("checks", "remove", "rating")
    missing = run("checks", "show", "rating")
    assert missing.exit_code == 1 and "no check 'rating'" in missing.output


def test_a_schedule_it_cannot_read_is_refused_saying_what_to_write(run):
    refused = run("checks", "add", "x", "--oncalendar", "Funday 02:00")
    assert refused.exit_code == 1 and "Mon..Fri *-*-* 02:30:00" in " ".join(refused.output.split())
