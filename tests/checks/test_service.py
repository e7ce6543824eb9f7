"""Heartbeats over storage: pings move a check, a passed deadline is a finding, the due job alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from watchkeeper.alerts.models import Alert
from watchkeeper.checks import service
from watchkeeper.checks.models import Check, CheckStatus, Ping, PingKind, ScheduleKind
from watchkeeper.checks.schedule import Schedule
from watchkeeper.cli.common import Context
from watchkeeper.clock import SimulatedClock
from watchkeeper.db import transaction
from watchkeeper.errors import Conflict, Invalid
from watchkeeper.finding import State
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

from ..conftest import NOW

HOURLY = Schedule(period=timedelta(hours=1), grace=timedelta(minutes=5))


def _add(session, name="nightly-rating", **options):
    options.setdefault("schedule", HOURLY)
    return service.add(name, session=session, now=NOW, **options)


def test_a_new_check_waits_for_its_first_ping(db):
    with transaction(db.sessions) as session:
        check = _add(session, service="rating", labels={"team": "billing"})
        assert (check.status, check.due_at) == (CheckStatus.NEW, None)
        assert len(check.uuid) == 36 and check.slug == "nightly-rating"


def test_a_name_is_unique_and_a_schedule_must_be_readable(db):
    with transaction(db.sessions) as session:
        _add(session)
        with pytest.raises(Conflict, match="exists"):
            _add(session)
        with pytest.raises(Invalid, match="OnCalendar"):
            _add(session, "other", schedule=Schedule(kind=ScheduleKind.ONCALENDAR, expression="Funday 02:00"))


def test_a_success_sets_the_deadline_from_the_schedule(db):
    with transaction(db.sessions) as session:
        check = _add(session)
        pinged = service.ping(check, PingKind.SUCCESS, session=session, now=NOW)
        assert pinged.findings == []
        assert (check.status, check.due_at, check.last_ping_at) == (
            CheckStatus.UP,
            NOW + timedelta(hours=1, minutes=5),
            NOW,
        )


def test_a_failure_fires_and_the_next_success_resolves(db):
    with transaction(db.sessions) as session:
        check = _add(session, service="rating", labels={"team": "billing"})
        failed = service.ping(check, PingKind.FAIL, session=session, now=NOW)
        (finding,) = failed.findings
        assert (finding.state, finding.dedup_key, finding.severity) == (State.FIRING, f"check:{check.uuid}", "critical")
        assert finding.labels == {
            "team": "billing",
            "check": "nightly-rating",
            "kind": "heartbeat",
            "service": "rating",
        }
        assert check.status is CheckStatus.DOWN and check.due_at is None
        (resolved,) = service.ping(check, PingKind.SUCCESS, session=session, now=NOW + timedelta(minutes=1)).findings
        assert resolved.state is State.RESOLVED and resolved.dedup_key == finding.dedup_key


def test_overlapping_runs_are_timed_by_their_run_ids(db):
    with transaction(db.sessions) as session:
        check = _add(session)
        service.ping(check, PingKind.START, session=session, now=NOW, rid="a")
        service.ping(check, PingKind.START, session=session, now=NOW + timedelta(seconds=10), rid="b")
        b = service.ping(check, PingKind.SUCCESS, session=session, now=NOW + timedelta(seconds=40), rid="b")
        a = service.ping(check, PingKind.SUCCESS, session=session, now=NOW + timedelta(seconds=90), rid="a")
        assert (b.ping.duration_seconds, a.ping.duration_seconds) == (30.0, 90.0)
        assert check.last_duration_seconds == 90.0


def test_old_pings_go_with_retention(db):
    with transaction(db.sessions) as session:
        check = _add(session)
        service.ping(check, PingKind.SUCCESS, session=session, now=NOW - timedelta(days=100))
        service.ping(check, PingKind.SUCCESS, session=session, now=NOW)
        assert service.prune_pings(session=session, now=NOW, days=90) == 1
        assert [p.at for p in session.scalars(select(Ping))] == [NOW]


def _scheduler(db, clock):
    return Scheduler(jobs(Context(settings=db.settings, clock=clock)), clock=clock, sessions=db.sessions)


def _alerts(db):
    with transaction(db.sessions) as session:
        return [(a.dedup_key, a.status, a.summary) for a in session.scalars(select(Alert))]


def test_the_due_job_turns_a_missed_deadline_into_an_alert_and_the_next_success_resolves_it(db):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        check = _add(session)
        service.ping(check, PingKind.SUCCESS, session=session, now=NOW)
        code = check.uuid
    scheduler = _scheduler(db, clock)
    clock.advance(timedelta(hours=1, minutes=4).total_seconds())
    scheduler.run_due()
    assert _alerts(db) == []
    clock.advance(61)
    scheduler.run_due()
    assert _alerts(db) == [
        (f"check:{code}", "firing", "check nightly-rating has not pinged since 2026-11-23 12:00:00Z")
    ]
    with transaction(db.sessions) as session:
        check = session.scalars(select(Check)).one()
        assert (check.status, check.due_at) == (CheckStatus.DOWN, None)
        from watchkeeper.alerts import service as alerts

        found = service.ping(check, PingKind.SUCCESS, session=session, now=clock.now()).findings
        alerts.record_all(found, session=session, now=clock.now())
    assert [(key, status) for key, status, _ in _alerts(db)] == [(f"check:{code}", "resolved")]


def test_a_run_that_started_and_did_not_finish_within_its_grace_is_late(db):
    clock = SimulatedClock(NOW)
    with transaction(db.sessions) as session:
        check = _add(session)
        service.ping(check, PingKind.SUCCESS, session=session, now=NOW)
        service.ping(check, PingKind.START, session=session, now=NOW + timedelta(minutes=10))
    scheduler = _scheduler(db, clock)
    clock.advance(timedelta(minutes=16).total_seconds())
    scheduler.run_due()
    ((_, status, summary),) = _alerts(db)
    assert status == "firing" and "started at 2026-11-23 12:10:00Z and did not finish" in summary
    with transaction(db.sessions) as session:
        assert session.scalars(select(Check)).one().status is CheckStatus.LATE


def test_a_customers_check_labels_its_findings_with_the_customer(db):
    from watchkeeper.support import service as desk

    with transaction(db.sessions) as session:
        desk.add_plan(session=session, now=NOW, name="24x7", hours="Mon-Sun 00:00-24:00")
        acme = desk.add_customer(session=session, now=NOW, name="Acme", plan="24x7")
        check = _add(session, customer_id=acme.id, service="acme-pbx")
        (finding,) = service.ping(check, PingKind.FAIL, session=session, now=NOW).findings
        assert (finding.labels["customer"], finding.service) == ("Acme", "acme-pbx")
