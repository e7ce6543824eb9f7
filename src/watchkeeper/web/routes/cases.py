"""HTTP routes for cases. Staff see and do everything; a customer token sees its own customer's cases,
without internal notes, can open cases and write on them, and reads any other case as missing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from watchkeeper.db import MAX_ROW_ID, in_transaction
from watchkeeper.errors import said
from watchkeeper.support import service as desk
from watchkeeper.support.models import Case
from watchkeeper.support.sla import CaseStatus, Priority
from watchkeeper.support.views import case_out
from watchkeeper.web.deps import Principal, principal, staff
from watchkeeper.web.routes.feeds import SessionDep

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id, from 1")]
Who = Annotated[Principal, Depends(principal)]
Staff = [Depends(staff)]


class CaseIn(BaseModel):
    customer: str | None = Field(default=None, description="staff only; a customer token opens its own")
    title: str = Field(min_length=1, max_length=500)
    priority: Priority = Priority.P3
    description: str = Field(default="", max_length=8000)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


class StatusIn(BaseModel):
    status: CaseStatus


class PriorityIn(BaseModel):
    priority: Priority


class AssignIn(BaseModel):
    assignee: str | None = Field(description="a staff user's name (GET /api/v1/users); null unassigns")


def _visible(case_id: int, who: Principal, session: Session) -> Case:
    case = session.get(Case, case_id)
    if case is None or (not who.staff and case.customer_id != who.customer_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case


@router.get("")
def list_cases(
    request: Request,
    session: SessionDep,
    who: Who,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    now = request.app.state.clock.now()
    rows = desk.list_cases(session=session, status=status_, limit=limit, customer=None if who.staff else who.customer)
    return [case_out(c, who, session, now) for c in rows]


@router.get("/{case_id}")
def show_case(case_id: RowId, request: Request, session: SessionDep, who: Who) -> dict[str, Any]:
    return case_out(_visible(case_id, who, session), who, session, request.app.state.clock.now(), log=True)


def _write(request: Request, who: Principal, work: Any) -> dict[str, Any]:
    state = request.app.state

    def run(session: Session) -> dict[str, Any]:
        now = state.clock.now()
        return case_out(work(session, now), who, session, now, log=True)

    try:
        return in_transaction(state.sessions, run)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, said(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("", status_code=status.HTTP_201_CREATED, responses={404: {"description": "no such customer or service"}})
def open_case(body: CaseIn, request: Request, who: Who) -> dict[str, Any]:
    if not who.staff and body.customer not in (None, who.customer):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a customer's token opens cases for its own customer only")
    customer = body.customer if who.staff else who.customer
    if customer is None:
        raise HTTPException(422, "say which customer the case is for")
    return _write(
        request,
        who,
        lambda s, now: desk.open_case(
            session=s,
            now=now,
            customer=customer,
            title=body.title,
            priority=body.priority,
            author=who.name,
            description=body.description,
        ),
    )


@router.post("/{case_id}/replies")
def reply(case_id: RowId, body: TextIn, request: Request, who: Who) -> dict[str, Any]:
    """Staff: a public reply (answers the response clocks). Customer: their own words on the case."""

    def work(s: Session, now: datetime) -> Case:
        case = _visible(case_id, who, s)
        if who.staff:
            desk.reply(case.id, body.text, public=True, author=who.name, session=s, now=now)
        else:
            desk.customer_reply(case.id, body.text, author=f"customer:{who.name}", session=s, now=now)
        return case

    return _write(request, who, work)


@router.post("/{case_id}/notes", dependencies=Staff)
def note(case_id: RowId, body: TextIn, request: Request, who: Who) -> dict[str, Any]:
    """An internal note: customers never see it."""

    def work(s: Session, now: datetime) -> Case:
        desk.reply(case_id, body.text, public=False, author=who.name, session=s, now=now)
        return desk.get_case(case_id, session=s)

    return _write(request, who, work)


@router.post("/{case_id}/status", dependencies=Staff)
def set_status(case_id: RowId, body: StatusIn, request: Request, who: Who) -> dict[str, Any]:
    return _write(
        request, who, lambda s, now: desk.set_status(case_id, body.status, author=who.name, session=s, now=now)
    )


@router.post("/{case_id}/priority", dependencies=Staff)
def set_priority(case_id: RowId, body: PriorityIn, request: Request, who: Who) -> dict[str, Any]:
    return _write(
        request, who, lambda s, now: desk.set_priority(case_id, body.priority, author=who.name, session=s, now=now)
    )


@router.post("/{case_id}/assign", dependencies=Staff)
def assign(case_id: RowId, body: AssignIn, request: Request, who: Who) -> dict[str, Any]:
    """Give the case to one of the operator's staff; they are told on their channels."""
    return _write(request, who, lambda s, now: desk.assign(case_id, body.assignee, author=who.name, session=s, now=now))
