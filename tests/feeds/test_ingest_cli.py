"""`watchkeeper ingest` and `feeds add` on a Master.csv that grows and a sequence with a gap, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from .test_append import call, calls


@pytest.fixture
def wk(db, monkeypatch):
    from watchkeeper.cli import app
    from watchkeeper.config import get_settings

    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_ingest_follow_counts_a_master_csv_once_across_a_rotation(wk, tmp_path):
    master = tmp_path / "Master.csv"
    master.write_text(calls(0, 20))
    follow = ("--follow", "--feed", "pbx", "--format", "asterisk-csv", "--json")
    assert json.loads(wk("ingest", str(master), *follow).output)[0]["accepted"] == 20
    with master.open("a") as log:
        log.write(calls(20, 26))
    grown = wk("ingest", str(master), *follow)
    assert grown.exit_code == 0, grown.output
    assert json.loads(grown.output)[0]["accepted"] == 6
    idle = wk("ingest", str(master), "--follow", "--feed", "pbx", "--format", "asterisk-csv")
    assert idle.exit_code == 0, idle.output  # nothing new is no refusal
    assert "unchanged" in idle.output and "nothing new since" in idle.output
    with master.open("a") as log:
        log.write(call(26))
    master.rename(tmp_path / "Master.csv.1")  # logrotate, without copytruncate
    master.write_text(calls(30, 33))

    rotated = wk("ingest", str(tmp_path / "Master.csv.1"), str(master), *follow)

    assert rotated.exit_code == 0, rotated.output
    copy, new = json.loads(rotated.output)
    assert (copy["accepted"], new["accepted"]) == (1, 3)
    assert new["note"].startswith("rotated since it was last ingested")
    services = json.loads(wk("services", "list", "--json").output)
    assert [(s["name"], s["total_count"]) for s in services] == [("acme", 30)]
    assert json.loads(wk("files", "findings", "--json").output) == []


def test_ingest_without_follow_counts_a_grown_file_once_and_says_so(wk, tmp_path):
    (tmp_path / "h1").mkdir()
    (tmp_path / "h1" / "Master.csv").write_text(calls(0, 20))
    (tmp_path / "Master.csv").write_text(calls(0, 26))
    wk("ingest", str(tmp_path / "h1" / "Master.csv"), "--format", "asterisk-csv")
    grown = wk("ingest", str(tmp_path / "Master.csv"), "--format", "asterisk-csv")
    assert grown.exit_code == 0, grown.output
    assert "6 rows accepted" in grown.output
    assert "finding appended_file" in " ".join(grown.output.split())
    kinds = [f["kind"] for f in json.loads(wk("files", "findings", "--json").output)]
    assert kinds == ["appended_file"]


def test_feeds_add_append_makes_the_feed_follow_its_files(wk, tmp_path):
    assert wk("feeds", "add", "pbx", "--format", "asterisk-csv", "--append").exit_code == 0
    assert json.loads(wk("feeds", "list", "--json").output)[0]["append"] is True
    master = tmp_path / "Master.csv"
    master.write_text(calls(0, 20))
    wk("ingest", str(master), "--feed", "pbx")
    again = wk("ingest", str(master), "--feed", "pbx", "--json")
    assert again.exit_code == 0 and json.loads(again.output)[0]["status"] == "unchanged"
