"""Probe checks over storage and the scheduler: real HTTP servers and a real Kamailio on
loopback, the real due job, PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, text, update

from watchkeeper.alerts.models import Alert
from watchkeeper.checks import service
from watchkeeper.checks.models import Check, CheckKind, CheckStatus, ProbeResultRow
from watchkeeper.checks.runner import ProbeRunner
from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.errors import Invalid
from watchkeeper.incidents.models import Incident
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

from ..conftest import NOW
from .test_sip_kamailio import kamailio  # noqa: F401  (the fixture)


class Site:
    """A local HTTP server whose /health answers 200 or 503 as the test says."""

    def __init__(self) -> None:
        self.healthy = True
        self.during: list[Any] = []  # called while a request is being answered
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                for call in site.during:
                    call()
                status, body = (200, b"ok") if site.healthy else (503, b"maintenance")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def runner() -> Iterator[ProbeRunner]:
    probing = ProbeRunner(limit=20, settle=10)
    yield probing
    probing.close()


def scheduler(db, clock, runner):
    return Scheduler(jobs(Context(settings=db.settings, clock=clock), runner=runner), clock=clock, sessions=db.sessions)


def to_due(db, clock, name):
    """Advance the clock to the check's stored next run."""
    with transaction(db.sessions) as session:
        due_at = session.scalar(select(Check.due_at).where(Check.name == name))
    assert due_at is not None
    clock.advance(max(timedelta(0), due_at - clock.now()))


def alerts(db):
    with transaction(db.sessions) as session:
        return [(a.dedup_key, a.status, a.summary) for a in session.scalars(select(Alert))]


def results(db, name):
    with transaction(db.sessions) as session:
        check = service.get(name, session=session)
        return [(r.up, r.status, r.reason) for r in reversed(service.last_results(check, session=session))]


def test_a_new_probe_runs_in_its_own_slot_of_its_interval(db):
    with transaction(db.sessions) as session:
        a = service.add_probe("web-a", "http", {"url": "http://127.0.0.1:9/"}, session=session, now=NOW)
        b = service.add_probe("web-b", "http", {"url": "http://127.0.0.1:9/"}, session=session, now=NOW)
        assert NOW < a.due_at <= NOW + timedelta(seconds=60) and NOW < b.due_at <= NOW + timedelta(seconds=60)
        assert a.due_at != b.due_at  # spread over the interval, not all at once
        assert (a.kind, a.status, a.period_seconds, a.fail_after) == (CheckKind.HTTP, CheckStatus.NEW, 60, 2)
        assert a.settings["url"] == "http://127.0.0.1:9/" and a.settings["expected_status"] == "200-399"


def test_a_scheduled_http_probe_goes_down_after_its_failures_opens_an_incident_and_resolves(db, site, runner):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        check = service.add_probe(
            "shop", "http", {"url": site.url, "expected_status": "200-299"}, session=session, now=NOW, service="shop"
        )
        code = check.uuid
    running = scheduler(db, clock, runner)
    to_due(db, clock, "shop")
    running.run_due()
    assert results(db, "shop") == [(True, 200, "")]
    site.healthy = False
    to_due(db, clock, "shop")
    running.run_due()
    assert alerts(db) == []  # one failure pages nobody
    to_due(db, clock, "shop")
    running.run_due()
    host = site.url.removeprefix("http://").split("/")[0]
    ((key, status, summary),) = alerts(db)
    assert (key, status) == (f"check:{code}", "firing")
    assert summary.startswith(f"shop ({host}): HTTP 503 (expected 200-299)")
    clock.advance(31)  # the group wait
    running.run_due()
    with transaction(db.sessions) as session:
        assert session.scalar(select(Incident.title)) is not None
        shown = service.check_view(service.get("shop", session=session))
        assert (shown["status"], shown["last_up"], shown["last_error"]) == (
            "down",
            False,
            "HTTP 503 (expected 200-299)",
        )
    site.healthy = True
    to_due(db, clock, "shop")
    running.run_due()
    assert [(k, s) for k, s, _ in alerts(db)] == [(f"check:{code}", "resolved")]
    assert results(db, "shop") == [
        (True, 200, ""),
        (False, 503, "HTTP 503 (expected 200-299)"),
        (False, 503, "HTTP 503 (expected 200-299)"),
        (True, 200, ""),
    ]
    with transaction(db.sessions) as session:
        (latency,) = session.scalars(select(ProbeResultRow.latency).order_by(ProbeResultRow.id.desc()).limit(1))
        assert 0 < latency < 2


