"""Desk: cases by their SLA clocks (the nearest breach first, red past 80 % of the target in
business time), a case's page with its work log and the reply and note forms, and the customers
with their plans. A customer's person sees, opens and answers its own customer's cases only,
without the operator's internal notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from watchkeeper.db import in_transaction
from watchkeeper.errors import NotFound
from watchkeeper.support import service as desk
from watchkeeper.support.models import Case
from watchkeeper.support.sla import CaseStatus, ClockState, Priority, Reading
from watchkeeper.web.deps import RowId
from watchkeeper.web.desk.access import Posted, Seen, Staff, Viewer, not_found
from watchkeeper.web.desk.render import render

router = APIRouter(include_in_schema=False)
OPEN = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING_CUSTOMER)
WARN = 0.8  # past this share of its target a clock is shown red
Text = Annotated[str, Form(min_length=1, max_length=8000)]


@dataclass(frozen=True)
class Clocked:
    case: Case
    customer: str
    clock: Reading | None  # the running clock nearest its breach, or the one breached

    @property
    def used(self) -> float:
        """The share of the clock's target used, in business time (0 with no clock)."""
        if self.clock is None or not self.clock.limit:
            return 0.0
        return self.clock.elapsed / self.clock.limit

    @property
    def left(self) -> timedelta | None:
        return None if self.clock is None else self.clock.limit - self.clock.elapsed


def _nearest(readings: list[Reading]) -> Reading | None:
    live = [r for r in readings if r.state in (ClockState.RUNNING, ClockState.BREACHED)]
    return max(live, key=lambda r: r.elapsed / r.limit if r.limit else 0.0, default=None)


def clocked(case: Case, *, session: Session, now: datetime) -> Clocked:
    customer = desk.customer_by_id(case.customer_id, session=session).name
    return Clocked(case, customer, _nearest(desk.clocks(case, session=session, now=now)))


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, viewer: Seen, done: bool = False) -> HTMLResponse:
    now = request.app.state.clock.now()
    customer = None if viewer.staff else viewer.who.customer
    with request.app.state.sessions() as session:
        rows = [
            clocked(c, session=session, now=now)
            for c in desk.list_cases(session=session, customer=customer, limit=500)
            if done or c.status in OPEN
        ]
        customers = [c.name for c in desk.list_customers(session=session)] if viewer.staff else []
    rows.sort(key=lambda r: (-r.used, r.case.id))
    return render(
        request,
        "desk.html",
        active="Desk" if viewer.staff else "Cases",
        rows=rows,
        done=done,
        warn=WARN,
        customers=customers,
        priorities=[p.value for p in Priority],
        now=now,
    )


def visible(case_id: int, viewer: Viewer, session: Session) -> Case:
    try:
        case = desk.get_case(case_id, session=session)
    except (NotFound, LookupError):
        raise not_found("case") from None
    if not viewer.staff and case.customer_id != viewer.who.customer_id:
        raise not_found("case")
    return case


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: RowId, viewer: Seen) -> HTMLResponse:
    now = request.app.state.clock.now()
    with request.app.state.sessions() as session:
        case = visible(case_id, viewer, session)
        log = [e for e in desk.entries(case, session=session) if viewer.staff or e.kind not in desk.PRIVATE]
        context: dict[str, Any] = {
            "row": clocked(case, session=session, now=now),
            "readings": desk.clocks(case, session=session, now=now),
            "log": log,
        }
    return render(request, "case.html", active="Desk" if viewer.staff else "Cases", warn=WARN, now=now, **context)


@router.post("/cases", response_model=None)
def open_case(
    request: Request,
    viewer: Posted,
    title: Annotated[str, Form(min_length=1, max_length=500)],
    description: Annotated[str, Form(max_length=8000)] = "",
    priority: Annotated[Priority, Form()] = Priority.P3,
    customer: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A customer's person opens a case for its own customer; staff say for whom."""
    state = request.app.state
    whose = customer if viewer.staff else viewer.who.customer
    if not whose:
        return _back(request, "Say which customer the case is for.")

    def work(session: Session, now: datetime) -> int:
        case = desk.open_case(
            session=session,
            now=now,
            customer=whose,
            title=title,
            priority=priority,
            author=viewer.name,
            description=description,
        )
        return case.id

    try:
        case_id = in_transaction(state.sessions, lambda session: work(session, state.clock.now()))
    except (ValueError, LookupError) as exc:
        return _back(request, str(exc))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _back(request: Request, problem: str) -> HTMLResponse:
    return render(request, "error.html", 422, title="The case was not opened", message=problem)


@router.post("/cases/{case_id}/{kind}", response_model=None)
def write(request: Request, case_id: RowId, kind: str, viewer: Posted, text: Text) -> Response:
    """reply (staff: a public reply; a customer: its own words) or note (staff: internal)."""
    state = request.app.state
    if kind not in ("reply", "note") or (kind == "note" and not viewer.staff):
        raise not_found("action")

    def work(session: Session, now: datetime) -> None:
        case = visible(case_id, viewer, session)
        if not viewer.staff:
            desk.customer_reply(case.id, text, author=f"customer:{viewer.name}", session=session, now=now)
        else:
            desk.reply(case.id, text, public=kind == "reply", author=viewer.name, session=session, now=now)

    in_transaction(state.sessions, lambda session: work(session, state.clock.now()))
    return RedirectResponse(f"/cases/{case_id}#log", status_code=303)


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, viewer: Staff) -> HTMLResponse:
    with request.app.state.sessions() as session:
        rows = [
            {
                "customer": c,
                "plan": desk.get_plan_by_id(c.plan_id, session=session),
                "services": len(desk.services_of(c, session=session)),
            }
            for c in desk.list_customers(session=session)
        ]
    return render(request, "customers.html", active="Customers", rows=rows)
