"""The live watcher on SQLite and PostgreSQL: deadlines, claiming, alerts firing and resolving."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.service import process_due
from watchkeeper.config import Settings
from watchkeeper.db import transaction
from watchkeeper.feeds.ingest import ingest_batch
from watchkeeper.feeds.models import FeedState, Service
from watchkeeper.feeds.schemas import ServicePatch
from watchkeeper.feeds.service import update_service
from watchkeeper.feeds.watch import claim_due, watch_feeds
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.wiring import record_watch

from ..conftest import NOW


def office_csv(days: int) -> bytes:
    """10 records a minute, weekdays 08:00-18:00 UTC, for `days` days up to NOW (a Monday, 12:00)."""
    lines = ["timestamp,service,count"]
    start = NOW - timedelta(days=days)
    for minute in range(days * 1440):
        at = start + timedelta(minutes=minute)
        if at < NOW and at.weekday() < 5 and 8 <= at.hour < 18:
            lines.append(f"{at:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10")
    return ("\n".join(lines) + "\n").encode()


def ingest(db, clock, body: bytes, settings: Settings) -> None:
    with transaction(db.sessions) as session:
        ingest_batch(body, "text/csv", idempotency_key=None, session=session, clock=clock, settings=settings)


def watch(db, now):
    """A tick of the feed watcher as serve runs it: what it finds is recorded as alerts, and the
    outages late records filled go on their incidents' timelines."""
    with transaction(db.sessions) as session:
        report = watch_feeds(session=session, now=now)
        record_watch(report, session=session, now=now)
        return report


def alerts(db):
    with transaction(db.sessions) as session:
        return [(a.status, a.labels["kind"], a.summary) for a in session.scalars(select(Alert).order_by(Alert.id))]


def test_silence_alert_fires_at_its_deadline_and_resolves_on_data(db, clock):
    settings = Settings(database_url=db.url, minute_retention_days=30)
    ingest(db, clock, office_csv(22), settings)
    assert watch(db, NOW).evaluated == 1  # the ingest made it due now
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
        assert claim_due(session=session, now=NOW, limit=10) == []
    assert NOW < due <= NOW + timedelta(minutes=10)
    assert alerts(db) == []

    report = watch(db, due)
    assert report.evaluated == 1 and [f.state for f in report.findings] == ["firing"]
    [(status, kind, summary)] = alerts(db)
    assert (status, kind) == ("firing", "silence")
    assert "no records since" in summary and "on weekdays" in summary

    back = due + timedelta(minutes=1)
    clock.set(back)
    ingest(db, clock, f"timestamp,service,count\n{due:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10\n".encode(), settings)
    assert watch(db, back).evaluated == 1
    assert [a[0] for a in alerts(db)] == ["resolved"]


def test_a_new_service_whose_first_batch_ends_a_long_silence_now_is_not_silent(db, clock):
    """Its first batch: a week of calls every minute, four days of nothing, and a
    call now. It was silent then; it is not now. A silence after now is news."""
    settings = Settings(database_url=db.url)
    lines = ["timestamp,service,count"]
    first = NOW - timedelta(days=11)
    lines += [f"{first + timedelta(minutes=m):%Y-%m-%dT%H:%M:%SZ},trunk-7,10" for m in range(7 * 1440)]
    lines.append(f"{NOW:%Y-%m-%dT%H:%M:%SZ},trunk-7,10")
    ingest(db, clock, ("\n".join(lines) + "\n").encode(), settings)
    assert watch(db, NOW).evaluated == 1
    watch(db, NOW + timedelta(minutes=1))
    assert alerts(db) == []
    watch(db, NOW + timedelta(hours=1))
    [(status, kind, summary)] = alerts(db)
    assert (status, kind) == ("firing", "silence")
    assert f"no records since {NOW:%Y-%m-%d %H:%M} UTC" in summary


def set_service(db, now, **patch):
    with transaction(db.sessions) as session:
        update_service(session=session, name="pbx-berlin", patch=ServicePatch(**patch), now=now)


def test_a_snooze_cleared_during_a_silence_lets_it_alert_at_the_next_tick(db, clock):
    settings = Settings(database_url=db.url, minute_retention_days=30)
    ingest(db, clock, office_csv(22), settings)
    set_service(db, NOW, settings={"snooze_until": (NOW + timedelta(days=3)).isoformat()})
    watch(db, NOW)
    with transaction(db.sessions) as session:
        assert session.scalar(select(FeedState.due_at)) == NOW + timedelta(days=3)  # as snoozed
    later = NOW + timedelta(hours=1)
    set_service(db, later, settings={"snooze_until": None})
    assert watch(db, later).evaluated == 1
    assert [(status, kind) for status, kind, _ in alerts(db)] == [("firing", "silence")]


