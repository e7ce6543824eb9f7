"""Reactors hear of what lower layers do through domain events, in the publisher's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import NOW
from watchkeeper import wiring
from watchkeeper.alerts.models import Alert
from watchkeeper.alerts.service import RoutingConfig, record
from watchkeeper.bus import MessageBus, NoBus, publish
from watchkeeper.db import make_sessionmaker, transaction
from watchkeeper.finding import Finding, Severity, State
from watchkeeper.incidents.events import IncidentOpened, IncidentResolved
from watchkeeper.incidents.lifecycle import Action
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.service import act

AT_ONCE = RoutingConfig(group_wait=timedelta(0))


def pbx_down() -> Finding:
    return Finding("pbx-1/down", "checks", "pbx-1", Severity.CRITICAL, State.FIRING, "pbx-1 does not answer", NOW)


def fire(sessions) -> None:
    with transaction(sessions) as session:
        record(pbx_down(), session=session, now=NOW, config=AT_ONCE)


def incidents_stored(db) -> int:
    with transaction(db.sessions) as session:
        return session.scalar(select(func.count()).select_from(Incident)) or 0


def test_a_reactor_hears_of_the_incident_an_alert_opens_without_incidents_knowing_it(db):
    heard: list[tuple[IncidentOpened, str, bool]] = []

    def pager(event: IncidentOpened, session: Session) -> None:
        incident = session.get(Incident, event.incident_id)
        assert incident is not None
        heard.append((event, incident.title, session.in_transaction()))

    bus = wiring.message_bus()
    bus.subscribe(IncidentOpened, pager)
    fire(make_sessionmaker(db.engine, bus=bus))

    ((event, title, in_transaction),) = heard
    assert (event.service, event.at, title, in_transaction) == ("pbx-1", NOW, "pbx-1 does not answer", True)
    assert incidents_stored(db) == 1


def test_handlers_run_in_the_order_they_were_subscribed_in_one_transaction(db):
    ran: list[tuple[str, int]] = []
    bus = wiring.message_bus()
    for name in ("first", "second", "third"):
        bus.subscribe(IncidentOpened, lambda _e, session, name=name: ran.append((name, id(session.get_transaction()))))
    fire(make_sessionmaker(db.engine, bus=bus))

    assert [name for name, _ in ran] == ["first", "second", "third"]
    assert len({transaction_id for _, transaction_id in ran}) == 1


def test_a_failing_handler_rolls_back_the_incident_it_reacted_to_and_the_alert(db):
    def broken(_event: IncidentOpened, _session: Session) -> None:
        raise RuntimeError("pager unreachable")

    bus = wiring.message_bus()
    bus.subscribe(IncidentOpened, broken)
    with pytest.raises(RuntimeError, match="pager unreachable"):
        fire(make_sessionmaker(db.engine, bus=bus))

    assert incidents_stored(db) == 0
    with transaction(db.sessions) as session:
        assert session.scalars(select(Alert)).all() == []
    fire(db.sessions)  # the wired bus alone: it opens as ever
    assert incidents_stored(db) == 1


@dataclass(frozen=True)
class Paged:
    incident_id: int


def test_an_event_a_handler_publishes_is_handled_in_the_same_transaction(db):
    pages: list[int] = []
    bus = wiring.message_bus()
    bus.subscribe(IncidentOpened, lambda event, session: publish(session, Paged(event.incident_id)))
    bus.subscribe(Paged, lambda event, _session: pages.append(event.incident_id))
    sessions = make_sessionmaker(db.engine, bus=bus)
    fire(sessions)

    with transaction(sessions) as session:
        (incident,) = session.scalars(select(Incident)).all()
    assert pages == [incident.id]


def test_resolving_by_hand_is_published_with_who_did_it(db):
    resolved: list[IncidentResolved] = []
    bus = wiring.message_bus()
    bus.subscribe(IncidentResolved, lambda event, _session: resolved.append(event))
    sessions = make_sessionmaker(db.engine, bus=bus)
    fire(sessions)
    with transaction(sessions) as session:
        (incident,) = session.scalars(select(Incident)).all()
        act(incident.id, Action.RESOLVE, actor="ana", session=session, now=NOW + timedelta(minutes=5))

    assert resolved == [IncidentResolved(incident.id, "ana", NOW + timedelta(minutes=5))]


def test_a_session_made_without_a_bus_refuses_to_publish_rather_than_lose_the_reactions(db):
    with pytest.raises(NoBus, match="made without a message bus"):
        fire(make_sessionmaker(db.engine))
    assert incidents_stored(db) == 0


def test_an_empty_bus_records_alerts_and_nobody_opens_incidents(db):
    fire(make_sessionmaker(db.engine, bus=MessageBus()))
    assert incidents_stored(db) == 0
    with transaction(db.sessions) as session:
        (alert,) = session.scalars(select(Alert)).all()
    assert (alert.status, alert.incident_id) == ("firing", None)
