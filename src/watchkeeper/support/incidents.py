"""What the desk does when an incident opens on a customer's service. Never commits.

The customer's plan decides the urgency (support hours, like PagerDuty's):
outside an 8x5 customer's hours a high-urgency incident is lowered, and raised
again when the hours begin if it is still open. A plan with `auto_case` opens
a case for every customer-affecting incident, linked both ways; one with
`auto_enquire` asks the customer's technical contact at once when the
incident is a production feed's silence (see enquiries.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.alerts.models import Alert
from watchkeeper.bus import publish
from watchkeeper.config import Settings
from watchkeeper.feeds.models import Service, ServiceStage
from watchkeeper.feeds.rhythm import Kind
from watchkeeper.finding import Severity, Urgency
from watchkeeper.incidents.events import IncidentOpened, IncidentUrgencyRaised
from watchkeeper.incidents.lifecycle import OPEN, Entry
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.service import add_entry
from watchkeeper.notify.outbox import enqueue
from watchkeeper.support import enquiries
from watchkeeper.support import service as desk
from watchkeeper.support.models import Case, Customer
from watchkeeper.support.sla import Priority, support_urgency

PRIORITY = {
    Severity.CRITICAL: Priority.P1,
    Severity.ERROR: Priority.P2,
    Severity.WARNING: Priority.P3,
    Severity.INFO: Priority.P4,
}
SYSTEM = "watchkeeper"


@dataclass(frozen=True)
class DeskSettings:
    """What the desk needs when an incident opens (settings `desk_channel` and `public_url`)."""

    channel: str | None = None  # Apprise URL told of incidents held low for support hours
    public_url: str = "http://127.0.0.1:8080"  # where customers follow enquiry links

    @classmethod
    def from_settings(cls, settings: Settings) -> DeskSettings:
        return cls(channel=settings.desk_channel, public_url=settings.public_url)


def incident_opened(event: IncidentOpened, session: Session, *, options: DeskSettings = DeskSettings()) -> None:
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        on_opened(incident, session=session, now=event.at, options=options)


def on_opened(incident: Incident, *, session: Session, now: datetime, options: DeskSettings = DeskSettings()) -> None:
    if not incident.service:
        return
    customer = desk.customer_of_service(incident.service, session=session)
    if customer is None:
        return
    incident.customer = customer.name
    plan_row = desk.get_plan_by_id(customer.plan_id, session=session)
    plan = desk.customer_plan(customer, session=session)
    affecting = incident.urgency == Urgency.HIGH
    decision = support_urgency(plan.calendar, Urgency(incident.urgency), now)
    if affecting and decision.urgency is Urgency.LOW:
        incident.urgency, incident.raise_at = Urgency.LOW, decision.raise_at
        add_entry(
            incident,
            Entry.URGENCY_LOWERED,
            f"low urgency for {customer.name} (plan {plan_row.name}): {decision.reason}",
            session=session,
            at=now,
        )
        if options.channel:
            # Recorded, emailed, no page: the desk reads it when it opens.
            enqueue(
                session=session,
                now=now,
                subject="incident",
                subject_id=incident.id,
                reason="low-urgency",
                recipient="desk",
                url=options.channel,
                title=f"[low] incident {incident.id} for {customer.name}: {incident.title}"[:500],
                body=f"{incident.title}\n\n{decision.reason}",
            )
    case = None
    if affecting and plan_row.auto_case:
        priority = PRIORITY.get(Severity(incident.severity), Priority.P3)
        case = desk.open_case(
            session=session,
            now=now,
            customer=customer.name,
            author=SYSTEM,
            priority=priority,
            title=f"incident {incident.id}: {incident.title}"[:500],
            incident_id=incident.id,
            description=f"opened for incident {incident.id} on {incident.service}",
        )
        add_entry(
            incident,
            Entry.CASE_OPENED,
            f"case {case.id} opened for {customer.name} ({priority})",
            session=session,
            at=now,
            case_id=case.id,
        )
    if plan_row.auto_enquire and _silent_production_feed(incident, session=session):
        _ask_by_itself(incident, customer, case, session=session, now=now, options=options)


# What the feed watcher's findings say of themselves (feeds.watch): their source, and their kind as a label.
FEEDS_SOURCE = "feeds"


def is_feed_silence(alert: Alert, service: str) -> bool:
    """An alert of `service`'s feed going silent, as the feed watcher reports one."""
    return alert.source == FEEDS_SOURCE and alert.service == service and alert.labels.get("kind") == Kind.SILENCE


def _silent_production_feed(incident: Incident, *, session: Session) -> bool:
    """Opened for a feed's silence on a service in production."""
    service = incident.service
    if service is None:
        return False
    stage = session.scalar(select(Service.stage).where(Service.name == service))
    if stage != ServiceStage.PRODUCTION:
        return False
    alerts = session.scalars(select(Alert).where(Alert.incident_id == incident.id, Alert.source == FEEDS_SOURCE))
    return any(is_feed_silence(a, service) for a in alerts)


def _ask_by_itself(
    incident: Incident, customer: Customer, case: Case | None, *, session: Session, now: datetime, options: DeskSettings
) -> None:
    """The plan asks the technical contact at once, if there is one to ask."""
    if not desk.contacts_of(customer, session=session, role=desk.ContactRole.TECHNICAL):
        add_entry(
            incident,
            Entry.NOTE,
            f"no enquiry sent: {customer.name} has no technical contact on file",
            session=session,
            at=now,
        )
        return
    secret = enquiries.server_secret(session=session)
    enquiries.ask(
        session=session,
        now=now,
        secret=secret,
        base_url=options.public_url,
        service=incident.service or "",
        incident_id=incident.id,
        case_id=None if case is None else case.id,
    )


def raise_due(*, session: Session, now: datetime, limit: int = 200) -> int:
    """Support hours began: incidents lowered for being outside them and still open become high urgency."""
    claimed = claim_raise(session=session, now=now, limit=limit)
    raise_urgency(claimed, session=session, now=now)
    return len(claimed)


def claim_raise(*, session: Session, now: datetime, limit: int) -> list[Incident]:
    """Up to `limit` incidents lowered until their customer's support hours, which have begun, claimed."""
    return due.claim(session, Incident, due=Incident.raise_at, now=now, limit=limit)


def raise_urgency(claimed: Sequence[Incident], *, session: Session, now: datetime) -> None:
    """High urgency again for the claimed incidents still open; the others are only let go."""
    for incident in claimed:
        incident.raise_at = None
        if incident.status in OPEN:
            incident.urgency = Urgency.HIGH
            add_entry(
                incident,
                Entry.URGENCY_RAISED,
                f"support hours of {incident.customer} began; still open, so high urgency now",
                session=session,
                at=now,
            )
            publish(session, IncidentUrgencyRaised(incident.id, now))
