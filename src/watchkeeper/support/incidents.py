"""What the desk does when an incident opens on a customer's service. Never commits.

The customer's plan decides the urgency (support hours, like PagerDuty's):
outside an 8x5 customer's hours a high-urgency incident is lowered, and raised
again when the hours begin if it is still open. A plan with `auto_case` opens
a case for every customer-affecting incident, linked both ways.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.finding import Severity, Urgency
from watchkeeper.incidents.lifecycle import OPEN, Entry
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.service import add_entry
from watchkeeper.notify.outbox import enqueue
from watchkeeper.support import service as desk
from watchkeeper.support.sla import Priority, support_urgency

PRIORITY = {Severity.CRITICAL: Priority.P1, Severity.ERROR: Priority.P2, Severity.WARNING: Priority.P3,
            Severity.INFO: Priority.P4}  # fmt: skip
SYSTEM = "watchkeeper"


def on_opened(incident: Incident, *, session: Session, now: datetime, desk_channel: str | None = None) -> None:
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
        add_entry(incident, Entry.URGENCY_LOWERED, f"low urgency for {customer.name} (plan {plan_row.name}): "
               f"{decision.reason}", session=session, at=now)  # fmt: skip
        if desk_channel:
            # Recorded, emailed, no page: the desk reads it when it opens.
            enqueue(session=session, now=now, subject="incident", subject_id=incident.id, reason="low-urgency",
                    recipient="desk", url=desk_channel, title=f"[low] incident {incident.id} for {customer.name}: "
                    f"{incident.title}"[:500], body=f"{incident.title}\n\n{decision.reason}")  # fmt: skip
    if affecting and plan_row.auto_case:
        priority = PRIORITY.get(Severity(incident.severity), Priority.P3)
        case = desk.open_case(session=session, now=now, customer=customer.name, author=SYSTEM, priority=priority,
                              title=f"incident {incident.id}: {incident.title}"[:500], incident_id=incident.id,
                              description=f"opened for incident {incident.id} on {incident.service}")  # fmt: skip
        add_entry(incident, Entry.CASE_OPENED, f"case {case.id} opened for {customer.name} ({priority})",
               session=session, at=now, case_id=case.id)  # fmt: skip


def raise_due(*, session: Session, now: datetime, limit: int = 200) -> int:
    """Support hours began: incidents lowered for being outside them and still open become high urgency."""
    query = select(Incident).where(Incident.raise_at <= now).order_by(Incident.raise_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = list(session.scalars(query))
    for incident in due:
        incident.raise_at = None
        if incident.status in OPEN:
            incident.urgency = Urgency.HIGH
            add_entry(incident, Entry.URGENCY_RAISED, f"support hours of {incident.customer} began; still open, "
                   "so high urgency now", session=session, at=now)  # fmt: skip
    return len(due)
