"""Who reacts to what: every handler of every domain event, in one place.

The faces (web app, CLI, scheduler, demo) and the tests make their session
factory here, so every unit of work carries the same bus. A lower layer
publishes (watchkeeper.bus) and never learns who listens; the order below is
the order handlers run in.

Due work (what the scheduler claims and runs when its `due_at` comes) is
listed at the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionFactory

from watchkeeper.bus import MessageBus
from watchkeeper.config import Settings
from watchkeeper.db import make_sessionmaker

if TYPE_CHECKING:
    from watchkeeper.notify.models import Notification


def message_bus(settings: Settings | None = None) -> MessageBus:
    """The app's bus; its handlers (and their domains' modules) load when the first event is published."""
    return MessageBus(wire=lambda bus: subscribe_all(bus, settings))


def subscribe_all(bus: MessageBus, settings: Settings | None = None) -> None:
    from watchkeeper.alerts.events import AlertFired, AlertFlapping, AlertMuted, AlertResolved
    from watchkeeper.incidents import reactions as incidents
    from watchkeeper.incidents.events import IncidentOpened
    from watchkeeper.support import incidents as desk

    # Incidents group alerts: join, hold for the group wait, open; say what happened on the timeline.
    bus.subscribe(AlertFired, incidents.alert_fired)
    bus.subscribe(AlertMuted, incidents.alert_muted)
    bus.subscribe(AlertFlapping, incidents.alert_flapping)
    bus.subscribe(AlertResolved, incidents.alert_resolved)

    # The desk: the customer, support-hours urgency, an automatic case, an enquiry to the customer.
    options = desk.DeskSettings() if settings is None else desk.DeskSettings.from_settings(settings)

    def incident_opened(event: IncidentOpened, session: Session) -> None:
        desk.incident_opened(event, session, options=options)

    bus.subscribe(IncidentOpened, incident_opened)

    # IncidentAcknowledged, IncidentResolved, IncidentClosed (incidents.events) and
    # CaseBreached (support.events) have no handler yet: paging and reports will.


def sessionmaker(engine: Engine, settings: Settings | None = None) -> SessionFactory[Session]:
    """The app's sessions on `engine`, each with the bus wired for `settings`."""
    return make_sessionmaker(engine, bus=message_bus(settings))


def on_delivery_outcome(row: Notification, session: Session, now: datetime) -> None:
    """Where the outbox hands each delivery's outcome (sent, retrying, given up), in the
    transaction that records it: the desk notes it on the incident's timeline and the
    case's work log. The scheduler's outbox job passes it to `deliver_due`."""
    from watchkeeper.support.outcomes import record_outcome

    record_outcome(row, session, now)


# Due jobs. Each is a `DueJob` (name, claim query, batch size, handler)
# registered in watchkeeper.jobs and drained by the scheduler `serve` runs,
# each batch in a transaction of `sessionmaker` above, so what a job's work
# publishes reaches the handlers above: the feed watch, alert due processing,
# case SLA warnings and breaches, incident raise at support hours, outbox
# delivery (with `on_delivery_outcome`), inbox scan and retention.
