"""The watchkeeper command as a user runs it, on a SQLite file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from watchkeeper.db import transaction
from watchkeeper.feeds.service import get_service


def test_ingest_then_list_and_show_services(run, tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,voip-de,5\n2026-11-23T09:01:00Z,voip-de,bad\n")
    result = run("ingest", str(path))
    assert result.exit_code == 1  # some rows rejected
    assert "1 rejected" in result.output and "count" in result.output
    listed = json.loads(run("services", "list", "--json").output)
    assert [(s["name"], s["total_count"], s["stage"]) for s in listed] == [("voip-de", 5, "new")]
    shown = run("services", "show", "voip-de").output
    assert "stage new" in shown and "first record 2026-11-23 09:00:00 UTC" in shown and "5 records" in shown
    assert json.loads(run("services", "show", "voip-de", "--json").output)["service"]["total_count"] == 5
    missing = run("services", "show", "voip-fr")
    assert missing.exit_code == 1 and "no service named 'voip-fr'" in missing.output


def test_ingest_refuses_a_duplicate_file_with_exit_status_2(run, tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service\n2026-11-23T09:00:00Z,a\n")
    assert run("ingest", str(path)).exit_code == 0
    copy = tmp_path / "copy-of-feed.csv"
    copy.write_bytes(path.read_bytes())
    again = run("ingest", str(copy), "--json")
    assert again.exit_code == 2
    assert json.loads(again.output)[0]["status"] == "duplicate"
    findings = json.loads(run("files", "findings", "--json").output)
    assert [f["kind"] for f in findings] == ["duplicate_file"]
    # The very file counted, met again (a retry after a crash): nothing new, no finding.
    same = run("ingest", str(path), "--json")
    assert (same.exit_code, json.loads(same.output)[0]["status"]) == (0, "unchanged")


def test_services_set_changes_stage_and_settings(run, tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service\n2026-11-23T09:00:00Z,a\n")
    run("ingest", str(path))
    result = run(
        "services",
        "set",
        "a",
        "--stage",
        "production",
        "--max-silence",
        "1h30m",
        "--timezone",
        "Europe/Berlin",
        "--json",
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert (settings["max_silence_minutes"], settings["timezone"]) == (90, "Europe/Berlin")
    bad = run("services", "set", "a", "--timezone", "Nowhere/Land")
    assert bad.exit_code == 1 and "unknown time zone" in bad.output


def test_token_create_prints_a_token_once_and_stores_only_its_hash(run):
    result = run("token", "create", "--name", "billing-platform")
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("wk_")
    listed = run("token", "list", "--json").output
    assert token not in listed and "billing-platform" in listed


def test_version_prints_the_installed_version(run):
    from importlib.metadata import version

    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"watchkeeper {version('watchkeeper')}\n"


def test_feeds_add_refuses_a_pattern_without_a_group(run):
    result = run("feeds", "add", "x", "--sequence-pattern", r"cdr_\d+")
    assert result.exit_code == 1 and "needs a group" in result.output


def _history(path, outage_from, outage_to):
    """Three weeks of a weekday office-hours service, as usage-csv, with count-0 rows at night."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 5, tzinfo=UTC)
    lines = ["timestamp,service,count"]
    for step in range(0, 21 * 1440, 5):
        at = start + timedelta(minutes=step)
        busy = at.weekday() < 5 and 8 <= at.hour < 18 and not (outage_from <= at < outage_to)
        lines.append(f"{at:%Y-%m-%dT%H:%M:%SZ},sip-trunk,{50 if busy else 0}")
    path.write_text("\n".join(lines) + "\n")


def test_replay_writes_one_json_line_per_alert(run, tmp_path):
    from datetime import UTC, datetime

    outage = datetime(2026, 1, 21, 10, tzinfo=UTC)
    _history(tmp_path / "history.csv", outage, outage.replace(hour=13))
    (tmp_path / "services.yaml").write_text("services:\n  sip-trunk: {stage: production, sensitivity: high}\n")
    result = run(
        "replay",
        str(tmp_path / "history.csv"),
        "--output",
        str(tmp_path / "alerts.jsonl"),
        "--services",
        str(tmp_path / "services.yaml"),
    )
    assert result.exit_code == 0, result.output
    assert "1 alert (" in result.output
    [alert] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["service"] == "sip-trunk" and alert["kind"] == "silence"
    assert alert["started_at"] == "2026-01-21T09:56:00Z"  # the minute after the last record
    assert "2026-01-21T10:00:00Z" < alert["raised_at"] <= "2026-01-21T10:15:00Z"
    assert alert["resolved_at"] == "2026-01-21T13:01:00Z"
    assert "no records since" in alert["message"]
    # Three hours of 50 records every 5 minutes did not come (one row at 13:00 ended it).
    assert alert["seen"] == 50 and abs(alert["missing"] - 1800) <= 180
    assert alert["missing"] == alert["expected"] - alert["seen"]
    assert f"about {alert['missing']:,} records missing" in result.output


