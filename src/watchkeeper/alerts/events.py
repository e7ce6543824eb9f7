"""What alerts tell the layers above (see watchkeeper.bus); incidents group alerts by them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from watchkeeper.alerts.models import Alert


@dataclass(frozen=True)
class AlertFired:
    """An alert fires, unmuted, and belongs to no incident: when it is new, when its
    group wait or its mute is over, or when an incident resolved by hand let it go.

    It carries the alert itself, not its id: a new alert has no id until it is
    flushed, and a batch's new alerts are inserted together.
    """

    alert: Alert
    at: datetime
    hold_until: datetime  # the end of its group wait: until then it joins only an incident already open
    was_muted: str | None = None  # why it was muted until now, if it was
    groups: frozenset[str] = frozenset()  # the groups of the alerts recorded with it, to be read at once


@dataclass(frozen=True)
class AlertMuted:
    """A firing alert is muted as a dependent of a parent alert that fires."""

    alert_id: int
    parent_id: int
    at: datetime


@dataclass(frozen=True)
class AlertFlapping:
    """An alert in an incident changes state too often: held as one alert until it stays resolved."""

    alert_id: int
    at: datetime
    window: timedelta


@dataclass(frozen=True)
class AlertResolved:
    """An alert that joined an incident is resolved."""

    alert_id: int
    incident_id: int
    at: datetime
    auto_resolve: bool  # its incident resolves by itself when its last alert does