def test_a_probe_holds_no_row_lock_while_it_waits_for_the_network(db, site, runner):
    """The claim is committed before the probe goes out: the check can be changed meanwhile."""
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        service.add_probe("shop", "http", {"url": site.url}, session=session, now=NOW)
    changed: list[str] = []

    def change_the_check() -> None:
        with transaction(db.sessions) as session:
            if db.kind == "postgresql":
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
            session.execute(update(Check).where(Check.name == "shop").values(labels={"team": "web"}))
        changed.append("yes")

    site.during.append(change_the_check)
    to_due(db, clock, "shop")
    scheduler(db, clock, runner).run_due()
    assert changed == ["yes"]
    assert results(db, "shop") == [(True, 200, "")]


def test_a_restart_keeps_the_schedule_and_the_damping(db, site):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        service.add_probe("shop", "http", {"url": site.url}, session=session, now=NOW)
    site.healthy = False
    first = ProbeRunner(settle=10)
    to_due(db, clock, "shop")
    scheduler(db, clock, first).run_due()
    first.close()
    with transaction(db.sessions) as session:
        stored = session.scalar(select(Check).where(Check.name == "shop"))
        slot = stored.due_at
        assert stored.probe_state["failures"] == 1 and slot > clock.now()
    # A new process: new scheduler, new runner; it finds the stored slot and the one failure.
    second = ProbeRunner(settle=10)
    try:
        again = scheduler(db, clock, second)
        clock.advance(slot - clock.now() - timedelta(seconds=1))
        again.run_due()
        assert len(results(db, "shop")) == 1  # not before its slot
        clock.advance(1)
        again.run_due()
    finally:
        second.close()
    assert len(results(db, "shop")) == 2
    assert [s for _, s, _ in alerts(db)] == ["firing"]  # the second failure in a row, across the restart


def test_a_sip_options_check_runs_through_the_due_job_against_kamailio(db, kamailio, runner):  # noqa: F811
    clock = SimulatedClock(NOW)
    # 3 s: on a CI machine running other tests beside this one, Kamailio's answer may take over a second.
    options = {"host": "127.0.0.1", "port": kamailio.port, "transport": "udp", "timeout": 3.0, "user": None}
    with transaction(db.sessions) as session:
        # As a PBX check writes one: a Check row of kind sip with exactly these settings.
        session.add(
            Check(
                name="pbx-fra1",
                uuid="5f0c8d1e-0000-4000-8000-000000000001",
                slug="pbx-fra1",
                kind=CheckKind.SIP,
                period_seconds=30,
                grace_seconds=0,
                settings=options,
                due_at=NOW,
                created_at=NOW,
            )
        )
    running = scheduler(db, clock, runner)
    running.run_due()
    assert results(db, "pbx-fra1") == [(True, 200, "OK")]
    kamailio.stop()
    for _ in range(2):
        to_due(db, clock, "pbx-fra1")
        running.run_due()
    refused = f"refused: nothing listens on 127.0.0.1:{kamailio.port} over udp"
    assert results(db, "pbx-fra1")[1:] == [(False, None, refused), (False, None, refused)]
    ((_, status, summary),) = alerts(db)
    assert status == "firing" and summary == f"pbx-fra1 (127.0.0.1:{kamailio.port}): {refused}"
    kamailio.start()
    to_due(db, clock, "pbx-fra1")
    running.run_due()
    assert results(db, "pbx-fra1")[3:] == [(True, 200, "OK")]
    assert [s for _, s, _ in alerts(db)] == ["resolved"]
    with transaction(db.sessions) as session:
        assert session.scalar(select(Check.settings).where(Check.name == "pbx-fra1")) == options


def test_old_results_go_with_the_hourly_retention(db, site, runner):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        check = service.add_probe("shop", "http", {"url": site.url}, session=session, now=NOW)
        session.add(ProbeResultRow(check_id=check.id, at=NOW - timedelta(days=31), up=True, latency=0.01, reason=""))
        session.add(ProbeResultRow(check_id=check.id, at=NOW - timedelta(days=29), up=False, latency=None, reason="x"))
    running = scheduler(db, clock, runner)
    running.run_due()  # retention runs on the first tick
    assert results(db, "shop") == [(False, None, "x")]