def test_retiring_a_service_resolves_its_open_alerts(db, clock):
    settings = Settings(database_url=db.url, minute_retention_days=30)
    ingest(db, clock, office_csv(22), settings)
    watch(db, NOW)
    watch(db, NOW + timedelta(minutes=30))
    assert [a[:2] for a in alerts(db)] == [("firing", "silence")]
    set_service(db, NOW + timedelta(hours=1), stage="retired")
    watch(db, NOW + timedelta(hours=1))
    [(status, kind, _)] = alerts(db)
    assert (status, kind) == ("resolved", "silence")
    with transaction(db.sessions) as session:
        assert session.scalar(select(FeedState.due_at)) is None  # and it is watched no more


def test_idle_services_are_not_claimed(db, clock):
    ingest(db, clock, office_csv(2), Settings(database_url=db.url))
    watch(db, NOW)
    with transaction(db.sessions) as session:
        assert claim_due(session=session, now=NOW + timedelta(minutes=30), limit=10) == []


def test_a_feed_silence_becomes_an_incident_with_its_explanation_on_the_timeline(db, clock):
    settings = Settings(database_url=db.url, minute_retention_days=30)
    ingest(db, clock, office_csv(22), settings)
    watch(db, NOW)
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    watch(db, due)
    with transaction(db.sessions) as session:
        process_due(session=session, now=due + timedelta(seconds=30))
        (incident,) = list_incidents(session=session)
        entries = [(e.kind, e.message) for e in timeline(incident.id, session=session)]
    assert incident.title.startswith("pbx-berlin: no records since ")
    assert (incident.service, incident.status, incident.urgency, incident.severity) == (
        "pbx-berlin",
        "triggered",
        "high",
        "critical",
    )
    assert entries[1][0] == "alert_joined"
    assert "no records since" in entries[1][1] and "on weekdays this service has" in entries[1][1]

    back = due + timedelta(minutes=2)
    clock.set(back)
    records = f"timestamp,service,count\n{back - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10\n"
    ingest(db, clock, records.encode(), settings)
    watch(db, back)
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session)
        kinds = [e.kind for e in timeline(incident.id, session=session)]
    assert incident.status == "resolved"
    assert kinds == ["opened", "alert_joined", "alert_resolved", "resolved"]


def silence_then_back(db, clock, settings, **service_settings):
    """An office feed falls silent at NOW, its alert opens an incident, and a record ends it two
    minutes past the deadline: (the deadline, the minute it ended)."""
    ingest(db, clock, office_csv(22), settings)
    set_service(db, NOW, settings=service_settings)
    watch(db, NOW)
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    watch(db, due)
    with transaction(db.sessions) as session:
        process_due(session=session, now=due + timedelta(seconds=30))
    back = due + timedelta(minutes=2)
    clock.set(back)
    records = f"timestamp,service,count\n{back - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10\n"
    ingest(db, clock, records.encode(), settings)
    watch(db, back)
    return due, back


def test_a_resolved_silence_says_on_the_timeline_what_it_lacked_and_what_that_was_worth(db, clock):
    import re

    settings = Settings(database_url=db.url, minute_retention_days=30)
    _, back = silence_then_back(db, clock, settings, value_per_record=0.05, currency="EUR")
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session)
        [resolved] = [e.message for e in timeline(incident.id, session=session) if e.kind == "alert_resolved"]
    # 10 records a minute were expected from NOW (the last record) until the one that ended it.
    silent = (back - timedelta(minutes=1) - NOW).total_seconds() / 60
    found = re.search(r"about ([\d,]+) of the ([\d,]+) records expected during the silence did not come", resolved)
    assert found, resolved
    missing, expected = (int(g.replace(",", "")) for g in found.groups())
    assert abs(expected - 10 * silent) <= 10 and missing == expected - 10
    assert f"about {missing * 0.05:,.2f} EUR of revenue at risk ({missing:,} records at 0.05 EUR)" in resolved


