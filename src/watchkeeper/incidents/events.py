"""What incidents tell the layers above (see watchkeeper.bus): the desk, and later paging and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IncidentOpened:
    """An incident opened for a group's first alert (which has joined it)."""

    incident_id: int
    service: str | None
    at: datetime


@dataclass(frozen=True)
class IncidentAcknowledged:
    incident_id: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class IncidentResolved:
    """Resolved by hand or because its last alert resolved (actor "watchkeeper")."""

    incident_id: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class IncidentClosed:
    incident_id: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class IncidentUrgencyRaised:
    """A low-urgency incident became high: its customer's support hours began, or a high alert joined it."""

    incident_id: int
    at: datetime
