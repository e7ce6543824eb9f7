"""HTTP routes for incidents: list, show with timeline, acknowledge, escalate, resolve, close, note, MTTA/MTTR."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from watchkeeper.errors import NotFound
from watchkeeper.finding import Urgency
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Action, Status
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.schemas import (
    EntryOut,
    IncidentDetail,
    IncidentOut,
    MovedOut,
    NoteIn,
    ResolveIn,
    TimingsOut,
)
from watchkeeper.incidents.views import detail, moved_out, timings_out
from watchkeeper.oncall.paging import escalate_now, escalated_text, paging_view
from watchkeeper.oncall.schemas import EscalatedOut
from watchkeeper.web.deps import STAFF as Staff
from watchkeeper.web.deps import Now, RowId, SessionDep, Token, Tx, Who

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
CONFLICT: dict[int | str, dict[str, str]] = {409: {"description": "the incident's status does not allow this"}}


@router.get("", response_model=list[IncidentOut])
def list_incidents(
    session: SessionDep,
    who: Who,
    status: Status | None = None,
    service: str | None = None,
    customer: str | None = None,
    urgency: Urgency | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Incident]:
    """A customer token sees its own customer's incidents only."""
    if not who.staff:
        if customer not in (None, who.customer):
            return []
        customer = who.customer
    return incidents.list_incidents(
        session=session, status=status, service=service, customer=customer, urgency=urgency, limit=limit
    )


@router.get("/response-times", response_model=TimingsOut)
def response_times(
    now: Now,
    session: SessionDep,
    who: Who,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """MTTA and MTTR of incidents opened in [since, until] (default: the last 30 days)."""
    until = until or now
    found = incidents.response_times(
        session=session,
        since=since or until - timedelta(days=30),
        until=until,
        service=service,
        customer=None if who.staff else who.customer,
    )
    return timings_out(found)


@router.get("/{incident_id}", response_model=IncidentDetail)
def show(incident_id: RowId, session: SessionDep, who: Who) -> dict[str, Any]:
    incident = incidents.get(incident_id, session=session)
    if not who.staff and incident.customer != who.customer:
        raise NotFound(f"no incident {incident_id}; `watchkeeper incidents list` shows them")
    # Who is paged, and on which channel, is the operator's business, not a customer's.
    paging = paging_view(incident.id, session=session) if who.staff else None
    return {**detail(incident, session), "paging": paging}


def _act(request: Request, tx: Tx, incident_id: int, action: Action, actor: str, note: str | None = None) -> MovedOut:
    config = request.app.state.routing

    def act(session: Session, now: datetime) -> MovedOut:
        moved = incidents.move_by_hand(
            incident_id, action, actor=actor, session=session, now=now, config=config, note=note
        )
        return moved_out(moved.incident, moved.still_firing)

    return tx.run(act)


@router.post("/{incident_id}/acknowledge", response_model=IncidentOut, dependencies=Staff, responses=CONFLICT)
def acknowledge(incident_id: RowId, request: Request, tx: Tx, token: Token) -> MovedOut:
    return _act(request, tx, incident_id, Action.ACKNOWLEDGE, token.name)


@router.post("/{incident_id}/escalate", response_model=EscalatedOut, dependencies=Staff, responses=CONFLICT)
def escalate(incident_id: RowId, tx: Tx, token: Token) -> EscalatedOut:
    """Page the escalation's next level now instead of after its timeout (after the last level, the next
    pass); 409 when the incident is not paging (acknowledged, resolved, or no policy took it)."""

    def work(session: Session, now: datetime) -> EscalatedOut:
        done = escalate_now(incident_id, session=session, now=now, actor=token.name)
        said = escalated_text(incident_id, done)
        return EscalatedOut(incident_id=incident_id, level=done.level, changed=done.text is not None, message=said)

    return tx.run(work)


@router.post("/{incident_id}/resolve", response_model=MovedOut, dependencies=Staff, responses=CONFLICT)
def resolve(incident_id: RowId, request: Request, tx: Tx, token: Token, body: ResolveIn | None = None) -> MovedOut:
    """Resolve by hand. Alerts that still fire leave the incident and are raised again at once (a new
    incident, unless a silence mutes them): `still_firing` says what became of each."""
    return _act(request, tx, incident_id, Action.RESOLVE, token.name, body.note if body else None)


@router.post("/{incident_id}/close", response_model=MovedOut, dependencies=Staff, responses=CONFLICT)
def close(incident_id: RowId, request: Request, tx: Tx, token: Token) -> MovedOut:
    """Close a resolved incident; an alert still in it that fires is raised again, as for resolve."""
    return _act(request, tx, incident_id, Action.CLOSE, token.name)


@router.post("/{incident_id}/notes", response_model=EntryOut, status_code=status.HTTP_201_CREATED, dependencies=Staff)
def note(incident_id: RowId, body: NoteIn, tx: Tx, token: Token) -> Any:
    return tx.run(
        lambda session, now: incidents.add_note(incident_id, body.text, actor=token.name, session=session, now=now)
    )