def test_pause_stops_a_probe_resolving_its_alert_and_resume_starts_it_afresh(db, site, runner):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        service.add_probe("shop", "http", {"url": site.url}, session=session, now=NOW, fail_after=1)
    site.healthy = False
    running = scheduler(db, clock, runner)
    to_due(db, clock, "shop")
    running.run_due()
    assert [s for _, s, _ in alerts(db)] == ["firing"]
    with transaction(db.sessions) as session:
        from watchkeeper.alerts import service as alerting

        check = service.get("shop", session=session)
        alerting.record_all(service.pause(check, session=session, now=clock.now()), session=session, now=clock.now())
        assert check.due_at is None
    assert [s for _, s, _ in alerts(db)] == ["resolved"]
    clock.advance(600)
    running.run_due()
    assert len(results(db, "shop")) == 1
    with transaction(db.sessions) as session:
        check = service.get("shop", session=session)
        service.resume(check, session=session, now=clock.now())
        assert (check.status, check.probe_state) == (CheckStatus.NEW, {})
        assert clock.now() < check.due_at <= clock.now() + timedelta(seconds=60)


@pytest.mark.parametrize(
    ("kind", "options", "said"),
    [
        ("http", {"url": "ftp://example.com/"}, "'ftp://example.com/' is not an http:// or https:// URL"),
        ("http", {"url": "http://example.com:99999/"}, "port that is not between 0 and 65535"),
        ("http", {"url": "https://example.com", "expect": 200}, "an http check has no option 'expect'; it takes: url"),
        ("http", {}, "an http check needs url"),
        ("tcp", {"host": "db1", "port": 70000}, "port 70000 is not between 1 and 65535"),
        ("tcp", {"host": "db1", "port": "5432"}, "the tcp option port cannot be '5432'"),
        ("tls", {"host": "example.com", "timeout": 0}, "timeout must be more than 0 s"),
        ("dns", {"name": "example.com", "record_type": "AX"}, "'AX' is not a DNS record type"),
        ("sip", {"host": "pbx1", "transport": "sctp"}, "transport 'sctp' is not one of: udp, tcp"),
        ("ami", {"host": "pbx1"}, "a probe is one of: http, tcp, tls, dns, sip"),
    ],
)
def test_a_probe_it_cannot_run_is_refused_saying_why(db, kind, options, said):
    with transaction(db.sessions) as session, pytest.raises(Invalid, match=said.replace("(", r"\(")):
        service.add_probe("x", kind, options, session=session, now=NOW)


def test_an_interval_and_damping_out_of_range_are_refused(db):
    with transaction(db.sessions) as session:
        with pytest.raises(Invalid, match="from 10 s to a day"):
            service.add_probe(
                "x", "tcp", {"host": "db1", "port": 5432}, session=session, now=NOW, interval=timedelta(seconds=5)
            )
        with pytest.raises(Invalid, match="fail after is 1 to 100"):
            service.add_probe("x", "tcp", {"host": "db1", "port": 5432}, session=session, now=NOW, fail_after=0)


def test_a_probe_batch_a_turn_so_a_backlog_never_keeps_the_other_jobs_waiting(db, site, runner):
    from watchkeeper.wiring import due_jobs

    clock = SimulatedClock(NOW)
    (probing,) = [j for j in due_jobs(Context(settings=db.settings, clock=clock), runner=runner) if j.name == "probes"]
    assert probing.most == 1
    import dataclasses

    from watchkeeper.scheduler import drain

    small = dataclasses.replace(probing, batch=2)
    with transaction(db.sessions) as session:
        for number in range(5):
            service.add_probe(f"shop-{number}", "http", {"url": site.url}, session=session, now=NOW)
    clock.advance(61)  # all five due
    assert drain(small, db.sessions, clock) == 2
    assert drain(small, db.sessions, clock) == 2
    assert drain(small, db.sessions, clock) == 1
    with transaction(db.sessions) as session:
        assert session.query(ProbeResultRow).count() == 5


def _starve(probing: ProbeRunner) -> None:
    """Block the runner's event loop for longer than it may be late, as a busy CPU would."""
    loop = probing._started()
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), loop).result(timeout=5)  # the watch is running
    blocked = threading.Event()
    loop.call_soon_threadsafe(lambda: (time.sleep(0.6), blocked.set()))
    assert blocked.wait(5)
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), loop).result(timeout=5)  # the watch saw it


def test_a_late_event_loop_takes_no_more_probes_until_it_catches_up():
    streaming = ProbeRunner(limit=20)
    try:
        assert streaming.room() == 20
        _starve(streaming)
        assert streaming.room() == 0  # the checks wait in their due column, not in the loop
        deadline = time.monotonic() + 5
        while streaming.room() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert streaming.room() == 20
    finally:
        streaming.close()


def test_a_caller_that_waits_for_its_probes_is_not_held_back_by_a_late_loop():
    settling = ProbeRunner(limit=20, settle=10)
    try:
        _starve(settling)
        assert settling.lagging() and settling.room() == 20
    finally:
        settling.close()
