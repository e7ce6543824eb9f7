"""What several desk tests start from: an 8x5 customer whose production feed went silent on a Saturday."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.auth.service import create_token
from watchkeeper.clock import FrozenClock
from watchkeeper.db import transaction
from watchkeeper.feeds.models import Service
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.support import service as desk
from watchkeeper.support.sla import Priority, Targets

SATURDAY_3AM = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def silent_acme_feed(db) -> tuple[FrozenClock, str]:
    """Acme on an 8x5 plan, its feed acme-cdr silent at 03:00 on a Saturday: a low-urgency
    incident and a p2 case. Returns the clock (at that moment) and a staff token."""
    clock = FrozenClock(SATURDAY_3AM)
    with transaction(db.sessions) as session:
        desk.add_plan(
            session=session,
            now=SATURDAY_3AM,
            name="8x5",
            hours="Mon-Fri 09:00-17:00",
            targets={Priority.P2: Targets(first_response=timedelta(hours=4))},
        )
        session.add(
            Service(
                name="acme-cdr",
                stage="production",
                first_seen=SATURDAY_3AM,
                last_seen=SATURDAY_3AM,
                last_received_at=SATURDAY_3AM,
                created_at=SATURDAY_3AM,
            )
        )
        session.flush()
        desk.add_customer(session=session, now=SATURDAY_3AM, name="Acme", plan="8x5", service_pattern="acme-.*")
        record(
            Finding(
                "feed/acme-cdr/silence",
                "feeds",
                "acme-cdr",
                Severity.ERROR,
                State.FIRING,
                "no records from acme-cdr for 40 min",
                SATURDAY_3AM,
                labels={"service": "acme-cdr"},
            ),
            session=session,
            now=SATURDAY_3AM,
            config=RoutingConfig(group_wait=timedelta(0)),
        )
        token = create_token(session=session, clock=clock, name="anna").token
    return clock, token