def test_records_re_sent_for_a_silence_fill_its_gap_and_the_incident_timeline_says_how_much(db, clock):
    settings = Settings(database_url=db.url, minute_retention_days=30)
    _, back = silence_then_back(db, clock, settings, value_per_record=0.05)  # its minutes lacked ~10 records each
    later = back + timedelta(hours=2)
    clock.set(later)
    gap = int((back - timedelta(minutes=1) - NOW).total_seconds() // 60)
    half = [f"{NOW + timedelta(minutes=m):%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10" for m in range(gap // 2)]
    ingest(db, clock, ("timestamp,service,count\n" + "\n".join(half) + "\n").encode(), settings)
    watch(db, later)  # the supplier re-sends the first half of the gap
    rest = [f"{NOW + timedelta(minutes=m):%Y-%m-%dT%H:%M:%SZ},pbx-berlin,10" for m in range(gap // 2, gap)]
    ingest(db, clock, ("timestamp,service,count\n" + "\n".join(rest) + "\n").encode(), settings)
    watch(db, later + timedelta(minutes=5))  # and then the rest
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session)
        notes = [e.message for e in timeline(incident.id, session=session) if e.kind == "note"]
    first, second = notes
    assert first.startswith(f"by {later:%H:%M} UTC, ") and "% of the " in first and "had come late" in first
    share = int(first.split(", ")[1].split("%")[0])
    assert 40 <= share <= 60  # half the gap, against an estimate of what was missing
    assert second.startswith(f"by {later + timedelta(minutes=5):%H:%M} UTC, ")
    assert int(second.split(", ")[1].split("%")[0]) >= 95
    assert f"records missing from {NOW:%Y-%m-%d %H:%M} to " in second and "EUR of revenue recovered" in second
    # Once nearly all has come, nothing more is said.
    watch(db, later + timedelta(minutes=10))
    with transaction(db.sessions) as session:
        assert sum(e.kind == "note" for e in timeline(incident.id, session=session)) == 2
        assert session.scalar(select(FeedState.outages)) is None


def test_a_tick_reads_and_writes_its_batch_in_a_few_statements(db, clock):
    """Round trips per tick do not grow with the services due: 60 silences cost what 6 do."""
    from sqlalchemy import event

    settings = Settings(database_url=db.url, minute_retention_days=30)
    body = office_csv(22)
    lines = body.decode().splitlines()
    many = [lines[0]] + [line.replace("pbx-berlin", f"pbx-{n:02d}") for line in lines[1:] for n in range(60)]
    ingest(db, clock, ("\n".join(many) + "\n").encode(), settings)
    assert watch(db, NOW).evaluated == 60
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        report = watch(db, due)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert report.evaluated == 60 and [f.labels["kind"] for f in report.findings] == ["silence"] * 60
    assert len(alerts(db)) == 60
    # Claim, states, services, minutes, firing and resolved alerts, open incidents, the
    # routing rules, then the writes; SQLite inserts new alerts one by one.
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO ALERTS")]
    assert len(statements) - len(writes) <= 15, statements


def test_records_arriving_during_a_silence_resolve_it_at_the_next_tick_as_of_their_arrival(db, clock):
    """A fresh service with a 1 min hard limit falls silent and alerts; records posted
    at 12:10:19, stamped then, resolve the alert at the very next tick, as of 12:10:19."""
    settings = Settings(database_url=db.url)
    ingest(db, clock, f"timestamp,service,count\n{NOW:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,3\n".encode(), settings)
    set_service(db, NOW, settings={"max_silence": "1m"})
    for minutes in range(0, 8):
        watch(db, NOW + timedelta(minutes=minutes, seconds=4))
    assert [a[:2] for a in alerts(db)] == [("firing", "silence")]

    arrived = NOW + timedelta(minutes=10, seconds=19)
    clock.set(arrived)
    ingest(db, clock, f"timestamp,service,count\n{arrived:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,2\n".encode(), settings)
    assert watch(db, arrived + timedelta(seconds=3)).evaluated == 1
    with transaction(db.sessions) as session:
        (alert,) = session.scalars(select(Alert))
        assert (alert.status, alert.resolved_at) == ("resolved", arrived)
        # A service this new has no rates learned: it cannot say how many records were missing.
        assert alert.resolution == (
            "pbx-berlin: records are arriving again; the learned rates expected no records during the silence"
        )
    # And it stays resolved as the minute ends and time goes on with records coming.
    watch(db, NOW + timedelta(minutes=11, seconds=4))
    assert [a[0] for a in alerts(db)] == ["resolved"]


def test_services_show_tells_of_the_records_that_ended_a_silence(run, tmp_path, clock):
    from watchkeeper.db import make_engine, upgrade
    from watchkeeper.wiring import sessionmaker as wired_sessions

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    db = SimpleNamespace(sessions=wired_sessions(engine))
    settings = Settings(database_url=url)
    ingest(db, clock, f"timestamp,service,count\n{NOW:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,3\n".encode(), settings)
    set_service(db, NOW, settings={"max_silence": "1m"})
    for minutes in range(0, 4):
        watch(db, NOW + timedelta(minutes=minutes, seconds=4))
    assert "firing silence" in run("services", "show", "pbx-berlin").output

    arrived = NOW + timedelta(minutes=5, seconds=19)
    clock.set(arrived)
    ingest(db, clock, f"timestamp,service,count\n{arrived:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,2\n".encode(), settings)
    watch(db, arrived + timedelta(seconds=3))
    engine.dispose()
    shown = run("services", "show", "pbx-berlin").output
    assert f"last record {arrived:%Y-%m-%d %H:%M:%S} UTC" in shown
    assert "no open alerts" in shown and "firing" not in shown


def test_a_silence_raised_by_a_tick_that_fell_behind_says_how_long_the_feed_was_silent_then(db, clock):
    """The limit was crossed minutes after the last record, at 11:59; the watcher's
    next tick came only at 12:45: the alert, raised then, says 45 min."""
    settings = Settings(database_url=db.url, minute_retention_days=30)
    ingest(db, clock, office_csv(22), settings)
    watch(db, NOW)
    watch(db, NOW + timedelta(minutes=45, seconds=10))
    [(status, kind, summary)] = alerts(db)
    assert (status, kind) == ("firing", "silence")
    last = NOW - timedelta(minutes=1)
    assert summary.startswith(f"pbx-berlin: no records since {last:%Y-%m-%d %H:%M} UTC (45 min when raised); ")


def test_a_first_model_raises_a_silence_with_its_length_as_of_now(db, clock):
    """A service whose first and last records came 8.5 days ago: the first tick
    raises the silence now, 8 d 12 h after them, not 3 d (the hard limit)."""
    settings = Settings(database_url=db.url)
    long_ago = NOW - timedelta(days=8, hours=12)
    body = "timestamp,service,count\n" + "".join(
        f"{long_ago - timedelta(minutes=m):%Y-%m-%dT%H:%M:%SZ},pbx-berlin,2\n" for m in range(1, 60)
    )
    ingest(db, clock, body.encode(), settings)
    watch(db, NOW)
    [(status, kind, summary)] = alerts(db)
    assert (status, kind) == ("firing", "silence")
    assert "UTC (8 d 12 h when raised); " in summary


def test_outside_its_active_hours_a_silence_pages_nobody_and_past_the_off_hours_limit_alerts_low(db, clock):
    settings = Settings(database_url=db.url)
    evening = NOW + timedelta(hours=7)  # 20:00 in Berlin
    clock.set(evening)
    ingest(db, clock, f"timestamp,service,count\n{evening:%Y-%m-%dT%H:%M:%SZ},pbx-berlin,3\n".encode(), settings)
    set_service(
        db, evening, settings={"active_hours": "Mon-Fri 08-18", "timezone": "Europe/Berlin", "max_silence": "2m"}
    )
    watch(db, evening)
    watch(db, evening + timedelta(minutes=91))  # 21:31 in Berlin
    assert alerts(db) == []

    set_service(db, evening + timedelta(minutes=92), settings={"off_hours_max_silence": "2h"})
    watch(db, evening + timedelta(minutes=92))
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    assert due == evening + timedelta(hours=2, minutes=2)
    watch(db, due)
    with transaction(db.sessions) as session:
        (alert,) = session.scalars(select(Alert))
    assert (alert.status, alert.urgency) == ("firing", "low")
    assert "outside the service's active hours only its off-hours limit of 2 h applies" in alert.summary


def add(db, now, name="sup-x", **patch):
    from watchkeeper.feeds.service import add_service

    with transaction(db.sessions) as session:
        add_service(session=session, name=name, patch=ServicePatch(**patch), now=now)


def test_a_service_added_before_its_first_record_alerts_if_its_supplier_never_starts(db, clock):
    add(db, NOW, stage="production", settings={"max_silence": "1h"})
    assert watch(db, NOW).evaluated == 1
    assert watch(db, NOW + timedelta(minutes=30)).evaluated == 0 and alerts(db) == []
    with transaction(db.sessions) as session:
        due = session.scalar(select(FeedState.due_at))
    assert due == NOW + timedelta(minutes=61)  # past the hour, as for any service
    watch(db, due)
    [(status, kind, summary)] = alerts(db)
    assert (status, kind) == ("firing", "silence")
    assert summary.startswith(f"sup-x: no records yet since the service was added at {NOW:%Y-%m-%d %H:%M} UTC; ")

    first = NOW + timedelta(hours=2, seconds=5)
    clock.set(first)
    ingest(
        db,
        clock,
        f"timestamp,service,count\n{first:%Y-%m-%dT%H:%M:%SZ},sup-x,4\n".encode(),
        Settings(database_url=db.url),
    )
    watch(db, first + timedelta(seconds=2))
    assert [a[0] for a in alerts(db)] == ["resolved"]
    with transaction(db.sessions) as session:
        service = session.scalar(select(Service))
        assert (service.first_seen, service.last_seen, service.total_count, service.stage) == (
            first,
            first,
            4,
            "production",
        )
