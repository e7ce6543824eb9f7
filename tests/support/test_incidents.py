"""Incidents on a customer's service follow the plan: support-hours urgency and automatic cases. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper import wiring
from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.config import Settings
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.support import service as desk
from watchkeeper.support.incidents import raise_due
from watchkeeper.support.sla import Priority, Targets

SATURDAY_3AM = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOW_WAIT = RoutingConfig(group_wait=timedelta(0))


@pytest.fixture
def acme(db):
    with transaction(db.sessions) as session:
        desk.add_plan(
            session=session,
            now=SATURDAY_3AM,
            name="8x5",
            hours="Mon-Fri 09:00-17:00",
            timezone="UTC",
            targets={Priority.P1: Targets(first_response=timedelta(hours=1))},
        )
        desk.add_plan(session=session, now=SATURDAY_3AM, name="24x7", hours="24x7", auto_case=False)
        for name in ("acme-cdr", "initech-cdr", "acme-trial"):
            session.add(
                Service(
                    name=name,
                    stage="test" if "trial" in name else "production",
                    first_seen=SATURDAY_3AM,
                    last_seen=SATURDAY_3AM,
                    last_received_at=SATURDAY_3AM,
                    created_at=SATURDAY_3AM,
                )
            )
        session.flush()
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Acme", plan="8x5", service_pattern="acme-.*")
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Initech", plan="24x7", service_pattern="initech-.*")
    return db


def silence(db, service, now):
    with transaction(db.sessions) as session:
        record(
            Finding(
                f"feed/{service}/silence",
                "feeds",
                service,
                Severity.CRITICAL,
                State.FIRING,
                f"no records from {service} for 40 min",
                now,
                labels={"service": service},
            ),
            session=session,
            now=now,
            config=NOW_WAIT,
        )


def incident_of(db, service):
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session, service=service)
        return incident, [(e.kind, e.message) for e in timeline(incident.id, session=session)]


def test_outside_8x5_hours_the_incident_is_low_until_monday_then_high(acme):
    silence(acme, "acme-cdr", SATURDAY_3AM)
    incident, entries = incident_of(acme, "acme-cdr")
    assert (incident.customer, incident.urgency, incident.raise_at) == (
        "Acme",
        "low",
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    assert "outside the customer's support hours" in dict(entries)["urgency_lowered"]
    with transaction(acme.sessions) as session:
        assert raise_due(session=session, now=datetime(2026, 11, 23, 8, 59, tzinfo=UTC)) == 0
        assert raise_due(session=session, now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) == 1
    incident, entries = incident_of(acme, "acme-cdr")
    assert incident.urgency == "high" and entries[-1][0] == "urgency_raised"


def test_24x7_customers_get_high_urgency_at_3am_and_no_case_without_auto_case(acme):
    silence(acme, "initech-cdr", SATURDAY_3AM)
    incident, entries = incident_of(acme, "initech-cdr")
    assert (incident.customer, incident.urgency) == ("Initech", "high")
    assert "case_opened" not in dict(entries)
    with transaction(acme.sessions) as session:
        assert desk.list_cases(session=session) == []


def test_an_incident_on_a_customer_service_opens_a_linked_case(acme):
    silence(acme, "acme-cdr", MONDAY_10)
    incident, entries = incident_of(acme, "acme-cdr")
    assert incident.urgency == "high"
    with transaction(acme.sessions) as session:
        (case,) = desk.list_cases(session=session, customer="Acme")
        assert (case.priority, case.incident_ids, case.opened_by) == ("p1", [incident.id], "watchkeeper")
        assert case.due_at == MONDAY_10 + timedelta(minutes=48)
    assert dict(entries)["case_opened"] == f"case {case.id} opened for Acme (p1)"


def test_test_services_make_no_case(acme):
    silence(acme, "acme-trial", MONDAY_10)
    incident, _ = incident_of(acme, "acme-trial")
    assert incident.urgency == "low" and incident.raise_at is None
    with transaction(acme.sessions) as session:
        assert desk.list_cases(session=session) == []


def test_an_incident_held_low_for_support_hours_is_emailed_to_the_desk(acme):
    from watchkeeper.notify.outbox import list_notifications

    desk_told = Settings(database_url=acme.url, desk_channel="mailto://desk@operator.example")
    with transaction(wiring.sessionmaker(acme.engine, desk_told)) as session:
        record(
            Finding(
                "feed/acme-cdr/silence",
                "feeds",
                "acme-cdr",
                Severity.CRITICAL,
                State.FIRING,
                "no records from acme-cdr for 40 min",
                SATURDAY_3AM,
                labels={"service": "acme-cdr"},
            ),
            session=session,
            now=SATURDAY_3AM,
            config=RoutingConfig(group_wait=timedelta(0)),
        )
    incident, _ = incident_of(acme, "acme-cdr")
    with transaction(acme.sessions) as session:
        (mail,) = list_notifications(session=session, subject="incident", subject_id=incident.id)
    assert (mail.recipient, mail.url) == ("desk", "mailto://desk@operator.example")
    assert mail.title.startswith(f"[low] incident {incident.id} for Acme")
    assert "outside the customer's support hours" in mail.body
