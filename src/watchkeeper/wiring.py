"""Who reacts to what: every handler of every domain event, in one place.

The faces (web app, CLI, scheduler, demo) and the tests make their session
factory here, so every unit of work carries the same bus. A lower layer
publishes (watchkeeper.bus) and never learns who listens; the order below is
the order handlers run in.

Due work (what the scheduler claims and runs when its `due_at` comes) is
registered as `DueJob`s in watchkeeper.jobs.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker as SessionFactory

from watchkeeper.alerts.events import AlertFired, AlertFlapping, AlertMuted, AlertResolved
from watchkeeper.bus import MessageBus
from watchkeeper.config import Settings
from watchkeeper.db import make_sessionmaker
from watchkeeper.incidents import reactions as incidents
from watchkeeper.incidents.events import IncidentOpened
from watchkeeper.support import incidents as desk
from watchkeeper.support.incidents import DeskSettings
from watchkeeper.support.outcomes import record_outcome


def message_bus(*, desk_settings: DeskSettings = DeskSettings()) -> MessageBus:
    bus = MessageBus()

    # Incidents group alerts: join, hold for the group wait, open; say what happened on the timeline.
    bus.subscribe(AlertFired, incidents.alert_fired)
    bus.subscribe(AlertMuted, incidents.alert_muted)
    bus.subscribe(AlertFlapping, incidents.alert_flapping)
    bus.subscribe(AlertResolved, incidents.alert_resolved)

    # The desk: the customer, support-hours urgency, an automatic case, an enquiry to the customer.
    def incident_opened(event: IncidentOpened, session: Session) -> None:
        desk.incident_opened(event, session, options=desk_settings)

    bus.subscribe(IncidentOpened, incident_opened)

    # IncidentAcknowledged, IncidentResolved, IncidentClosed (incidents.events) and
    # CaseBreached (support.events) have no handler yet: paging and reports will.
    return bus


def sessionmaker(engine: Engine, settings: Settings | None = None) -> SessionFactory[Session]:
    """The app's sessions on `engine`, each with the bus wired for `settings`."""
    options = DeskSettings() if settings is None else DeskSettings.from_settings(settings)
    return make_sessionmaker(engine, bus=message_bus(desk_settings=options))


# The outbox hands each delivery's outcome (sent, retrying, given up) to this, in
# the transaction that records it: the desk notes it on the incident's timeline
# and the case's work log (the scheduler's outbox job passes it to deliver_due).
on_delivery_outcome = record_outcome
