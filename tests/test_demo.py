"""The README's first command: `watchkeeper demo`, run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from fastapi.testclient import TestClient

from watchkeeper.config import Settings
from watchkeeper.web.app import create_app


def test_the_demo_feeds_usage_and_files_raises_a_silence_incident_and_leaves_a_clean_database(tmp_path):
    env = {**os.environ, "COLUMNS": "240"}
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "retried batch demo-0: replayed=true, counted once" in out
    assert "without a token: HTTP 401" in out
    assert "duplicate Master-0005.csv" in out and "sequence_gap" in out
    assert "firing │ mobile-data-fr │ silence" in out
    assert "│ nightly-rating │ 30 2 * * * (Europe/Berlin) │ up     │ 1." in out  # its run time, measured
    assert "│ db-backup      │ every 24 hours (UTC)       │ down   │" in out and "too many connections" in out
    assert "a ping to an unknown uuid: HTTP 404" in out
    flat = " ".join(out.split())
    assert "│ sbc-fra1 │ sip │ up │ up," in flat  # the SIP OPTIONS probe of the live SBC
    assert "│ pbx-hamburg-options │ sip │ down │ down: refused" in flat
    assert "(muted: depends on alert" in flat and "by rule 'pbx pbx-hamburg')" in flat  # its manager link's alert
    assert "serve --demo" in out and "without it they have stopped with the demo" in " ".join(out.split())

    database = tmp_path / "watchkeeper-demo.db"
    assert database.exists() and not (tmp_path / "watchkeeper-demo.db-wal").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "incidents", "list", "--json"],
        cwd=tmp_path,
        env={**env, "WATCHKEEPER_DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    groups = [incident["group_key"] for incident in json.loads(listed.stdout)]
    assert any("service=mobile-data-fr" in group for group in groups), groups
    assert any("service=billing-db" in group for group in groups), groups  # the failed backup's incident

    # The web desk signs in with the password the demo printed, and shows the outage.
    password = re.search(r"name demo, password (\S+) \(shown once\)", flat).group(1)  # type: ignore[union-attr]
    settings = Settings(database_url=f"sqlite:///{database}", key_file=str(tmp_path / "watchkeeper.key"))
    desk = TestClient(create_app(settings=settings), base_url="http://127.0.0.1")
    form = re.search(r'name="form" value="([^"]+)"', desk.get("/signin").text).group(1)  # type: ignore[union-attr]
    signed = desk.post("/signin", data={"name": "demo", "password": password, "form": form}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    assert "mobile-data-fr" in desk.get("/now").text


def test_serve_demo_keeps_the_demos_suppliers_sending_from_their_last_record_but_not_the_stopped_one(db):
    from datetime import timedelta

    from sqlalchemy import select

    from watchkeeper.clock import FrozenClock
    from watchkeeper.db import transaction
    from watchkeeper.demo import SUPPLIERS, LiveFeeds
    from watchkeeper.feeds.models import Service

    from .conftest import NOW

    ended = NOW - timedelta(hours=3)  # the demo ran three hours ago
    with transaction(db.sessions) as session:
        for supplier in SUPPLIERS:
            session.add(
                Service(
                    name=supplier.name,
                    stage="production",
                    first_seen=ended - timedelta(days=14),
                    last_seen=ended,
                    last_received_at=ended,
                    created_at=ended,
                )
            )
    clock = FrozenClock(NOW)
    live = LiveFeeds(db.sessions, db.settings, clock)

    def last_seen() -> dict[str, object]:
        with transaction(db.sessions) as session:
            return dict(session.execute(select(Service.name, Service.last_seen)).all())

    assert live() > 0
    seen = last_seen()
    for name, every in (("voip-de-wholesale", 5), ("sms-uk-retail", 5), ("iot-metering-nl", 60)):
        assert NOW - timedelta(minutes=every) <= seen[name] <= NOW, name
    assert seen["mobile-data-fr"] == ended  # the outage the demo shows stays an outage
    assert live() == 0  # nothing sent twice
    clock.set(NOW + timedelta(minutes=5))
    assert live() >= 2 and last_seen()["voip-de-wholesale"] == NOW + timedelta(minutes=5)


def test_serve_demo_on_another_database_says_so_and_makes_no_token(run, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: None)
    done = run("serve", "--demo", "--port", "0")
    assert done.exit_code == 1
    assert "run `watchkeeper demo` first" in " ".join(done.output.split())
    assert "token" not in done.output.replace("`", "")
