"""The ping API as Healthchecks documents it: a job that pings Healthchecks changes only its base URL."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, select, text

from watchkeeper.alerts.models import Alert
from watchkeeper.auth.service import create_token
from watchkeeper.checks import service
from watchkeeper.checks.models import Check, CheckStatus, Ping, PingKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.web.app import create_app

from ..conftest import NOW, PG_URL

KEY = "project-key-0001"


@pytest.fixture
def clock():
    return SimulatedClock(NOW)


@pytest.fixture
def client(db, clock):
    return TestClient(create_app(settings=db.settings, clock=clock, engine=db.engine))


@pytest.fixture
def check(db):
    with transaction(db.sessions) as session:
        made = service.add(
            "backup",
            session=session,
            now=NOW,
            schedule=Schedule(period=timedelta(hours=1), grace=timedelta(minutes=5)),
            ping_key=KEY,
            service="db1",
            failure_keywords=["ERROR"],
            success_keywords=["all good"],
        )
        return made.uuid


def _state(db, code):
    with transaction(db.sessions) as session:
        row = session.scalars(select(Check).where(Check.uuid == code)).one()
        pings = list(session.scalars(select(Ping).where(Ping.check_id == row.id).order_by(Ping.id)))
        session.expunge_all()
        return row, pings


def _alerts(db):
    with transaction(db.sessions) as session:
        return [a.status for a in session.scalars(select(Alert))]


def test_a_success_answers_ok_and_stores_the_ping_with_who_sent_it(client, db, check):
    answer = client.post(f"/ping/{check}", content=b"done in 3 s", headers={"User-Agent": "curl/8.5"})
    assert (answer.status_code, answer.text, answer.headers["content-type"]) == (
        200,
        "OK",
        "text/plain; charset=utf-8",
    )
    row, (ping,) = _state(db, check)
    assert row.status is CheckStatus.UP and row.due_at == NOW + timedelta(hours=1, minutes=5)
    assert (ping.kind, ping.body, ping.user_agent, ping.source) == (
        PingKind.SUCCESS,
        b"done in 3 s",
        "curl/8.5",
        "testclient",
    )
    assert client.get(f"/ping/{check}").text == "OK"


@pytest.mark.parametrize("face", ["api", "run"])
def test_a_success_sent_while_a_start_is_being_stored_waits_for_it(client, db, check, clock, face):
    """`watchkeeper run` stores a start; a success (from the API or another run) comes before it commits."""

    def start() -> None:
        with transaction(db.sessions) as session:
            service.ping(service.get(check, session=session), PingKind.START, session=session, now=clock.now())
            started.set()
            time.sleep(0.5)  # the success arrives meanwhile

    def success() -> None:
        if face == "api":
            assert client.get(f"/ping/{check}").text == "OK"
            return
        with transaction(db.sessions) as session:
            service.ping(service.get(check, session=session), PingKind.SUCCESS, session=session, now=clock.now())

    started = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(start)
        assert started.wait(10)
        second = pool.submit(success)
        first.result(), second.result()
    row, pings = _state(db, check)
    # The success saw the start: it finished that run, timed it, and left nothing started.
    assert [(p.kind, p.duration_seconds) for p in pings] == [(PingKind.START, None), (PingKind.SUCCESS, 0.0)]
    assert (row.status, row.started_at, row.last_duration_seconds) == (CheckStatus.UP, None, 0.0)
    assert row.due_at == NOW + timedelta(hours=1, minutes=5)


def test_start_then_success_measures_the_run_time(client, db, check, clock):
    client.get(f"/ping/{check}/start")
    assert _state(db, check)[0].status is CheckStatus.STARTED
    clock.advance(42)
    client.get(f"/ping/{check}")
    row, pings = _state(db, check)
    assert [(p.kind, p.duration_seconds) for p in pings] == [(PingKind.START, None), (PingKind.SUCCESS, 42.0)]
    assert (row.status, row.last_duration_seconds) == (CheckStatus.UP, 42.0)


def test_a_start_without_a_finish_is_late_after_its_grace(client, db, check, clock):
    client.get(f"/ping/{check}")
    clock.advance(600)
    client.get(f"/ping/{check}/start")
    row, _ = _state(db, check)
    assert row.due_at == NOW + timedelta(minutes=15)  # the grace from the start, before the period's deadline


def test_fail_is_down_and_fires_and_the_next_success_resolves(client, db, check):
    assert client.post(f"/ping/{check}/fail", content=b"disk full").text == "OK"
    assert _state(db, check)[0].status is CheckStatus.DOWN
    assert _alerts(db) == ["firing"]
    client.get(f"/ping/{check}")
    assert _alerts(db) == ["resolved"]


@pytest.mark.parametrize(("code", "status", "fired"), [(0, CheckStatus.UP, []), (3, CheckStatus.DOWN, ["firing"])])
def test_an_exit_status_of_zero_is_a_success_and_others_a_failure(client, db, check, code, status, fired):
    assert client.get(f"/ping/{check}/{code}").text == "OK"
    row, (ping,) = _state(db, check)
    assert (row.status, ping.exit_status, _alerts(db)) == (status, code, fired)


def test_an_exit_status_over_255_is_refused(client, db, check):
    assert (client.get(f"/ping/{check}/256").status_code, _state(db, check)[1]) == (400, [])


def test_log_is_stored_and_changes_no_state(client, db, check):
    client.post(f"/ping/{check}/log", content=b"step 2 of 5")
    row, (ping,) = _state(db, check)
    assert (row.status, row.due_at, row.last_ping_at, ping.kind) == (CheckStatus.NEW, None, None, PingKind.LOG)


def test_overlapping_runs_are_timed_by_rid(client, db, check, clock):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    client.get(f"/ping/{check}/start?rid={first}")
    clock.advance(10)
    client.get(f"/ping/{check}/start?rid={second}")
    clock.advance(5)
    client.get(f"/ping/{check}?rid={second}")
    clock.advance(20)
    client.get(f"/ping/{check}?rid={first}")
    _, pings = _state(db, check)
    assert [p.duration_seconds for p in pings if p.kind is PingKind.SUCCESS] == [5.0, 35.0]
    assert client.get(f"/ping/{check}?rid=not-a-uuid").status_code == 400


def test_a_slug_url_pings_and_create_makes_the_check(client, db, check):
    assert client.get(f"/ping/{KEY}/backup").text == "OK"
    assert client.get(f"/ping/{KEY}/backup/fail").text == "OK"
    assert client.get(f"/ping/{KEY}/nightly-rating").status_code == 404
    made = client.get(f"/ping/{KEY}/nightly-rating/start?create=1")
    assert (made.status_code, made.text) == (201, "Created")
    assert client.get(f"/ping/{KEY}/nightly-rating?create=1").text == "OK"
    with transaction(db.sessions) as session:
        rating = session.scalars(select(Check).where(Check.slug == "nightly-rating")).one()
        assert (rating.ping_key, rating.service, rating.status) == (KEY, "db1", CheckStatus.UP)
    assert client.get("/ping/unknown-key-0001/other?create=1").status_code == 404


def test_an_unknown_uuid_is_not_found_and_nothing_is_stored(client, db, check):
    answer = client.post(f"/ping/{uuid.uuid4()}", content=b"hello")
    assert (answer.status_code, answer.text) == (404, "not found")
    assert client.get(f"/ping/{uuid.uuid4()}/start").status_code == 404
    with transaction(db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Ping)) == 0


def test_a_body_over_100_kb_is_cut_and_one_over_the_limit_refused(client, db, check):
    client.post(f"/ping/{check}", content=b"x" * 300_000)
    _, (ping,) = _state(db, check)
    assert len(ping.body) == 100 * 1024
    assert client.post(f"/ping/{check}", content=b"x" * (2 << 20)).status_code == 413


def test_keywords_turn_a_success_into_a_failure_and_a_failure_into_a_success(client, db, check):
    client.post(f"/ping/{check}", content=b"backup: ERROR no space")
    assert _state(db, check)[0].status is CheckStatus.DOWN
    client.post(f"/ping/{check}/fail", content=b"all good")
    row, pings = _state(db, check)
    assert row.status is CheckStatus.UP and [p.kind for p in pings] == [PingKind.FAIL, PingKind.SUCCESS]


def test_bad_uuids_count_against_the_sender_like_bad_tokens(client, db, check):
    answers = [client.get(f"/ping/{uuid.uuid4()}").status_code for _ in range(30)]
    assert answers[0] == 404 and answers[-1] == 429


def test_the_checks_api_adds_shows_pauses_and_removes(client, db, check, clock):
    with transaction(db.sessions) as session:
        token = create_token(session=session, clock=clock, name="ops").token
    client.headers["Authorization"] = f"Bearer {token}"
    made = client.post(
        "/api/v1/checks",
        json={"name": "rating", "schedule": "cron", "expression": "30 2 * * *", "tz": "Europe/Berlin"},
    )
    assert made.status_code == 201 and made.json()["status"] == "new"
    code = made.json()["uuid"]
    client.post(f"/ping/{code}", content=b"rated 12,000 calls")
    shown = client.get("/api/v1/checks/rating").json()
    assert shown["due_at"] == "2026-11-24T02:30:00Z"  # 02:30 CET is 01:30 UTC, plus an hour's grace
    assert [p["body"] for p in shown["pings"]] == ["rated 12,000 calls"]
    assert client.post("/api/v1/checks/rating/pause").json()["status"] == "paused"
    assert client.post("/api/v1/checks/rating/resume").json()["status"] == "new"
    assert [c["name"] for c in client.get("/api/v1/checks").json()] == ["backup", "rating"]
    assert client.delete("/api/v1/checks/rating").status_code == 204
    assert client.get("/api/v1/checks/rating").status_code == 404
    assert client.post("/api/v1/checks", json={"name": "backup"}).status_code == 409


def test_a_start_without_a_finish_raises_a_late_alert_once_its_grace_is_over(client, db, check, clock):
    from watchkeeper.cli.common import Context
    from watchkeeper.scheduler import Scheduler
    from watchkeeper.wiring import jobs

    scheduler = Scheduler(jobs(Context(settings=db.settings, clock=clock)), clock=clock, sessions=db.sessions)
    client.get(f"/ping/{check}/start")
    clock.advance(299)
    scheduler.run_due()
    assert (_state(db, check)[0].status, _alerts(db)) == (CheckStatus.STARTED, [])
    clock.advance(2)
    scheduler.run_due()
    assert (_state(db, check)[0].status, _alerts(db)) == (CheckStatus.LATE, ["firing"])
    client.get(f"/ping/{check}")
    assert (_state(db, check)[0].status, _alerts(db)) == (CheckStatus.UP, ["resolved"])


def test_a_ping_that_finds_nothing_is_one_statement_on_postgresql(client, db, check, clock):
    """A start and its success: each one statement, no transaction around it; a failure takes the full path."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    client.get(f"/ping/{check}")  # the pool's connection is opened, and its settings read, before counting
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        clock.advance(30)
        assert client.get(f"/ping/{check}/start").text == "OK"
        clock.advance(12)
        assert client.get(f"/ping/{check}").text == "OK"
        at_once = list(statements)
        assert client.get(f"/ping/{check}/fail").text == "OK"
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    if db.kind == "postgresql":
        assert at_once == ["WITH", "WITH"]
    row, pings = _state(db, check)
    assert [(p.kind, p.duration_seconds) for p in pings] == [
        (PingKind.SUCCESS, None),
        (PingKind.START, None),
        (PingKind.SUCCESS, 12.0),
        (PingKind.FAIL, None),
    ]
    assert (row.status, row.last_duration_seconds, _alerts(db)) == (CheckStatus.DOWN, 12.0, ["firing"])


