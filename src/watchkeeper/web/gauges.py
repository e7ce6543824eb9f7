"""Gauges read from the database when /metrics is scraped: firing alerts, open incidents, each service's last record.

A custom collector rather than gauges kept up to date, so the figures are
the database's own (every process that serves /metrics says the same,
whichever wrote the rows) and cost three grouped queries a scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.models import Alert
from watchkeeper.clock import Clock
from watchkeeper.feeds.models import Service
from watchkeeper.finding import State
from watchkeeper.incidents.lifecycle import OPEN
from watchkeeper.incidents.models import Incident


class DeskCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def collect(self) -> Iterator[Metric]:
        alerts = GaugeMetricFamily("watchkeeper_alerts_firing", "Alerts firing now, muted or not", labels=["severity"])
        incidents = GaugeMetricFamily("watchkeeper_incidents_open", "Incidents not yet resolved", labels=["status"])
        age = GaugeMetricFamily(
            "watchkeeper_service_last_record_age_seconds",
            "Seconds since the time of each service's newest usage record",
            labels=["service", "stage"],
        )
        now = self.clock.now()
        with self.sessions() as session:
            firing = select(Alert.severity, func.count()).where(Alert.status == State.FIRING).group_by(Alert.severity)
            for severity, count in session.execute(firing):
                alerts.add_metric([severity], count)
            open_ = select(Incident.status, func.count()).where(Incident.status.in_(OPEN)).group_by(Incident.status)
            counted: dict[str, int] = {status: n for status, n in session.execute(open_)}
            for status in OPEN:
                incidents.add_metric([status], counted.get(status, 0))
            for name, stage, last_seen in session.execute(select(Service.name, Service.stage, Service.last_seen)):
                if last_seen is not None:
                    age.add_metric([name, stage], max(0.0, (now - last_seen).total_seconds()))
        yield from (alerts, incidents, age)


def registry(sessions: sessionmaker[Session], clock: Clock) -> CollectorRegistry:
    """A registry of this app's own: every app made in one process (tests make many) scrapes its own database."""
    own = CollectorRegistry(auto_describe=False)
    own.register(DeskCollector(sessions, clock))
    return own
