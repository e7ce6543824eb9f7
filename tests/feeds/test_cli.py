"""The services commands as an operator runs them, on a SQLite file."""

from __future__ import annotations

import json


def _one_service(run, tmp_path, name: str = "a") -> None:
    path = tmp_path / f"{name}.csv"
    path.write_text(f"timestamp,service\n2026-11-23T09:00:00Z,{name}\n")
    assert run("ingest", str(path)).exit_code == 0


def test_services_set_takes_an_off_hours_limit_with_active_hours(run, tmp_path):
    _one_service(run, tmp_path)
    result = run(
        "services",
        "set",
        "a",
        "--active-hours",
        "Mon-Fri 08-18",
        "--max-silence",
        "2m",
        "--off-hours-max-silence",
        "12h",
        "--json",
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert (settings["max_silence_minutes"], settings["off_hours_max_silence_minutes"]) == (2, 720)
    cleared = json.loads(run("services", "set", "a", "--active-hours", "", "--json").output)["settings"]
    assert (cleared["active_hours"], cleared["off_hours_max_silence_minutes"]) == (None, None)


def test_services_set_says_what_a_record_is_worth(run, tmp_path):
    _one_service(run, tmp_path)
    result = run("services", "set", "a", "--value-per-record", "0.05", "--currency", "chf")
    assert result.exit_code == 0, result.output
    assert "value per record 0.05, currency CHF" in result.output
    cleared = json.loads(run("services", "set", "a", "--value-per-record", "-1", "--json").output)["settings"]
    assert (cleared["value_per_record"], cleared["currency"]) == (None, "CHF")
    refused = run("services", "set", "a", "--currency", "euro")
    assert refused.exit_code != 0 and "currency" in refused.output


def test_services_set_refuses_an_off_hours_limit_that_cannot_apply(run, tmp_path):
    _one_service(run, tmp_path)
    alone = run("services", "set", "a", "--off-hours-max-silence", "12h")
    assert alone.exit_code == 1 and "set active_hours too" in " ".join(alone.output.split())
    shorter = run(
        "services",
        "set",
        "a",
        "--active-hours",
        "Mon-Fri 08-18",
        "--max-silence",
        "2h",
        "--off-hours-max-silence",
        "1h",
    )
    said = " ".join(shorter.output.split())
    assert shorter.exit_code == 1 and "settings: off_hours_max_silence must not be shorter than max_silence" in said


def test_services_set_help_says_what_active_hours_do_to_a_silence(run):
    shown = " ".join(run("services", "set", "--help").output.split())
    assert "low urgency" in shown and "--off-hours-max-silence" in shown


def test_services_add_sets_up_a_service_before_its_first_record(run, tmp_path):
    added = run("services", "add", "sup-x", "--stage", "production", "--max-silence", "2h")
    assert added.exit_code == 0, added.output
    assert "sup-x: stage production; settings: max silence 2 h" in added.output
    shown = run("services", "show", "sup-x").output
    assert "first record -, last record -" in shown
    listed = json.loads(run("services", "list", "--json").output)
    assert [(s["name"], s["first_seen"]) for s in listed] == [("sup-x", None)]
    again = run("services", "add", "sup-x")
    assert again.exit_code == 1 and "a service named 'sup-x' exists" in again.output
    _one_service(run, tmp_path, "sup-x")
    shown = run("services", "show", "sup-x").output
    assert "first record 2026-11-23 09:00:00 UTC" in shown and "1 record," in shown


def test_services_set_says_what_it_set_in_words(run, tmp_path):
    _one_service(run, tmp_path)
    said = run("services", "set", "a", "--max-silence", "1h30m", "--timezone", "Europe/Berlin").output
    assert said.strip() == "a: stage new; settings: timezone Europe/Berlin, max silence 1 h 30 min"


def test_services_set_refuses_a_duration_without_a_unit(run, tmp_path):
    _one_service(run, tmp_path)
    bare = run("services", "set", "a", "--max-silence", "6")
    said = " ".join(bare.output.split())
    assert bare.exit_code == 1 and "'6' has no unit: say 6m (minutes), 6h (hours) or 6d (days)" in said