def test_a_ping_on_a_connection_the_database_dropped_is_stored(client, db, check):
    """No ping before each use of a pooled connection: one found dead is replaced and the ping stored."""
    assert client.get(f"/ping/{check}").text == "OK"
    if db.kind == "postgresql":
        with db.engine.connect() as connection:  # the pooled connection the ping used
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with create_engine(PG_URL).connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert (client.get(f"/ping/{check}").text, client.get(f"/ping/{check}/start").text) == ("OK", "OK")
    assert [p.kind for p in _state(db, check)[1]] == [PingKind.SUCCESS, PingKind.SUCCESS, PingKind.START]


def test_a_success_of_a_cron_check_is_due_at_its_next_run_and_one_that_resolves_says_so(client, db, clock):
    """Pings the one statement does not take (a cron schedule; a success that resolves) are stored in full."""
    with transaction(db.sessions) as session:
        nightly = service.add(
            "nightly",
            session=session,
            now=NOW,
            schedule=Schedule(kind=ScheduleKind.CRON, expression="0 3 * * *", tz="UTC", grace=timedelta(minutes=10)),
        ).uuid
    assert client.get(f"/ping/{nightly}/start").text == "OK"
    clock.advance(90)
    assert client.get(f"/ping/{nightly}").text == "OK"
    row, pings = _state(db, nightly)
    assert (row.status, row.due_at, row.last_duration_seconds) == (
        CheckStatus.UP,
        NOW.replace(hour=3, minute=10) + timedelta(days=1),  # 03:00 the next day, and the grace
        90.0,
    )
    assert client.get(f"/ping/{nightly}/1").text == "OK"
    assert client.get(f"/ping/{nightly}").text == "OK"
    assert (_state(db, nightly)[0].status, _alerts(db)) == (CheckStatus.UP, ["resolved"])
