"""File controls raise alerts: gaps resolve when late files fill them, one-off findings with the feed's next good file.

Storage tests: SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from watchkeeper.alerts.service import RoutingConfig, list_alerts, record_all
from watchkeeper.db import transaction
from watchkeeper.feeds.ingest import FileOptions, ingest_file_in_transaction
from watchkeeper.feeds.service import list_findings

PATTERN = r"cdr_(?P<seq>\d+)\.csv"
ROUTING = RoutingConfig(group_wait=timedelta(0))


def record(clock):
    return lambda session, findings: record_all(findings, session=session, now=clock.now(), config=ROUTING)


def deliver(db, clock, folder: Path, name: str, text: str):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return ingest_file_in_transaction(
        path,
        db.sessions,
        clock=clock,
        settings=db.settings,
        options=FileOptions(feed="supplier-x", sequence_pattern=PATTERN),
        on_findings=record(clock),
    )


def usage(minute: int) -> str:
    return f"timestamp,service\n2026-11-23T09:{minute:02d}:00Z,a\n"


def alerts(db):
    with transaction(db.sessions) as session:
        return [
            (a.dedup_key, a.status, a.severity, a.labels, a.summary, a.resolution, a.incident_id is not None)
            for a in list_alerts(session=session)
        ]


def test_a_sequence_gap_fires_an_alert_that_resolves_when_the_late_files_arrive(db, clock, tmp_path):
    deliver(db, clock, tmp_path, "cdr_001.csv", usage(1))
    deliver(db, clock, tmp_path, "cdr_004.csv", usage(4))  # 2 and 3 missing
    ((key, status, severity, labels, summary, _, incident),) = alerts(db)
    assert (key, status, severity) == ("files/supplier-x/sequence_gap/2-3", "firing", "error")
    assert labels == {
        "alertname": "FileControl",
        "instance": "supplier-x",
        "feed": "supplier-x",
        "kind": "sequence_gap",
    }
    assert summary == "feed supplier-x: sequence gap, cdr_004.csv: 2 files missing before 4: number 2 to 3"
    assert incident  # an alert like any other: it opens an incident

    clock.set(clock.now() + timedelta(minutes=20))
    deliver(db, clock, tmp_path, "cdr_003.csv", usage(3))
    assert alerts(db)[0][1] == "firing"  # 2 is still missing
    deliver(db, clock, tmp_path, "cdr_002.csv", usage(2))

    ((_, status, _, _, _, resolution, _),) = alerts(db)
    assert status == "resolved"
    assert resolution == "feed supplier-x: the late file(s) 2 to 3 arrived, the last cdr_002.csv; the gap is filled"
    with transaction(db.sessions) as session:
        assert [f.resolved_at for f in list_findings(session=session)] == [clock.now()]


def test_a_duplicate_file_raises_an_alert_that_the_next_good_file_resolves(db, clock, tmp_path):
    deliver(db, clock, tmp_path, "cdr_001.csv", usage(1))
    again = deliver(db, clock, tmp_path / "resent", "cdr_009.csv", usage(1))
    assert again.status == "duplicate"
    ((key, status, severity, labels, summary, _, _),) = alerts(db)
    assert (key, status, severity, labels["kind"]) == (
        "files/supplier-x/duplicate_file",
        "firing",
        "warning",
        "duplicate_file",
    )
    assert summary.startswith("feed supplier-x: duplicate file, cdr_009.csv: same content as cdr_001.csv")
    deliver(db, clock, tmp_path, "cdr_002.csv", usage(2))  # at once: not yet, the duplicate must be seen
    assert alerts(db)[0][1] == "firing"

    clock.set(clock.now() + timedelta(minutes=15))
    deliver(db, clock, tmp_path, "cdr_003.csv", usage(3))

    assert alerts(db)[0][1:2] == ("resolved",)
    assert alerts(db)[0][5] == "feed supplier-x delivered a good file again: cdr_003.csv"


def test_a_reused_number_and_an_unreadable_file_raise_alerts(db, clock, tmp_path):
    deliver(db, clock, tmp_path, "cdr_001.csv", usage(1))
    deliver(db, clock, tmp_path / "again", "cdr_001.csv", usage(5))
    deliver(db, clock, tmp_path, "cdr_002.csv", "this is not a usage file\n")
    firing = {key: severity for key, status, severity, *_ in alerts(db) if status == "firing"}
    assert firing == {"files/supplier-x/sequence_reused": "warning", "files/supplier-x/unreadable_file": "error"}


def test_a_silence_on_the_feed_mutes_its_file_alerts(db, clock, tmp_path):
    from watchkeeper.alerts.mutes import add_silence

    with transaction(db.sessions) as session:
        add_silence(
            session=session,
            now=clock.now(),
            matchers=["feed=supplier-x"],
            ends_at=clock.now() + timedelta(hours=1),
            created_by="ops",
            comment="supplier re-sends a week",
        )
    deliver(db, clock, tmp_path, "cdr_001.csv", usage(1))
    deliver(db, clock, tmp_path / "again", "cdr_007.csv", usage(1))
    with transaction(db.sessions) as session:
        (alert,) = list_alerts(session=session)
        assert (alert.status, alert.muted, alert.incident_id) == ("firing", "silenced", None)


def test_the_inbox_job_of_serve_records_file_alerts(db, clock, tmp_path):
    from watchkeeper.cli.commands import build_scheduler
    from watchkeeper.cli.common import Context

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    written = clock.now().timestamp() - 60
    for name in ("a.csv", "b.csv"):
        (inbox / name).write_text(usage(1))  # b.csv: a duplicate of a.csv
        os.utime(inbox / name, (written, written))
    ctx = Context(settings=db.settings, clock=clock)
    try:
        build_scheduler(ctx, inbox).run_due()
    finally:
        ctx.engine.dispose()
    assert [(key, status) for key, status, *_ in alerts(db)] == [("files/default/duplicate_file", "firing")]


def test_ingest_command_raises_the_alert_of_a_duplicate(db, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from watchkeeper.cli import app
    from watchkeeper.config import get_settings

    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        (tmp_path / "a.csv").write_text(usage(1))
        (tmp_path / "b.csv").write_text(usage(1))
        assert runner.invoke(app, ["ingest", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]).exit_code == 2
        listed = json.loads(runner.invoke(app, ["alerts", "list", "--json"]).output)
    finally:
        get_settings.cache_clear()
    assert [(a["dedup_key"], a["status"], a["source"]) for a in listed] == [
        ("files/default/duplicate_file", "firing", "files")
    ]
