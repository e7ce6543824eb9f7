"""The README's first command: `watchkeeper demo`, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_demo_feeds_usage_and_files_raises_a_silence_incident_and_leaves_a_clean_database(tmp_path):
    env = {**os.environ, "COLUMNS": "240"}
    done = subprocess.run([sys.executable, "-m", "watchkeeper", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "retried batch demo-0: replayed=true, counted once" in out
    assert "without a token: HTTP 401" in out
    assert "duplicate Master-0005.csv" in out and "sequence_gap" in out
    assert "firing │ mobile-data-fr │ silence" in out

    database = tmp_path / "watchkeeper-demo.db"
    assert database.exists() and not (tmp_path / "watchkeeper-demo.db-wal").exists()
    listed = subprocess.run([sys.executable, "-m", "watchkeeper", "incidents", "list", "--json"], cwd=tmp_path,
                            env={**env, "WATCHKEEPER_DATABASE_URL": f"sqlite:///{database}"},
                            capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    groups = [incident["group_key"] for incident in json.loads(listed.stdout)]
    assert any("service=mobile-data-fr" in group for group in groups), groups
