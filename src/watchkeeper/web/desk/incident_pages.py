"""Now (the open incidents, live) and an incident's page (timeline, alerts, cases, paging).

A customer's person sees its own customer's incidents, without who is paged
and without the operator's internal notes; acknowledging, resolving and
notes are the staff's. Actions answer the refreshed part of the page to htmx,
and a redirect to a browser without JavaScript.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from watchkeeper.db import in_transaction
from watchkeeper.errors import Conflict, NotFound
from watchkeeper.incidents import service as incidents
from watchkeeper.incidents.lifecycle import Action, Entry
from watchkeeper.incidents.models import Incident
from watchkeeper.incidents.views import moved_out, still_firing_lines
from watchkeeper.oncall.paging import paged_now, paging_view
from watchkeeper.support import enquiries
from watchkeeper.support import service as desk
from watchkeeper.web.deps import RowId
from watchkeeper.web.desk.access import Seen, StaffPosted, Viewer, not_found
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
PAGE = 50  # incidents a page of Now shows
PART_TTL = 2.0  # seconds a drawn live part of Now is served again while nothing changed
PART_CACHE = 1000  # drawn parts kept at most (a customer and a page each)
PRIVATE = {Entry.NOTIFICATION}  # who was paged, on which channel: the operator's business


def _open(request: Request, viewer: Viewer, session: Session, page: int) -> dict[str, Any]:
    customer = None if viewer.staff else viewer.who.customer
    rows = incidents.open_incidents(session=session, customer=customer, limit=PAGE, offset=PAGE * (page - 1))
    total = incidents.count_open(session=session, customer=customer)
    paged = paged_now([i.id for i in rows], session=session) if viewer.staff else {}
    return {
        "incidents": rows,
        "paged": paged,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE)),
        "now": request.app.state.clock.now(),
    }


@router.get("/now", response_class=HTMLResponse)
def now_page(request: Request, viewer: Seen, page: int = 1) -> HTMLResponse:
    page = max(1, min(page, 1000))
    with request.app.state.sessions() as session:
        return render(request, "now.html", **_open(request, viewer, session, page))


@router.get("/now/incidents", response_class=HTMLResponse)
def now_part(request: Request, viewer: Seen, page: int = 1) -> HTMLResponse:
    """The live part of Now, fetched again whenever the stream says something changed.

    Every open Now fetches it at the same moment, so it is drawn once for all who see the same
    (the staff, or one customer's people) and kept while nothing changed (the newest timeline
    entry is the same) for at most PART_TTL, the ages it shows being that old at most."""
    page = max(1, min(page, 1000))
    state = request.app.state
    with state.sessions() as session:
        key = (viewer.who.customer if not viewer.staff else None, page, incidents.newest_entry(session=session))
        cache: dict[tuple[object, ...], tuple[float, str]] = state.desk_now_parts
        kept = cache.get(key)
        if kept is not None and time.monotonic() - kept[0] < PART_TTL:
            return HTMLResponse(kept[1], headers={"Cache-Control": "no-store"})
        answer = render(request, "_open_incidents.html", **_open(request, viewer, session, page))
    if len(cache) > PART_CACHE:
        cache.clear()
    cache[key] = (time.monotonic(), bytes(answer.body).decode())
    return answer


def visible(incident_id: int, viewer: Viewer, session: Session) -> Incident:
    try:
        incident = incidents.get(incident_id, session=session)
    except NotFound:
        raise not_found("incident") from None
    if not viewer.staff and incident.customer != viewer.who.customer:
        raise not_found("incident")
    return incident


def _incident(request: Request, viewer: Viewer, session: Session, incident_id: int) -> dict[str, Any]:
    incident = visible(incident_id, viewer, session)
    entries = incidents.timeline(incident.id, session=session)
    if not viewer.staff:
        entries = [e for e in entries if e.kind not in PRIVATE]
    cases = desk.cases_of_incident(incident.id, session=session)
    return {
        "incident": incident,
        "entries": entries,
        "alerts": incidents.alerts_of(incident.id, session=session),
        "cases": cases,
        "enquiries": enquiries.of_incident(incident.id, session=session),
        "paging": paging_view(incident.id, session=session) if viewer.staff else None,
        "now": request.app.state.clock.now(),
    }


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: RowId, viewer: Seen) -> HTMLResponse:
    with request.app.state.sessions() as session:
        return render(request, "incident.html", **_incident(request, viewer, session, incident_id))


@router.get("/incidents/{incident_id}/timeline", response_class=HTMLResponse)
def incident_part(request: Request, incident_id: RowId, viewer: Seen) -> HTMLResponse:
    with request.app.state.sessions() as session:
        return render(request, "_incident_live.html", **_incident(request, viewer, session, incident_id))


ACTIONS = {"acknowledge": Action.ACKNOWLEDGE, "resolve": Action.RESOLVE, "close": Action.CLOSE}


@router.post("/incidents/{incident_id}/{verb}", response_model=None)
def act(
    request: Request,
    incident_id: RowId,
    verb: str,
    viewer: StaffPosted,
    note: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[str, Form(max_length=20)] = "incident",
) -> Response:
    """acknowledge, resolve, close, or note; htmx gets the part of the page it came from, back again."""
    state = request.app.state
    if verb not in (*ACTIONS, "note"):
        raise not_found("action")
    problem = None

    def work(session: Session, now: datetime) -> list[str]:
        visible(incident_id, viewer, session)
        if verb == "note":
            incidents.add_note(incident_id, note, actor=viewer.name, session=session, now=now)
            return []
        moved = incidents.move_by_hand(
            incident_id, ACTIONS[verb], actor=viewer.name, session=session, now=now, config=state.routing
        )
        # What still fires is raised again at once: the person who resolved it must hear where it went.
        lines = still_firing_lines(moved_out(moved.incident, moved.still_firing))
        return [line for line in lines if not line.startswith(" ")]

    notice: list[str] = []
    try:
        notice = in_transaction(state.sessions, lambda session: work(session, state.clock.now()))
    except (Conflict, ValueError) as exc:
        problem = str(exc)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/incidents/{incident_id}" if back == "incident" else "/now", status_code=303)
    with state.sessions() as session:
        if back == "now":
            context = _open(request, viewer, session, 1)
            return render(request, "_open_incidents.html", problem=problem, notice=notice, **context)
        context = _incident(request, viewer, session, incident_id)
        return render(request, "_incident_live.html", problem=problem, notice=notice, **context)


@router.get("/", response_model=None)
def home(viewer: Seen) -> Response:
    return RedirectResponse("/now" if viewer.staff else "/status", status_code=303)