def test_replay_reports_a_bad_services_file(run, tmp_path):
    (tmp_path / "history.csv").write_text("timestamp,service,count\n")
    (tmp_path / "services.yaml").write_text("services:\n  sip-trunk: {sensitivity: extreme}\n")
    result = run(
        "replay",
        str(tmp_path / "history.csv"),
        "--output",
        str(tmp_path / "a.jsonl"),
        "--services",
        str(tmp_path / "services.yaml"),
    )
    assert result.exit_code == 2
    assert "services.sip-trunk" in result.output and "sensitivity" in result.output


@pytest.mark.parametrize(
    "yaml,said",
    [
        (
            "services:\n  svc: [1, 2]\n",
            "services.svc: expected settings such as {stage: production, max_silence: 6h}, got list",
        ),
        ("services:\n  svc: fast\n", "services.svc: expected settings"),
        ("defaults: [1]\n", "defaults: expected settings"),
        ("servces:\n  svc: {stage: test}\n", "unknown key 'servces'; expected 'defaults:' and 'services:'"),
        (
            "defaults:\n  holidays: NO\n",
            "holidays was read as false: for Norway's holidays quote the code (holidays: 'NO')",
        ),
    ],
)
def test_replay_says_where_its_services_file_is_wrong(run, tmp_path, yaml, said):
    (tmp_path / "history.csv").write_text("timestamp,service,count\n2026-11-23T09:00:00Z,svc,1\n")
    (tmp_path / "services.yaml").write_text(yaml)
    result = run(
        "replay",
        str(tmp_path / "history.csv"),
        "--output",
        str(tmp_path / "a.jsonl"),
        "--services",
        str(tmp_path / "services.yaml"),
    )
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())


def test_an_unknown_asterisk_time_zone_is_a_bad_setting():
    from pydantic import ValidationError

    from watchkeeper.cli import plain_error
    from watchkeeper.config import Settings

    with pytest.raises(ValidationError) as caught:
        Settings(asterisk_timezone="Mars/Base")
    assert plain_error(caught.value) == (
        "bad setting: WATCHKEEPER_ASTERISK_TIMEZONE='Mars/Base': Value error, "
        "unknown time zone 'Mars/Base'; use an IANA time zone name like Europe/Berlin"
    )


def test_a_bad_time_zone_or_output_is_told_before_any_work(run, tmp_path):
    (tmp_path / "history.csv").write_text("timestamp,service,count\n2026-11-23T09:00:00Z,svc,1\n")
    result = run("replay", str(tmp_path / "history.csv"), "--output", str(tmp_path), "--timezone", "UTC")
    assert result.exit_code == 2 and f"cannot write {tmp_path}: Is a directory" in " ".join(result.output.split())
    result = run(
        "replay", str(tmp_path / "history.csv"), "--output", str(tmp_path / "a.jsonl"), "--timezone", "Mars/Base"
    )
    assert result.exit_code == 2 and "unknown time zone 'Mars/Base'" in result.output
    result = run("ingest", str(tmp_path / "history.csv"), "--timezone", "Mars/Base")
    assert result.exit_code == 3 and "unknown time zone 'Mars/Base'; use an IANA time zone name" in result.output
    assert json.loads(run("services", "list", "--json").output) == []


