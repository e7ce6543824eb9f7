"""End to end with the real Prometheus Alertmanager (Debian's prometheus-alertmanager, installed by .ci/run).

Alerts are pushed into Alertmanager through its own v2 API; its webhook
receiver points at a running `watchkeeper serve`; the incident must open in
watchkeeper and resolve when the alert is resolved in Alertmanager.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from watchkeeper.auth.service import create_token
from watchkeeper.clock import SystemClock
from watchkeeper.db import make_engine, transaction, upgrade
from watchkeeper.intake.service import Kind, create
from watchkeeper.wiring import sessionmaker as wired_sessions

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


@pytest.fixture
def stack(tmp_path):
    if ALERTMANAGER is None:
        pytest.fail(
            "prometheus-alertmanager is not installed: `apt-get install prometheus-alertmanager` (.ci/run does)"
        )
    url = f"sqlite:///{tmp_path / 'wk.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with transaction(wired_sessions(engine)) as session:
        token = create_token(session=session, clock=SystemClock(), name="test").token
        key = create(session=session, clock=SystemClock(), kind=Kind.ALERTMANAGER, name="prometheus-prod").key
    engine.dispose()
    wk_port, am_port = free_port(), free_port()
    env = {
        **os.environ,
        "WATCHKEEPER_DATABASE_URL": url,
        "WATCHKEEPER_GROUP_WAIT_SECONDS": "2",
        "WATCHKEEPER_SCHEDULER_TICK_SECONDS": "0.25",
    }
    (tmp_path / "am.yml").write_text(f"""
route:
  receiver: watchkeeper
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: watchkeeper
    webhook_configs:
      - url: http://127.0.0.1:{wk_port}/api/v1/intake/alertmanager/{key}
        send_resolved: true
""")
    processes = [
        start([sys.executable, "-m", "watchkeeper", "serve", "--port", str(wk_port)], tmp_path / "wk.log", env),
        start(
            [
                ALERTMANAGER,
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "am.log",
        ),
    ]
    wk = httpx.Client(base_url=f"http://127.0.0.1:{wk_port}", headers={"Authorization": f"Bearer {token}"})
    am = httpx.Client(base_url=f"http://127.0.0.1:{am_port}")
    try:
        wait_for(lambda: wk.get("/healthz").status_code == 200, "watchkeeper to start")
        wait_for(lambda: am.get("/-/ready").status_code == 200, "Alertmanager to start")
        yield wk, am
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        for log in ("wk.log", "am.log"):
            print(f"--- {log}\n{(tmp_path / log).read_text()[-3000:]}")


def push(am: httpx.Client, *, ends_at: datetime | None = None) -> None:
    alert = {
        "labels": {"alertname": "PBXDown", "instance": "pbx-1:5060", "severity": "critical", "job": "sip"},
        "annotations": {"summary": "PBX pbx-1 does not answer SIP OPTIONS"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    am.post("/api/v2/alerts", json=[alert]).raise_for_status()


def test_an_alert_pushed_into_alertmanager_opens_and_then_resolves_an_incident(stack):
    wk, am = stack
    push(am)
    incident = wait_for(lambda: (wk.get("/api/v1/incidents").json() or [None])[0], "the incident to open")
    assert incident["status"] == "triggered"
    assert incident["group_key"] == "alertname=PBXDown,instance=pbx-1:5060"
    assert incident["title"] == "PBX pbx-1 does not answer SIP OPTIONS"
    (alert,) = wk.get("/api/v1/alerts").json()
    assert (alert["source"], alert["labels"]["job"], alert["severity"]) == ("alertmanager", "sip", "critical")

    push(am, ends_at=datetime.now(UTC))
    resolved = wait_for(
        lambda: [i for i in wk.get("/api/v1/incidents").json() if i["status"] == "resolved"], "the incident to resolve"
    )
    assert resolved[0]["id"] == incident["id"]
    timeline = [e["kind"] for e in wk.get(f"/api/v1/incidents/{incident['id']}").json()["timeline"]]
    assert timeline == ["opened", "alert_joined", "alert_resolved", "resolved"]
