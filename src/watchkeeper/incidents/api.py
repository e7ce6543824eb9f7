"""HTTP routes for incidents: list, show with timeline, acknowledge, resolve, close, note, MTTA/MTTR."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime

from watchkeeper.alerts.finding import Urgency
from watchkeeper.auth.access import Principal, principal, staff
from watchkeeper.auth.api import require_token
from watchkeeper.auth.models import ApiToken
from watchkeeper.db import MAX_ROW_ID, transaction
from watchkeeper.errors import said
from watchkeeper.feeds.api import SessionDep
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Action, InvalidTransition, Status
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

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id, from 1")]
CONFLICT: dict[int | str, dict[str, str]] = {409: {"description": "the incident's status does not allow this"}}
Token = Annotated[ApiToken, Depends(require_token)]
Who = Annotated[Principal, Depends(principal)]
Staff = [Depends(staff)]


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
    request: Request,
    session: SessionDep,
    who: Who,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """MTTA and MTTR of incidents opened in [since, until] (default: the last 30 days)."""
    until = until or request.app.state.clock.now()
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
    try:
        incident = incidents.get(incident_id, session=session)
        if not who.staff and incident.customer != who.customer:
            raise LookupError(f"no incident {incident_id}; `watchkeeper incidents list` shows them")
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, said(exc)) from exc
    return detail(incident, session)


def _act(request: Request, incident_id: int, action: Action, actor: str, note: str | None = None) -> MovedOut:
    try:
        with transaction(request.app.state.sessions) as session:
            moved = incidents.move_by_hand(
                incident_id,
                action,
                actor=actor,
                session=session,
                now=request.app.state.clock.now(),
                config=request.app.state.routing,
                note=note,
            )
            return moved_out(moved.incident, moved.still_firing)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, said(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post("/{incident_id}/acknowledge", response_model=IncidentOut, dependencies=Staff, responses=CONFLICT)
def acknowledge(incident_id: RowId, request: Request, token: Token) -> MovedOut:
    return _act(request, incident_id, Action.ACKNOWLEDGE, token.name)


@router.post("/{incident_id}/resolve", response_model=MovedOut, dependencies=Staff, responses=CONFLICT)
def resolve(incident_id: RowId, request: Request, token: Token, body: ResolveIn | None = None) -> MovedOut:
    """Resolve by hand. Alerts that still fire leave the incident and are raised again at once (a new
    incident, unless a silence mutes them): `still_firing` says what became of each."""
    return _act(request, incident_id, Action.RESOLVE, token.name, body.note if body else None)


@router.post("/{incident_id}/close", response_model=MovedOut, dependencies=Staff, responses=CONFLICT)
def close(incident_id: RowId, request: Request, token: Token) -> MovedOut:
    """Close a resolved incident; an alert still in it that fires is raised again, as for resolve."""
    return _act(request, incident_id, Action.CLOSE, token.name)


@router.post("/{incident_id}/notes", response_model=EntryOut, status_code=status.HTTP_201_CREATED, dependencies=Staff)
def note(incident_id: RowId, body: NoteIn, request: Request, token: Token) -> Any:
    try:
        with transaction(request.app.state.sessions) as session:
            return incidents.add_note(
                incident_id, body.text, actor=token.name, session=session, now=request.app.state.clock.now()
            )
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, said(exc)) from exc
    except ValueError as exc:  # an empty note
        raise HTTPException(422, said(exc)) from exc