def test_the_installed_command_keeps_exit_status_output_and_data_when_it_leaves_early(tmp_path):
    """`watchkeeper` ends by os._exit to skip Python's teardown (cli.common.leave):
    the exit status, every line printed and every row committed must survive it,
    and SQLite must have been closed cleanly (its WAL checkpointed and removed)."""
    import os
    import sqlite3
    import subprocess
    import sys

    database = tmp_path / "wk.db"
    env = {**os.environ, "WATCHKEEPER_DATABASE_URL": f"sqlite:///{database}"}
    rows = [f"2026-11-23T09:{minute % 60:02d}:00Z,svc-{minute % 7},2" for minute in range(600)]
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service,count\n" + "\n".join(rows) + "\n2026-11-23T10:00:00Z,svc-0,many\n")

    def watchkeeper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watchkeeper", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = watchkeeper("ingest", str(path), "--json")
    assert first.returncode == 1, first.stderr  # one row rejected
    report = json.loads(first.stdout)[0]
    assert (report["accepted"], report["rejected"]) == (600, 1)
    assert not (tmp_path / "wk.db-wal").exists()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT sum(total_count) FROM services").fetchone() == (1200,)

    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    assert watchkeeper("ingest", str(copy)).returncode == 2  # a copy of it is refused
    listed = watchkeeper("services", "list", "--json")
    assert listed.returncode == 0
    assert sorted(s["name"] for s in json.loads(listed.stdout)) == [f"svc-{n}" for n in range(7)]
    unknown = watchkeeper("services", "show", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_a_bad_setting_or_an_unreachable_database_is_one_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    cases = {
        "sqlite:////no/such/folder/wk.db": "no database at /no/such/folder/wk.db "
        "(WATCHKEEPER_DATABASE_URL=sqlite:////no/such/folder/wk.db); a command "
        "that only reads creates none",
        "postgresql+psycopg://watch:secret@127.0.0.1:1/wk": "the database at postgresql+psycopg://watch:***@127.0.0.1:1/wk "
        "failed: connection failed",
        "nosuchdb://x": "WATCHKEEPER_DATABASE_URL=nosuchdb://x is not a database URL watchkeeper can use",
        "mysql://watch:secret@db/wk": "WATCHKEEPER_DATABASE_URL=mysql://watch:***@db/wk is not a database URL "
        "watchkeeper can use: give sqlite:///PATH or postgresql+psycopg://user@host/db "
        "(postgres:// and postgresql:// are read as postgresql+psycopg://)",
        "sqlite:/wk.db": "WATCHKEEPER_DATABASE_URL='sqlite:/wk.db' is not a database URL watchkeeper can use: give",
        # Read as psycopg: the connection is tried (and fails on port 1), no "Can't load plugin".
        "postgres://watch:secret@127.0.0.1:1/wk": "the database at postgres://watch:***@127.0.0.1:1/wk failed: "
        "connection failed",
        "postgresql://watch:secret@127.0.0.1:1/wk": "the database at postgresql://watch:***@127.0.0.1:1/wk failed: ",
    }
    for url, said in cases.items():
        env = {**os.environ, "WATCHKEEPER_DATABASE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "watchkeeper", "services", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3, done.stderr
        assert done.stderr.startswith("error: " + said), done.stderr
        assert "Traceback" not in done.stderr and "secret" not in done.stderr
        assert len(done.stderr.splitlines()) == 1
    env = {
        **os.environ,
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'wk.db'}",
        "WATCHKEEPER_MINUTE_RETENTION_DAYS": "two weeks",
    }
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "ingest", "--quiet", str(tmp_path / "none.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        3,
        [
            "error: bad setting: WATCHKEEPER_MINUTE_RETENTION_DAYS='two weeks': Input should be a valid integer, "
            "unable to parse string as an integer"
        ],
    )


def test_leaving_waits_for_threads_and_thread_pools_and_runs_exit_handlers():
    import subprocess
    import sys

    program = (
        "import atexit, threading, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from watchkeeper.cli.common import leave\n"
        "pool = ThreadPoolExecutor(1)\n"
        "pool.submit(int).result()  # an idle worker, its pool never shut down\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done', flush=True))).start()\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "leave(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["thread done", "atexit ran"]


def test_help_lists_every_command_and_a_group_of_one_command_stays_a_group(run):
    from watchkeeper.cli import COMMANDS

    shown = run("--help")
    assert shown.exit_code == 0
    listed = [line.split()[1] for line in shown.output.splitlines() if line.startswith("│ ") and "--" not in line]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)
    assert "Alerts from feeds and external monitors." in shown.output
    alerts = run("alerts", "--help")  # alerts has one command, list: still `alerts list`
    assert alerts.exit_code == 0 and "list" in alerts.output and "Commands" in alerts.output
    assert run("ingst").exit_code == 2 and "Did you mean 'ingest'?" in run("ingst").output


def test_ingest_loads_the_feed_modules_and_no_other_command(tmp_path):
    """Each command's module loads only when it runs (watchkeeper.cli): an
    ingest pays for no other domain's models, schemas and commands."""
    import os
    import subprocess
    import sys

    from watchkeeper.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'wk.db'}"
    engine = make_engine(url)
    upgrade(engine)  # set up here: Alembic loads every model
    engine.dispose()
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service\n2026-11-23T09:00:00Z,a\n")
    program = (
        "import sys\n"
        "from watchkeeper.cli import app\n"
        "try:\n"
        "    app(['ingest', sys.argv[1], '--quiet'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('watchkeeper.', 'prometheus_client', 'rich.')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(path)],
        env={**os.environ, "WATCHKEEPER_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "watchkeeper.cli.ingest" in loaded
    others = [
        m
        for m in loaded
        if m.split(".")[1] in {"alerts", "incidents", "intake", "notify", "auth", "support"}
        and m not in {"watchkeeper.auth", "watchkeeper.auth.customers"}  # the tenants a service belongs to
        or m.startswith("watchkeeper.cli.")
        and m not in {"watchkeeper.cli.common", "watchkeeper.cli.ingest"}
    ]
    assert others == []
    assert "prometheus_client" not in loaded  # counters count only where /metrics is served
    assert "rich.console" not in loaded  # --quiet prints nothing through it


def test_every_command_loads_the_models_its_tables_refer_to():
    """A command that loads only its own modules must still find every table
    and class its models name (a foreign key, a relationship), or its first
    query fails. Checked in a new process per command module."""
    import subprocess
    import sys

    from watchkeeper.cli import COMMANDS

    program = (
        "import importlib, sys\n"
        "from sqlalchemy.orm import configure_mappers\n"
        "from watchkeeper.db import Base\n"
        "importlib.import_module(sys.argv[1])\n"
        "configure_mappers()\n"
        "for table in Base.metadata.tables.values():\n"
        "    for key in table.foreign_keys:\n"
        "        key.column\n"
    )
    modules = sorted({target.partition(":")[0] for target in COMMANDS.values()})
    running = {
        m: subprocess.Popen([sys.executable, "-c", program, m], stderr=subprocess.PIPE, text=True) for m in modules
    }
    failed = {m: p.communicate(timeout=120)[1].strip().splitlines()[-1:] for m, p in running.items()}
    assert {m: error for m, error in failed.items() if running[m].returncode != 0} == {}


def test_lists_stay_readable_at_80_columns_by_leaving_out_the_least_needed(monkeypatch):
    """Piped or in a small terminal, rich squeezed every column of a wide list
    to a letter or two; the least needed columns now go, and a line says which."""
    import io

    from rich.console import Console

    from watchkeeper.cli import common as cli_common
    from watchkeeper.cli.common import Column, show_list

    columns = [
        Column("id"),
        Column("status"),
        Column("service / instance"),
        Column("severity", 3),
        Column("urgency", 5),
        Column("count", 2),
        Column("first seen (UTC)", 1),
        Column("incident", 4),
        Column("summary", wide=True),
    ]
    rows = [
        [
            "12",
            "firing (silenced)",
            "pbx-hamburg-2",
            "critical",
            "high",
            "3",
            "2026-11-28 23:44",
            "7",
            "PBX pbx-hamburg-2 does not answer SIP OPTIONS since the carrier's maintenance began",
        ]
    ]

    def shown(width: int) -> str:
        screen = Console(width=width, file=io.StringIO(), record=True)
        monkeypatch.setitem(vars(cli_common), "console", screen)
        show_list(columns, rows, empty="no alerts")
        return screen.export_text()

    narrow = shown(80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    for whole in ("12", "firing (silenced)", "pbx-hamburg-2", "answer SIP OPTIONS"):
        assert whole in narrow
    assert "…" not in narrow
    note = " ".join(narrow[narrow.index("not shown") :].split())
    assert note == "not shown at 80 columns: severity, urgency, count, first seen (UTC), incident (--json has all)"
    wide = shown(200)
    assert "2026-11-28 23:44" in wide and "critical" in wide and "not shown" not in wide
    show_list(columns, [], empty="no alerts")
    assert vars(cli_common)["console"].export_text() == "no alerts\n"


def _json_commands_without_arguments() -> list[tuple[str, ...]]:
    """Every command that takes --json and needs no argument: the lists."""
    from watchkeeper.cli import COMMANDS, load

    found = []

    def walk(command: Any, path: tuple[str, ...]) -> None:  # Typer's own click: no isinstance checks
        if hasattr(command, "commands"):
            for name, child in command.commands.items():
                walk(child, (*path, name))
        elif any("--json" in p.opts for p in command.params) and not any(
            p.required or p.param_type_name == "argument" for p in command.params
        ):
            found.append(path)

    for name in COMMANDS:
        walk(load(name), (name,))
    return found


@pytest.mark.parametrize("command", _json_commands_without_arguments(), ids=" ".join)
def test_every_list_prints_json_for_scripts(run, tmp_path, command):
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,voip-de,5\n")
    run("ingest", str(path))
    result = run(*command, "--json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output), list | dict)


def test_serve_with_an_inbox_ingests_its_files_on_the_scheduler(db, clock, tmp_path):
    """`serve --inbox DIR` registers the inbox with the scheduler, beside the feed watcher and the rest."""
    import os

    from watchkeeper.cli.commands import build_scheduler
    from watchkeeper.cli.common import Context

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "usage.csv").write_text("timestamp,service,count\n2026-11-23T09:00:00Z,sms,4\n")
    written = clock.now().timestamp() - 60
    os.utime(inbox / "usage.csv", (written, written))
    ctx = Context(settings=db.settings, clock=clock)
    try:
        ran = build_scheduler(ctx, inbox).run_due()
        assert ran == [
            "feeds",
            "checks",
            "pbx",
            "alerts",
            "cases",
            "escalation",
            "notify",
            "calls",
            "probes",
            "probe-results",
            "retention",
            "inbox",
        ]
        assert (inbox / "done" / "usage.csv").exists()
        assert build_scheduler(ctx, None).run_due() == [
            "feeds",
            "checks",
            "pbx",
            "alerts",
            "cases",
            "escalation",
            "notify",
            "calls",
            "probes",
            "probe-results",
            "retention",
        ]
    finally:
        ctx.engine.dispose()
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="sms").total_count == 4


def test_a_read_command_in_another_folder_creates_no_database_and_says_which_it_looked_for(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}

    def watchkeeper(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watchkeeper", *args],
            env={**env, **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for command in (("services", "list"), ("alerts", "list", "--json"), ("incidents", "show", "1")):
        done = watchkeeper(*command)
        assert done.returncode == 3 and done.stdout == ""
        assert done.stderr.splitlines() == [
            f"error: no database at {tmp_path / 'watchkeeper.db'} (WATCHKEEPER_DATABASE_URL=sqlite:///watchkeeper.db); "
            "a command that only reads creates none: run it where `serve` runs, or set WATCHKEEPER_DATABASE_URL "
            "to serve's database"
        ]
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "watchkeeper.db").touch()  # there, but never set up
    assert "is empty (never set up)" in watchkeeper("services", "list").stderr
    assert watchkeeper("db", "upgrade").returncode == 0
    listed = watchkeeper("services", "list", COLUMNS="200")
    assert listed.returncode == 0
    assert listed.stdout == (
        "no services yet: they appear with their first usage record "
        f"(database sqlite:///{tmp_path / 'watchkeeper.db'})\n"
    )


def test_a_misspelt_setting_is_warned_with_the_one_meant(run, monkeypatch):
    monkeypatch.setenv("WATCHKEEPER_DATABSE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("WATCHKEEPER_PUBLIC_URL", "https://desk.example.com")  # a setting: not warned
    done = run("token", "create", "--name", "billing")
    assert done.exit_code == 0
    said = " ".join(done.output.split())
    assert "warning: WATCHKEEPER_DATABSE_URL is not a setting; did you mean WATCHKEEPER_DATABASE_URL?" in said
    assert "PUBLIC_URL" not in said


def _every_command() -> list[tuple[tuple[str, ...], Any]]:
    from watchkeeper.cli import COMMANDS, load

    found = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append((path, command))
        for name, child in getattr(command, "commands", {}).items():
            walk(child, (*path, name))

    for name in COMMANDS:
        walk(load(name), (name,))
    return found


def test_every_command_and_subcommand_has_a_help_line_and_flags_show_no_type(run):
    missing = [" ".join(path) for path, command in _every_command() if not (command.help or "").strip()]
    assert missing == []
    shown = run("silences", "list", "--help").output
    assert "--json" in shown and "<bool>" not in shown


def test_counts_in_the_output_are_singular_for_one(run, tmp_path):
    from watchkeeper.words import count

    assert (count(1, "week"), count(2, "week"), count(1024, "row"), count(1, "entry", "entries")) == (
        "1 week",
        "2 weeks",
        "1,024 rows",
        "1 entry",
    )
    path = tmp_path / "one.csv"
    path.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,voip-de,1\n")
    said = " ".join(run("ingest", str(path)).output.split())
    assert ": 1 row accepted, 0 rejected, 1 record, 1 service (1 new) in" in said
    shown = " ".join(run("services", "show", "voip-de").output.split())
    assert "1 record, quantity" in shown
