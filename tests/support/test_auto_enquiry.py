"""A plan with auto_enquire asks the technical contact by itself when a production feed goes silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from watchkeeper import wiring
from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.config import Settings
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.incidents.service import list_incidents, timeline
from watchkeeper.notify.models import Notification
from watchkeeper.support import service as desk
from watchkeeper.support.models import Enquiry
from watchkeeper.support.service import ContactRole
from watchkeeper.support.sla import Priority, Targets

SATURDAY_3AM = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
CONFIG = RoutingConfig(group_wait=timedelta(0))


def desk_sessions(db):
    """The app's sessions, with the desk's enquiry links on https://desk.example."""
    return wiring.sessionmaker(db.engine, Settings(database_url=db.url, public_url="https://desk.example"))


def silence(db, *, auto_enquire=True, stage="production", contact=True, kind="silence"):
    """A customer's feed goes quiet; returns the incident's timeline, the enquiries and the mail queued."""
    with transaction(desk_sessions(db)) as session:
        desk.add_plan(
            session=session,
            now=SATURDAY_3AM,
            name="8x5",
            hours="Mon-Fri 09:00-17:00",
            targets={Priority.P2: Targets(first_response=timedelta(hours=4))},
            auto_enquire=auto_enquire,
        )
        session.add(
            Service(
                name="acme-cdr",
                stage=stage,
                first_seen=SATURDAY_3AM,
                last_seen=SATURDAY_3AM,
                last_received_at=SATURDAY_3AM,
                created_at=SATURDAY_3AM,
            )
        )
        session.flush()
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Acme", plan="8x5", service_pattern="acme-.*")
        if contact:
            desk.add_contact(
                session=session,
                customer="Acme",
                name="Tom (NOC)",
                role=ContactRole.TECHNICAL,
                channel="mailto://noc@acme.example",
            )
        desk.add_contact(
            session=session,
            customer="Acme",
            name="Bea (billing)",
            role=ContactRole.BILLING,
            channel="mailto://billing@acme.example",
        )
        record(
            Finding(
                f"feed/acme-cdr/{kind}",
                "feeds",
                "acme-cdr",
                Severity.ERROR,
                State.FIRING,
                f"acme-cdr: {kind}",
                SATURDAY_3AM,
                labels={"service": "acme-cdr", "kind": kind},
            ),
            session=session,
            now=SATURDAY_3AM,
            config=CONFIG,
        )
    with transaction(db.sessions) as session:
        (incident,) = list_incidents(session=session)
        entries = [(e.kind, e.message) for e in timeline(incident.id, session=session)]
        enquiries = [
            (e.service, e.incident_id == incident.id, e.case_id is not None) for e in session.scalars(select(Enquiry))
        ]
        mail = [(n.recipient, n.url, n.title, n.body) for n in session.scalars(select(Notification))]
    return entries, enquiries, mail


def test_a_silent_production_feed_gets_its_technical_contact_asked_with_both_links(db):
    entries, enquiries, mail = silence(db)
    assert enquiries == [("acme-cdr", True, True)]  # on the incident and on the case the plan opened
    ((recipient, url, title, body),) = mail  # the technical contact only, not billing
    assert (recipient, url, title) == ("Tom (NOC)", "mailto://noc@acme.example", "Is the silence on acme-cdr expected?")
    assert body.count("https://desk.example/enquiries/answer?token=") == 2
    assert any(kind == "enquiry_sent" and "Tom (NOC)" in text for kind, text in entries)


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("the plan does not ask by itself", {"auto_enquire": False}),
        ("a test service's silence is the operator's to judge", {"stage": "test"}),
        ("a drop is not a silence", {"kind": "drop"}),
    ],
)
def test_no_enquiry_is_sent(db, why, change):
    entries, enquiries, mail = silence(db, **change)
    assert enquiries == [] and mail == [], why
    assert not any(kind == "enquiry_sent" for kind, _ in entries)


def test_without_a_technical_contact_the_timeline_says_nobody_was_asked(db):
    entries, enquiries, mail = silence(db, contact=False)
    assert enquiries == [] and mail == []
    assert ("note", "no enquiry sent: Acme has no technical contact on file") in entries
